"""The report's measurements on constructed event streams, with exact expected numbers.

A Recorder is fed pod, node, event and object changes at chosen times (its clock is the
test's), then skctl.report.measure turns its records into the report's sections.
"""

from __future__ import annotations

from typing import Any

import pytest

from skctl.report import measure
from skctl.report.measure import DriverFacts, TraceFacts
from skctl.report.recorder import Recorder, scheduler_reasons
from tests.helpers import deployment

T0 = 1_000_000.0  # the recorder's wall clock at trace time t0
NS = "virtual-shop"
INSUFFICIENT = ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
                "{node.kubernetes.io/not-ready: }. preemption: 0/2 nodes are available: 2 No preemption victims "
                "found for incoming pod.")


def pod(name: str, *, node: str = "", phase: str = "Pending", cpu: str = "1", mem: str = "1Gi",
        unschedulable: str = "", owner_uid: str = "", annotations: dict[str, str] | None = None,
        disruption: str = "") -> dict[str, Any]:
    conditions = []
    if unschedulable:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable})
    if disruption:
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": disruption})
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "annotations": annotations or {}}
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner_uid,
                                    "controller": True}]
    return {"metadata": meta,
            "spec": {"nodeName": node or None, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]},
            "status": {"phase": phase, "conditions": conditions}}


def node(name: str, cpu: str = "4", mem: str = "8Gi", virtual: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"type": "virtual"} if virtual else {}},
            "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"}}}


def recorder() -> Recorder:
    return Recorder([NS], ["apps/v1.Deployment"], "virtual", clock=lambda: pytest.fail("every change has a time"))


def facts(**kw: Any) -> TraceFacts:
    base: dict[str, Any] = {"t0": 0.0, "t_end": 100.0, "speed": 1.0, "kinds": frozenset({"apps/v1.Deployment"})}
    return TraceFacts(**{**base, **kw})


def window(r: Recorder, end: float) -> None:
    r.records.replay_start = T0
    r.records.replay_end = T0 + end


def test_startup_latencies_of_one_pod_are_exact() -> None:
    r = recorder()
    r.on_node("ADDED", node("n1"), T0)
    r.on_pod("ADDED", pod("a"), T0 + 1)
    r.on_pod("MODIFIED", pod("a", node="n1"), T0 + 3)  # created at t+1, scheduled at t+3
    r.on_pod("MODIFIED", pod("a", node="n1", phase="Running"), T0 + 6)  # running at t+6
    r.on_pod("MODIFIED", pod("a", node="n1", phase="Running"), T0 + 9)  # later changes move nothing
    window(r, 20)
    doc = measure.measure(r.records, facts(), DriverFacts())
    st = doc["pods"]["startup"]
    assert st["create_to_schedule"] == {"count": 1, "p50": 2.0, "p90": 2.0, "p99": 2.0, "max": 2.0}
    assert st["schedule_to_run"]["p50"] == 3.0
    assert st["create_to_run"]["max"] == 5.0
    assert doc["pods"] == {**doc["pods"], "count": 1, "scheduled": 1, "running": 1}
    m = measure.metrics(doc)
    assert (m["pod_startup_p99"], m["create_to_schedule_p50"], m["schedule_to_run_max"]) == (5.0, 2.0, 3.0)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    s = measure.summary(values)
    assert (s["p50"], s["p90"], s["p99"], s["max"], s["count"]) == (50.0, 90.0, 99.0, 100.0, 100)
    assert measure.summary([4.0, 1.0, 3.0]) == {"count": 3, "p50": 3.0, "p90": 4.0, "p99": 4.0, "max": 4.0}
    assert measure.summary([])["p99"] is None


