"""The workload generator: deterministic, realistic ownership and lifecycles, visible to watchers."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch

from skctl.sandbox import SandboxServer
from skctl.sandbox.scenario import WorkloadGenerator
from skctl.sandbox.store import Store

pytestmark = pytest.mark.timeout(60)


def _snapshot(store: Store) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for rtype in store.registry.all():
        objs = store.objects(rtype)
        if objs:
            out[f"{rtype.group}/{rtype.plural}"] = [(o["metadata"]["name"], o["metadata"]["uid"]) for o in objs]
    return out


def test_same_seed_same_timeline() -> None:
    runs = []
    for _ in range(2):
        store = Store()
        gen = WorkloadGenerator(store, seed=7, clock=lambda: 1_700_000_000.0)
        runs.append((gen.run(120), _snapshot(store)))
    assert runs[0][0] == runs[1][0]
    assert {k: v for k, v in runs[0][1].items() if "namespaces" not in k} == {
        k: v for k, v in runs[1][1].items() if "namespaces" not in k}
    other = WorkloadGenerator(Store(), seed=8).run(120)
    assert other != runs[0][0]


def test_ownership_chains_and_pod_lifecycles() -> None:
    store = Store()
    gen = WorkloadGenerator(store, seed=3)
    gen.run(150)
    assert set(gen.counters.actions) >= {"create_deployment", "cronjob_tick", "create_vcjob", "create_bare_pod"}
    by_uid = {}
    for rtype in store.registry.all():
        for obj in store.objects(rtype):
            by_uid[obj["metadata"]["uid"]] = obj
    chains = set()
    for pod in store.objects(store.resource("v1", "Pod")):
        chain, obj = [], pod
        while obj["metadata"].get("ownerReferences"):
            ref = obj["metadata"]["ownerReferences"][0]
            owner = by_uid[ref["uid"]]  # every owner exists
            assert (owner["kind"], owner["metadata"]["name"]) == (ref["kind"], ref["name"])
            chain.append(f'{owner["apiVersion"]}/{owner["kind"]}')
            obj = owner
        chains.add(tuple(chain))
        status = pod["status"]
        if status["phase"] in ("Running", "Succeeded"):
            assert status["startTime"] and pod["spec"]["nodeName"].startswith("sandbox-node-")
        if status["phase"] == "Succeeded":
            term = status["containerStatuses"][0]["state"]["terminated"]
            assert term["finishedAt"] >= term["startedAt"]
    api = client.ApiClient()
    for api_version, kind in (("v1", "Pod"), ("v1", "Node"), ("apps/v1", "Deployment"),
                              ("apps/v1", "ReplicaSet"), ("batch/v1", "Job"), ("batch/v1", "CronJob")):
        for obj in store.objects(store.resource(api_version, kind)):  # the typed client accepts them
            api.deserialize(json.dumps(obj), f"V1{kind}", "application/json")
    assert ("apps/v1/ReplicaSet", "apps/v1/Deployment") in chains
    assert ("batch/v1/Job", "batch/v1/CronJob") in chains
    assert ("batch.volcano.sh/v1alpha1/Job",) in chains
    assert () in chains  # bare pods


def test_watchers_see_generated_events(sandbox: SandboxServer) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    rv = core.list_pod_for_all_namespaces().metadata.resource_version
    gen = WorkloadGenerator(sandbox.store, seed=1)
    gen.run(60)
    pod_key = sandbox.store.resource("v1", "Pod").key
    history = [e for e in sandbox.store.events_after(int(rv), 1_000_000) or [] if e.key == pod_key]
    expected: dict[str, int] = {}
    for e in history:
        expected[e.type] = expected.get(e.type, 0) + 1
    last_rv = history[-1].rv
    seen: dict[str, int] = {}
    w = watch.Watch()
    for event in w.stream(core.list_pod_for_all_namespaces, resource_version=rv, allow_watch_bookmarks=True,
                          timeout_seconds=20):
        if event["type"] != "BOOKMARK":
            seen[event["type"]] = seen.get(event["type"], 0) + 1
        if int(w.resource_version) >= last_rv:
            w.stop()
    assert seen == expected  # every generated pod event, exactly once
    assert set(expected) == {"ADDED", "MODIFIED", "DELETED"}


def test_background_generator_runs_until_stopped(sandbox: SandboxServer) -> None:
    gen = WorkloadGenerator(sandbox.store, seed=2, scenario="deployments")
    ticked = threading.Event()
    gen.start(rate=200)
    try:
        for _ in range(200):
            if gen.tick >= 5:
                ticked.set()
                break
            ticked.wait(0.05)
    finally:
        gen.stop()
    assert ticked.is_set() and not gen.errors
    stopped_at = gen.tick
    ticked.wait(0.1)
    assert gen.tick == stopped_at


def test_unknown_scenario_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        WorkloadGenerator(Store(), scenario="chaos")
