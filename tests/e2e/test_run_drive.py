"""`skctl run`, `delete` and `drive` against a real control plane (marker e2e).

The real authorizer proves the driver's RBAC is enough (drive runs with a TokenRequest token
of the driver's own ServiceAccount); the real controllers, scheduler and KWOK prove that a
replay makes pods that land on KWOK nodes only and become ready as the trace says.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from skctl.sim import SIMULATION_LABEL, VIRTUAL_LABEL, manifests
from skctl.trace.load import read_trace
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import exists, items, namespaces
from tests.helpers import REFERENCE_TRACES, skctl, skctl_bg, wait_for

DRIVER_NS = manifests.DEFAULT_DRIVER_NAMESPACE
SA = manifests.SERVICE_ACCOUNT


def _run_sim(cluster: Cluster, name: str, *extra: str) -> None:
    r = skctl("run", name, "--kubeconfig", str(cluster.kubeconfig), "--trace-path", "file:///data/trace", *extra)
    assert r.returncode == 0, r.stderr


def _sim_gone(cluster: Cluster, name: str) -> bool:
    job = exists(cluster, f"/apis/batch/v1/namespaces/{DRIVER_NS}/jobs/{name}")
    pods = items(cluster, f"/api/v1/namespaces/{DRIVER_NS}/pods", f"{SIMULATION_LABEL}={name}")
    return not job and not pods and not namespaces(cluster, f"{SIMULATION_LABEL}={name}")


def test_run_server_dry_run_apply_rerun_and_delete(real_cluster: Cluster) -> None:
    kc = str(real_cluster.kubeconfig)
    name = "e2e-run"
    _run_sim(real_cluster, name)
    # a second simulation's manifests pass the real server's validation and admission in a server
    # dry run (the driver namespace exists now: a dry run cannot create it), and nothing is stored
    dry = skctl("run", f"{name}-dry", "--kubeconfig", kc, "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    kinds = [o["kind"] for o in json.loads(dry.stdout)["items"]]
    assert kinds[0] == "Namespace" and kinds[-1] == "Job" and "ServiceAccount" in kinds
    out = real_cluster.kubectl("apply", "--server-side", "--field-manager=skctl", "--dry-run=server", "-f", "-",
                               input=dry.stdout)
    assert out.stdout.count("serverside-applied (server dry run)") == len(kinds), out.stdout
    assert not exists(real_cluster, f"/apis/batch/v1/namespaces/{DRIVER_NS}/jobs/{name}-dry")

    job = real_cluster.request("GET", f"/apis/batch/v1/namespaces/{DRIVER_NS}/jobs/{name}").json()
    assert job["spec"]["backoffLimit"] == 0 and job["metadata"]["labels"][SIMULATION_LABEL] == name
    assert exists(real_cluster, f"/api/v1/namespaces/{DRIVER_NS}/serviceaccounts/{SA}")
    rv = job["metadata"]["resourceVersion"]
    # the Job controller makes the driver pod: it waits for a schedulable node, it is real
    wait_for(lambda: items(real_cluster, f"/api/v1/namespaces/{DRIVER_NS}/pods", f"{SIMULATION_LABEL}={name}"),
            what="the driver pod", timeout=60, interval=0.5)

    _run_sim(real_cluster, name)  # a rerun is a no-op apply on a real server too
    again = real_cluster.request("GET", f"/apis/batch/v1/namespaces/{DRIVER_NS}/jobs/{name}").json()
    assert again["metadata"]["uid"] == job["metadata"]["uid"]
    assert again["spec"]["template"] == job["spec"]["template"]
    assert again["metadata"]["resourceVersion"] in (rv, again["metadata"]["resourceVersion"])

    d = skctl("delete", name, "--kubeconfig", kc)
    assert d.returncode == 0, d.stderr
    wait_for(lambda: _sim_gone(real_cluster, name), what=f"nothing of {name} left", timeout=60, interval=0.5)
    # the driver namespace, ServiceAccount and RBAC are shared by every simulation: kept on purpose
    assert exists(real_cluster, f"/api/v1/namespaces/{DRIVER_NS}/serviceaccounts/{SA}")
    again = skctl("delete", name, "--kubeconfig", kc)
    assert again.returncode == 1 and name in again.stderr


@pytest.mark.parametrize("trace", REFERENCE_TRACES)
def test_drive_with_the_driver_service_account(real_cluster: Cluster, reference_dir: Path, tmp_path: Path,
                                               trace: str) -> None:
    _run_sim(real_cluster, "e2e-rbac")  # applies the driver's ServiceAccount and RBAC
    skctl("delete", "e2e-rbac", "--kubeconfig", str(real_cluster.kubeconfig))
    token = real_cluster.service_account_token(DRIVER_NS, SA)
    kc = real_cluster.kubeconfig_for_token(token, tmp_path / "driver.kubeconfig")
    who = real_cluster.kubectl("auth", "whoami", "-o", "json", f"--token={token}").stdout
    assert json.loads(who)["status"]["userInfo"]["username"] == f"system:serviceaccount:{DRIVER_NS}:{SA}"

    name = "e2e-" + trace.split(".")[0]
    # --report: the recorder's list+watches of pods, nodes, events and the workload kinds run with
    # the driver's token too (the role's read-only rules)
    r = skctl("drive", name, "--trace-path", f"file://{reference_dir / trace}", "--speed", "200",
              "--kubeconfig", str(kc), "--report", str(tmp_path / "report"), timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "forbidden" not in (r.stdout + r.stderr).lower() and "cannot watch" not in r.stderr
    assert json.loads((tmp_path / "report" / "report.json").read_text())["fidelity"]["unobserved_kinds"] == []
    wait_for(lambda: not namespaces(real_cluster, f"{SIMULATION_LABEL}={name}"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)


# --- dsb-scaling: real controllers, scheduler and KWOK ----------------------------------------

SPEED = 20.0
LAG = 3.0  # wall seconds the controllers get to catch up with an event
AHEAD = 1.0  # wall seconds the driver may be ahead of the test's clock (started on its first write)


def _replica_timeline(trace_path: Path) -> tuple[int, dict[str, list[tuple[int, int]]]]:
    trace = read_trace(str(trace_path))
    timeline: dict[str, list[tuple[int, int]]] = {}
    for ts, kind, obj in trace.iter_objects():
        if obj.get("kind") != "Deployment":
            continue
        key = obj["metadata"]["name"]
        replicas = 0 if kind == "deleted" else int((obj.get("spec") or {}).get("replicas", 1))
        timeline.setdefault(key, []).append((ts, replicas))
    return trace.events[0]["ts"], timeline


def _replicas_at(series: list[tuple[int, int]], t: float) -> int | None:
    value = None
    for ts, replicas in series:
        if ts <= t:
            value = replicas
    return value


def _virtual_deployments(cluster: Cluster, sim: str) -> dict[str, dict[str, Any]]:
    out = {}
    for ns in namespaces(cluster, f"{SIMULATION_LABEL}={sim}"):
        for d in items(cluster, f"/apis/apps/v1/namespaces/{ns}/deployments"):
            out[d["metadata"]["name"]] = d
    return out


def test_dsb_scaling_pods_follow_the_trace(real_cluster: Cluster, reference_dir: Path) -> None:
    path = reference_dir / "dsb-scaling.sktrace"
    start_ts, timeline = _replica_timeline(path)
    end_ts = max(ts for series in timeline.values() for ts, _r in series)
    sim = "e2e-dsb"
    proc = skctl_bg("drive", sim, "--trace-path", f"file://{path}", "--speed", str(SPEED),
                    "--kubeconfig", str(real_cluster.kubeconfig))
    try:
        # trace time 0 is when the first virtual Deployment exists
        wait_for(lambda: _virtual_deployments(real_cluster, sim), timeout=60, interval=0.1,
                what="the first virtual Deployment")
        wall0 = time.monotonic()
        checked = 0
        while proc.poll() is None:
            time.sleep(LAG)
            now = time.monotonic()
            t_now = start_ts + (now - wall0) * SPEED
            t_settled = start_ts + (now - wall0 - LAG) * SPEED
            if t_now + AHEAD * SPEED >= end_ts:
                break  # the driver deletes everything once the last event is replayed
            deployments = _virtual_deployments(real_cluster, sim)
            for name, series in timeline.items():
                want = _replicas_at(series, t_now)
                around = {_replicas_at(series, t_settled), _replicas_at(series, t_now + AHEAD * SPEED)}
                if want is None or around != {want}:
                    continue  # created or scaled within the last LAG seconds (or about to be): settling
                d = deployments.get(name)
                assert d is not None, f"{name} missing at trace time {t_now - start_ts:.0f} s"
                assert d["spec"]["replicas"] == want, (
                    f"{name}: {d['spec']['replicas']} replicas at trace time {t_now - start_ts:.0f} s, want {want}")
                assert (d.get("status") or {}).get("readyReplicas", 0) == want, (
                    f"{name}: {d.get('status')} at trace time {t_now - start_ts:.0f} s, want {want} ready")
                checked += 1
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        assert checked > len(timeline), checked
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=120)
    wait_for(lambda: not namespaces(real_cluster, f"{SIMULATION_LABEL}={sim}"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)


def test_pods_land_on_kwok_nodes_only_and_stay_pending_without_room(real_cluster: Cluster,
                                                                    reference_dir: Path) -> None:
    path = reference_dir / "dsb-scaling.sktrace"
    sim = "e2e-full"
    nodes = [n["metadata"]["name"] for n in items(real_cluster, "/api/v1/nodes")]
    for n in nodes[1:]:
        real_cluster.kubectl("cordon", n)
    try:
        proc = skctl_bg("drive", sim, "--trace-path", f"file://{path}", "--speed", "40",
                        "--kubeconfig", str(real_cluster.kubeconfig))
        seen_pending: list[str] = []

        def pods() -> list[dict[str, Any]]:
            return [p for ns in namespaces(real_cluster, f"{SIMULATION_LABEL}={sim}")
                    for p in items(real_cluster, f"/api/v1/namespaces/{ns}/pods")]

        while proc.poll() is None:
            for p in pods():
                node = p["spec"].get("nodeName")
                if node:
                    assert node == nodes[0], f"{p['metadata']['name']} on {node}"
                elif any(c.get("reason") == "Unschedulable" for c in p.get("status", {}).get("conditions", [])):
                    seen_pending.append(p["metadata"]["name"])
            time.sleep(1)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err  # Pending pods neither fail nor hang the driver
        assert seen_pending, "one 32-CPU node should not fit every pod of dsb-scaling"
    finally:
        for n in nodes[1:]:
            real_cluster.kubectl("uncordon", n)
    wait_for(lambda: not namespaces(real_cluster, f"{SIMULATION_LABEL}={sim}"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)


def test_cronjob_pods_complete_at_their_recorded_lifetimes(real_cluster: Cluster, reference_dir: Path) -> None:
    path = reference_dir / "cronjob.sktrace"
    sim = "e2e-cron"
    proc = skctl_bg("drive", sim, "--trace-path", f"file://{path}", "--speed", "2",
                    "--kubeconfig", str(real_cluster.kubeconfig))
    succeeded: dict[str, dict[str, Any]] = {}
    try:
        while proc.poll() is None:
            for ns in namespaces(real_cluster, f"{SIMULATION_LABEL}={sim},{VIRTUAL_LABEL}=true"):
                for p in items(real_cluster, f"/api/v1/namespaces/{ns}/pods"):
                    assert p["spec"].get("nodeSelector", {}).get("type") == "virtual"
                    if p.get("status", {}).get("phase") == "Succeeded":
                        succeeded[p["metadata"]["name"]] = p
            time.sleep(1)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=120)
    assert succeeded, "no Job pod of the replayed CronJob completed through the pod-complete stage"
    for p in succeeded.values():
        (state,) = [c["state"]["terminated"] for c in p["status"]["containerStatuses"]]
        assert state["exitCode"] == 0 and state["reason"] == "Completed"
        # SimKube's contract: the driver labelled the Running pod with an absolute end time (its
        # recorded 30 s lifetime after the driver saw it run: the exact arithmetic is checked
        # against the sandbox), and the pod-complete stage ended the pod at that time
        meta = p["metadata"]
        assert meta["labels"]["simkube.io/kwok-stage-complete"] == "true"
        end = datetime.strptime(meta["annotations"]["simkube.io/kwok-stage-complete-time"], "%Y-%m-%dT%H:%M:%SZ")
        started = datetime.strptime(p["status"]["startTime"], "%Y-%m-%dT%H:%M:%SZ")
        (ready,) = [c for c in p["status"]["conditions"] if c["type"] == "Ready"]
        ended = datetime.strptime(ready["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert 0 <= (ended - end).total_seconds() <= 2
        assert (end - started).total_seconds() <= 35
    numbers = sorted(int(p["metadata"]["annotations"]["static.simkube.io/pod-sequence-number"]) for p in succeeded.values())
    assert numbers == list(range(len(numbers)))


def test_pods_outside_templates_are_moved_or_refused(real_cluster: Cluster, reference_dir: Path) -> None:
    """The real API server accepts the driver's nodeSelector addition only on a gated pod; an
    ungated pod without `type: virtual` is deleted before it can run anywhere."""
    sim = "e2e-stray"
    proc = skctl_bg("drive", sim, "--trace-path", f"file://{reference_dir / 'cronjob.sktrace'}", "--speed", "1",
                    "--kubeconfig", str(real_cluster.kubeconfig))
    ns = "virtual-default"
    try:
        wait_for(lambda: ns in namespaces(real_cluster, f"{SIMULATION_LABEL}={sim}"), timeout=60,
                what="the virtual namespace", interval=0.5)
        spec = {"containers": [{"name": "c", "image": "busybox"}]}
        for name, extra in (("stray", {}), ("gated", {"schedulingGates": [{"name": "example.com/hold"}],
                                                      "nodeSelector": {"zone": "a"}})):
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": {**spec, **extra}}
            r = real_cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body)
            assert r.status_code == 201, r.text
        wait_for(lambda: not exists(real_cluster, f"/api/v1/namespaces/{ns}/pods/stray"), timeout=60,
                what="the stray pod to be refused", interval=0.5)

        def moved() -> dict[str, Any] | None:
            pod = real_cluster.request("GET", f"/api/v1/namespaces/{ns}/pods/gated").json()
            return pod if (pod["spec"].get("nodeSelector") or {}).get("type") == "virtual" else None

        gated = wait_for(moved, timeout=60, what="the gated pod to be moved to the virtual nodes", interval=0.5)
        assert gated["spec"]["nodeSelector"] == {"zone": "a", "type": "virtual"}
        assert any(t.get("key") == "kwok-provider" for t in gated["spec"]["tolerations"])
        assert gated["metadata"]["labels"][SIMULATION_LABEL] == sim
    finally:
        proc.terminate()
        proc.communicate(timeout=120)


def test_insecure_kubeconfig_is_one_line_once(real_cluster: Cluster, reference_dir: Path, tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(real_cluster.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    cluster.pop("certificate-authority")
    cluster["insecure-skip-tls-verify"] = True
    kc = tmp_path / "insecure.kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    r = skctl("drive", "e2e-insecure", "--trace-path", f"file://{reference_dir / 'bare-pods.sktrace'}",
              "--speed", "200", "--kubeconfig", str(kc))
    assert r.returncode == 0, r.stderr
    assert "InsecureRequestWarning" not in r.stderr
    assert [line for line in r.stderr.splitlines() if "not verified" in line] == [r.stderr.strip()], r.stderr


# --- issue 20: pre-flight permissions, an unschedulable driver pod ------------------------------

def test_preflight_names_a_missing_permission_and_its_fix(real_cluster: Cluster, tmp_path: Path) -> None:
    """The driver's own ServiceAccount may not write ConfigMaps: the replay stops before its first
    write with exit 2 and one line, whose two kubectl commands, run as given, let it through."""
    import shlex

    from skctl.trace import codec
    from skctl.trace.model import Trace, new_event

    _run_sim(real_cluster, "e2e-pre")  # applies the driver's ServiceAccount and RBAC
    skctl("delete", "e2e-pre", "--kubeconfig", str(real_cluster.kubeconfig))
    token = real_cluster.service_account_token(DRIVER_NS, SA)
    kc = real_cluster.kubeconfig_for_token(token, tmp_path / "driver.kubeconfig")
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
                  "data": {"k": "v"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    trace = tmp_path / "t.sktrace"
    trace.write_bytes(codec.encode(Trace(events=[new_event(100, [pod, config_map]), new_event(101, [], [pod])])))
    name = "e2e-pre"
    argv = ("drive", name, "--trace-path", f"file://{trace}", "--speed", "100", "--kubeconfig", str(kc))
    try:
        r = skctl(*argv, timeout=120)
        assert r.returncode == 2, r.stdout + r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert 'may not create, get, patch configmaps (API group "")' in line, line
        assert "pods" not in line.split("which the replay needs")[0]  # the driver's role has those
        assert f"{manifests.CLUSTER_ROLE} aggregates every ClusterRole labelled {manifests.AGGREGATE_LABEL}=true" in line
        assert not namespaces(real_cluster, f"{SIMULATION_LABEL}={name}"), "nothing is written before the check"

        commands = line.split("`")[1::2]
        assert [c.split()[:3] for c in commands] == [["kubectl", "create", "clusterrole"], ["kubectl", "label", "clusterrole"]]
        for command in commands:
            real_cluster.kubectl(*shlex.split(command)[1:])
        wait_for(lambda: real_cluster.kubectl("auth", "can-i", "create", "configmaps", f"--token={token}",
                                             check=False).stdout.strip() == "yes",
                what="the aggregation controller to add the new role's rules to skctl-driver", timeout=60, interval=0.5)
        r = skctl(*argv, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "replayed 2 events, 2 applies, 1 deletes" in r.stdout
    finally:
        real_cluster.kubectl("delete", "clusterrole", "skctl-driver-extra", "--ignore-not-found")
    wait_for(lambda: not namespaces(real_cluster, f"{SIMULATION_LABEL}={name}"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)


def test_run_wait_gives_up_on_an_unschedulable_driver_pod(real_cluster: Cluster) -> None:
    """Every node of the e2e cluster is a tainted KWOK node, which the driver pod does not
    tolerate: the real scheduler marks it unschedulable, and `run --wait` says why and gives up
    after --schedule-timeout instead of waiting for a pod it counts as running."""
    name, bound = "e2e-unsched", 10
    started = time.monotonic()
    r = skctl("run", name, "--kubeconfig", str(real_cluster.kubeconfig), "--wait", "--schedule-timeout", f"{bound}s",
              timeout=120)
    took = time.monotonic() - started
    try:
        assert r.returncode == 1, r.stdout + r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert f"could not be scheduled for {bound}s" in line and "nodes are available" in line, line
        assert "had untolerated taint" in line  # the scheduler's own words
        assert f"driver pod {DRIVER_NS}/{name}-" in r.stdout and "cannot be scheduled: 0/" in r.stdout, r.stdout
        # the bound, plus the Job controller and scheduler making and judging the pod, plus a poll
        assert took < bound + 30, took
    finally:
        skctl("delete", name, "--kubeconfig", str(real_cluster.kubeconfig))
    wait_for(lambda: _sim_gone(real_cluster, name), what=f"nothing of {name} left", timeout=60, interval=0.5)