def test_unschedulable_pods_over_time_with_the_schedulers_reasons() -> None:
    r = recorder()
    r.on_node("ADDED", node("n1", cpu="2"), T0)
    for i, (created, refused, bound) in enumerate([(0, 1, 10), (2, 3, None), (4, None, 5)]):
        name = f"p{i}"
        r.on_pod("ADDED", pod(name), T0 + created)
        if refused is not None:
            r.on_pod("MODIFIED", pod(name, unschedulable=INSUFFICIENT), T0 + refused)
        if bound is not None:
            r.on_pod("MODIFIED", pod(name, node="n1"), T0 + bound)
    r.on_event("ADDED", {"reason": "FailedScheduling", "message": INSUFFICIENT,
                         "involvedObject": {"kind": "Pod", "namespace": NS, "name": "p1", "uid": "uid-p1"}}, T0 + 3)
    window(r, 20)
    doc = measure.measure(r.records, facts(), DriverFacts())
    sched = doc["scheduling"]
    # p0 unschedulable 1..10, p1 from 3 to the window's end: at most 2 at once
    assert sched["unschedulable_max"] == 2 and sched["unschedulable_pods"] == 2
    assert sched["reasons"] == {"Insufficient cpu": 2, "node(s) had untolerated taint {node.kubernetes.io/not-ready: }": 2}
    assert doc["series"]["unschedulable"] == [[0.0, 0.0], [1.0, 1.0], [3.0, 2.0], [10.0, 1.0]]
    # pending: p0 10 s, p1 18 s (censored at the window's end), p2 1 s
    assert sched["pending_seconds"] == {"count": 3, "p50": 10.0, "p90": 18.0, "p99": 18.0, "max": 18.0}
    assert doc["series"]["pending"] == [[0.0, 1.0], [2.0, 2.0], [4.0, 3.0], [5.0, 2.0], [10.0, 1.0]]
    assert sched["pending_max"] == 3
    assert sched["events"] == {"FailedScheduling": 1}


def test_scheduler_reasons_are_split_without_counts() -> None:
    assert scheduler_reasons(INSUFFICIENT)[0] == "Insufficient cpu"
    assert scheduler_reasons("0/4 nodes are available: 4 Insufficient memory.") == ("Insufficient memory",)
    assert scheduler_reasons("pod has unbound immediate PersistentVolumeClaims.") == (
        "pod has unbound immediate PersistentVolumeClaims",)


def test_scheduling_throughput_counts_binds_per_second_idle_seconds_included() -> None:
    t = T0 + 0.5
    got = measure.throughput([t, t + 0.1, t + 0.2, t + 2.0])  # seconds 0: 3, 1: 0, 2: 1
    assert got == {"total": 4, "window_seconds": 3, "p50": 1.0, "p90": 3.0, "p99": 3.0, "max": 3.0}
    assert measure.throughput([])["max"] is None


def test_preemptions_and_evictions_from_conditions_and_events() -> None:
    r = recorder()
    r.on_pod("ADDED", pod("a"), T0)
    r.on_pod("ADDED", pod("b"), T0)
    r.on_pod("ADDED", pod("c"), T0)
    r.on_pod("MODIFIED", pod("a", disruption="PreemptionByScheduler"), T0 + 1)
    r.on_event("ADDED", {"reason": "Evicted", "involvedObject": {"kind": "Pod", "namespace": NS, "name": "b",
                                                                   "uid": "uid-b"}}, T0 + 1)
    r.on_event("ADDED", {"reason": "Evicted", "involvedObject": {"kind": "Pod", "namespace": "elsewhere", "name": "x",
                                                                   "uid": "uid-x"}}, T0 + 1)
    window(r, 10)
    sched = measure.measure(r.records, facts(), DriverFacts())["scheduling"]
    assert (sched["preemptions"], sched["evictions"]) == (1, 1)
    assert sched["events"] == {"Evicted": 1}  # the other namespace's event is not the simulation's


