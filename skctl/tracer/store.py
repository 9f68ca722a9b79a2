"""The tracer's in-memory recording: SimKube's store rules on raw JSON objects.

- Every tracked object is sanitised (`objects.sanitize`) before it is kept.
- An applied event is recorded only when the object is new or its `spec` changed
  (compared as JSON values; the index's spec hashes are computed at export);
  a delete of a recorded object is always recorded. `skipOwned` kinds ignore objects
  with any owner.
- Pod lifecycles: a pod whose owner chain (through the owners cache, which looks up
  unwatched owners such as ReplicaSets) reaches a tracked kind is recorded under the
  outermost such owner, the one an export keeps, when that kind has `trackLifecycle`;
  a bare pod is its own owner. Start and end come from the pod's container statuses
  (`objects.pod_lifecycle`); a pod deleted before its containers reported an end
  ends at its deletion.
- A re-list (`sync`) is diffed against what is recorded: objects added or changed while
  the tracer was not watching are applied, objects gone are deleted, once each. Such a
  change is stamped with the time the object itself gives (`changed_at`: the newest
  spec-changing managedFields entry, or creationTimestamp for a new object), never
  earlier than the object's last recorded event or the store's `floor_ts`, never later
  than now; an event stamped before the newest one is inserted in time order.
- Every change is also handed to `sink` as a journal record, and `snapshot()` /
  `replay()` turn the store into records and back (skctl.tracer.journal).
- Tracked objects are held encoded (`encode`: zlib-compressed CBOR, a few times smaller
  than the decoded dicts and invisible to the cyclic collector): the live map keeps
  each object's encoding and a digest of its `spec`'s encoding (spec changes are found
  by the digest; digests that differ are confirmed on the decoded specs, so a key order
  change is no change); the history keeps `(key, encoding)` pairs, an update costs its
  encoding and a delete whose object is the last recorded one shares that encoding
  (a stub of a pointer). `to_trace()` decodes them (`events` is that view for tests).
- `trim(cutoff)` enforces retention: older events fold into one starting event that
  keeps the objects still alive, and finished lifecycles older than the cutoff drop.
- The starting state (`config.starting_state`, on by default): Nodes and PriorityClasses
  in their recorded form (`skctl.trace.cluster.recorded`) are kept in a timeline of their
  own, `cluster_events`, which travels as the trace's `cluster` section; a change is
  recorded only when the recorded form changed (a node's heartbeat is not a change). It
  is journaled, snapshotted, trimmed and re-listed like the tracked objects.

All methods are thread-safe (one lock); watch loops call them from their threads.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import cbor2

from skctl.kube.times import parse_ts
from skctl.trace import cluster
from skctl.trace.config import TracerConfig
from skctl.trace.model import Trace, new_event

if TYPE_CHECKING:
    from skctl.trace.skel import Program
from skctl.trace.pods import (
    POD_GVK,
    Key,
    Lookup,
    OwnersCache,
    lifecycle_owner,
    owner_keys,
    pod_hash,
    pod_lifecycle,
)
from skctl.trace.pods import object_key as key_of
from skctl.trace.window import ExportFilters, export_window
from skctl.tracer.objects import sanitize

# Journal record types (skctl.tracer.journal persists them as they are).
log = logging.getLogger(__name__)

REC_SNAPSHOT = "snap"
REC_EVENT = "ev"  # {"a": [obj]} or {"d": [obj]}
REC_LIFECYCLE = "lc"  # {"p": pod ns/name, "o": [gvk, ns/name], "h": hash, "s": start, "e": end}
REC_OWNERS = "ow"  # {"k": [gvk, ns/name], "r": [[gvk, ns/name], ...]}: an unwatched object's owners
REC_CLUSTER = "cl"  # {"a": [obj]} or {"d": [obj]}: a Node or PriorityClass of the starting state

Sink = Callable[[str, int, dict[str, Any]], None]
# One tracked object in the history: its key and its encoding (`encode`).
Held = tuple[Key, bytes]
ZLIB_LEVEL = 1  # level 6 makes the objects ~2 % smaller and the encoding twice as slow


def encode(obj: Mapping[str, Any]) -> bytes:
    """How the store holds an object: zlib-compressed CBOR. The journal writes these bytes
    as they are (an event record's and a snapshot's objects), so replaying them needs no
    re-encoding; `decode` gives back an equal object."""
    return zlib.compress(cbor2.dumps(obj), ZLIB_LEVEL)


def decode(blob: bytes) -> dict[str, Any]:
    """The object `encode` made `blob` from; raises ValueError when it is not one."""
    try:
        obj = cbor2.loads(zlib.decompress(blob))
    except (zlib.error, cbor2.CBORDecodeError) as exc:
        raise ValueError(f"an undecodable object ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("an encoded object that is not a map")
    return obj


def spec_digest(spec: Any) -> bytes:
    """A digest of a spec's encoding: equal digests mean equal specs (the encodings are
    equal); different ones are compared decoded (a key order change is no change)."""
    return hashlib.blake2b(cbor2.dumps(spec), digest_size=16).digest()


class TraceStore:
    """The live recording; see the module doc."""

    def __init__(
        self,
        config: TracerConfig,
        owner_lookup: Lookup | None = None,
        sink: Sink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.tracked = set(config.tracked_objects)
        self.clock = clock
        self.sink = sink
        self.lock = threading.RLock()
        self.owners = OwnersCache(self._lookup_and_log(owner_lookup) if owner_lookup else None)
        # The history: {"ts", "applied_objs", "deleted_objs"} of Held pairs (see `events`).
        self.history: list[dict[str, Any]] = []
        # tracked objects as last recorded: (encoding, digest of its spec or None until needed)
        self.live: dict[Key, tuple[bytes, bytes | None]] = {}
        self.lifecycles: dict[Key, dict[int, list[dict[str, int | None]]]] = {}
        self.pods: dict[str, tuple[Key, int, dict[str, int | None]]] = {}  # pod ns/name → its lifecycle
        self.ignored_pods: set[str] = set()  # running pods whose owner does not track lifecycles
        self.counts: dict[str, int] = {}  # recorded events per GVK (metrics)
        self.last_ts = 0
        self.last_event_at = 0.0
        # No event is stamped before this: the journal's current snapshot (its segment
        # start) or the retention cutoff; see `set_floor`.
        self.floor_ts = int(clock())
        self.last_at: dict[Key, int] = {}  # ts of each object's last recorded event (live ones, recent deletes)
        self._restored = False
        self.starting_state = config.starting_state
        self.cluster_events: list[dict[str, Any]] = []  # the starting state's timeline
        self.cluster_live: dict[cluster.Key, dict[str, Any]] = {}  # its objects as last recorded

    # --- helpers ------------------------------------------------------------------------

    def _lookup_and_log(self, lookup: Lookup) -> Lookup:
        def logged(gvk: str, ns: str | None, name: str) -> dict[str, Any] | None:
            obj = lookup(gvk, ns, name)
            owners = [list(k) for k in owner_keys(obj)] if obj else []
            self._emit(REC_OWNERS, self.last_ts, {"k": [gvk, f"{ns}/{name}" if ns else name], "r": owners})
            return obj

        return logged

    def _now(self, ts: float | None) -> int:
        value = int(self.clock() if ts is None else ts)
        if value < self.last_ts:
            value = self.last_ts  # events stay sorted even if the clock steps back
        self.last_ts = value
        return value

    def _emit(self, kind: str, ts: int, payload: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink(kind, ts, payload)

    def _append(self, ts: int, held: Held, deleted: bool, gvk: str) -> None:
        field = "deleted_objs" if deleted else "applied_objs"
        last = self.history[-1] if self.history else None
        if last is not None and ts < last["ts"]:
            self._insert(ts, held, field)
        else:
            if last is None or last["ts"] != ts:
                last = new_event(ts)
                self.history.append(last)
            last[field].append(held)
        self.counts[gvk] = self.counts.get(gvk, 0) + 1
        self.last_event_at = self.clock()

    def _insert(self, ts: int, held: Held, field: str) -> None:
        """An event stamped before the newest (a change found by a re-list, at the object's
        own time): into the event of that second, or a new one in time order. An existing
        event is replaced, not changed, so a copy `to_trace` handed out stays as it was."""
        i = bisect.bisect_right(self.history, ts, key=lambda e: e["ts"])
        if i and self.history[i - 1]["ts"] == ts:
            old = self.history[i - 1]
            event = new_event(ts, list(old["applied_objs"]), list(old["deleted_objs"]))
            event[field].append(held)
            self.history[i - 1] = event
        else:
            event = new_event(ts)
            event[field].append(held)
            self.history.insert(i, event)

    def set_floor(self, ts: int) -> None:
        """No event is stamped before `ts` from now on (the journal calls this when it starts
        a segment with a snapshot: an earlier event written after that snapshot would be
        undone by it on replay). Forgets the last-event times it makes redundant."""
        with self.lock:
            self.floor_ts = ts
            gone = [k for k, t in self.last_at.items() if t <= ts and k not in self.live]
            for key in gone:
                del self.last_at[key]

    def _true_time(self, key: Key, obj: Mapping[str, Any], new: bool, now: int) -> int:
        """When a change found by a re-list happened, as the object tells (see the module
        doc), kept between the object's last recorded event (and the floor) and now."""
        at = changed_at(obj, new)
        if at is None:
            return now
        floor = max(self.floor_ts, self.last_at.get(key, self.floor_ts))
        return min(max(at, floor), now)

    # --- tracked objects ----------------------------------------------------------------

    def applied(self, gvk: str, obj: dict[str, Any], ts: float | None = None) -> bool:
        """An ADDED/MODIFIED object of a tracked kind; True when an event was recorded."""
        with self.lock:
            return self._applied(gvk, obj, self._now(ts))

    def _applied(self, gvk: str, obj: dict[str, Any], ts: int, key: Key | None = None, relisted: bool = False) -> bool:
        key = key or key_of(gvk, obj)
        self.owners.observe(key, obj)
        meta = obj.get("metadata") or {}
        if meta.get("ownerReferences") and self.config.skip_owned(gvk):
            return False
        old = self.live.get(key)
        spec = obj.get("spec")
        digest = spec_digest(spec)
        if old is not None and self._same_spec(key, old, digest, spec):
            return False
        if relisted:
            ts = self._true_time(key, obj, old is None, ts)
        blob = encode(sanitize(obj))
        self.live[key] = (blob, digest)
        self.last_at[key] = ts
        self._append(ts, (key, blob), False, gvk)
        self._emit(REC_EVENT, ts, {"a": [blob]})
        return True

    def _same_spec(self, key: Key, old: tuple[bytes, bytes | None], digest: bytes, spec: Any) -> bool:
        """Whether a recorded object's spec equals `spec` (whose digest is `digest`)."""
        blob, known = old
        if known is None:  # replayed from the journal: digested when first needed
            known = spec_digest(decode(blob).get("spec"))
            self.live[key] = (blob, known)
        if known == digest:
            return True
        return bool(decode(blob).get("spec") == spec)

    def deleted(self, gvk: str, obj: dict[str, Any], ts: float | None = None) -> bool:
        """A DELETED object of a tracked kind; recorded when it had been recorded."""
        with self.lock:
            return self._deleted(gvk, obj, self._now(ts))

    def _deleted(self, gvk: str, obj: dict[str, Any] | None, ts: int, key: Key | None = None) -> bool:
        key = key or key_of(gvk, obj or {})
        self.owners.forget(key)
        old = self.live.pop(key, None)
        if old is None:
            return False
        blob = old[0]
        if obj is not None:
            mine = encode(sanitize(obj))
            if mine != blob:  # usually the last recorded object: then its encoding is shared
                blob = mine
        ts = max(ts, self.last_at.get(key, ts))  # a delete never goes before the object's last event
        self.last_at[key] = ts
        self._append(ts, (key, blob), True, gvk)
        self._emit(REC_EVENT, ts, {"d": [blob]})
        return True

    def sync(self, gvk: str, items: Iterable[dict[str, Any]], ts: float | None = None) -> None:
        """A complete (re-)list of a tracked kind: record what changed since we last knew,
        each change at its own time where the object tells it (see the module doc); what
        vanished is deleted now (when it went is not knowable)."""
        with self.lock:
            now = self._now(ts)
            seen = set()
            for obj in items:
                key = key_of(gvk, obj)
                seen.add(key)
                self._applied(gvk, obj, now, key, relisted=True)
            for key in [k for k in self.live if k[0] == gvk and k not in seen]:
                self._deleted(gvk, None, now, key)

    # --- the starting state: nodes and PriorityClasses -----------------------------------

    def cluster_applied(self, gvk: str, obj: dict[str, Any], ts: float | None = None) -> bool:
        """An ADDED/MODIFIED Node or PriorityClass; True when its recorded form changed."""
        if not self.starting_state:
            return False
        with self.lock:
            return self._cluster_applied(gvk, obj, self._now(ts))

    def _cluster_applied(self, gvk: str, obj: dict[str, Any], ts: int) -> bool:
        form = cluster.recorded(gvk, obj)
        if form is None:
            return False
        key = cluster.key_of(form)
        if self.cluster_live.get(key) == form:
            return False
        self.cluster_live[key] = form
        self._cluster_append(ts, form, False)
        self._emit(REC_CLUSTER, ts, {"a": [form]})
        return True

    def cluster_deleted(self, gvk: str, obj: dict[str, Any], ts: float | None = None) -> bool:
        """A DELETED Node or PriorityClass; recorded when it had been recorded."""
        if not self.starting_state:
            return False
        with self.lock:
            name = (obj.get("metadata") or {}).get("name", "")
            return self._cluster_deleted((gvk, str(name)), self._now(ts))

    def _cluster_deleted(self, key: cluster.Key, ts: int) -> bool:
        old = self.cluster_live.pop(key, None)
        if old is None:
            return False
        self._cluster_append(ts, old, True)
        self._emit(REC_CLUSTER, ts, {"d": [old]})
        return True

    def cluster_sync(self, gvk: str, items: Iterable[dict[str, Any]], ts: float | None = None) -> None:
        """A complete (re-)list of Nodes or PriorityClasses: record what changed meanwhile."""
        if not self.starting_state:
            return
        with self.lock:
            now = self._now(ts)
            seen = set()
            for obj in items:
                seen.add((gvk, str((obj.get("metadata") or {}).get("name", ""))))
                self._cluster_applied(gvk, obj, now)
            for key in [k for k in self.cluster_live if k[0] == gvk and k not in seen]:
                self._cluster_deleted(key, now)

    def _cluster_append(self, ts: int, obj: dict[str, Any], deleted: bool) -> None:
        last = self.cluster_events[-1] if self.cluster_events else None
        if last is None or last["ts"] != ts:
            last = new_event(ts)
            self.cluster_events.append(last)
        last["deleted_objs" if deleted else "applied_objs"].append(obj)
        gvk = cluster.key_of(obj)[0]
        self.counts[gvk] = self.counts.get(gvk, 0) + 1

    def _cluster_record(self, ts: int, payload: dict[str, Any]) -> None:
        """A journaled change of the starting state, replayed."""
        for obj in payload.get("a") or ():
            self.cluster_live[cluster.key_of(obj)] = obj
            self._cluster_append(ts, obj, False)
        for obj in payload.get("d") or ():
            self.cluster_live.pop(cluster.key_of(obj), None)
            self._cluster_append(ts, obj, True)

    # --- pods and their lifecycles ------------------------------------------------------

    def pod_event(self, kind: str, pod: dict[str, Any], ts: float | None = None) -> None:
        """Any watch event of a pod: lifecycles, and the pod itself when v1.Pod is tracked."""
        with self.lock:
            now = self._now(ts)
            key = key_of(POD_GVK, pod)
            if kind == "DELETED":
                if POD_GVK in self.tracked:
                    self._deleted(POD_GVK, pod, now, key)
                self._pod_gone(pod, now, None, key[1])
            else:
                if POD_GVK in self.tracked:
                    self._applied(POD_GVK, pod, now, key)
                else:
                    self.owners.observe(key, pod)
                self._pod_seen(pod, now, key[1])

    def pod_sync(self, items: Iterable[dict[str, Any]], ts: float | None = None) -> None:
        with self.lock:
            now = self._now(ts)
            names = set()
            for pod in items:
                key = key_of(POD_GVK, pod)
                names.add(key[1])
                if POD_GVK in self.tracked:
                    self._applied(POD_GVK, pod, now, key, relisted=True)
                self._pod_seen(pod, now)
            if POD_GVK in self.tracked:
                for key in [k for k in self.live if k[0] == POD_GVK and k[1] not in names]:
                    self._deleted(POD_GVK, None, now, key)
            for name in [n for n in self.pods if n not in names]:
                self._pod_gone(None, now, name)
            self.ignored_pods &= names

    def lifecycle_owner(self, pod: dict[str, Any]) -> Key | None:
        """The owner a pod's lifecycle is recorded under, or None (see the module doc)."""
        key = key_of(POD_GVK, pod)
        owner = lifecycle_owner(key, self.owners.chain(key, owner_keys(pod)), lambda k: k[0] in self.tracked)
        if owner is None or not self.config.track_lifecycle(owner[0]):
            return None
        return owner

    def _pod_seen(self, pod: dict[str, Any], ts: int, name: str | None = None) -> None:
        name = name or key_of(POD_GVK, pod)[1]
        if name in self.ignored_pods:
            return
        known = self.pods.get(name)
        if known is not None and known[2]["end_ts"] is not None:
            return  # finished: nothing more to learn from its status
        start, end = pod_lifecycle(pod)
        if known is not None:
            _owner, _hash, lc = known
            changed = False
            if lc["start_ts"] is None and start is not None:
                lc["start_ts"], changed = start, True
            if lc["end_ts"] is None and end is not None and lc["start_ts"] is not None:
                lc["end_ts"], changed = max(end, lc["start_ts"]), True
            if changed:
                self._emit_lifecycle(name, known, ts)
            return
        if start is None:
            return  # not running yet: nothing to record
        owner = self.lifecycle_owner(pod)
        if owner is None:
            self.ignored_pods.add(name)  # its owners do not change: do not walk the chain again
            return
        self._new_lifecycle(name, owner, pod_hash(pod), start, end, ts)

    def _new_lifecycle(self, name: str, owner: Key, h: int, start: int | None, end: int | None, ts: int) -> None:
        lc: dict[str, int | None] = {"start_ts": start, "end_ts": end}
        self.lifecycles.setdefault(owner, {}).setdefault(h, []).append(lc)
        entry = (owner, h, lc)
        self.pods[name] = entry
        self._emit_lifecycle(name, entry, ts)

    def _emit_lifecycle(self, name: str, entry: tuple[Key, int, dict[str, int | None]], ts: int) -> None:
        owner, h, lc = entry
        self._emit(REC_LIFECYCLE, ts, {"p": name, "o": list(owner), "h": h, "s": lc["start_ts"], "e": lc["end_ts"]})

    def _pod_gone(self, pod: dict[str, Any] | None, ts: int, name: str | None = None, seen: str | None = None) -> None:
        """A pod that is gone: `pod` and its `seen` name from a DELETED event, or only
        `name` when a re-list no longer has it."""
        if name is None:
            assert pod is not None
            name = seen or key_of(POD_GVK, pod)[1]
            self.owners.forget((POD_GVK, name))
            if name in self.ignored_pods:
                self.ignored_pods.discard(name)
                return
            if name not in self.pods:
                self._pod_seen(pod, ts, name)  # ran and went between two events: record it now
        entry = self.pods.pop(name, None)
        if entry is None:
            return
        _owner, _hash, lc = entry
        if lc["end_ts"] is None:
            end = pod_lifecycle(pod)[1] if pod is not None else None
            if end is None:
                end = _deletion_time(pod) if pod is not None else None
            end = ts if end is None else end
            lc["end_ts"] = max(end, lc["start_ts"] or end)
            self._emit_lifecycle(name, entry, ts)

    # --- export -------------------------------------------------------------------------

    def to_trace(self) -> Trace:
        """A consistent copy of the recording (objects shared, containers copied)."""
        with self.lock:
            events = self._decoded()
            trace = Trace(
                config=self.config.to_document(),
                events=events,
                index={},  # the window hashes what it exports (`spec_hash`, its rule 6): off the hot path
                pod_lifecycles={
                    owner: {h: [dict(lc) for lc in lcs] for h, lcs in by_hash.items()}
                    for owner, by_hash in self.lifecycles.items()
                },
            )
            if self.cluster_events:
                copied = [new_event(e["ts"], list(e["applied_objs"]), list(e["deleted_objs"]))
                          for e in self.cluster_events]
                cluster.set_section(trace, cluster.section(copied))
            return trace

    def _decoded(self) -> list[dict[str, Any]]:
        """The history with its objects decoded (one dict per encoding: a delete that shares
        its object's last encoding shares its decoded dict too, as before)."""
        seen: dict[int, dict[str, Any]] = {}

        def obj(held: Held) -> dict[str, Any]:
            blob = held[1]
            found = seen.get(id(blob))
            if found is None:
                found = seen[id(blob)] = decode(blob)
            return found

        return [new_event(e["ts"], [obj(h) for h in e["applied_objs"]], [obj(h) for h in e["deleted_objs"]])
                for e in self.history]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The recorded events with their objects decoded (a copy; for tests and tools)."""
        with self.lock:
            return self._decoded()

    def owner_links(self) -> dict[Key, list[Key]]:
        """Owners of objects the trace does not contain (e.g. ReplicaSets), for export."""
        with self.lock:
            return {k: list(v) for k, v in {**self.owners.looked_up, **self.owners.watched}.items() if v}

    def export(
        self, start_ts: int, end_ts: int, filters: ExportFilters | None = None, transform: Program | None = None
    ) -> Trace:
        """The window `[start_ts, end_ts)`, by the same rules as `skctl export --from`; a
        transform program rewrites the recorded events first (SimKube's tracer does)."""
        return export_window(self.to_trace(), start_ts, end_ts, filters, extra_owners=self.owner_links(),
                             transform=transform)

    def whole(self) -> Trace:
        """The whole recording as `skctl export` with no filters would cut it (index built,
        owned objects left to their owners): what `skctl trace -o` writes."""
        from skctl.trace.window import NO_FILTERS

        span = self.time_range()
        if span is None:
            return self.to_trace()
        return self.export(span[0], span[1] + 1, NO_FILTERS)

    def time_range(self) -> tuple[int, int] | None:
        with self.lock:
            if not self.history:
                return None
            return self.history[0]["ts"], self.history[-1]["ts"]

    def event_count(self) -> int:
        with self.lock:
            return sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in self.history)

    # --- retention ----------------------------------------------------------------------

    def trim(self, cutoff: int) -> int:
        """Drop history before `cutoff`, keeping what is alive then; returns events dropped."""
        with self.lock:
            n = 0
            history = self.history
            while n < len(history) and history[n]["ts"] < cutoff:
                n += 1
            if n == 0 or (n == 1 and history[0]["ts"] == cutoff - 1):
                self._trim_cluster(cutoff)
                return 0
            alive: dict[Key, Held] = {}
            for event in history[:n]:
                for held in event["applied_objs"]:
                    alive[held[0]] = held
                for held in event["deleted_objs"]:
                    alive.pop(held[0], None)
            dropped = sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in history[:n])
            # The survivors sit just before the cutoff, so a window starting at the cutoff
            # flattens them into its starting configuration, as it would have before.
            base = [new_event(cutoff - 1, list(alive.values()))] if alive else []
            self.history = base + history[n:]
            self._trim_cluster(cutoff)
            self.set_floor(max(self.floor_ts, cutoff))  # an earlier stamp would go before the base
            for owner in list(self.lifecycles):
                by_hash = self.lifecycles[owner]
                for h in list(by_hash):
                    by_hash[h] = [lc for lc in by_hash[h] if lc["end_ts"] is None or lc["end_ts"] >= cutoff]
                    if not by_hash[h]:
                        del by_hash[h]
                if not by_hash:
                    del self.lifecycles[owner]
            return dropped

    def _trim_cluster(self, cutoff: int) -> None:
        """Retention for the starting state: its history before `cutoff` folds into one
        event just before it, as the tracked objects' does."""
        events = self.cluster_events
        n = 0
        while n < len(events) and events[n]["ts"] < cutoff:
            n += 1
        if n == 0 or (n == 1 and events[0]["ts"] == cutoff - 1 and not events[0]["deleted_objs"]):
            return
        alive = cluster.fold(events[:n])
        base = [new_event(cutoff - 1, list(alive.values()))] if alive else []
        self.cluster_events = base + events[n:]

    # --- journal ------------------------------------------------------------------------

    def snapshot(self, ts: int | None = None) -> dict[str, Any]:
        """Everything needed to continue from now: live objects, running and recent
        lifecycles, pods being followed, owner links of unwatched objects."""
        with self.lock:
            ts = self.last_ts if ts is None else ts
            lifecycles = []
            by_id = {id(lc): name for name, (_o, _h, lc) in self.pods.items()}
            for owner, by_hash in self.lifecycles.items():
                for h, lcs in by_hash.items():
                    for lc in lcs:
                        if lc["end_ts"] is None or lc["end_ts"] >= ts or id(lc) in by_id:
                            lifecycles.append({"p": by_id.get(id(lc)), "o": list(owner), "h": h,
                                               "s": lc["start_ts"], "e": lc["end_ts"]})
            return {
                "ts": ts,
                "objects": [[k[0], held[0]] for k, held in self.live.items()],  # encoded, as held
                "lifecycles": lifecycles,
                "owners": [[list(k), [list(o) for o in v]] for k, v in self.owners.looked_up.items()],
                "cluster": list(self.cluster_live.values()),
            }

    def replay(self, records: Iterable[tuple[str, int, dict[str, Any]]]) -> int:
        """Rebuild from journal records (a snapshot first); returns how many were applied.
        Nothing is emitted to the sink while replaying. A record of the wrong shape (written
        by a broken or foreign writer, though its checksum holds) is skipped with a warning,
        as a damaged frame is: the tracer always starts, an export always answers."""
        sink, self.sink = self.sink, None
        n = 0
        try:
            with self.lock:
                for kind, ts, payload in records:
                    unchanged: list[Key] = []
                    if kind == REC_SNAPSHOT and self._restored:
                        payload, unchanged = self._known_objects(payload)
                    try:
                        payload, blobs = _decoded(kind, payload)
                    except ValueError as exc:
                        log.warning("journal record %r at ts %s is damaged (%s); skipped", kind, ts, exc)
                        continue
                    issue = record_problem(kind, ts, payload)
                    if issue:
                        log.warning("journal record %r at ts %s is damaged (%s); skipped", kind, ts, issue)
                        continue
                    self.last_ts = max(self.last_ts, ts)
                    if kind == REC_SNAPSHOT:
                        self._load_snapshot(ts, payload, blobs, unchanged)
                    elif kind == REC_EVENT:
                        for obj, blob in zip(payload.get("a") or (), blobs.get("a") or (), strict=True):
                            key = key_of(_gvk(obj), obj)
                            blob = blob or encode(obj)
                            self.live[key] = (blob, None)
                            self.last_at[key] = ts
                            self.owners.observe(key, obj)
                            self._append(ts, (key, blob), False, key[0])
                        for obj, blob in zip(payload.get("d") or (), blobs.get("d") or (), strict=True):
                            key = key_of(_gvk(obj), obj)
                            blob = blob or encode(obj)
                            old = self.live.pop(key, None)
                            if old is not None and old[0] == blob:
                                blob = old[0]  # one copy, as the recording tracer held it
                            self.last_at[key] = ts
                            self.owners.forget(key)
                            self._append(ts, (key, blob), True, key[0])
                    elif kind == REC_LIFECYCLE:
                        self._replay_lifecycle(payload)
                    elif kind == REC_OWNERS:
                        self.owners.looked_up[tuple(payload["k"])] = [tuple(o) for o in payload.get("r") or ()]
                    elif kind == REC_CLUSTER:
                        if self.starting_state:
                            self._cluster_record(ts, payload)
                    n += 1
        finally:
            self.sink = sink
        return n

    def _known_objects(self, snap: Any) -> tuple[Any, list[Key]]:
        """A later snapshot's objects that are, byte for byte, live objects already (all of
        them, normally): their keys, and the snapshot without them (nothing to decode)."""
        objects = snap.get("objects") if isinstance(snap, dict) else None
        if not isinstance(objects, list):
            return snap, []
        by_blob = {held[0]: key for key, held in self.live.items()}
        rest, known = [], []
        for item in objects:
            key = by_blob.get(item[1]) if isinstance(item, list) and len(item) == 2 and isinstance(item[1], bytes) else None
            if key is not None and key[0] == item[0]:
                known.append(key)
            else:
                rest.append(item)
        return {**snap, "objects": rest}, known

    def _load_snapshot(self, ts: int, snap: dict[str, Any], blobs: dict[str, list[bytes | None]],
                       unchanged: list[Key]) -> None:
        pairs = zip(snap.get("objects") or (), blobs.get("objects") or (), strict=True)
        if self._restored:
            # A later segment's snapshot: normally the records before it built the same
            # state (`unchanged`); after a damaged segment it brings the state back in line.
            fresh = set(unchanged)
            for (gvk, obj), _blob in pairs:
                fresh.add(key_of(gvk, obj))
                self._applied(gvk, obj, ts)
            for key in [k for k in self.live if k not in fresh]:
                self._deleted(key[0], None, ts, key)
            self._load_cluster_snapshot(ts, snap)
            return
        self._restored = True
        held: list[Held] = []
        for (gvk, obj), blob in pairs:
            key = key_of(gvk, obj)
            blob = blob or encode(obj)
            self.live[key] = (blob, None)
            self.last_at[key] = ts  # at the latest: the snapshot holds its state then
            self.owners.observe(key, obj)
            held.append((key, blob))
        if held:
            self.history.append(new_event(ts, held))
        for item in snap.get("lifecycles") or ():
            self._replay_lifecycle(item)
        for k, v in snap.get("owners") or ():
            self.owners.looked_up[tuple(k)] = [tuple(o) for o in v]
        self._load_cluster_snapshot(ts, snap)

    def _load_cluster_snapshot(self, ts: int, snap: dict[str, Any]) -> None:
        """A snapshot's starting state: the differences from what the records before it built
        are recorded at its time (none, unless a damaged segment lost some)."""
        if not self.starting_state:
            return
        fresh = {cluster.key_of(obj): obj for obj in snap.get("cluster") or ()}
        for key, obj in fresh.items():
            if self.cluster_live.get(key) != obj:
                self.cluster_live[key] = obj
                self._cluster_append(ts, obj, False)
        for key in [k for k in self.cluster_live if k not in fresh]:
            self._cluster_append(ts, self.cluster_live.pop(key), True)

    def _replay_lifecycle(self, rec: dict[str, Any]) -> None:
        name = rec.get("p")
        known = self.pods.get(name) if name else None
        if known is not None:
            known[2]["start_ts"], known[2]["end_ts"] = rec.get("s"), rec.get("e")
            return
        owner = tuple(rec["o"])
        lc: dict[str, int | None] = {"start_ts": rec.get("s"), "end_ts": rec.get("e")}
        self.lifecycles.setdefault(owner, {}).setdefault(rec["h"], []).append(lc)
        if name:
            self.pods[name] = (owner, rec["h"], lc)


