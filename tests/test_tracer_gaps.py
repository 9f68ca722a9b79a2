"""True times after a gap (issue 20): a change a re-list finds is stamped when the object says
it happened, within bounds, and the recording stays in time order, in memory and in the journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from skctl.trace.tracked import parse_config
from skctl.trace.window import ExportFilters
from skctl.tracer import journal as journal_mod
from skctl.tracer.store import TraceStore, changed_at

GVK = "apps/v1.Deployment"
CONFIG = parse_config({"trackedObjects": {GVK: {}, "v1.ConfigMap": {}}})
NONE = ExportFilters(frozenset(), ())
FAR = 2**40


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry(t: int, *fields: str, subresource: str | None = None, manager: str = "kubectl") -> dict[str, Any]:
    e: dict[str, Any] = {"manager": manager, "operation": "Update", "apiVersion": "apps/v1", "time": iso(t),
                         "fieldsType": "FieldsV1", "fieldsV1": {f: {} for f in fields}}
    if subresource:
        e["subresource"] = subresource
    return e


def dep(name: str, replicas: int, created: int = 0, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if created:
        meta["creationTimestamp"] = iso(created)
    if fields is not None:
        meta["managedFields"] = fields
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": replicas}}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stamps(store: TraceStore) -> list[tuple[int, str, str, Any]]:
    """(ts, action, name, replicas) of every recorded mention, in the store's order."""
    return [(ts, action, obj["metadata"]["name"], (obj.get("spec") or {}).get("replicas"))
            for ts, action, obj in store.to_trace().iter_objects()]


def test_changed_at_reads_the_newest_spec_change_and_creation_only_for_new_objects() -> None:
    fields = [entry(700, "f:metadata", "f:spec"), entry(900, "f:status", subresource="status", manager="kcm"),
              entry(950, "f:metadata", manager="kubectl-label"), entry(800, "f:spec", subresource="scale", manager="hpa")]
    assert changed_at(dep("a", 1, created=600, fields=fields), new=False) == 800  # scale changes spec; status, labels do not
    assert changed_at(dep("a", 1, created=600, fields=[entry(900, "f:status", subresource="status")]), True) == 600
    assert changed_at(dep("a", 1, created=600), new=True) == 600
    assert changed_at(dep("a", 1, created=600), new=False) is None
    # a kind without spec: every entry but status counts
    cm = {"metadata": {"name": "c", "managedFields": [entry(640, "f:data"), entry(650, "f:metadata")]}}
    assert changed_at(cm, new=True) == 650


def test_a_relist_stamps_each_change_at_its_own_time_within_bounds() -> None:
    clock = Clock(500)
    store = TraceStore(CONFIG, clock=clock)
    assert store.floor_ts == 500  # nothing before the store began
    for name in "abcdg":
        store.applied(GVK, dep(name, 1), ts=600)
    store.applied("v1.ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}},
                  ts=800)
    before = store.to_trace()
    clock.now = 1000
    store.sync(GVK, [
        dep("a", 2, fields=[entry(700, "f:spec"), entry(900, "f:status", subresource="status"),
                            entry(950, "f:metadata", manager="kubectl-label")]),  # its spec changed at 700
        dep("b", 2, fields=[entry(550, "f:spec")]),  # says before its last recorded event (clock skew): 600
        dep("c", 2, fields=[entry(5000, "f:spec")]),  # says the future: now
        dep("d", 2),  # changed, and does not say when: now
        dep("e", 1, created=800),  # new, created at 800: merged into the event of that second
        dep("f", 1, created=300, fields=[entry(300, "f:spec")]),  # new, from before the store began: its floor
        dep("h", 1, created=820, fields=[entry(820, "f:spec"), entry(830, "f:spec", subresource="scale")]),
        # g is gone: deleted now, when it went is not knowable
    ])
    assert stamps(store) == [
        (500, "applied", "f", 1),
        (600, "applied", "a", 1), (600, "applied", "b", 1), (600, "applied", "c", 1), (600, "applied", "d", 1),
        (600, "applied", "g", 1), (600, "applied", "b", 2),
        (700, "applied", "a", 2),
        (800, "applied", "x", None), (800, "applied", "e", 1),
        (830, "applied", "h", 1),
        (1000, "applied", "c", 2), (1000, "applied", "d", 2), (1000, "deleted", "g", 1),
    ]
    assert [e["ts"] for e in store.events] == sorted({e["ts"] for e in store.events})  # one event per second, in order
    assert len(before.events) == 2 and [len(e["applied_objs"]) for e in before.events] == [5, 1]  # copies untouched
    # a second re-list with nothing new records nothing; a later change of a goes after its last event
    recorded = store.event_count()
    store.sync(GVK, [dep(n, 2 if n in "abcd" else 1, created=800) for n in "abcdefh"])
    assert store.event_count() == recorded
    clock.now = 1100
    store.sync(GVK, [dep("a", 3, fields=[entry(650, "f:spec")]), *[dep(n, 2 if n in "bcd" else 1) for n in "bcdefh"]])
    assert [s for s in stamps(store) if s[2] == "a"] == [(600, "applied", "a", 1), (700, "applied", "a", 2),
                                                         (700, "applied", "a", 3)]
    assert store.export(690, 710, NONE).events[-1]["applied_objs"][-1]["spec"] == {"replicas": 3}