def test_nodes_added_removed_utilisation_and_pods_per_node() -> None:
    r = recorder()
    r.on_node("ADDED", node("n1", cpu="4", mem="8Gi"), T0 - 5)
    r.on_node("ADDED", node("n2", cpu="4", mem="8Gi"), T0 + 10)  # added at t+10
    r.on_node("ADDED", node("real", cpu="64", virtual=False), T0)  # not where the simulation's pods go
    r.on_pod("ADDED", pod("a", cpu="2", mem="2Gi"), T0)
    r.on_pod("MODIFIED", pod("a", node="n1", cpu="2", mem="2Gi"), T0)
    r.on_pod("ADDED", pod("b", cpu="1", mem="1Gi"), T0 + 12)
    r.on_pod("MODIFIED", pod("b", node="n2", cpu="1", mem="1Gi"), T0 + 12)
    r.on_pod("ADDED", pod("c", cpu="1", mem="1Gi"), T0 + 12)
    r.on_pod("MODIFIED", pod("c", node="n1", cpu="1", mem="1Gi"), T0 + 12)
    r.on_pod("DELETED", pod("a", node="n1"), T0 + 15)
    r.on_node("DELETED", node("n2"), T0 + 18)
    window(r, 20)
    nd = measure.measure(r.records, facts(), DriverFacts())["nodes"]
    assert (nd["count_min"], nd["count_max"], nd["added"], nd["removed"]) == (1, 2, 1, 1)
    # CPU: 2/4 until 10, 2/8 until 12, 4/8 until 15, 2/8 until 18, then 1/4 (b's node left)
    assert nd["cpu_utilisation_peak"] == 0.5
    mean = (0.5 * 10 + 0.25 * 2 + 0.5 * 3 + 0.25 * 3 + 0.25 * 2) / 20
    assert nd["cpu_utilisation_mean"] == round(mean, 4)
    assert nd["pods_bound_peak"] == 3
    assert nd["per_node"]["n1"]["pods_peak"] == 2 and nd["per_node"]["n1"]["cpu_requested_peak_m"] == 3000
    assert nd["per_node"]["n1"]["pods_at_peak"] == 2 and nd["per_node"]["n2"]["pods_at_peak"] == 1
    assert nd["pods_per_node_spread"] == 1
    assert "real" not in nd["per_node"]


def test_fidelity_judges_checkpoints_after_the_settle_time() -> None:
    r = recorder()
    # the trace: web has 2 replicas from t=0, 4 from t=50; replayed at speed 2 (t=50 is wall +25),
    # the simulation is ready with 2 at +1 and with 4 at +27, 2 s after the change
    r.on_object("apps/v1.Deployment", "ADDED", deployment("web", NS, replicas=2, uid="uid-web", status={"readyReplicas": 0}), T0 + 0.2)
    r.on_object("apps/v1.Deployment", "MODIFIED", deployment("web", NS, replicas=2, uid="uid-web", status={"readyReplicas": 2}), T0 + 1)
    r.on_object("apps/v1.Deployment", "MODIFIED", deployment("web", NS, replicas=4, uid="uid-web", status={"readyReplicas": 4}), T0 + 27)
    # db: 3 replicas in the trace throughout, never more than 1 ready in the simulation
    r.on_object("apps/v1.Deployment", "ADDED", deployment("db", NS, replicas=3, uid="uid-db", status={"readyReplicas": 1}), T0 + 1)
    window(r, 50)
    f = facts(speed=2.0, t_end=100.0, replicas={
        ("apps/v1.Deployment", f"{NS}/web"): [(0.0, 2), (50.0, 4)],
        ("apps/v1.Deployment", f"{NS}/db"): [(0.0, 3)],
    })
    doc = measure.measure(r.records, f, DriverFacts())
    fid = doc["fidelity"]
    # checkpoints every trace second, t = 0..100; the settle time is 5 s wall = 10 trace seconds,
    # so t = 0..9 and (for web) t = 50..59 are settling, not judged
    web = next(o for o in fid["objects"] if o["object"].endswith("/web"))
    db = next(o for o in fid["objects"] if o["object"].endswith("/db"))
    assert web == {"object": "apps/v1.Deployment shop/web", "checkpoints": 81, "agreeing": 81, "settling": 20,
                   "score": 1.0, "max_difference": 0}
    assert db == {"object": "apps/v1.Deployment shop/db", "checkpoints": 91, "agreeing": 0, "settling": 10,
                  "score": 0.0, "max_difference": 2}
    assert (fid["score"], fid["checkpoints"], fid["agreeing"]) == (round(81 / 172, 4), 172, 81)
    assert fid["objects"][0]["object"].endswith("/db")  # least faithful first
    assert fid["tolerance"] == {"replicas": 0, "settle_seconds": 5.0, "checkpoint_interval_trace_seconds": 1.0}
    assert doc["series"]["ready_vs_trace"]["apps/v1.Deployment shop/db"] == {"ready": [[1.0, 1]], "trace": [[0.0, 3]]}
    assert measure.metrics(doc)["fidelity"] == round(81 / 172, 4)


def test_fidelity_of_a_replay_faster_than_the_settle_time_is_none() -> None:
    r = recorder()
    r.on_object("apps/v1.Deployment", "ADDED", deployment("web", NS, replicas=2, uid="uid-web", status={"readyReplicas": 0}), T0 + 0.2)
    window(r, 1)  # 100 trace seconds at speed 100 in one wall second: everything is settling
    f = facts(speed=100.0, replicas={("apps/v1.Deployment", f"{NS}/web"): [(0.0, 2)]})
    fid = measure.measure(r.records, f, DriverFacts())["fidelity"]
    assert fid["score"] is None and fid["checkpoints"] == 0 and fid["settling"] == 101