def _decoded(kind: str, payload: Any) -> tuple[Any, dict[str, list[bytes | None]]]:
    """A journal record with its encoded objects decoded (an event record's `a` and `d`, a
    snapshot's `objects`), and their encodings by field (None where the record held the
    object decoded, as journals before version 2 do). Raises ValueError for an encoding
    that does not decode; any other wrong shape is left for `record_problem`."""
    blobs: dict[str, list[bytes | None]] = {}
    if not isinstance(payload, dict):
        return payload, blobs
    if kind == REC_EVENT:
        out = dict(payload)
        for field in ("a", "d"):
            items = payload.get(field)
            if isinstance(items, list):
                out[field] = [decode(o) if isinstance(o, bytes) else o for o in items]
                blobs[field] = [o if isinstance(o, bytes) else None for o in items]
        return out, blobs
    if kind == REC_SNAPSHOT and isinstance(payload.get("objects"), list):
        objects, held = [], []
        for item in payload["objects"]:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], bytes):
                objects.append([item[0], decode(item[1])])
                held.append(item[1])
            else:
                objects.append(item)
                held.append(None)
        blobs["objects"] = held
        return {**payload, "objects": objects}, blobs
    return payload, blobs


def _gvk(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('apiVersion', '')}.{obj.get('kind', '')}"


