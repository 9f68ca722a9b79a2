"""The starting state on real control planes: record a cluster of four different nodes and a
workload that fits only some of them, export, replay with `--nodes trace` into an empty
simulation cluster (as the driver's own ServiceAccount, so its RBAC is proven), and the pods
land on nodes of the same shapes while the same pods stay Pending as in production."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import requests

from skctl.sim import SIMULATION_LABEL, manifests
from skctl.trace import cluster as state
from skctl.trace.load import read_trace
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import items
from tests.helpers import deployment, skctl, skctl_bg, tracer_url, wait_for

NS = "shop"
SIM = "e2e-state"
PENDING = "<pending>"
# name → (cpu, memory, extra labels, extra taints): four shapes that differ in capacity, a label, a taint
SHAPES: dict[str, tuple[str, str, dict[str, str], list[dict[str, str]]]] = {
    "prod-small": ("4", "8Gi", {}, []),
    "prod-medium": ("8", "16Gi", {}, []),
    "prod-ssd": ("8", "16Gi", {"disk": "ssd"}, []),
    "prod-batch": ("16", "32Gi", {}, [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]),
}
# name → (replicas, cpu request, nodeSelector, tolerates dedicated=batch). Placement is forced:
# "big" fits once on each 8-CPU node and nowhere else (one Pending), "tiny" only on the ssd node,
# "batch" only on the tainted 16-CPU node, whatever order the scheduler sees them in.
WORKLOAD: dict[str, tuple[int, str, dict[str, str], bool]] = {
    "big": (3, "6", {}, False),
    "tiny": (1, "1", {"disk": "ssd"}, False),
    "batch": (1, "12", {}, True),
}


def _node(cluster: Cluster, name: str) -> dict[str, Any]:
    cpu, memory, labels, taints = SHAPES[name]
    node = cluster.node_manifest(name)
    node["metadata"]["labels"].update(labels)
    node["spec"]["taints"] += taints
    node["status"] = {"capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                      "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}
    return node


def _deployment(name: str) -> dict[str, Any]:
    replicas, cpu, selector, tolerates = WORKLOAD[name]
    tolerations = [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}] if tolerates else []
    return deployment(name, NS, replicas=replicas, kwok=True, pod_spec={
        "priorityClassName": "e2e-high",
        "containers": [{"name": "c", "image": "app:1", "resources": {"requests": {"cpu": cpu}}}],
        "nodeSelector": selector, "tolerations": tolerations})


def _placement(cluster: Cluster, namespace: str, node_name: Any) -> dict[str, list[str]]:
    """Per Deployment: the sorted (recorded) node names of its pods, PENDING for an unschedulable one."""
    out: dict[str, list[str]] = {name: [] for name in WORKLOAD}
    for pod in items(cluster, f"/api/v1/namespaces/{namespace}/pods"):
        app = pod["metadata"].get("labels", {}).get("app")
        if app not in out or pod["metadata"].get("deletionTimestamp"):
            continue
        node = pod["spec"].get("nodeName")
        if node:
            out[app].append(node_name(node))
        elif any(c.get("reason") == "Unschedulable" for c in pod.get("status", {}).get("conditions", [])):
            out[app].append(PENDING)
        else:
            out[app].append("<not decided yet>")
    return {k: sorted(v) for k, v in out.items()}


def _settled(cluster: Cluster, namespace: str, node_name: Any) -> dict[str, list[str]] | None:
    """The placement once every pod of the workload is placed or Pending, else None."""
    placement = _placement(cluster, namespace, node_name)
    done = all(len(v) == WORKLOAD[k][0] and "<not decided yet>" not in v for k, v in placement.items())
    return placement if done else None


def test_replay_with_the_recorded_nodes_places_pods_as_production(tmp_path: Path) -> None:
    from tests.e2e.conftest import _require_binaries

    _require_binaries()
    # production gets four different nodes below; the simulation cluster has none at all.
    # Started on this thread: the components die with the thread that spawned them.
    with Cluster(nodes=0) as prod, Cluster(nodes=0) as sim:
        _record_and_replay(prod, sim, tmp_path)


def _record_and_replay(prod: Cluster, sim: Cluster, tmp_path: Path) -> None:
    for name in SHAPES:
        r = prod.request("POST", "/api/v1/nodes", json=_node(prod, name))
        assert r.status_code == 201, r.text
    wait_for(lambda: len(prod.ready_nodes()) == len(SHAPES), what="the production nodes to be Ready", timeout=60, interval=0.5)
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "e2e-high"},
          "value": 1000}
    assert prod.request("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", json=pc).status_code == 201
    prod.kubectl("create", "namespace", NS)

    # --- record -------------------------------------------------------------------------------
    proc = skctl_bg("trace", "--kubeconfig", str(prod.kubeconfig), "--journal", str(tmp_path / "journal"),
                    "--listen", "127.0.0.1:0")
    try:
        url = tracer_url(proc)
        wait_for(lambda: all(w.get("state") == "watching" for w in
                            requests.get(url + "/status", timeout=5).json()["watches"].values())
                and "v1.Node" in requests.get(url + "/status", timeout=5).json()["watches"],
                what="the watches, nodes included", timeout=60, interval=0.5)
        start = int(time.time()) + 1  # after the first lists: the nodes are the window's starting state
        wait_for(lambda: time.time() >= start, what="the next second", timeout=60, interval=0.5)
        for name in WORKLOAD:
            prod.kubectl("apply", "-f", "-", input=json.dumps(_deployment(name)))
        production = wait_for(lambda: _settled(prod, NS, str), timeout=60,
                             what="the production pods to be placed or Pending", interval=0.5)
        # the workload fits only some nodes: one pod of "big" stays Pending, the small node stays empty
        assert production == {"big": [PENDING, "prod-medium", "prod-ssd"], "tiny": ["prod-ssd"],
                               "batch": ["prod-batch"]}, production
        trace_path = tmp_path / "prod.sktrace"
        end = int(time.time()) + 60  # past every recorded second (the end is exclusive)
        r = skctl("export", "--tracer-address", url, "-s", str(start), "-t", str(end), "-o", str(trace_path))
        assert r.returncode == 0, r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)

    trace = read_trace(str(trace_path))
    recorded = state.inventory(trace)
    assert recorded is not None and recorded["nodes"] == 4 and recorded["priority_classes"] == ["e2e-high"]
    assert all(o["kind"] == "Deployment" for _t, _a, o in trace.iter_objects())  # never nodes in events

    # --- replay into the empty simulation cluster, as the driver's ServiceAccount ----------------
    assert sim.ready_nodes() == []
    r = skctl("run", "e2e-rbac", "--kubeconfig", str(sim.kubeconfig))  # applies the driver's SA and RBAC
    assert r.returncode == 0, r.stderr
    skctl("delete", "e2e-rbac", "--kubeconfig", str(sim.kubeconfig))
    token = sim.service_account_token(manifests.DEFAULT_DRIVER_NAMESPACE, manifests.SERVICE_ACCOUNT)
    driver_kc = sim.kubeconfig_for_token(token, tmp_path / "driver.kubeconfig")
    drive = skctl_bg("drive", SIM, "--trace-path", f"file://{trace_path}", "--nodes", "trace",
                     "--duration", "10m", "--kubeconfig", str(driver_kc))
    try:
        def ready_twins() -> dict[str, dict[str, Any]] | None:
            if len(sim.ready_nodes()) < len(SHAPES):
                return None
            return {n["metadata"]["name"]: n for n in items(sim, "/api/v1/nodes", f"{SIMULATION_LABEL}={SIM}")}

        nodes = wait_for(ready_twins, timeout=60, what="the simulation's nodes to be Ready", interval=0.5)
        assert sorted(nodes) == sorted(f"virtual-{n}" for n in SHAPES)
        for name, (cpu, memory, labels, taints) in SHAPES.items():
            twin = nodes[f"virtual-{name}"]
            assert twin["metadata"]["annotations"]["simkube.io/original-node"] == name
            assert twin["metadata"]["labels"]["kubernetes.io/hostname"] == f"virtual-{name}"
            assert {k: twin["metadata"]["labels"].get(k) for k in labels} == labels
            assert twin["status"]["capacity"]["cpu"] == cpu and twin["status"]["allocatable"]["memory"] == memory
            assert all(t in twin["spec"]["taints"] for t in taints)
        original = {n: nodes[n]["metadata"]["annotations"]["simkube.io/original-node"] for n in nodes}
        simulated = wait_for(lambda: _settled(sim, f"virtual-{NS}", lambda n: original.get(n, n)), timeout=90,
                            what="the simulated pods to be placed or Pending", interval=0.5)
        assert simulated == production
        assert sim.request("GET", "/apis/scheduling.k8s.io/v1/priorityclasses/e2e-high").status_code == 200
    finally:
        drive.send_signal(signal.SIGTERM)
        out, err = drive.communicate(timeout=120)
    assert drive.returncode == 143, out + err
    assert "forbidden" not in (out + err).lower(), err
    # cleanup: the simulation's nodes and PriorityClass are gone with its namespaces
    assert items(sim, "/api/v1/nodes") == []
    assert sim.request("GET", "/apis/scheduling.k8s.io/v1/priorityclasses/e2e-high").status_code == 404