def test_lifecycles_found_and_missing_through_the_owner_chain() -> None:
    r = recorder()
    r.on_object("apps/v1.Deployment", "ADDED", deployment("web", NS, replicas=2, uid="d1", status={"readyReplicas": 2}), T0)
    rs = {"metadata": {"name": "web-1", "namespace": NS, "uid": "rs1",
                       "ownerReferences": [{"uid": "d1", "controller": True}]}, "spec": {"replicas": 2}}
    r.on_object("apps/v1.ReplicaSet", "ADDED", rs, T0)
    done = {"simkube.io/kwok-stage-complete-time": "2024-01-01T00:00:00Z"}
    r.on_pod("ADDED", pod("a", owner_uid="rs1", annotations=done), T0)
    r.on_pod("ADDED", pod("b", owner_uid="rs1"), T0)
    r.on_pod("ADDED", pod("c"), T0)  # no owner
    window(r, 10)
    f = facts(lifecycle_owners=frozenset({("apps/v1.Deployment", "shop/web")}))
    doc = measure.measure(r.records, f, DriverFacts())
    assert doc["fidelity"]["lifecycles"] == {"found": 1, "none": 1, "untracked": 1}
    assert set(doc["pods"]["startup"]["by_owner"]) == set()  # none of them ran


def test_driver_lateness_and_failures() -> None:
    from skctl.report.records import StepTiming

    r = recorder()
    r.records.steps.extend(StepTiming(i, late) for i, late in enumerate([0.01, 0.02, 0.5, -0.001]))
    window(r, 1)
    drv = measure.measure(r.records, facts(), DriverFacts(events=4, applies=5, failed_applies=2,
                                                         failed_deletes=1))["driver"]
    assert (drv["lateness_p50"], drv["lateness_p99"], drv["lateness_max"]) == (0.01, 0.5, 0.5)
    assert (drv["failed_applies"], drv["failed_deletes"], drv["events"]) == (2, 1, 4)


def test_changes_after_the_window_are_not_measured() -> None:
    r = recorder()
    r.on_pod("ADDED", pod("a"), T0 + 1)
    r.on_pod("MODIFIED", pod("a", node="n1"), T0 + 30)  # after the replay ended (cleanup)
    window(r, 10)
    doc = measure.measure(r.records, facts(), DriverFacts())
    assert doc["pods"]["scheduled"] == 0 and doc["scheduling"]["pending_seconds"]["max"] == 9.0


def test_downsampling_keeps_peaks() -> None:
    points = [(float(t), float(t % 7 == 0) * 100) for t in range(10_000)]
    out = measure.downsample(points, 10_000.0, limit=100)
    assert len(out) <= 101 and max(v for _t, v in out) == 100.0


def test_diff_verdicts_follow_each_metrics_direction_and_noise() -> None:
    from skctl.report.diff import verdict

    assert verdict("pod_startup_p99", 2.0, 3.0) == "worse" and verdict("pod_startup_p99", 2.0, 1.0) == "better"
    assert verdict("pod_startup_p99", 2.0, 2.05) == "same"  # within 5%
    assert verdict("fidelity", 1.0, 0.97) == "worse"  # shares: half a percentage point
    assert verdict("fidelity", 0.99, 0.993) == "same"
    assert verdict("pods_per_node_spread", 2, 20) == "changed"  # no better direction
    assert verdict("pod_startup_p99", None, 1.0) == "n/a" and verdict("fidelity", None, None) == "same"


def test_node_count_min_counts_the_nodes_there_from_the_start() -> None:
    """One node from before the replay, a second added later and kept: the count ran 1 then 2
    (the first point of the series is a real value, not a placeholder to skip)."""
    r = recorder()
    r.on_node("ADDED", node("n1", cpu="4", mem="8Gi"), T0 - 5)
    r.on_node("ADDED", node("n2", cpu="4", mem="8Gi"), T0 + 6)
    window(r, 20)
    nd = measure.measure(r.records, facts(), DriverFacts())["nodes"]
    assert (nd["count_min"], nd["count_max"], nd["added"], nd["removed"]) == (1, 2, 1, 0)