def changed_at(obj: Mapping[str, Any], new: bool) -> int | None:
    """When an object's spec last changed, as the object itself tells: the newest time of
    its managedFields entries that own part of `spec` (any operation and subresource but
    `status`; when none owns `spec`, as for kinds without one, of every such entry), else
    for a `new` object its creationTimestamp. None when it does not tell."""
    meta = obj.get("metadata") or {}
    entries = [e for e in meta.get("managedFields") or () if isinstance(e, Mapping) and e.get("subresource") != "status"]
    owning = [e for e in entries if isinstance(e.get("fieldsV1"), Mapping) and "f:spec" in e["fieldsV1"]]
    times = [t for t in (parse_ts(e.get("time")) for e in owning or entries) if t is not None]
    if times:
        return max(times)
    return parse_ts(meta.get("creationTimestamp")) if new else None


def _deletion_time(pod: dict[str, Any]) -> int | None:
    """When a graceful delete was asked: deletionTimestamp minus its grace period."""
    meta = pod.get("metadata") or {}
    at = parse_ts(meta.get("deletionTimestamp"))
    if at is None:
        return None
    grace = meta.get("deletionGracePeriodSeconds")
    return at - int(grace) if isinstance(grace, int) else at


def _pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(p, str) for p in value)


def _time(value: Any, optional: bool = True) -> bool:
    from skctl.trace.shape import TS_MAX, TS_MIN

    return (optional and value is None) or (type(value) is int and TS_MIN <= value <= TS_MAX)