def test_a_restarted_tracer_stamps_what_changed_while_it_was_down_at_the_true_times(tmp_path: Path) -> None:
    """The reopened journal's segment starts where its records ended, so the changes the first
    re-list finds go in at their own times, and the journal replays to the same recording."""
    directory = tmp_path / "journal"
    clock = Clock(1000)
    first = TraceStore(CONFIG, clock=clock)
    journal = journal_mod.Journal(directory, retention=10**9, clock=clock)
    journal.open(first)
    first.sync(GVK, [dep("a", 1, created=900, fields=[entry(900, "f:spec")])])  # before the tracer: at its start
    clock.now = 1010
    first.applied(GVK, dep("a", 2))
    journal.close()  # the tracer stops; a and b change meanwhile

    clock.now = 1100
    second = TraceStore(CONFIG, clock=clock)
    journal = journal_mod.Journal(directory, retention=10**9, clock=clock)
    assert journal.open(second) > 0
    assert second.floor_ts == 1010
    second.sync(GVK, [dep("a", 3, fields=[entry(900, "f:spec"), entry(1050, "f:spec")]),
                      dep("b", 1, created=1070, fields=[entry(1070, "f:spec")])])
    clock.now = 1110
    second.applied(GVK, dep("b", 2))
    journal.close()
    assert stamps(second) == [(1000, "applied", "a", 1), (1010, "applied", "a", 2), (1050, "applied", "a", 3),
                              (1070, "applied", "b", 1), (1110, "applied", "b", 2)]
    assert sorted(p.name for p in directory.glob("seg-*")) == ["seg-1000-0000000000.skj", "seg-1010-0000000001.skj"]
    for start in (0, 1005, 1040, 1060, 1080):
        from_journal = journal_mod.export_journal(directory, start, FAR, NONE)
        assert stamps_of(from_journal) == stamps_of(second.export(start, FAR, NONE)), start
    # a window that begins between the restart and the changes starts from the state before them
    assert stamps_of(journal_mod.export_journal(directory, 1040, FAR, NONE)) == [
        (1040, "applied", "a", 2), (1050, "applied", "a", 3), (1070, "applied", "b", 1), (1110, "applied", "b", 2)]


def stamps_of(trace: Any) -> list[tuple[int, str, str, Any]]:
    return [(ts, action, obj["metadata"]["name"], (obj.get("spec") or {}).get("replicas"))
            for ts, action, obj in trace.iter_objects()]


def test_no_stamp_goes_before_the_current_journal_segment_or_the_retention_cutoff(tmp_path: Path) -> None:
    clock = Clock(2000)
    store = TraceStore(CONFIG, clock=clock)
    store.applied(GVK, dep("a", 1), ts=2000)
    store.set_floor(2050)  # what the journal does when it starts a segment
    clock.now = 2100
    store.sync(GVK, [dep("a", 2, fields=[entry(2020, "f:spec")]), dep("b", 1, created=2030)])
    assert stamps(store) == [(2000, "applied", "a", 1), (2050, "applied", "a", 2), (2050, "applied", "b", 1)]
    store.trim(2080)
    clock.now = 2200
    store.sync(GVK, [dep("a", 3, fields=[entry(2060, "f:spec")]), dep("b", 1)])
    assert stamps(store) == [(2079, "applied", "a", 2), (2079, "applied", "b", 1), (2080, "applied", "a", 3)]
