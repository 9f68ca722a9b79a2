"""The tracer holds its recording encoded (issue 21): what it gives back is what it was given.

Objects are kept as zlib-compressed CBOR (`store.encode`), a delete of the last recorded
object shares that object's encoding, journal version 2 writes the encodings as they are
(snapshots copy them), a journal of version 1 (tests/fixtures/journal_v1, written by skctl
at commit 32ce4af, before this change) is read and adopted, and a tracer reopening its own
journal checks the kept encodings after it started (`verify`).
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cbor2
import pytest

from skctl.trace.tracked import parse_config
from skctl.trace.window import ExportFilters
from skctl.tracer import journal as journal_mod
from skctl.tracer.objects import sanitize
from skctl.tracer.store import REC_EVENT, REC_SNAPSHOT, TraceStore, decode, encode

CONFIG = parse_config({"trackedObjects": {
    "apps/v1.Deployment": {"trackLifecycle": True},
    "v1.Pod": {"skipOwned": True, "trackLifecycle": True},
}})
NONE = ExportFilters(frozenset(), ())
GVK = "apps/v1.Deployment"
FIXTURE = Path(__file__).parent / "fixtures" / "journal_v1"


def dep(name: str, replicas: int = 1, image: str = "nginx:1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": "u-" + name, "resourceVersion": "7",
                         "labels": {"app": name}, "managedFields": [{}], **meta},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": replicas}}


def names(events: list[dict[str, Any]]) -> list[tuple[int, list[str], list[str]]]:
    return [(e["ts"], [o["metadata"]["name"] for o in e["applied_objs"]],
             [o["metadata"]["name"] for o in e["deleted_objs"]]) for e in events]


def normal(doc: Any) -> Any:
    """A trace document as CBOR gives it back (tuples as lists, map keys as tuples)."""
    return cbor2.loads(cbor2.dumps(doc))


@pytest.mark.parametrize("obj", [
    dep("a"),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ünïcødé ✓", "namespace": "ns"},
     "data": {"float": 0.5, "one": 1, "onef": 1.0, "true": True, "none": None, "big": 2**63 - 1, "neg": -2**63,
              "empty": {}, "list": [], "nested": [[{"x": [1, "2", 3.25]}]], "text": "line\nbreak\u0000"}},
])
def test_encoding_round_trips_to_identical_objects(obj: dict[str, Any]) -> None:
    back = decode(encode(obj))
    assert back == obj
    # equal and of the same types (1, 1.0 and True are == in Python, not in a trace)
    assert json.dumps(back, sort_keys=True) == json.dumps(obj, sort_keys=True)
    assert [type(v) for v in back.get("data", {}).values()] == [type(v) for v in obj.get("data", {}).values()]


def test_undecodable_encodings_are_value_errors() -> None:
    for bad in (b"", b"not zlib", encode([1, 2])):  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            decode(bad)


def test_history_is_held_encoded_and_gives_back_the_recorded_objects() -> None:
    store = TraceStore(CONFIG)
    inputs = [dep("a"), dep("b"), dep("a", 2), dep("b", image="nginx:2")]
    for ts, obj in enumerate(inputs, start=10):
        assert store.applied(GVK, obj, ts=ts)
    assert not store.applied(GVK, dep("a", 2, resourceVersion="9"), ts=20)  # status and metadata only
    assert all(type(blob) is bytes for blob, _digest in store.live.values())
    held = [h for e in store.history for h in e["applied_objs"]]
    assert [type(blob) for _key, blob in held] == [bytes] * 4
    assert [o for e in store.events for o in e["applied_objs"]] == [sanitize(o) for o in inputs]
    # the encoding is several times smaller than the object as JSON
    assert len(held[0][1]) < len(json.dumps(sanitize(inputs[0])))


def test_a_key_order_change_is_no_spec_change() -> None:
    store = TraceStore(CONFIG)
    obj = dep("a")
    assert store.applied(GVK, obj, ts=1)
    reordered = dict(obj, spec=dict(reversed(list(obj["spec"].items()))))
    assert list(reordered["spec"]) != list(obj["spec"])
    assert not store.applied(GVK, reordered, ts=2)
    assert store.applied(GVK, dep("a", 5), ts=3)
    assert names(store.events) == [(1, ["a"], []), (3, ["a"], [])]


def test_a_delete_is_a_stub_sharing_the_last_encoding_and_exports_the_same_delete_event() -> None:
    store = TraceStore(CONFIG)
    store.applied(GVK, dep("a", 2), ts=10)
    store.applied(GVK, dep("b"), ts=10)
    store.applied(GVK, dep("c"), ts=10)
    gone_a = dict(dep("a", 2), metadata={**dep("a", 2)["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"})
    assert store.deleted(GVK, gone_a, ts=11)  # the last state: only server-set fields differ
    gone_b = dep("b", labels={"app": "b", "changed": "after the last recorded event"})
    assert store.deleted(GVK, gone_b, ts=12)  # a DELETED object that differs from the recorded one
    store.sync(GVK, [], ts=13)  # c vanished from a re-list: deleted as last recorded

    applied = {h[0][1]: h[1] for h in store.history[0]["applied_objs"]}
    deleted = {h[0][1]: h[1] for e in store.history[1:] for h in e["deleted_objs"]}
    assert deleted["ns/a"] is applied["ns/a"]  # a pointer, not a copy
    assert deleted["ns/c"] is applied["ns/c"]
    assert deleted["ns/b"] is not applied["ns/b"] and decode(deleted["ns/b"]) == sanitize(gone_b)

    trace = store.export(10, 20, NONE)
    deletes = {o["metadata"]["name"]: o for e in trace.events for o in e["deleted_objs"]}
    assert deletes == {"a": sanitize(gone_a), "b": sanitize(gone_b), "c": sanitize(dep("c"))}
    assert names(trace.events)[-3:] == [(11, [], ["a"]), (12, [], ["b"]), (13, [], ["c"])]


def test_snapshots_copy_the_held_encodings_and_replay_to_the_same_recording() -> None:
    records: list[tuple[str, int, dict[str, Any]]] = []
    store = TraceStore(CONFIG, sink=lambda k, ts, p: records.append((k, ts, p)))
    snap0 = store.snapshot(5)
    store.applied(GVK, dep("a"), ts=10)
    store.applied(GVK, dep("b"), ts=11)
    store.deleted(GVK, dep("b"), ts=12)
    snap = store.snapshot(13)
    (item,) = snap["objects"]
    assert item[0] == GVK and item[2] == "ns/a" and item[3] == []
    assert item[1] is store.live[(GVK, "ns/a")][0]  # the bytes held, not a new encoding
    store.applied(GVK, dep("c"), ts=14)
    expected = store.export(0, 100, NONE).to_document()

    for trusted in (False, True):
        copy = TraceStore(CONFIG)
        copy.replay([(REC_SNAPSHOT, 5, snap0), *records[:3], (REC_SNAPSHOT, 13, snap), *records[3:]], trusted=trusted)
        assert copy.unchecked() == (3 if trusted else 0)  # a, b (its delete shares its bytes), c
        assert copy.export(0, 100, NONE).to_document() == expected  # the later snapshot changed nothing
        assert copy.verify() == 0 and copy.unchecked() == 0

    # a later snapshot that differs (a segment lost records) brings the state in line
    copy = TraceStore(CONFIG)
    copy.replay([(REC_SNAPSHOT, 5, snap0), records[0], (REC_SNAPSHOT, 13, snap)])
    assert names(copy.events) == [(10, ["a"], [])]
    copy = TraceStore(CONFIG)
    copy.replay([(REC_SNAPSHOT, 5, snap0), *records[:2], (REC_SNAPSHOT, 13, snap)])
    assert names(copy.events) == [(10, ["a"], []), (11, ["b"], []), (13, [], ["b"])]


def write_journal(path: Path) -> TraceStore:
    clock = [1000.0]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(path, retention=3600, segment_seconds=10, clock=lambda: clock[0])
    journal.open(store)
    store.applied(GVK, dep("a"), ts=1000)
    store.applied(GVK, dep("b"), ts=1001)
    clock[0] = 1011.0
    store.applied(GVK, dep("a", 2), ts=1011)  # rotates after this record
    store.deleted(GVK, dep("b"), ts=1012)
    journal.close()
    return store


def test_a_restart_keeps_encodings_unchecked_until_verify_and_drops_a_bad_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    original = write_journal(tmp_path / "j")
    expected = original.export(0, 2000, NONE).to_document()
    journal = journal_mod.Journal(tmp_path / "j", retention=3600, clock=lambda: 1013.0)
    store = TraceStore(CONFIG)
    journal.open(store)
    # a record whose checksum holds but whose object is not the one it names
    journal.append(REC_EVENT, 1013, {"a": [encode(dep("z"))], "k": [[GVK, "ns/other"]], "o": [[]]})
    journal.append(REC_EVENT, 1013, {"a": [b"\x78\x9cnot an object"], "k": [[GVK, "ns/y"]], "o": [[]]})
    journal.close()

    checked = TraceStore(CONFIG)
    with caplog.at_level(logging.WARNING):
        journal_mod.load_store(tmp_path / "j", checked)
    assert checked.export(0, 2000, NONE).to_document() == expected
    assert sum("is damaged" in r.message for r in caplog.records) == 2

    trusted = TraceStore(CONFIG)
    journal_mod.load_store(tmp_path / "j", trusted, trusted=True)
    assert set(trusted.live) == {(GVK, "ns/a"), (GVK, "ns/other"), (GVK, "ns/y")}
    assert trusted.unchecked() > 0
    assert trusted.export(0, 2000, NONE).to_document() == expected  # an export leaves the bad ones out
    assert trusted.verify() == 2
    assert trusted.unchecked() == 0 and set(trusted.live) == {(GVK, "ns/a")}
    assert trusted.export(0, 2000, NONE).to_document() == expected
    assert trusted.event_count() == original.event_count()


def test_replay_reports_progress_in_bytes(tmp_path: Path) -> None:
    write_journal(tmp_path / "j")
    seen: list[tuple[str, int | None]] = []
    done: list[int] = []

    @contextmanager
    def progress(description: str, total: int | None) -> Any:
        seen.append((description, total))
        yield done.append

    journal_mod.load_store(tmp_path / "j", TraceStore(CONFIG), progress=progress)
    size = sum(p.stat().st_size for _s, _q, p in journal_mod.segments(tmp_path / "j"))
    assert seen == [("replaying the journal", size)] and sum(done) == size and len(done) > 2


def test_a_version_1_journal_is_read_and_adopted(tmp_path: Path) -> None:
    path = tmp_path / "j"
    shutil.copytree(FIXTURE, path)
    expected = cbor2.loads((path / "expected-exports.cbor").read_bytes())
    assert journal_mod.read_meta(path)["version"] == 1
    for window in expected.values():  # read as it is, as skctl at 32ce4af cut it
        trace = journal_mod.export_journal(path, window["start"], window["end"], NONE)
        assert normal(trace.to_document()) == window["trace"]

    clock = [1_704_067_300.0]
    for trusted in (False, True):
        store = TraceStore(CONFIG, clock=lambda: clock[0])
        journal = journal_mod.Journal(path, retention=86400, clock=lambda: clock[0])
        journal.open(store, trusted=trusted)  # adopted: new segments in version 2
        assert journal_mod.read_meta(path)["version"] == journal_mod.FORMAT_VERSION == 2
        assert store.verify() == 0
        whole = expected["whole"]
        assert normal(store.export(whole["start"], whole["end"], NONE).to_document()) == whole["trace"]
        if not trusted:
            store.applied(GVK, dep("d"), clock[0])
        journal.close()
    after = journal_mod.export_journal(path, whole["start"], int(clock[0]) + 1, NONE)
    assert names(after.to_document()["events"])[-1] == (int(clock[0]), ["d"], [])
    assert normal(journal_mod.export_journal(path, whole["start"], whole["end"], NONE).to_document()) == whole["trace"]


def every_lifecycle_rule(store: TraceStore, ts: int) -> list[dict[str, Any]]:
    """The snapshot's lifecycles by their rule, over every lifecycle kept (as before)."""
    by_id = {id(lc): name for name, (_o, _h, lc) in store.pods.items()}
    return [{"p": by_id.get(id(lc)), "o": list(owner), "h": h, "s": lc["start_ts"], "e": lc["end_ts"]}
            for owner, by_hash in store.lifecycles.items() for h, lcs in by_hash.items() for lc in lcs
            if lc["end_ts"] is None or lc["end_ts"] >= ts or id(lc) in by_id]


