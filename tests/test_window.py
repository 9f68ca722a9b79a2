"""Export window semantics (skctl.trace.window), rule by rule, on small hand-built traces."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skctl.kube.selectors import SelectorError, parse_selector
from skctl.trace.model import Trace, new_event
from skctl.trace.window import (
    DEFAULT_EXCLUDED_NAMESPACES,
    NO_FILTERS,
    ExportFilters,
    export_window,
    lifecycle_overlaps,
    spec_hash,
    window_start,
)

API = {"DaemonSet": "apps/v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1", "Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def obj(kind: str, name: str, ns: str = "app", labels: dict | None = None, owner: tuple[str, str] | None = None,
        spec: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    if owner:
        okind, oname = owner
        meta["ownerReferences"] = [{"apiVersion": API[okind], "kind": okind, "name": oname, "uid": "x"}]
    return {"apiVersion": API[kind], "kind": kind, "metadata": meta, "spec": spec if spec is not None else {"v": name}}


def ap(ts: int, *objs: dict) -> dict:
    return new_event(ts, list(objs), [])


def de(ts: int, *objs: dict) -> dict:
    return new_event(ts, [], list(objs))


def names(event: dict, which: str = "applied_objs") -> list[str]:
    return [o["metadata"]["name"] for o in event[which]]


def shape(trace: Trace) -> list[tuple[int, list[str], list[str]]]:
    return [(e["ts"], names(e), names(e, "deleted_objs")) for e in trace.events]


D1, D2 = obj("Deployment", "d1"), obj("Deployment", "d2")
D1v2 = obj("Deployment", "d1", spec={"v": "d1", "replicas": 5})
RS1 = obj("ReplicaSet", "rs1", owner=("Deployment", "d1"))
P_RS1 = obj("Pod", "p-rs1", owner=("ReplicaSet", "rs1"))
P_D1 = obj("Pod", "p-d1", owner=("Deployment", "d1"))
BARE = obj("Pod", "bare")
SYS = obj("Deployment", "coredns", ns="kube-system")
LAB = obj("Deployment", "lab", labels={"team": "infra", "tier": "db"})

F = NO_FILTERS

CASES = [
    # id, events, start, end, filters, expected shape
    ("event exactly at start is kept", [ap(10, D1)], 10, 20, F, [(10, [], []), (10, ["d1"], [])]),
    ("event exactly at end is excluded", [ap(20, D1)], 10, 20, F, [(10, [], [])]),
    ("before start flattened into start event", [ap(1, D1), ap(2, D2)], 10, 20, F, [(10, ["d1", "d2"], [])]),
    ("flattened event holds the latest state", [ap(1, D1), ap(5, D1v2)], 10, 20, F, [(10, ["d1"], [])]),
    ("deleted before start is not flattened", [ap(1, D1), de(5, D1), ap(6, D2)], 10, 20, F, [(10, ["d2"], [])]),
    ("deleted exactly at start is not flattened", [ap(1, D1), de(10, D1)], 10, 20, F, [(10, [], []), (10, [], ["d1"])]),
    ("owner deleted inside the window", [ap(1, D1), ap(2, RS1), de(15, D1)], 10, 20, F,
     [(10, ["d1"], []), (15, [], ["d1"])]),
    ("empty window keeps an empty start event", [ap(1, D1), de(2, D1), ap(30, D2)], 10, 20, F, [(10, [], [])]),
    ("empty trace", [], 10, 20, F, [(10, [], [])]),
    ("excluded namespace", [ap(1, D1, SYS), ap(12, SYS)], 10, 20, ExportFilters(), [(10, ["d1"], [])]),
    ("default filters exclude the default namespace", [ap(1, obj("Deployment", "x", ns="default"))], 10, 20,
     ExportFilters(), [(10, [], [])]),
    ("label equality", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["team=infra"]), [(10, ["d1"], [])]),
    ("label double-equals", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["team==infra"]),
     [(10, ["d1"], [])]),
    ("label inequality matches unlabelled objects too", [ap(1, LAB, D1)], 10, 20,
     ExportFilters.from_strings([], ["team!=infra"]), [(10, ["lab"], [])]),
    ("label set-based in", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["tier in (db,cache)"]),
     [(10, ["d1"], [])]),
    ("label set-based notin", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["tier notin (db)"]),
     [(10, ["lab"], [])]),
    ("label exists", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["team"]), [(10, ["d1"], [])]),
    ("label does not exist", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["!team"]),
     [(10, ["lab"], [])]),
    ("comma is AND", [ap(1, LAB, D1)], 10, 20, ExportFilters.from_strings([], ["team=infra,tier=web"]),
     [(10, ["lab", "d1"], [])]),
    ("several selectors are OR", [ap(1, LAB, D1)], 10, 20,
     ExportFilters.from_strings([], ["team=nobody", "tier=db"]), [(10, ["d1"], [])]),
    # SimKube filters each recorded state, not the object: the unlabelled state before the
    # window still starts the simulation, the labelled one inside it is left out
    ("a label gained in the window drops only that state",
     [ap(1, D1), ap(12, obj("Deployment", "d1", labels={"skip": "yes"}))], 10, 20,
     ExportFilters.from_strings([], ["skip"]), [(10, ["d1"], [])]),
    ("a label lost in the window keeps the later states",
     [ap(1, obj("Deployment", "d1", labels={"skip": "yes"})), ap(12, D1)], 10, 20,
     ExportFilters.from_strings([], ["skip"]), [(10, [], []), (12, ["d1"], [])]),
    ("a filtered state before start leaves the earlier state as the start",
     [ap(1, D1), ap(2, obj("Deployment", "d1", labels={"skip": "yes"}, spec={"v": "labelled"}))], 10, 20,
     ExportFilters.from_strings([], ["skip"]), [(10, ["d1"], [])]),
    ("owned by a DaemonSet: always dropped, tracked or not",
     [ap(1, obj("Pod", "ds-pod", owner=("DaemonSet", "agent")), D1), ap(12, obj("Pod", "ds-pod", owner=("DaemonSet", "agent")))],
     10, 20, F, [(10, ["d1"], [])]),
    ("owned by an exported object is dropped", [ap(1, D1, P_D1), ap(12, P_D1)], 10, 20, F, [(10, ["d1"], [])]),
    ("owned through an intermediate ReplicaSet", [ap(1, D1, RS1, P_RS1), ap(12, P_RS1), de(13, RS1)], 10, 20, F,
     [(10, ["d1"], [])]),
    ("intermediate deleted before start still links the chain",
     [ap(1, D1, RS1, P_RS1), de(2, RS1)], 10, 20, F, [(10, ["d1"], [])]),
    ("owner not exported: owned object kept", [ap(1, RS1, P_RS1)], 10, 20, F, [(10, ["rs1"], [])]),
    ("owner excluded by label: owned object kept",
     [ap(1, obj("Deployment", "d1", labels={"x": "y"}), RS1)], 10, 20, ExportFilters.from_strings([], ["x=y"]),
     [(10, ["rs1"], [])]),
    ("owner only appears after the window: owned object kept", [ap(1, P_D1), ap(25, D1)], 10, 20, F,
     [(10, ["p-d1"], [])]),
    ("an event emptied by the filters drops", [ap(1, D1), ap(12, P_D1), ap(13, D2)], 10, 20, F,
     [(10, ["d1"], []), (13, ["d2"], [])]),
    ("events in window keep their ts and order", [ap(5, D2), de(6, D2), ap(11, D1), de(12, D1), ap(12, D2)], 10, 20, F,
     [(10, [], []), (11, ["d1"], []), (12, [], ["d1"]), (12, ["d2"], [])]),
]


@pytest.mark.parametrize("events,start,end,filters,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_window_rules(events: list, start: int, end: int, filters: ExportFilters, expected: list) -> None:
    trace = Trace(events=events)
    out = export_window(trace, start, end, filters)
    assert shape(out) == expected


def lc(start: int | None, end: int | None) -> dict:
    return {"start_ts": start, "end_ts": end}


# SimKube's rule: a finished lifecycle overlaps when its start or its end is in [start, end)
LIFECYCLE_CASES = [
    ("ended before start", lc(1, 5), False),
    ("ended exactly at start", lc(1, 10), True),
    ("spans the window", lc(1, 30), False),
    ("began before start, ended exactly at end", lc(1, 20), False),
    ("began before start, ended inside", lc(1, 19), True),
    ("began inside, ended after end", lc(19, 30), True),
    ("inside the window", lc(12, 15), True),
    ("running, started before end", lc(12, None), True),
    ("running, started before start", lc(1, None), True),
    ("started exactly at end", lc(20, 25), False),
    ("running, started after end", lc(25, None), False),
    ("empty lifecycle", lc(None, None), False),
]


@pytest.mark.parametrize("lifecycle,expected", [c[1:] for c in LIFECYCLE_CASES], ids=[c[0] for c in LIFECYCLE_CASES])
def test_lifecycle_overlap(lifecycle: dict, expected: bool) -> None:
    assert lifecycle_overlaps(lifecycle, 10, 20) is expected


def test_lifecycles_kept_only_for_exported_owners_and_inside_window() -> None:
    trace = Trace(
        events=[ap(1, D1, obj("Deployment", "gone"), SYS), de(5, obj("Deployment", "gone"))],
        pod_lifecycles={
            ("apps/v1.Deployment", "app/d1"): {1: [lc(1, 5), lc(8, 12), lc(15, None)], 2: [lc(1, 2)], 3: [lc(25, 30)]},
            ("apps/v1.Deployment", "app/gone"): {4: [lc(1, 4)]},
            ("apps/v1.Deployment", "kube-system/coredns"): {5: [lc(1, None)]},
            ("apps/v1.Deployment", "app/never-seen"): {6: [lc(12, 13)]},
        },
    )
    out = export_window(trace, 10, 20, ExportFilters())
    # the one that began before the window is clipped to its start
    assert out.pod_lifecycles == {("apps/v1.Deployment", "app/d1"): {1: [lc(10, 12), lc(15, None)]}}


def test_finished_bare_pod_is_not_flattened_but_running_one_is() -> None:
    done, running = obj("Pod", "done"), obj("Pod", "running")
    trace = Trace(
        events=[ap(1, done, running)],
        pod_lifecycles={("v1.Pod", "app/done"): {7: [lc(1, 5)]}, ("v1.Pod", "app/running"): {8: [lc(2, None)]}},
    )
    out = export_window(trace, 10, 20, NO_FILTERS)
    assert shape(out) == [(10, ["running"], [])]
    assert out.pod_lifecycles == {("v1.Pod", "app/running"): {8: [lc(10, None)]}}


def test_index_rebuilt_keeping_known_hashes() -> None:
    trace = Trace(
        events=[ap(1, D1, D2, SYS), ap(12, obj("Job", "j"))],
        index={"apps/v1.Deployment": {"app/d1": 42, "app/gone": 7}, "apps/v1.ReplicaSet": {"app/rs": 1}},
    )
    out = export_window(trace, 10, 20, ExportFilters())
    assert out.index == {
        "apps/v1.Deployment": {"app/d1": 42, "app/d2": spec_hash(D2)},
        "batch/v1.Job": {"app/j": spec_hash(obj("Job", "j"))},
    }


def test_config_and_extra_carried_over() -> None:
    trace = Trace(config={"trackedObjects": {"apps/v1.Deployment": {}}}, events=[ap(1, D1)], extra={"note": "x"})
    out = export_window(trace, 10, 20, NO_FILTERS)
    assert out.config == trace.config and out.extra == {"note": "x"} and out.version == trace.version


def test_spec_hash_is_stable_and_order_independent() -> None:
    a = {"spec": {"a": 1, "b": [1, 2, {"c": "é"}]}}
    b = {"spec": {"b": [1, 2, {"c": "é"}], "a": 1}}
    assert spec_hash(a) == spec_hash(b) == 16281437553473431795  # pinned: must never change
    assert 0 <= spec_hash(a) < 2**64
    assert spec_hash({"spec": {"a": 2}}) != spec_hash(a)


START_CASES = [
    # id, event times, start, end, effective start
    ("start before the recording moves to its first event", [5, 8], 0, 20, 5),
    ("start inside the recording stays", [5, 8], 6, 20, 6),
    ("start at the first event stays", [5, 8], 5, 20, 5),
    ("unsorted events: the earliest counts", [8, 5], 0, 20, 5),
    ("a window ending before the recording stays (nothing to move to)", [25], 0, 20, 0),
    ("a window ending at the first event stays", [20], 0, 20, 0),
    ("an empty trace stays", [], 0, 20, 0),
]


@pytest.mark.parametrize("stamps,start,end,expected", [c[1:] for c in START_CASES], ids=[c[0] for c in START_CASES])
def test_window_start(stamps: list[int], start: int, end: int, expected: int) -> None:
    trace = Trace(events=[ap(ts, obj("Deployment", f"d{ts}")) for ts in stamps])
    assert window_start(trace, start, end) == expected
    assert export_window(trace, start, end, NO_FILTERS).events[0]["ts"] == expected


def test_a_start_before_the_recording_exports_as_from_the_first_event() -> None:
    """`-s 0` must not make a replay idle for decades before the first event: the export is
    the one that starts at the recording's first event, lifecycles clipped there too."""
    pod = obj("Pod", "bare")
    trace = Trace(
        events=[ap(5, D1, pod), de(8, D1), ap(9, D2)],
        pod_lifecycles={("v1.Pod", "app/bare"): {3: [lc(2, None)]}},  # began before the tracer started
    )
    early = export_window(trace, 0, 20, NO_FILTERS)
    assert shape(early) == [(5, [], []), (5, ["d1", "bare"], []), (8, [], ["d1"]), (9, ["d2"], [])]
    assert early.pod_lifecycles == {("v1.Pod", "app/bare"): {3: [lc(5, None)]}}
    from_first = export_window(trace, 5, 20, NO_FILTERS)
    assert (early.events, early.index, early.pod_lifecycles) == (from_first.events, from_first.index, from_first.pod_lifecycles)