def _objects_problem(objs: Any) -> str | None:
    from skctl.trace.shape import object_problem

    if objs is None:
        return None
    if not isinstance(objs, list):
        return "its objects are not a list"
    for obj in objs:
        issue = object_problem(obj)
        if issue:
            return issue
    return None


def _lifecycle_problem(rec: Any) -> str | None:
    from skctl.trace.shape import HASH_MAX, HASH_MIN

    if not isinstance(rec, dict):
        return "a lifecycle that is not a map"
    if not (_pair(rec.get("o")) and type(rec.get("h")) is int and HASH_MIN <= rec["h"] <= HASH_MAX):
        return "a lifecycle without an owner pair and pod hash"
    if not (_time(rec.get("s")) and _time(rec.get("e")) and (rec.get("p") is None or isinstance(rec.get("p"), str))):
        return "a lifecycle whose times or pod name have the wrong type"
    return None


def record_problem(kind: str, ts: Any, payload: Any) -> str | None:
    """What keeps a decoded journal record from being replayed, or None: each record type's
    payload has the shape the writer gives it (REC_* above), its objects are valid trace
    objects and its time is a trace time (1970..9999)."""
    if not _time(ts, optional=False):
        return "its time is outside 1970..9999"
    if not isinstance(payload, dict):
        return "its payload is not a map"
    if kind in (REC_EVENT, REC_CLUSTER):
        return _objects_problem(payload.get("a")) or _objects_problem(payload.get("d"))
    if kind == REC_LIFECYCLE:
        return _lifecycle_problem(payload)
    if kind == REC_OWNERS:
        refs = payload.get("r") or []
        if not (_pair(payload.get("k")) and isinstance(refs, list) and all(_pair(r) for r in refs)):
            return "owners that are not [GVK, ns/name] pairs"
        return None
    if kind == REC_SNAPSHOT:
        objects = payload.get("objects") or []
        if not isinstance(objects, list) or not all(
                isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) for item in objects):
            return "a snapshot whose objects are not [GVK, object] pairs"
        issue = _objects_problem([obj for _gvk, obj in objects])
        if issue:
            return issue
        lifecycles = payload.get("lifecycles") or []
        if not isinstance(lifecycles, list):
            return "a snapshot whose lifecycles are not a list"
        for rec in lifecycles:
            issue = _lifecycle_problem(rec)
            if issue:
                return issue
        owners = payload.get("owners") or []
        if not isinstance(owners, list) or not all(
                isinstance(item, (list, tuple)) and len(item) == 2 and _pair(item[0]) and isinstance(item[1], list)
                and all(_pair(r) for r in item[1]) for item in owners):
            return "a snapshot whose owners are not [GVK, ns/name] pairs"
        return _objects_problem(payload.get("cluster"))
    return f"an unknown record type {kind!r}"
