"""SimKube's own export and lifecycle test cases, restated as tables with skctl's data.

Each case names the SimKube test it restates (sk-core trace/pod-owners tests and the
sk-tracer store and import/export tests). Inputs and expected outputs are written out
here; the expected values are SimKube's behaviour, not whatever skctl happens to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skctl.sim.mutate import place_on_virtual_nodes
from skctl.trace import pods
from skctl.trace.model import Trace, new_event
from skctl.trace.window import NO_FILTERS, ExportFilters, export_window, filter_lifecycles
from tests.helpers import deployment

ROOT = Path(__file__).resolve().parent.parent
DEPL = "apps/v1.Deployment"


def lc(start: int | None, end: int | None = None) -> dict[str, Any]:
    return {"start_ts": start, "end_ts": end}


def replicaset(name: str, owner: str, ns: str = "test") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": ns,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u"}]},
        "spec": {"replicas": 42},
    }


def pod(name: str, ns: str = "test") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


def shape(trace: Trace) -> list[tuple[int, list[str], list[str]]]:
    return [
        (e["ts"], [o["metadata"]["name"] for o in e["applied_objs"]], [o["metadata"]["name"] for o in e["deleted_objs"]])
        for e in trace.events
    ]


def alive_at_end(trace: Trace) -> set[str]:
    """What a replay of the trace leaves behind (SimKube's objs_in_trace)."""
    objs: set[str] = set()
    for e in trace.events:
        objs.update(f"{o['kind']}:{o['metadata']['namespace']}/{o['metadata']['name']}" for o in e["applied_objs"])
        objs.difference_update(f"{o['kind']}:{o['metadata']['namespace']}/{o['metadata']['name']}" for o in e["deleted_objs"])
    return objs


# --- sk-core pod_owners_map_test: filter_lifecycles_map (window [5, 10)) ------------------

FILTER_LIFECYCLES = [
    (
        "test_filter_lifecycles_map: overlapping kept, the one begun before start clipped",
        {1234: [lc(6), lc(7, 9), lc(1, 8), lc(5, 10), lc(10), lc(11), lc(1, 2)]},
        {1234: [lc(6), lc(7, 9), lc(5, 8), lc(5, 10)]},
    ),
    ("test_filter_lifecycles_map_empty: nothing overlaps, nothing left", {1234: [lc(11), lc(1, 2)]}, {}),
    ("a lifecycle spanning the whole window does not overlap it", {7: [lc(1, 20)]}, {}),
    ("a lifecycle begun before start and ended at end does not overlap", {7: [lc(1, 10)]}, {}),
    ("a lifecycle ended exactly at start overlaps (clipped to an instant)", {7: [lc(1, 5)]}, {7: [lc(5, 5)]}),
]


@pytest.mark.parametrize("recorded,expected", [c[1:] for c in FILTER_LIFECYCLES], ids=[c[0] for c in FILTER_LIFECYCLES])
def test_filter_lifecycles_map(recorded: dict, expected: dict) -> None:
    assert filter_lifecycles(recorded, 5, 10) == expected


def test_filter_owners_map() -> None:
    """test_filter_owners_map: only owners in the exported trace keep lifecycles, cut to [5, 10)."""
    trace = Trace(
        events=[new_event(1, [deployment("deployment1", "test"), deployment("deployment2", "test")])],
        pod_lifecycles={
            (DEPL, "test/deployment1"): {1234: [lc(1, 2)]},
            (DEPL, "test/deployment2"): {5678: [lc(6), lc(11)]},
            (DEPL, "test/deployment3"): {9999: [lc(1, 2)]},
        },
    )
    out = export_window(trace, 5, 10, NO_FILTERS)
    assert out.pod_lifecycles == {(DEPL, "test/deployment2"): {5678: [lc(6)]}}


# --- sk-tracer trace_store_test: collect_events ------------------------------------------

def _five_deployments() -> list[dict]:
    return [new_event(ts, [deployment(name, "test")]) for name, ts in [("obj1", 0), ("obj2", 1), ("obj3", 5), ("obj4", 10), ("obj5", 15)]]


COLLECT_EVENTS = [
    (
        "test_collect_events_filtered: every object's namespace excluded leaves the empty start event",
        _five_deployments(), {}, 1, 10, ExportFilters(frozenset({"test"})), [(1, [], [])], {},
    ),
    (
        "test_collect_events: before-start flattened at start, deletes kept, at-or-after end cut",
        [new_event(0, [deployment("obj1", "test")]), new_event(1, [deployment("obj2", "test")]), new_event(4, [], [deployment("obj2", "test")]),
         new_event(5, [deployment("obj3", "test")]), new_event(10, [deployment("obj4", "test")]), new_event(15, [deployment("obj5", "test")]),
         new_event(25, [], [deployment("obj1", "test")])],
        {}, 1, 10, NO_FILTERS,
        [(1, ["obj1"], []), (1, ["obj2"], []), (4, [], ["obj2"]), (5, ["obj3"], [])],
        {DEPL: {"test/obj1", "test/obj2", "test/obj3"}},
    ),
    (
        "test_collect_events_owned_by_tracked_object: the ReplicaSet of an exported Deployment is dropped",
        [new_event(4, [deployment("depl", "test")]), new_event(5, [replicaset("rs", "depl")])],
        # skctl differs on purpose: a start before the recording's first event moves up to it (SimKube
        # keeps an empty event at 1 and idles until 4; docs/simkube.md)
        {}, 1, 10, NO_FILTERS, [(4, [], []), (4, ["depl"], [])], {DEPL: {"test/depl"}},
    ),
    (
        "test_collect_events_finished_pod: a bare pod finished before start is not in the start event",
        [new_event(1, [pod("finished-before-start")]), new_event(2, [pod("running-before-start")]),
         new_event(5, [pod("finished-after-start")]), new_event(7, [pod("running-after-start")])],
        {("v1.Pod", "test/finished-before-start"): {1: [lc(1, 2)]},
         ("v1.Pod", "test/running-before-start"): {1: [lc(1)]},
         ("v1.Pod", "test/finished-after-start"): {1: [lc(5, 6)]},
         ("v1.Pod", "test/running-after-start"): {1: [lc(7)]}},
        3, 10, NO_FILTERS,
        [(3, ["running-before-start"], []), (5, ["finished-after-start"], []), (7, ["running-after-start"], [])],
        None,  # SimKube's test does not check the index here
    ),
]


@pytest.mark.parametrize(
    "events,lifecycles,start,end,filters,expected,index", [c[1:] for c in COLLECT_EVENTS], ids=[c[0] for c in COLLECT_EVENTS]
)
def test_collect_events(events, lifecycles, start, end, filters, expected, index) -> None:
    out = export_window(Trace(events=events, pod_lifecycles=lifecycles), start, end, filters)
    assert shape(out) == expected
    if index is not None:
        assert {gvk: set(names) for gvk, names in out.index.items()} == index


def test_finished_pod_lifecycles_after_export() -> None:
    """The lifecycles exported with test_collect_events_finished_pod's pods: clipped to start."""
    case = COLLECT_EVENTS[3]
    out = export_window(Trace(events=case[1], pod_lifecycles=case[2]), 3, 10, NO_FILTERS)
    assert out.pod_lifecycles == {
        ("v1.Pod", "test/running-before-start"): {1: [lc(3)]},
        ("v1.Pod", "test/finished-after-start"): {1: [lc(5, 6)]},
        ("v1.Pod", "test/running-after-start"): {1: [lc(7)]},
    }


# --- sk-tracer import_export_test: test_export (full trace, and cut to 10 s on import) ----

def _export_scenario() -> list[dict]:
    """Ten Deployments d0..d9 each owning a ReplicaSet, all there from time 0; d0 re-applied
    at 0; from 5 to 15 one Deployment and its ReplicaSet deleted every 5 s (d0, d1, d2);
    a kube-system Deployment at 20, a `foo=bar` one at 24; from 25 to 55 the rest deleted
    every 5 s (d3 .. d9)."""
    events = [new_event(0, [deployment(f"d{i}", "test") for i in range(10)] + [replicaset(f"rs{i}", f"d{i}") for i in range(10)])]
    events.append(new_event(0, [deployment("d0", "test")]))
    for n, ts in enumerate(range(5, 20, 5)):
        events.append(new_event(ts, [], [deployment(f"d{n}", "test"), replicaset(f"rs{n}", f"d{n}")]))
    events.append(new_event(20, [deployment("d30", "kube-system")]))
    events.append(new_event(24, [deployment("d31", "test", labels={"foo": "bar"})]))
    for n, ts in enumerate(range(25, 60, 5), start=3):
        events.append(new_event(ts, [], [deployment(f"d{n}", "test"), replicaset(f"rs{n}", f"d{n}")]))
    return events


EXPORT_CASES = [
    # (id, duration cut on import, objects a replay leaves behind)
    ("full_trace", None, {"Deployment:test/d8", "Deployment:test/d9"}),
    ("partial_trace", 10, {f"Deployment:test/d{i}" for i in range(3, 10)}),
]


@pytest.mark.parametrize("cut,expected", [c[1:] for c in EXPORT_CASES], ids=[c[0] for c in EXPORT_CASES])
def test_export(cut: int | None, expected: set[str]) -> None:
    filters = ExportFilters.from_strings(["kube-system"], ["foo=bar"])
    out = export_window(Trace(events=_export_scenario()), 15, 46, filters)
    if cut is not None:  # what the driver replays with --duration: events before start + cut
        out = Trace(events=[e for e in out.events if e["ts"] < 15 + cut])
    left = alive_at_end(out)
    assert left == expected
    assert not any("d30" in o or "d31" in o or "rs" in o for o in left)


# --- sk-core trace_test: lookup_pod_lifecycle ---------------------------------------------

LOOKUPS = [
    ("test_lookup_pod_lifecycle_no_owner", {}, DEPL, "test/d", 1, 0, None),
    ("test_lookup_pod_lifecycle_no_hash: owner known, no lifecycles", {(DEPL, "x/other"): {1: [lc(1, 2)]}}, DEPL, "test/d", 1, 0, None),
    ("test_lookup_pod_lifecycle", {(DEPL, "test/d"): {1: [lc(1, 2)]}}, DEPL, "test/d", 1, 0, lc(1, 2)),
    ("built-in kind, hash not recorded: the owner's first hash", {(DEPL, "test/d"): {1: [lc(1, 2)], 2: [lc(7, 8)]}},
     DEPL, "test/d", 99, 0, lc(1, 2)),
    ("built-in kind after a rollout: each spec its own lifecycles", {(DEPL, "test/d"): {1: [lc(1, 2)], 2: [lc(7, 8)]}},
     DEPL, "test/d", 2, 0, lc(7, 8)),
    ("custom kind with one recorded hash: used for any spec", {("x.io/v1.Job", "test/j"): {1: [lc(1, 2)]}},
     "x.io/v1.Job", "test/j", 5, 0, lc(1, 2)),
    ("n-th pod, n-th lifecycle", {(DEPL, "test/d"): {1: [lc(1, 2), lc(3, 9)]}}, DEPL, "test/d", 1, 1, lc(3, 9)),
    ("wraps round", {(DEPL, "test/d"): {1: [lc(1, 2), lc(3, 9)]}}, DEPL, "test/d", 1, 4, lc(1, 2)),
    ("custom kind: the hash picks the pod type",
     {("x.io/v1.Job", "test/j"): {1: [lc(1, 2)], 2: [lc(5, 50)]}}, "x.io/v1.Job", "test/j", 2, 0, lc(5, 50)),
    ("custom kind: an unknown hash among several gets nothing",
     {("x.io/v1.Job", "test/j"): {1: [lc(1, 2)], 2: [lc(5, 50)]}}, "x.io/v1.Job", "test/j", 3, 0, None),
]


@pytest.mark.parametrize("recorded,gvk,owner,pod_hash,seq,expected", [c[1:] for c in LOOKUPS], ids=[c[0] for c in LOOKUPS])
def test_lookup_pod_lifecycle(recorded, gvk, owner, pod_hash, seq, expected) -> None:
    assert pods.lookup_lifecycle(recorded, gvk, owner, pod_hash, seq) == expected


def test_pod_counter_numbers_per_owner_and_hash() -> None:
    counter = pods.PodCounter()
    assert [counter.next(DEPL, "a/x", 1) for _ in range(3)] == [0, 1, 2]
    assert counter.next(DEPL, "a/x", 2) == 0 and counter.next(DEPL, "a/y", 1) == 0


# --- sk-driver runner_test: build_virtual_obj's pod specs -----------------------------------

PLACEMENT = [
    ("test_build_virtual_object_multiple_pod_specs: no selector", {}, {"type": "virtual"}),
    ("test_build_virtual_object_multiple_pod_specs: selector merged", {"nodeSelector": {"foo": "bar"}},
     {"type": "virtual", "foo": "bar"}),
    ("a recorded `type` is overwritten, as SimKube does", {"nodeSelector": {"type": "gpu"}}, {"type": "virtual"}),
]


@pytest.mark.parametrize("spec,selector", [c[1:] for c in PLACEMENT], ids=[c[0] for c in PLACEMENT])
def test_virtual_placement(spec: dict, selector: dict) -> None:
    place_on_virtual_nodes(spec)
    assert spec["nodeSelector"] == selector
    place_on_virtual_nodes(spec)  # tolerations appended once, however often the spec is patched
    assert spec["tolerations"] == [{"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}]


# --- config/kwok: the same contract as SimKube's stages ----------------------------------

def test_kwok_stages_follow_simkube_contract() -> None:
    kustomization = yaml.safe_load((ROOT / "config" / "kwok" / "kustomization.yaml").read_text())
    stages = {}
    for name in kustomization["resources"]:
        (doc,) = [d for d in yaml.safe_load_all((ROOT / "config" / "kwok" / name).read_text()) if d]
        assert doc["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
        if doc["kind"] != "Stage":  # the Metric and ClusterResourceUsage for autoscaling
            continue
        assert doc["spec"]["resourceRef"] == {"apiGroup": "v1", "kind": "Pod"}
        stages[doc["metadata"]["name"]] = doc["spec"]
    # SimKube's stage names: installing either project's set over the other changes nothing
    assert set(stages) == {"pod-create", "pod-ready", "pod-complete", "pod-delete"}
    complete = stages["pod-complete"]
    keys = {e["key"]: e for e in complete["selector"]["matchExpressions"]}
    assert keys['.metadata.labels["simkube.io/kwok-stage-complete"]']["operator"] == "Exists"
    assert keys[".status.phase"]["values"] == ["Running"]
    assert complete["delay"]["durationFrom"] == {"expressionFrom": '.metadata.annotations["simkube.io/kwok-stage-complete-time"]'}
    assert "phase: Succeeded" in complete["next"]["patches"][0]["template"]
    for stage, key in (("pod-create", "create"), ("pod-ready", "ready")):
        delay = stages[stage]["delay"]
        assert delay["durationFrom"]["expressionFrom"] == f'.metadata.annotations["simkube.io/kwok-stage-{key}-delay"]'
        assert delay["jitterDurationFrom"]["expressionFrom"] == f'.metadata.annotations["simkube.io/kwok-stage-{key}-delay-jitter"]'
    assert stages["pod-delete"]["next"]["delete"] is True