def test_snapshot_lifecycles_follow_the_rule_in_order_through_finishes_deletes_and_trims() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u"}

    def owned(name: str, **times: str) -> dict[str, Any]:
        p = pod_obj(name, **times)
        p["metadata"]["ownerReferences"] = [rs]
        return p

    store = TraceStore(CONFIG, owner_lookup=lambda gvk, ns, name: {"metadata": {
        "name": name, "namespace": ns, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": "web", "uid": "w"}]}})
    store.applied(GVK, dep("web"), ts=1704067200)
    t = 1704067200
    for i in range(6):  # bare pods (their own owner) and owned ones, interleaved
        make = owned if i % 2 else pod_obj
        store.pod_event("ADDED", make(f"p{i}", started=f"2024-01-01T00:00:0{i}Z"), ts=t + i)
    seen = [store.snapshot(t + 10)["lifecycles"] == every_lifecycle_rule(store, t + 10)]
    for step, (kind, name, finished) in enumerate([
            ("MODIFIED", "p1", "2024-01-01T00:00:20Z"),  # ended, still followed
            ("DELETED", "p2", None),  # gone: ends at its deletion
            ("MODIFIED", "p3", "2024-01-01T00:00:09Z"),
            ("DELETED", "p3", None),  # ended long before, then gone
            ("DELETED", "p1", None)]):
        make = owned if int(name[1]) % 2 else pod_obj
        times = {"started": f"2024-01-01T00:00:0{name[1]}Z", **({"finished": finished} if finished else {})}
        store.pod_event(kind, make(name, **times), ts=t + 30 + step)
        at = t + 30 + step  # snapshot times only grow, as a journal's segments' do
        seen.append(store.snapshot(at)["lifecycles"] == every_lifecycle_rule(store, at))
    assert all(seen)
    later = t + 100
    assert store.snapshot(later)["lifecycles"] == every_lifecycle_rule(store, later)
    assert {lc["p"] for lc in store.snapshot(later)["lifecycles"]} == {"ns/p0", "ns/p4", "ns/p5"}  # running only
    store.trim(t + 50)
    assert store.snapshot(later)["lifecycles"] == every_lifecycle_rule(store, later)


def pod_obj(name: str, started: str | None = None, finished: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if finished:
        state = {"terminated": {"startedAt": started, "finishedAt": finished}}
    elif started:
        state = {"running": {"startedAt": started}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"containerStatuses": [{"name": "c", "state": state}] if state else []}}


def test_settle_gc_moves_the_loaded_recording_out_of_the_collectors_walks() -> None:
    import gc

    from skctl.tracer.service import settle_gc

    store = TraceStore(CONFIG)
    store.applied(GVK, dep("a"), ts=1)
    try:
        settle_gc()
        assert gc.get_freeze_count() > 0
        assert not gc.is_tracked(store.history[0]["applied_objs"][0][1])  # bytes: never walked
    finally:
        gc.unfreeze()