def test_unsorted_input_is_sorted_stably() -> None:
    trace = Trace(events=[ap(12, D2), ap(1, D1), de(11, D1)])
    assert shape(export_window(trace, 10, 20, NO_FILTERS)) == [(10, ["d1"], []), (11, [], ["d1"]), (12, ["d2"], [])]


def test_ownership_cycle_terminates() -> None:
    a = obj("Deployment", "a", owner=("Deployment", "b"))
    b = obj("Deployment", "b", owner=("Deployment", "a"))
    out = export_window(Trace(events=[ap(1, a, b)]), 10, 20, NO_FILTERS)
    # Each one's owner chain reaches a tracked object, so by SPEC section 4 both are left out.
    assert shape(out) == [(10, [], [])]


def test_default_namespaces() -> None:
    assert ExportFilters().excluded_namespaces == frozenset(DEFAULT_EXCLUDED_NAMESPACES)
    assert "kube-system" in DEFAULT_EXCLUDED_NAMESPACES and "simkube" in DEFAULT_EXCLUDED_NAMESPACES


def test_filters_json_round_trip_and_label_selector_objects() -> None:
    f = ExportFilters.from_strings(["a", "b"], ["x=y", "z in (1,2)"])
    again = ExportFilters.from_json(f.to_json())
    assert again.excluded_namespaces == f.excluded_namespaces
    assert [str(s) for s in again.excluded_labels] == [str(s) for s in f.excluded_labels]
    k8s = ExportFilters.from_json(
        {"excluded_namespaces": [], "excluded_labels": [
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
        ]}
    )
    sel = k8s.excluded_labels[0]
    assert sel.matches({"app": "web", "tier": "a"}) and not sel.matches({"app": "web"})
    assert ExportFilters.from_json({}).excluded_namespaces == frozenset(DEFAULT_EXCLUDED_NAMESPACES)


