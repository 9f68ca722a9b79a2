"""The starting state: nodes and PriorityClasses recorded by the tracer, carried in the trace's
`cluster` section, cut by export windows, checked by the reader, shown by xray and replayed by
the driver (`--nodes trace`) as KWOK nodes of the same shapes; ownerReferences rewritten."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import InputError
from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.sim import manifests
from skctl.sim.driver import DriveOptions, Driver, StepRecord, state_plan
from skctl.sim.mutate import virtual_object
from skctl.sim.nodes import node_manifest, virtual_node_name
from skctl.sim.runner import delete_simulation
from skctl.trace import cluster, codec, simkube
from skctl.trace.model import Trace, new_event
from skctl.trace.tracked import parse_config
from skctl.trace.window import NO_FILTERS, ExportFilters, export_window
from skctl.tracer import journal as journal_mod
from skctl.tracer.store import TraceStore
from skctl.xray.summary import summarize

CONFIG = parse_config({"trackedObjects": {"apps/v1.Deployment": {"trackLifecycle": True}}})
NODE = cluster.NODE_GVK
PC = cluster.PRIORITY_CLASS_GVK


def node(name: str, cpu: str = "4", *, taints: list[dict] | None = None, labels: dict | None = None,
         heartbeat: str = "2024-01-01T00:00:00Z", unschedulable: bool = False) -> dict[str, Any]:
    """A node as a real API server sends it (a LIST item has no apiVersion/kind)."""
    spec: dict[str, Any] = {"podCIDR": "10.0.0.0/24", "taints": list(taints or [])}
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "metadata": {"name": name, "uid": "u-" + name, "resourceVersion": heartbeat,
                     "labels": {"kubernetes.io/hostname": name, **(labels or {})},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {"capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": cpu, "memory": "15Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}],
                   "images": [{"names": ["nginx"], "sizeBytes": 1}]},
    }


def pclass(name: str, value: int) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name, "uid": "x", "resourceVersion": "1"}, "value": value}


def dep(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


# --- the tracer's rules -------------------------------------------------------------------


def test_a_heartbeat_is_not_an_event_but_a_taint_label_capacity_or_cordon_is() -> None:
    store = TraceStore(CONFIG)
    store.cluster_sync(NODE, [node("a"), node("b")], ts=100)
    assert [(e["ts"], len(e["applied_objs"])) for e in store.cluster_events] == [(100, 2)]
    recorded = store.cluster_events[0]["applied_objs"][0]
    assert recorded == {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "a", "labels": {"kubernetes.io/hostname": "a"}},
        "spec": {},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "4", "memory": "15Gi", "pods": "110"}},
    }
    # status churn: heartbeat, conditions, images, resourceVersion; a condition taint with its time
    churn = node("a", heartbeat="2024-01-01T00:01:00Z",
                 taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": "t"}])
    churn["status"]["images"] = []
    assert not store.cluster_applied(NODE, churn, ts=101)
    assert not store.cluster_applied(NODE, node("a", heartbeat="2024-01-01T00:02:00Z"), ts=102)
    # what scheduling sees is recorded, each once
    gpu = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    assert store.cluster_applied(NODE, node("a", taints=[gpu]), ts=103)
    assert not store.cluster_applied(NODE, node("a", taints=[gpu], heartbeat="later"), ts=104)
    assert store.cluster_applied(NODE, node("a", taints=[gpu], labels={"zone": "z1"}), ts=105)
    assert store.cluster_applied(NODE, node("a", "8", taints=[gpu], labels={"zone": "z1"}), ts=106)
    assert store.cluster_applied(NODE, node("a", "8", taints=[gpu], labels={"zone": "z1"}, unschedulable=True), ts=107)
    assert store.cluster_deleted(NODE, node("b"), ts=108)
    assert not store.cluster_deleted(NODE, node("b"), ts=109)  # once
    assert [e["ts"] for e in store.cluster_events] == [100, 103, 105, 106, 107, 108]
    last = store.cluster_live[(NODE, "a")]
    assert last["spec"] == {"taints": [gpu], "unschedulable": True}
    assert last["status"]["allocatable"]["cpu"] == "8"
    # nothing of it is an event of the trace: SimKube's driver would apply it
    assert store.events == [] and store.event_count() == 0

    # a re-list records what changed while not watching: a new node, a vanished one
    store.cluster_sync(NODE, [node("c")], ts=120)
    assert store.cluster_events[-1]["ts"] == 120
    assert [o["metadata"]["name"] for o in store.cluster_events[-1]["applied_objs"]] == ["c"]
    assert [o["metadata"]["name"] for o in store.cluster_events[-1]["deleted_objs"]] == ["a"]


def test_priority_classes_are_recorded_except_the_api_servers_own() -> None:
    store = TraceStore(CONFIG)
    store.cluster_sync(PC, [pclass("system-node-critical", 2000001000), pclass("batch-low", 10)], ts=10)
    assert list(store.cluster_live) == [(PC, "batch-low")]
    assert store.cluster_live[(PC, "batch-low")] == {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "batch-low"}, "value": 10}


def test_turned_off_nothing_is_recorded_and_a_journal_s_state_is_not_carried(tmp_path: Path) -> None:
    assert parse_config({"trackedObjects": {}, "startingState": False}).starting_state is False
    with pytest.raises(InputError, match="startingState must be true or false"):
        parse_config({"startingState": "no"})
    on = TraceStore(CONFIG, clock=lambda: 100.0)
    journal = journal_mod.Journal(tmp_path / "j", retention=3600, clock=lambda: 100.0)
    journal.open(on)
    on.cluster_sync(NODE, [node("a")], ts=100)
    journal.close()
    off_config = parse_config({"trackedObjects": {"apps/v1.Deployment": {}}, "startingState": False})
    assert off_config.to_document() == {"trackedObjects": {"apps/v1.Deployment": {}}, "startingState": False}
    assert "startingState" not in CONFIG.to_document()  # on: the trace's config stays SimKube's
    off = TraceStore(off_config)
    journal_mod.load_store(tmp_path / "j", off)
    assert not off.cluster_sync(NODE, [node("b")], ts=200) and off.cluster_events == []
    assert cluster.CLUSTER_KEY not in off.to_trace().extra


def test_the_state_survives_a_restart_obeys_retention_and_exports_from_the_journal(tmp_path: Path) -> None:
    clock = [1000.0]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(tmp_path / "j", retention=3600, segment_seconds=10, clock=lambda: clock[0])
    journal.open(store)
    store.cluster_sync(NODE, [node("a"), node("b")], ts=1000)
    store.cluster_sync(PC, [pclass("high", 100)], ts=1000)
    store.applied("apps/v1.Deployment", dep("web"), ts=1001)
    clock[0] = 1011.0
    store.cluster_applied(NODE, node("c", "16"), ts=1011)  # rotates: the next segment's snapshot has a, b, c
    clock[0] = 1012.0
    store.cluster_deleted(NODE, node("a"), ts=1012)
    store.applied("apps/v1.Deployment", dep("api"), ts=1013)
    live = store.export(1005, 2000, NO_FILTERS)
    journal.close()
    assert len(journal_mod.segments(tmp_path / "j")) == 2

    # a restarted tracer has the same state and timeline
    again = TraceStore(CONFIG)
    journal_mod.load_store(tmp_path / "j", again)
    assert again.cluster_live == store.cluster_live
    assert cluster.fold(again.cluster_events) == cluster.fold(store.cluster_events)
    # export --from JOURNAL (starting at the second segment's snapshot) equals the running tracer's
    from_journal = journal_mod.export_journal(tmp_path / "j", 1005, 2000, NO_FILTERS)
    assert codec.encode(from_journal) == codec.encode(live)
    section = live.extra[cluster.CLUSTER_KEY]
    assert [e["ts"] for e in section["events"]] == [1005, 1011, 1012]
    assert sorted(o["metadata"]["name"] for o in section["events"][0]["applied_objs"]) == ["a", "b", "high"]

    # retention: history before the cutoff folds into one event just before it
    store.trim(1012)
    assert [e["ts"] for e in store.cluster_events] == [1011, 1012]
    assert sorted(o["metadata"]["name"] for o in store.cluster_events[0]["applied_objs"]) == ["a", "b", "c", "high"]
    assert cluster.fold(store.cluster_events) == cluster.fold(again.cluster_events)


# --- the trace section ----------------------------------------------------------------------


def state_trace() -> Trace:
    """Nodes a (t=10), b (t=20), c (t=40); a changes at 30, b goes at 50; a PriorityClass at 10."""
    a = cluster.recorded(NODE, node("a"))
    a2 = cluster.recorded(NODE, node("a", "8"))
    b = cluster.recorded(NODE, node("b"))
    c = cluster.recorded(NODE, node("c", taints=[{"key": "gpu", "effect": "NoSchedule"}]))
    high = cluster.recorded(PC, pclass("high", 100))
    events = [new_event(10, [a, high]), new_event(20, [b]), new_event(30, [a2]), new_event(40, [c]),
              new_event(50, [], [b])]
    trace = Trace(config=CONFIG.to_document(), events=[new_event(t, [dep(f"d{t}")]) for t in (15, 35, 60)])
    cluster.set_section(trace, cluster.section(events))
    return trace


def names_at(section: dict, i: int) -> list[str]:
    return sorted(o["metadata"]["name"] for o in section["events"][i]["applied_objs"])


def test_a_window_folds_the_state_before_it_and_keeps_the_changes_inside() -> None:
    trace = state_trace()
    out = export_window(trace, 25, 45, ExportFilters(frozenset({"ns"}), ()))  # the filters do not apply to it
    section = out.extra[cluster.CLUSTER_KEY]
    assert [e["ts"] for e in section["events"]] == [25, 30, 40]
    assert names_at(section, 0) == ["a", "b", "high"]
    assert section["events"][0]["applied_objs"][0]["status"]["capacity"]["cpu"] == "4"  # a before its change
    assert out.events[0]["ts"] == 25 and out.events[0]["applied_objs"] == []
    # a window after the last change starts from the final state, with no changes
    late = export_window(trace, 55, 70, NO_FILTERS).extra[cluster.CLUSTER_KEY]
    assert [e["ts"] for e in late["events"]] == [55] and names_at(late, 0) == ["a", "c", "high"]
    # a window before anything was recorded: nothing to carry
    assert cluster.CLUSTER_KEY not in export_window(trace, 0, 5, NO_FILTERS).extra
    # export --from FILE cuts the same
    assert codec.decode(codec.encode(out)).extra == out.extra


def test_msgpack_and_cbor_keep_the_section_and_simkube_sees_no_node_events(tmp_path: Path) -> None:
    import msgpack

    trace = state_trace()
    packed = simkube.encode(trace)
    doc = msgpack.unpackb(packed, raw=False, strict_map_key=False)
    assert list(doc)[:5] == ["version", "config", "events", "index", "pod_lifecycles"]
    assert doc["config"] == CONFIG.to_document()
    assert all(o["kind"] == "Deployment" for e in doc["events"] for o in e["applied_objs"])
    back = simkube.decode(packed)
    assert back.extra == trace.extra
    src, mid, out = tmp_path / "t.msgpack", tmp_path / "t.sktrace", tmp_path / "again.msgpack"
    src.write_bytes(packed)
    assert main(["convert", str(src), str(mid)]) == 0
    assert main(["convert", str(mid), str(out)]) == 0
    assert out.read_bytes() == packed


@pytest.mark.parametrize(("section", "problem"), [
    ([], "cluster: is not a map"),
    ({"events": {}}, "cluster: 'events' is missing or not a list"),
    ({"events": [{"applied_objs": []}]}, "cluster: event 0 has no integer 'ts'"),
    ({"events": [{"ts": -1}]}, "cluster: event 0 has a time -1 out of range"),
    ({"events": [{"ts": 1, "applied_objs": [{"kind": "Node"}]}]},
     "cluster: event 0 (ts 1): applied_objs[0] holds an object without a string apiVersion and kind"),
    ({"events": [{"ts": 1, "deleted_objs": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n",
                                                                                             "labels": {"a": 1}}}]}]},
     "cluster: event 0 (ts 1): deleted_objs[0] (Node n) has labels that are not a map of strings"),
])
def test_the_reader_checks_the_section_s_shape(section: Any, problem: str) -> None:
    doc = state_trace().to_document()
    doc[cluster.CLUSTER_KEY] = section
    with pytest.raises(InputError, match="not a valid trace: " + problem.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        codec.from_document(doc, "t", "skctl")


def test_newer_kinds_and_keys_in_the_section_are_accepted_and_ignored() -> None:
    doc = state_trace().to_document()
    runtime = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "r"}
    doc[cluster.CLUSTER_KEY]["events"][0]["applied_objs"].append(runtime)
    doc[cluster.CLUSTER_KEY]["future"] = {"x": 1}
    trace = codec.from_document(doc, "t", "skctl")
    initial, _steps = state_plan(trace, 1.0)
    assert runtime in initial  # carried; the driver skips kinds it does not know


def test_xray_summarises_the_node_inventory_in_a_few_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = summarize(state_trace())["starting_state"]
    # at the trace's start (its first event, ts 15, as the driver starts): a and the PriorityClass
    assert state == {"nodes": 1, "node_shapes": [{"shape": "cpu 4, memory 15Gi, pods 110", "nodes": 1}],
                     "other_shapes": 0, "node_changes": 4, "priority_classes": ["high"]}
    window = export_window(state_trace(), 45, 70, NO_FILTERS)
    assert summarize(window)["starting_state"]["node_shapes"] == [
        {"shape": "cpu 8, memory 15Gi, pods 110", "nodes": 1},
        {"shape": "cpu 4, memory 15Gi, pods 110", "nodes": 1},
        {"shape": "cpu 4, memory 15Gi, pods 110, taints gpu", "nodes": 1},
    ]
    path = tmp_path / "w.sktrace"
    path.write_bytes(codec.encode(window))
    assert main(["xray", str(path)]) == 0
    out = capsys.readouterr().out
    assert "nodes       3 at the start, 1 node changes later" in out and "1 × cpu 4, memory 15Gi, pods 110, taints gpu" in out
    assert summarize(Trace())["starting_state"] is None


# --- the driver -----------------------------------------------------------------------------


def test_node_manifests_keep_the_recorded_shape_on_a_kwok_node_of_their_own() -> None:
    gpu = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    recorded = cluster.recorded(NODE, node("ip-10-0-0-1.ec2.internal", "8", taints=[gpu],
                                           labels={"zone": "z1", "type": "m5"}, unschedulable=True))
    assert recorded is not None
    m = node_manifest(recorded, "sim", "virtual")
    assert m["metadata"]["name"] == "virtual-ip-10-0-0-1.ec2.internal"
    assert m["metadata"]["labels"] == {
        "kubernetes.io/hostname": "virtual-ip-10-0-0-1.ec2.internal", "zone": "z1", "type": "virtual",
        "simkube.io/simulation": "sim", "simkube.io/virtual": "true"}
    assert m["metadata"]["annotations"] == {"kwok.x-k8s.io/node": "fake",
                                            "simkube.io/original-node": "ip-10-0-0-1.ec2.internal"}
    assert m["spec"] == {"taints": [gpu, {"key": "kwok-provider", "value": "true", "effect": "NoSchedule"}],
                         "unschedulable": True}
    assert m["status"] == recorded["status"] and m["status"]["allocatable"]["cpu"] == "8"
    assert recorded["metadata"]["labels"]["type"] == "m5", "the recorded node is not changed"
    # a name too long for a node is cut and kept unique by a hash
    long_a, long_b = "n" * 250 + "a", "n" * 250 + "b"
    va, vb = virtual_node_name("virtual", long_a), virtual_node_name("virtual", long_b)
    assert len(va) <= 253 and len(vb) <= 253 and va != vb


def test_owner_references_point_at_the_simulation_s_uids_or_go() -> None:
    obj = dep("web")
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "example.com/v1", "kind": "App", "name": "shop", "uid": "prod-uid", "controller": True,
         "blockOwnerDeletion": True},
        {"apiVersion": "example.com/v1", "kind": "App", "name": "gone", "uid": "prod-uid-2"},
    ]
    uids = {("example.com/v1.App", "virtual-ns/shop"): "sim-uid"}
    twin = virtual_object(obj, sim_name="s", ns_prefix="virtual", template_paths=("/spec/template",),
                          owner_uid=uids.get)
    assert twin["metadata"]["ownerReferences"] == [
        {"apiVersion": "example.com/v1", "kind": "App", "name": "shop", "uid": "sim-uid", "controller": True}]
    plain = virtual_object(obj, sim_name="s", ns_prefix="virtual", template_paths=("/spec/template",))
    assert "ownerReferences" not in plain["metadata"]


def test_run_passes_nodes_to_the_driver_and_grants_exactly_what_it_needs() -> None:
    opts = manifests.RunOptions(name="sim", nodes="trace")
    assert manifests.driver_args(opts)[-2:] == ["--nodes", "trace"]
    assert "--nodes" not in manifests.driver_args(manifests.RunOptions(name="sim"))
    rules: dict[tuple[str, str], set[str]] = {}
    for r in manifests.workloads_role()["rules"]:
        for res in r["resources"]:
            rules.setdefault((r["apiGroups"][0], res), set()).update(r["verbs"])
    crud = {"create", "patch", "get", "list", "delete"}
    # nodes: the starting state's writes, and the report recorder's watch
    assert rules[("", "nodes")] == crud | {"watch"} and rules[("scheduling.k8s.io", "priorityclasses")] == crud
    assert rules[("", "nodes/status")] == {"patch"}
    with pytest.raises(InputError, match="--nodes 'fake'"):
        manifests.validate_options(manifests.RunOptions(name="sim", nodes="fake"))


@pytest.fixture
def kube(sandbox) -> Kube:  # noqa: ANN001
    k = Kube(sandbox.api_client())
    yield k
    k.close()


def sim_nodes(kube: Kube, sim: str) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in kube.list("v1", "Node", label_selector=f"simkube.io/simulation={sim}")}


def test_drive_nodes_trace_makes_follows_and_removes_the_recorded_nodes(kube: Kube) -> None:
    # at 15: a (4 cpu) and the PriorityClass; then b (20), a → 8 cpu (30), c (40), b goes (50);
    # events at 15 (the window's start event and d15), 35 and 60
    trace = export_window(state_trace(), 15, 70, NO_FILTERS)
    kube.apply({**cluster.recorded(NODE, node("virtual-c")), "metadata": {"name": "virtual-c"}})  # someone else's
    seen: list[dict[str, dict[str, Any]]] = []
    pcs: list[Any] = []

    def on_step(record: StepRecord) -> None:
        seen.append(sim_nodes(kube, "st"))
        pcs.append(kube.get("scheduling.k8s.io/v1", "PriorityClass", "high"))

    opts = DriveOptions(name="st", speed=100.0, nodes="trace", node_ready_timeout=0.2)  # no KWOK in the sandbox
    result = Driver(kube, trace, opts, on_step=on_step).run()
    assert result.nodes_created == 2 and result.events == 4
    first = seen[0]  # before the first event: a, shaped as recorded
    assert sorted(first) == ["virtual-a"]
    assert first["virtual-a"]["status"]["allocatable"]["cpu"] == "4"
    assert first["virtual-a"]["metadata"]["labels"]["type"] == "virtual"
    assert pcs[0] is not None and pcs[0]["value"] == 100
    mid = seen[2]  # ts 35: b came at 20, a changed at 30 (through the status subresource)
    assert sorted(mid) == ["virtual-a", "virtual-b"]
    assert mid["virtual-a"]["status"]["capacity"]["cpu"] == "8"
    last = seen[3]  # ts 60: b removed at 50; c (40) is someone else's name: left alone
    assert sorted(last) == ["virtual-a"]
    assert len(result.failures) == 0
    assert kube.get("v1", "Node", "virtual-c")["metadata"].get("labels") in (None, {})
    # cleanup: the simulation's nodes and PriorityClass are gone, the other node stays
    assert sim_nodes(kube, "st") == {} and kube.get("scheduling.k8s.io/v1", "PriorityClass", "high") is None
    assert kube.get("v1", "Node", "virtual-c") is not None

    # --nodes cluster (the default) makes no node; PriorityClasses are still applied
    pcs.clear()
    seen.clear()
    Driver(kube, trace, DriveOptions(name="st", speed=100.0), on_step=on_step).run()
    assert all(s == {} for s in seen) and pcs[0] is not None

    # a trace without recorded nodes: --nodes trace is refused before anything is written
    with pytest.raises(InputError, match="carries no recorded nodes"):
        Driver(kube, Trace(events=[new_event(1, [dep("x")])]), opts).run()


def test_an_owner_applied_by_the_simulation_is_referenced_by_its_new_uid(kube: Kube) -> None:
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": "ns"}, "data": {}}
    owned = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "owned", "namespace": "ns", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "prod"},
            {"apiVersion": "v1", "kind": "Secret", "name": "never-applied", "uid": "prod2"}]}, "data": {}}
    trace = Trace(events=[new_event(1, [owner]), new_event(2, [owned])])
    got: list[Any] = []
    Driver(kube, trace, DriveOptions(name="own", speed=100.0), on_step=lambda r: got.append(
        (kube.get("v1", "ConfigMap", "owner", "virtual-ns"), kube.get("v1", "ConfigMap", "owned", "virtual-ns")))).run()
    sim_owner, sim_owned = got[-1]
    assert sim_owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": sim_owner["metadata"]["uid"]}]
    assert sim_owner["metadata"]["uid"] != "prod"


def test_delete_removes_the_simulation_s_nodes(kube: Kube) -> None:
    recorded = cluster.recorded(NODE, node("a"))
    assert recorded is not None
    kube.apply(node_manifest(recorded, "gone", "virtual"))
    kube.apply(copy.deepcopy(node_manifest(recorded, "other", "v2")))
    deleted, _terminating = delete_simulation(kube, "gone", "simkube")
    assert deleted == ["node virtual-a"]
    assert kube.get("v1", "Node", "virtual-a") is None and kube.get("v1", "Node", "v2-a") is not None


# --- the running tracer ---------------------------------------------------------------------


def test_the_tracer_watches_nodes_and_serves_them_in_exports(sandbox, tmp_path: Path) -> None:  # noqa: ANN001
    import requests

    from skctl.sandbox.scenario import WorkloadGenerator
    from skctl.tracer.service import Tracer, TracerOptions
    from tests.helpers import wait_for

    WorkloadGenerator(sandbox.store, seed=1, scenario="deployments", nodes=2)
    kube = Kube(sandbox.api_client())
    kube.apply({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 9})
    tracer = Tracer(kube, TracerOptions(config=CONFIG, journal_dir=tmp_path / "j", port=0)).start()
    try:
        assert tracer.recorder.wait_synced(10)
        assert {"v1.Node", PC} <= set(tracer.recorder.states())
        kube.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "late", "labels": {"pool": "b"}},
                    "status": {"capacity": {"cpu": "2"}, "allocatable": {"cpu": "2"}}})
        wait_for(lambda: (NODE, "late") in tracer.store.cluster_live, what="the new node recorded")
        host, port = tracer.address
        body = {"start_ts": 0, "end_ts": 2**40, "filters": {"excluded_namespaces": [], "excluded_labels": []}}
        answer = requests.post(f"http://{host}:{port}/export", json=body, timeout=30)  # SimKube's msgpack
        answer.raise_for_status()
        exported = simkube.decode(answer.content)
    finally:
        tracer.close()
    final = cluster.fold(exported.extra[cluster.CLUSTER_KEY]["events"])
    assert sorted(name for gvk, name in final) == ["high", "late", "sandbox-node-0", "sandbox-node-1"]
    assert final[(NODE, "late")]["status"]["capacity"] == {"cpu": "2"}

    # --no-starting-state: no watch on them, nothing in the trace
    off = parse_config({"trackedObjects": {"apps/v1.Deployment": {}}})
    off.starting_state = False
    tracer = Tracer(kube, TracerOptions(config=off, journal_dir=tmp_path / "j2", port=0)).start()
    try:
        assert tracer.recorder.wait_synced(10)
        assert "v1.Node" not in tracer.recorder.states()
        assert cluster.CLUSTER_KEY not in tracer.store.to_trace().extra
    finally:
        tracer.close()
        kube.close()


@pytest.mark.parametrize("flag", [[], ["--no-starting-state"]])
def test_trace_command_records_the_starting_state_unless_told_not_to(sandbox, sandbox_kubeconfig: Path,  # noqa: ANN001
                                                                      tmp_path: Path, flag: list[str]) -> None:
    from skctl.sandbox.scenario import WorkloadGenerator
    from skctl.trace.load import read_trace

    gen = WorkloadGenerator(sandbox.store, seed=2, scenario="deployments", nodes=3)
    gen.run(5)
    out = tmp_path / "whole.sktrace"
    assert main(["trace", "--kubeconfig", str(sandbox_kubeconfig), "--journal", str(tmp_path / "j"),
                 "--listen", "127.0.0.1:0", "--duration", "1s", "-o", str(out), *flag]) == 0
    trace = read_trace(str(out))
    inventory = summarize(trace)["starting_state"]
    if flag:
        # the config says why there is none (SimKube's config reader ignores the top-level key)
        assert inventory is None and trace.config["startingState"] is False
    else:
        assert inventory is not None and inventory["nodes"] == 3 and "startingState" not in trace.config


def test_the_preflight_checks_what_the_starting_state_needs(sandbox, kube: Kube) -> None:  # noqa: ANN001
    """With exactly the driver's ClusterRole a `--nodes trace` replay passes the pre-flight;
    without the node permissions (an older aggregated role) it stops before any write,
    naming what is missing; PriorityClasses are checked in both modes."""
    from skctl.sandbox.access import AccessRules

    trace = export_window(state_trace(), 15, 70, NO_FILTERS)
    rules = copy.deepcopy(manifests.workloads_role()["rules"])
    sandbox.access = AccessRules(rules)
    opts = DriveOptions(name="pf", speed=100.0, nodes="trace", node_ready_timeout=0.2)
    Driver(kube, trace, opts).preflight()
    without_nodes = [dict(r, resources=[x for x in r.get("resources", []) if not x.startswith("nodes")])
                     for r in rules]
    sandbox.access = AccessRules(without_nodes)
    with pytest.raises(InputError, match="nodes"):
        Driver(kube, trace, opts).preflight()
    Driver(kube, trace, DriveOptions(name="pf", speed=100.0)).preflight()  # --nodes cluster makes none
    without_pcs = [dict(r, resources=[x for x in r.get("resources", []) if x != "priorityclasses"]) for r in rules]
    sandbox.access = AccessRules(without_pcs)
    with pytest.raises(InputError, match="priorityclasses"):
        Driver(kube, trace, DriveOptions(name="pf", speed=100.0)).preflight()
    assert sim_nodes(kube, "pf") == {}



def test_a_short_duration_counts_from_the_first_lists(sandbox, tmp_path: Path) -> None:  # noqa: ANN001
    """`--duration` (Tracer.stop_after) starts counting once every watch has listed the
    cluster: with the Node list held up for seconds (429, retry after 2 s, twice), a one-second
    recording stops only after the nodes are listed, where a plain timer would have stopped
    before them."""
    import threading

    from skctl.kube.api import Kube
    from skctl.tracer.service import Tracer, TracerOptions

    sandbox.faults.fail_next(2, 429, retry_after=2, path_contains="/nodes", method="GET")
    tracer = Tracer(Kube(sandbox.api_client()), TracerOptions(config=CONFIG, journal_dir=tmp_path / "j", port=0)).start()
    try:
        stop = threading.Event()
        tracer.stop_after(1.0, stop)
        assert stop.wait(60)
        assert sandbox.faults.injected == 2
        assert tracer.recorder.wait_synced(0)  # every watch, the Nodes' too, had listed first
    finally:
        tracer.close()
