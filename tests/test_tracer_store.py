"""The tracer's store rules, hashing and journal format, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skctl.trace.jsonhash import json_hash, siphash13
from skctl.trace.pods import pod_hash, pod_lifecycle, stable_pod_spec
from skctl.trace.tracked import parse_config
from skctl.trace.window import ExportFilters
from skctl.tracer import journal as journal_mod
from skctl.tracer.objects import sanitize
from skctl.tracer.store import TraceStore

CONFIG = parse_config({"trackedObjects": {
    "apps/v1.Deployment": {"trackLifecycle": True},
    "v1.Pod": {"skipOwned": True, "trackLifecycle": True},
}})
NONE = ExportFilters(frozenset(), ())


def dep(name: str, replicas: int = 1, **meta: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": "u-" + name, "resourceVersion": "7",
                         "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{}],
                         "annotations": {"deployment.kubernetes.io/revision": "2", "keep": "me"}, **meta},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"replicas": replicas}}


def pod(name: str, owner: dict | None = None, started: str | None = None, finished: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": "ns"}
    if owner:
        meta["ownerReferences"] = [owner]
    state: dict = {}
    if finished:
        state = {"terminated": {"startedAt": started, "finishedAt": finished}}
    elif started:
        state = {"running": {"startedAt": started}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
            "status": {"containerStatuses": [{"name": "c", "state": state}] if state else []}}


def test_sanitize_drops_server_fields_and_secret_data_but_keeps_owners() -> None:
    obj = dep("a", ownerReferences=[{"apiVersion": "v1", "kind": "X", "name": "o"}])
    clean = sanitize(obj)
    assert "status" not in clean
    assert set(clean["metadata"]) == {"name", "namespace", "annotations", "ownerReferences"}
    assert clean["metadata"]["annotations"] == {"keep": "me"}
    assert obj["metadata"]["uid"] == "u-a" and "status" in obj  # input untouched
    secret = sanitize({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "djE="},
                       "stringData": {"k": "v"}, "type": "Opaque"})
    assert "data" not in secret and "stringData" not in secret


def test_hash_matches_rust_default_hasher() -> None:
    # SipHash-2-4 reference vector (key 00..0f, message 00..0e) checks the construction...
    key = bytes(range(16))
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    assert siphash13(bytes(range(15)), k0, k1, 2, 4) == 0xA129CA6149BE45E5
    # ...and these two were printed by rustc's DefaultHasher fed like serde_json's Value
    assert siphash13(b"") == 15130871412783076140
    assert json_hash({"a": [1, True, None, "x", -2, 0.5], "b": {}}) == 16879505265487184477


def test_pod_hash_ignores_placement_ports_and_token_volumes() -> None:
    a = pod("a")
    b = pod("b")
    b["spec"]["nodeName"] = "n2"
    b["spec"]["serviceAccountName"] = "sa"
    b["spec"]["containers"][0]["ports"] = [{"containerPort": 81}]
    b["spec"]["volumes"] = [{"name": "kube-api-access-x1", "projected": {}}]
    b["spec"]["containers"][0]["volumeMounts"] = [{"name": "kube-api-access-x1", "mountPath": "/var/run"}]
    assert pod_hash(a) == pod_hash(b)
    b["spec"]["containers"][0]["image"] = "j"
    assert pod_hash(a) != pod_hash(b)
    assert stable_pod_spec(a["spec"])["volumes"] == []


def test_lifecycle_comes_from_container_statuses() -> None:
    assert pod_lifecycle(pod("p")) == (None, None)
    assert pod_lifecycle(pod("p", started="2024-01-01T00:00:10Z")) == (1704067210, None)
    assert pod_lifecycle(pod("p", started="2024-01-01T00:00:10Z", finished="2024-01-01T00:01:00Z")) == (
        1704067210, 1704067260)


def test_applied_only_on_spec_change_deletes_always_and_skip_owned() -> None:
    store = TraceStore(CONFIG)
    assert store.applied("apps/v1.Deployment", dep("a"), ts=10)
    assert not store.applied("apps/v1.Deployment", dep("a", labels={"x": "y"}), ts=11)  # metadata only
    assert store.applied("apps/v1.Deployment", dep("a", replicas=2), ts=12)
    assert store.deleted("apps/v1.Deployment", dep("a", replicas=2), ts=13)
    assert not store.deleted("apps/v1.Deployment", dep("a"), ts=14)  # never recorded twice
    owned = pod("owned", {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"})
    store.pod_event("ADDED", owned, ts=15)
    assert ("v1.Pod", "ns/owned") not in store.live
    assert [(e["ts"], len(e["applied_objs"]), len(e["deleted_objs"])) for e in store.events] == [
        (10, 1, 0), (12, 1, 0), (13, 0, 1)]


def test_sync_records_the_difference_once() -> None:
    store = TraceStore(CONFIG)
    store.sync("apps/v1.Deployment", [dep("a"), dep("b")], ts=10)
    store.sync("apps/v1.Deployment", [dep("a", replicas=5), dep("c")], ts=20)
    store.sync("apps/v1.Deployment", [dep("a", replicas=5), dep("c")], ts=30)
    summary = [(e["ts"], sorted(o["metadata"]["name"] for o in e["applied_objs"]),
                sorted(o["metadata"]["name"] for o in e["deleted_objs"])) for e in store.events]
    assert summary == [(10, ["a", "b"], []), (20, ["a", "c"], ["b"])]


def test_lifecycles_go_to_the_outermost_tracked_owner_through_lookups() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "ns",
          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]}}
    looked: list[tuple] = []

    def lookup(gvk: str, ns: str | None, name: str) -> dict | None:
        looked.append((gvk, ns, name))
        return rs if (gvk, name) == ("apps/v1.ReplicaSet", "rs") else None

    store = TraceStore(CONFIG, owner_lookup=lookup)
    store.applied("apps/v1.Deployment", dep("web"), ts=1)
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}
    store.pod_event("ADDED", pod("p1", ref), ts=2)  # pending: nothing yet
    store.pod_event("MODIFIED", pod("p1", ref, started="2024-01-01T00:00:10Z"), ts=3)
    store.pod_event("MODIFIED", pod("p2", ref, started="2024-01-01T00:00:20Z"), ts=4)
    store.pod_event("MODIFIED", pod("p1", ref, "2024-01-01T00:00:10Z", "2024-01-01T00:00:50Z"), ts=5)
    store.pod_event("DELETED", pod("p2", ref, started="2024-01-01T00:00:20Z"), ts=1704067300)
    store.pod_event("MODIFIED", pod("bare", None, started="2024-01-01T00:00:30Z"), ts=7)
    assert looked == [("apps/v1.ReplicaSet", "ns", "rs")]  # cached after the first lookup
    (by_hash,) = store.lifecycles[("apps/v1.Deployment", "ns/web")].values()
    assert by_hash == [{"start_ts": 1704067210, "end_ts": 1704067250}, {"start_ts": 1704067220, "end_ts": 1704067300}]
    assert list(store.lifecycles[("v1.Pod", "ns/bare")].values()) == [[{"start_ts": 1704067230, "end_ts": None}]]
    trace = store.export(0, 1704067400, NONE)
    assert ("apps/v1.Deployment", "ns/web") in trace.pod_lifecycles


def test_trim_keeps_what_is_alive_and_snapshot_replay_round_trips(tmp_path: Path) -> None:
    records: list[tuple] = []
    store = TraceStore(CONFIG, sink=lambda k, ts, p: records.append((k, ts, p)))
    store.applied("apps/v1.Deployment", dep("old"), ts=10)
    store.applied("apps/v1.Deployment", dep("gone"), ts=11)
    store.deleted("apps/v1.Deployment", dep("gone"), ts=12)
    store.applied("apps/v1.Deployment", dep("new"), ts=100)
    before = store.export(50, 200, NONE)
    store.trim(50)
    assert store.events[0]["ts"] == 49 and [o["metadata"]["name"] for o in store.events[0]["applied_objs"]] == ["old"]
    after = store.export(50, 200, NONE)
    assert after.to_document() == before.to_document()

    copy = TraceStore(CONFIG)
    copy.replay([("snap", 0, {"objects": [], "lifecycles": [], "owners": []}), *records])
    assert copy.export(50, 200, NONE).to_document() == before.to_document()


def test_journal_skips_damage_and_keeps_reading_later_segments(tmp_path: Path) -> None:
    clock = [1000.0]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(tmp_path / "j", retention=3600, segment_seconds=10, clock=lambda: clock[0])
    journal.open(store)
    store.applied("apps/v1.Deployment", dep("a"), ts=1000)
    clock[0] = 1011.0
    store.applied("apps/v1.Deployment", dep("b"), ts=1011)  # rotates after this record
    clock[0] = 1012.0
    store.applied("apps/v1.Deployment", dep("c"), ts=1012)
    journal.close()
    segs = journal_mod.segments(tmp_path / "j")
    assert len(segs) == 2
    first = segs[0][2]
    data = bytearray(first.read_bytes())
    data[-5] ^= 0xFF  # damage the last record of the first segment ("b")
    first.write_bytes(bytes(data))
    restored = TraceStore(CONFIG)
    journal_mod.load_store(tmp_path / "j", restored)
    # the second segment's snapshot brings "b" back; nothing is lost, nothing crashed
    assert sorted(k[1] for k in restored.live) == ["ns/a", "ns/b", "ns/c"]

    # retention: the first segment goes once the second began before the cutoff
    again = journal_mod.Journal(tmp_path / "j", retention=100, clock=lambda: 1011 + 100)
    assert again.enforce_retention() == 1


def test_simkube_singular_pod_spec_template_path_loads() -> None:
    config = parse_config({"trackedObjects": {"batch.volcano.sh/v1alpha1.Job": {
        "podSpecTemplatePath": "/spec/tasks/*/template", "trackLifecycle": True}}})
    assert config.template_paths("batch.volcano.sh/v1alpha1.Job") == ("/spec/tasks/*/template",)


def test_real_server_delete_sequences_record_one_delete_and_keep_pod_times() -> None:
    store = TraceStore(CONFIG)
    store.applied("apps/v1.Deployment", dep("a"), ts=10)
    terminating = dep("a", deletionTimestamp="2024-01-01T00:00:30Z", finalizers=["foregroundDeletion"])
    assert not store.applied("apps/v1.Deployment", terminating, ts=11)  # MODIFIED before DELETED
    # a DELETED event may carry the previous state (an object leaving a selector)
    assert store.deleted("apps/v1.Deployment", dep("a"), ts=12)
    assert [(e["ts"], len(e["applied_objs"]), len(e["deleted_objs"])) for e in store.events] == [(10, 1, 0), (12, 0, 1)]

    # graceful pod deletion: MODIFIED with deletionTimestamp, then terminated statuses, then DELETED
    running = pod("bare", started="2024-01-01T00:00:10Z")
    store.pod_event("MODIFIED", running, ts=13)
    graceful = pod("bare", started="2024-01-01T00:00:10Z")
    graceful["metadata"].update(deletionTimestamp="2024-01-01T00:01:30Z", deletionGracePeriodSeconds=30)
    store.pod_event("MODIFIED", graceful, ts=14)
    done = pod("bare", started="2024-01-01T00:00:10Z", finished="2024-01-01T00:01:10Z")
    store.pod_event("MODIFIED", done, ts=1704067300)
    store.pod_event("DELETED", done, ts=1704067301)
    assert list(store.lifecycles[("v1.Pod", "ns/bare")].values()) == [[{"start_ts": 1704067210, "end_ts": 1704067270}]]
    # killed without a final status: the end is when the delete was asked, not when we saw it
    store.pod_event("MODIFIED", pod("b2", started="2024-01-01T00:00:10Z"), ts=1704067302)
    store.pod_event("DELETED", graceful | {"metadata": {**graceful["metadata"], "name": "b2"}}, ts=1704067400)
    assert list(store.lifecycles[("v1.Pod", "ns/b2")].values()) == [[{"start_ts": 1704067210, "end_ts": 1704067260}]]


def test_retention_bounds_memory_and_journal_in_a_long_run(tmp_path: Path) -> None:
    clock = [1_700_000_000.0]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(tmp_path / "j", retention=3600, segment_seconds=600, clock=lambda: clock[0])
    journal.open(store)
    sizes = []
    for minute in range(12 * 60):  # twelve simulated hours, an update a minute to each of 20 objects
        clock[0] = 1_700_000_000 + minute * 60
        for i in range(20):
            store.applied("apps/v1.Deployment", dep(f"d{i}", replicas=minute + 1), clock[0])
        if minute % 30 == 0:
            store.trim(int(clock[0]) - 3600)
            journal.enforce_retention()
            sizes.append((journal.size(), store.event_count()))
    journal.close()
    later = sizes[len(sizes) // 2:]
    assert max(s for s, _ in later) <= 1.5 * min(s for s, _ in later)  # flat, not growing
    assert max(n for _, n in later) <= 20 * 62 + 20
    end = int(clock[0])
    live = store.export(end - 1800, end + 1, NONE)
    from_journal = journal_mod.export_journal(tmp_path / "j", end - 1800, end + 1, NONE)
    assert from_journal.to_document() == live.to_document()
    assert len(live.events[0]["applied_objs"]) == 20  # alive at the start of the window