@pytest.mark.parametrize(
    "text,labels,expected",
    [
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {}, True),
        ("a in (x, y)", {"a": "y"}, True),
        ("a in (x,y)", {}, False),
        ("a notin (x)", {}, True),
        ("a notin (x)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("app.kubernetes.io/name=web,!canary", {"app.kubernetes.io/name": "web"}, True),
        ("a=", {"a": ""}, True),
    ],
)
def test_selector_matching(text: str, labels: dict, expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["a in x", "=b", "a,", "a b", "a=b=c", "!", "a in (x", "a=$", "a=b)", "-a=b"])
def test_bad_selectors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


# --- property: [a,b) then [b,c) replays to the same objects as [a,c) ---------------------


def replay(trace: Trace, state: dict | None = None) -> dict:
    state = {} if state is None else state
    for event in trace.events:
        for o in event["applied_objs"]:
            state[(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])] = o["spec"]
        for o in event["deleted_objs"]:
            state.pop((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]), None)
    return state


NAMESPACES = ["app", "kube-system"]
LABELS = [None, {"team": "infra"}, {"tier": "db"}]


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Random histories of Deployments (fixed labels per key) and the ReplicaSets they own.

    Like a real cluster, a ReplicaSet exists only while its Deployment does: deleting a
    Deployment deletes its ReplicaSets in the same event.
    """
    deployments = [(f"d{i}", draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(LABELS))) for i in range(3)]
    alive: set[str] = set()
    rs_alive: set[str] = set()
    events = []
    ts = 0
    for _ in range(draw(st.integers(0, 25))):
        ts += draw(st.integers(0, 3))
        name, ns, labels = draw(st.sampled_from(deployments))
        action = draw(st.sampled_from(["apply", "apply", "delete", "rs", "rs-delete"]))
        version = draw(st.integers(0, 3))
        dep = obj("Deployment", name, ns=ns, labels=labels, spec={"v": version})
        rs = obj("ReplicaSet", f"{name}-rs", ns=ns, labels=labels, owner=("Deployment", name), spec={"v": version})
        if action == "apply":
            alive.add(name)
            events.append(ap(ts, dep))
        elif action == "delete" and name in alive:
            alive.discard(name)
            gone = [rs] if name in rs_alive else []
            rs_alive.discard(name)
            events.append(de(ts, dep, *gone))
        elif action == "rs" and name in alive:
            rs_alive.add(name)
            events.append(ap(ts, rs))
        elif action == "rs-delete" and name in rs_alive:
            rs_alive.discard(name)
            events.append(de(ts, rs))
    return Trace(events=events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trace=traces(),
    cuts=st.lists(st.integers(0, 80), min_size=3, max_size=3).map(sorted),
    labels=st.sampled_from([[], ["team=infra"], ["tier in (db)"], ["!team"]]),
)
def test_split_windows_replay_like_one(trace: Trace, cuts: list[int], labels: list[str]) -> None:
    a, b, c = cuts
    if not a < b < c:
        return
    filters = ExportFilters.from_strings(["kube-system"], labels)
    whole = replay(export_window(trace, a, c, filters))
    split = replay(export_window(trace, b, c, filters), replay(export_window(trace, a, b, filters)))
    assert split == whole
