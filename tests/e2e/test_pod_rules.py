"""Tracer -> export -> driver on a real control plane: every replayed pod gets the lifecycle
recorded for its own pod spec (skctl/trace/pods.py is the one home of the rule).

Production: a Deployment rolled out between two pod specs whose pods live different
lifetimes, and a custom kind with two pod templates (a "TrainJob" with ps and worker pods;
the test plays its controller, as Volcano would). The tracer records both; the export is
replayed; each replayed pod must get the completion time of its own spec's lifetime.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from skctl.sim import SIMULATION_LABEL
from skctl.trace.load import read_trace
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import items, namespaces
from tests.helpers import KWOK_POD, deployment, skctl, skctl_bg, tracer_url, wait_for

NS = "pod-rules-e2e"
GROUP = "e2e.skctl.io"
TRAINJOB_GVK = f"{GROUP}/v1.TrainJob"
DEPLOYMENT_GVK = "apps/v1.Deployment"
# recorded lifetimes (seconds): far enough apart that a pod given another spec's shows
V1_LIFE, V2_LIFE, PS_LIFE, WORKER_LIFE = 6, 20, 5, 13
SLACK = 3  # whole-second timestamps at both ends plus the driver's reaction


def _crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"trainjobs.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": "trainjobs", "singular": "trainjob", "kind": "TrainJob"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
    }


def _template(app: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}], **KWOK_POD}}


def _deployment(image: str) -> dict[str, Any]:
    web = deployment("web", NS, replicas=2, image=image, kwok=True)
    web["spec"]["strategy"] = {"type": "Recreate"}
    return web


def _trainjob() -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "TrainJob", "metadata": {"name": "tj", "namespace": NS},
            "spec": {"ps": {"replicas": 1, "template": _template("tj-ps", "ps:1")},
                     "worker": {"replicas": 2, "template": _template("tj-worker", "worker:1")}}}


def _play_trainjob_controller(cluster: Cluster, job: dict[str, Any]) -> list[str]:
    """Create the pods a TrainJob asks for from its own (possibly mutated) templates."""
    meta = job["metadata"]
    ref = {"apiVersion": job["apiVersion"], "kind": "TrainJob", "name": meta["name"], "uid": meta["uid"],
           "controller": True}
    names = []
    for role in ("ps", "worker"):
        part = job["spec"][role]
        for i in range(part["replicas"]):
            name = f"{meta['name']}-{role}-{i}"
            template = part["template"]
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {**template.get("metadata", {}), "name": name, "namespace": meta["namespace"],
                                "ownerReferences": [ref]},
                   "spec": template["spec"]}
            r = cluster.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods", json=pod)
            assert r.status_code == 201, r.text
            names.append(name)
    return names


def _running(cluster: Cluster, ns: str, selector: str, count: int) -> list[dict[str, Any]] | None:
    pods = [p for p in items(cluster, f"/api/v1/namespaces/{ns}/pods", selector)
            if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return pods if len(pods) == count else None


def _started(pod: dict[str, Any]) -> float:
    (state,) = [c["state"]["running"] for c in pod["status"]["containerStatuses"]]
    return _ts(state["startedAt"])


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _wait_age(pods: list[dict[str, Any]], seconds: float) -> None:
    """Until every pod has been running `seconds` (the recorded lifetime being produced)."""
    wait_for(lambda: all(time.time() >= _started(p) + seconds for p in pods), timeout=seconds + 30,
            interval=0.2, what=f"pods running {seconds} s")


def _delete_pods(cluster: Cluster, names: list[str]) -> None:
    for name in names:
        cluster.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{name}")


def _record(cluster: Cluster, tmp_path: Path) -> Path:
    kc = str(cluster.kubeconfig)
    config = tmp_path / "tracer.yaml"
    config.write_text(yaml.safe_dump({"trackedObjects": {
        DEPLOYMENT_GVK: {"trackLifecycle": True},
        TRAINJOB_GVK: {"podSpecTemplatePaths": ["/spec/ps/template", "/spec/worker/template"],
                       "trackLifecycle": True},
    }}))
    proc = skctl_bg("trace", "--kubeconfig", kc, "-c", str(config), "--journal", str(tmp_path / "journal"),
                    "--listen", "127.0.0.1:0")
    try:
        url = tracer_url(proc)
        import requests

        wait_for(lambda: all(w.get("state") == "watching"
                            for w in requests.get(url + "/status", timeout=5).json()["watches"].values()),
                what="the tracer's watches", timeout=60, interval=0.5)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(_deployment("web:1")))
        cluster.kubectl("apply", "-f", "-", input=json.dumps(_trainjob()))
        job = cluster.request("GET", f"/apis/{GROUP}/v1/namespaces/{NS}/trainjobs/tj").json()
        _play_trainjob_controller(cluster, job)
        v1 = wait_for(lambda: _running(cluster, NS, "app=web", 2), what="web v1 running", timeout=60, interval=0.5)
        ps = wait_for(lambda: _running(cluster, NS, "app=tj-ps", 1), what="the ps pod running", timeout=60, interval=0.5)
        workers = wait_for(lambda: _running(cluster, NS, "app=tj-worker", 2), what="the worker pods running", timeout=60, interval=0.5)
        _wait_age(ps, PS_LIFE)
        _delete_pods(cluster, [p["metadata"]["name"] for p in ps])
        _wait_age(v1, V1_LIFE)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(_deployment("web:2")))  # Recreate: v1 pods go now
        v2 = wait_for(lambda: [p for p in _running(cluster, NS, "app=web", 2) or []
                              if p["spec"]["containers"][0]["image"] == "web:2"] or None, what="web v2 running", timeout=60, interval=0.5)
        assert len(v2) == 2
        _wait_age(workers, WORKER_LIFE)
        _delete_pods(cluster, [p["metadata"]["name"] for p in workers])
        _wait_age(v2, V2_LIFE)
        cluster.kubectl("delete", "-n", NS, "deployment/web", "--wait=true")
        wait_for(lambda: not items(cluster, f"/api/v1/namespaces/{NS}/pods"), timeout=60, what="the pods gone", interval=0.5)
        out = tmp_path / "trace.sktrace"

        def exported() -> Any:
            r = skctl("export", "--tracer-address", url, "-s", "0", "-t", "+5m", "-o", str(out))
            assert r.returncode == 0, r.stderr
            trace = read_trace(str(out))
            lcs = trace.pod_lifecycles
            done = [lc for by_hash in lcs.values() for runs in by_hash.values() for lc in runs if lc["end_ts"]]
            return trace if len(done) == 7 else None

        wait_for(exported, timeout=60, what="seven finished lifecycles in the export", interval=0.5)
        return out
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_every_replayed_pod_gets_its_own_specs_recorded_lifetime(real_cluster: Cluster, tmp_path: Path) -> None:
    cluster = real_cluster
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(_crd()))
    wait_for(lambda: cluster.request("GET", f"/apis/{GROUP}/v1/trainjobs").status_code == 200,
            what="the TrainJob CRD served", timeout=60, interval=0.5)
    trace_path = _record(cluster, tmp_path)

    # what was recorded: per owner, one hash per pod spec, each with its own lifetimes
    trace = read_trace(str(trace_path))
    recorded: dict[tuple[str, int], set[int]] = {}
    for (gvk, _owner), by_hash in trace.pod_lifecycles.items():
        for h, runs in by_hash.items():
            recorded[(gvk, h)] = {int(lc["end_ts"]) - int(lc["start_ts"]) for lc in runs if lc["end_ts"]}
    hashes = {gvk: [h for g, h in recorded if g == gvk] for gvk in (DEPLOYMENT_GVK, TRAINJOB_GVK)}
    assert len(hashes[DEPLOYMENT_GVK]) == 2 and len(hashes[TRAINJOB_GVK]) == 2, recorded

    def lifetime_of(gvk: str, h: int) -> int:
        (life,) = {round(x) for x in recorded[(gvk, h)]} if len(recorded[(gvk, h)]) == 1 else \
            [round(sum(recorded[(gvk, h)]) / len(recorded[(gvk, h)]))]
        return life

    # replay: the test plays the TrainJob controller in the simulation too
    sim = "e2e-pod-rules"
    proc = skctl_bg("drive", sim, "--trace-path", f"file://{trace_path}", "--speed", "1",
                    "--kubeconfig", str(cluster.kubeconfig))
    seen: dict[str, dict[str, Any]] = {}
    controlled = False
    try:
        while proc.poll() is None:
            for ns in namespaces(cluster, f"{SIMULATION_LABEL}={sim}"):
                if not controlled:
                    jobs = items(cluster, f"/apis/{GROUP}/v1/namespaces/{ns}/trainjobs")
                    if jobs:
                        _play_trainjob_controller(cluster, jobs[0])
                        controlled = True
                for p in items(cluster, f"/api/v1/namespaces/{ns}/pods"):
                    ann = p["metadata"].get("annotations") or {}
                    if "simkube.io/kwok-stage-complete-time" in ann and p.get("status", {}).get("containerStatuses"):
                        seen.setdefault(p["metadata"]["uid"], p)
            time.sleep(0.5)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=120)
    wait_for(lambda: not namespaces(cluster, f"{SIMULATION_LABEL}={sim}"), timeout=120,
            what="the virtual namespaces deleted", interval=0.5)

    got: dict[str, list[tuple[int, float]]] = {}
    for p in seen.values():
        meta = p["metadata"]
        h = int(meta["annotations"]["static.simkube.io/pod-spec-stable-hash"])
        owner_kind = (meta.get("ownerReferences") or [{}])[0].get("kind")
        gvk = TRAINJOB_GVK if owner_kind == "TrainJob" else DEPLOYMENT_GVK
        # the driver's hash is the tracer's: the key it asks for is one the tracer wrote
        assert (gvk, h) in recorded, (meta["name"], h, recorded)
        state = [c["state"] for c in p["status"]["containerStatuses"]][0]
        started = _ts((state.get("running") or state.get("terminated"))["startedAt"])
        assigned = _ts(meta["annotations"]["simkube.io/kwok-stage-complete-time"]) - started
        got.setdefault(meta["name"].rsplit("-", 2)[0] if gvk == TRAINJOB_GVK else p["spec"]["containers"][0]["image"],
                       []).append((lifetime_of(gvk, h), assigned))
    # every spec was replayed, and each pod's completion time is its own spec's lifetime
    assert {k.split("-")[0] for k in got} >= {"web:1", "web:2", "tj"}, got
    for runs in got.values():
        for life, assigned in runs:
            assert abs(assigned - life) <= SLACK, got
    lifetimes = {life for runs in got.values() for life, _ in runs}
    assert len(lifetimes) >= 3, got  # the specs' lifetimes differ, so pods were told apart

