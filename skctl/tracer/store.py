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
- Pod usage (skctl.tracer.usage): samples of pods whose lifecycle is recorded, keyed like
  it, kept in `usage` (a UsageLog), journaled as `REC_USAGE`, trimmed by retention and
  carried as the trace's `usage` section.

All methods are thread-safe (one lock); watch loops call them from their threads.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import marshal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import cbor2

from skctl.base.progress import Progress, no_progress
from skctl.kube.keys import Key, cluster_key, gvk_of, join_ns_name, key_of, object_key
from skctl.kube.owners import Lookup, OwnersCache, owner_keys
from skctl.kube.times import parse_ts
from skctl.trace import cluster
from skctl.trace.model import Trace, new_event
from skctl.trace.tracked import TracerConfig

if TYPE_CHECKING:
    from skctl.trace.skel import Program
from skctl.trace.pods import (
    POD_GVK,
    lifecycle_owner,
    pod_hash,
    pod_lifecycle,
)
from skctl.trace.usage import USAGE_KEY
from skctl.trace.window import ExportFilters, export_window
from skctl.tracer import usage as tracer_usage
from skctl.tracer.objects import sanitize

# Journal record types (skctl.tracer.journal persists them as they are).
log = logging.getLogger(__name__)

REC_SNAPSHOT = "snap"
REC_EVENT = "ev"  # {"a": [obj]} or {"d": [obj]}
REC_LIFECYCLE = "lc"  # {"p": pod ns/name, "o": [gvk, ns/name], "h": hash, "s": start, "e": end}
REC_OWNERS = "ow"  # {"k": [gvk, ns/name], "r": [[gvk, ns/name], ...]}: an unwatched object's owners
REC_CLUSTER = "cl"  # {"a": [obj]} or {"d": [obj]}: a Node or PriorityClass of the starting state
REC_USAGE = "us"  # {"s": [[pod ns/name, owner gvk, owner ns/name, hash, ts, millicores, bytes], ...]}

Sink = Callable[[str, int, dict[str, Any]], None]
_MISSING: Any = object()
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


def _raw(blob: bytes) -> bytes | None:
    """The CBOR inside an encoding; None for a damaged one (see `verify`)."""
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return None


def spec_digest(spec: Any) -> bytes:
    """A digest of a spec's serialisation: equal digests mean equal specs (the
    serialisations are equal); different ones are compared decoded (a key order change is
    no change). `marshal` version 2 serialises by value and type alone (no references to
    shared objects) and is three times faster than CBOR here; the digests never leave the
    process, so its format being Python's own does not matter. ValueError for a value JSON
    cannot carry."""
    return hashlib.blake2b(marshal.dumps(spec, 2), digest_size=16).digest()


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
        # The lifecycles a journal snapshot may still have to carry (running, ending at or
        # after the snapshot, or of a followed pod), by id: a snapshot tests these, not every
        # lifecycle kept (see `_snapshot_lifecycles`).
        self._lc_open: dict[int, tuple[Key, int, dict[str, int | None]]] = {}
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
        self._unverified: set[bytes] = set()  # encodings replayed without decoding (`verify`)
        self.starting_state = config.starting_state
        self.cluster_events: list[dict[str, Any]] = []  # the starting state's timeline
        self.cluster_live: dict[Key, dict[str, Any]] = {}  # its objects as last recorded
        self.usage = tracer_usage.UsageLog()
        self.usage_interval = config.usage_interval

    # --- helpers ------------------------------------------------------------------------

    def _lookup_and_log(self, lookup: Lookup) -> Lookup:
        def logged(gvk: str, ns: str | None, name: str) -> dict[str, Any] | None:
            obj = lookup(gvk, ns, name)
            owners = [list(k) for k in owner_keys(obj)] if obj else []
            self._emit(REC_OWNERS, self.last_ts, {"k": [gvk, join_ns_name(ns, name)], "r": owners})
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
        key = key or object_key(gvk, obj)
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
        if self.sink is not None:
            owners = self.owners.watched.get(key) or ()
            self.sink(REC_EVENT, ts, {"a": [blob], "k": [list(key)], "o": [[list(o) for o in owners]]})
        return True

    def _same_spec(self, key: Key, old: tuple[bytes, bytes | None], digest: bytes, spec: Any) -> bool:
        """Whether a recorded object's spec equals `spec` (whose digest is `digest`)."""
        blob, known = old
        try:
            if known is None:  # replayed from the journal: digested when first needed
                known = spec_digest(decode(blob).get("spec"))
                self.live[key] = (blob, known)
            if known == digest:
                return True
            return bool(decode(blob).get("spec") == spec)
        except ValueError:  # a damaged journal object `verify` has not dropped yet: record anew
            return False

    def deleted(self, gvk: str, obj: dict[str, Any], ts: float | None = None) -> bool:
        """A DELETED object of a tracked kind; recorded when it had been recorded."""
        with self.lock:
            return self._deleted(gvk, obj, self._now(ts))

    def _deleted(self, gvk: str, obj: dict[str, Any] | None, ts: int, key: Key | None = None) -> bool:
        key = key or object_key(gvk, obj or {})
        self.owners.forget(key)
        old = self.live.pop(key, None)
        if old is None:
            return False
        blob = old[0]
        if obj is not None:
            raw = cbor2.dumps(sanitize(obj))
            if raw != _raw(blob):  # usually the last recorded object: its encoding is shared
                blob = zlib.compress(raw, ZLIB_LEVEL)
        ts = max(ts, self.last_at.get(key, ts))  # a delete never goes before the object's last event
        self.last_at[key] = ts
        self._append(ts, (key, blob), True, gvk)
        self._emit(REC_EVENT, ts, {"d": [blob], "k": [list(key)]})
        return True

    def sync(self, gvk: str, items: Iterable[dict[str, Any]], ts: float | None = None) -> None:
        """A complete (re-)list of a tracked kind: record what changed since we last knew,
        each change at its own time where the object tells it (see the module doc); what
        vanished is deleted now (when it went is not knowable)."""
        with self.lock:
            now = self._now(ts)
            seen = set()
            for obj in items:
                key = object_key(gvk, obj)
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
        key = cluster_key(form)
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

    def _cluster_deleted(self, key: Key, ts: int) -> bool:
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
        gvk = gvk_of(obj)
        self.counts[gvk] = self.counts.get(gvk, 0) + 1

    def _cluster_record(self, ts: int, payload: dict[str, Any]) -> None:
        """A journaled change of the starting state, replayed."""
        for obj in payload.get("a") or ():
            self.cluster_live[cluster_key(obj)] = obj
            self._cluster_append(ts, obj, False)
        for obj in payload.get("d") or ():
            self.cluster_live.pop(cluster_key(obj), None)
            self._cluster_append(ts, obj, True)

    # --- pods and their lifecycles ------------------------------------------------------

    def pod_event(self, kind: str, pod: dict[str, Any], ts: float | None = None) -> None:
        """Any watch event of a pod: lifecycles, and the pod itself when v1.Pod is tracked."""
        with self.lock:
            now = self._now(ts)
            key = object_key(POD_GVK, pod)
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
                key = object_key(POD_GVK, pod)
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
        key = object_key(POD_GVK, pod)
        owner = lifecycle_owner(key, self.owners.chain(key, owner_keys(pod)), lambda k: k[0] in self.tracked)
        if owner is None or not self.config.track_lifecycle(owner[0]):
            return None
        return owner

    def _pod_seen(self, pod: dict[str, Any], ts: int, name: str | None = None) -> None:
        name = name or object_key(POD_GVK, pod)[1]
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
        self._lc_open[id(lc)] = (owner, h, lc)
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
            name = seen or object_key(POD_GVK, pod)[1]
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

    # --- pod usage (skctl.tracer.usage) -------------------------------------------------

    def record_usage(self, rows: Iterable[tuple[str, int, int, int]]) -> int:
        """One sampling round: (pod ns/name, scrape ts, millicores, bytes) rows; pods whose
        lifecycle is not recorded are left out. Returns the samples kept."""
        with self.lock:
            kept: list[list[Any]] = []
            for name, ts, cpu, mem in rows:
                entry = self.pods.get(name)
                if entry is None:
                    continue
                owner, h, _lc = entry
                if self.usage.add(name, owner, h, ts, cpu, mem):
                    kept.append([name, owner[0], owner[1], h, ts, cpu, mem])
            if kept:
                self._emit(REC_USAGE, self._now(None), {"s": kept})
            return len(kept)

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
            usage = self.usage.section(self.usage_interval)
            if usage is not None:
                trace.extra[USAGE_KEY] = usage
            return trace

    def _decoded(self) -> list[dict[str, Any]]:
        """The history with its objects decoded (one dict per encoding: a delete that shares
        its object's last encoding shares its decoded dict too, as before). An encoding
        replayed unchecked is checked here if `verify` has not yet; a bad one is left out."""
        seen: dict[int, dict[str, Any] | None] = {}
        unverified = self._unverified

        def obj(held: Held) -> dict[str, Any] | None:
            blob = held[1]
            found: Any = seen.get(id(blob), _MISSING)
            if found is _MISSING:
                if unverified and blob in unverified:
                    found = self._verified(held)
                else:
                    found = decode(blob)
                seen[id(blob)] = found
            return found  # type: ignore[no-any-return]

        out = []
        for e in self.history:
            applied = [obj(h) for h in e["applied_objs"]]
            deleted = [obj(h) for h in e["deleted_objs"]]
            if unverified:
                applied = [o for o in applied if o is not None]
                deleted = [o for o in deleted if o is not None]
                if not applied and not deleted:
                    continue
            out.append(new_event(e["ts"], applied, deleted))  # type: ignore[arg-type]
        return out

    def _verified(self, held: Held) -> dict[str, Any] | None:
        """A replayed encoding checked (`_checked`): its object, or None when it is bad."""
        try:
            found = _checked(held[0], held[1], None)
        except ValueError as exc:
            log.warning("journal object %s %s is damaged (%s); left out", held[0][0], held[0][1], exc)
            return None
        self._unverified.discard(held[1])
        return found

    def verify(self, progress: Progress = no_progress, batch: int = 200) -> int:
        """Check the encodings a trusted replay kept unchecked (see `replay`), a batch of
        events at a time under the lock, so the watches and the API go on meanwhile. A bad
        one leaves the history (and the live objects: a re-list brings its object back), as
        its record would have been skipped. Returns how many were dropped."""
        dropped = 0
        with self.lock:
            events = list(self.history)
            total = len(self._unverified)
        with progress("checking the journal's objects", total) as advance:
            for i in range(0, len(events), batch):
                with self.lock:
                    for event in events[i:i + batch]:
                        dropped += self._verify_event(event, advance)
            with self.lock:  # events a re-list replaced meanwhile (`_insert`) hold the rest, if any
                if self._unverified:
                    for event in self.history:
                        dropped += self._verify_event(event, advance)
                self._unverified.clear()
                if dropped:
                    self.history = [e for e in self.history if e["applied_objs"] or e["deleted_objs"]]
        return dropped

    def unchecked(self) -> int:
        """How many replayed encodings `verify` has still to check."""
        return len(self._unverified)

    def _verify_event(self, event: dict[str, Any], advance: Callable[[int], None]) -> int:
        dropped = 0
        for field in ("applied_objs", "deleted_objs"):
            bad = []
            for held in event[field]:
                if held[1] in self._unverified:
                    if self._verified(held) is None:
                        bad.append(held)
                    advance(1)
            if bad:
                event[field] = [h for h in event[field] if h not in bad]
                for key, blob in bad:
                    if self.live.get(key, (None,))[0] is blob:
                        del self.live[key]
                        self.owners.forget(key)
                dropped += len(bad)
        return dropped

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
            self.usage.trim(cutoff)
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
            base = [_held_event(cutoff - 1, list(alive.values()))] if alive else []
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
            watched = self.owners.watched
            lifecycles = []
            by_id = {id(lc): name for name, (_o, _h, lc) in self.pods.items()}
            for owner, h, lc in self._snapshot_lifecycles(ts, by_id):
                lifecycles.append({"p": by_id.get(id(lc)), "o": list(owner), "h": h,
                                   "s": lc["start_ts"], "e": lc["end_ts"]})
            return {
                "ts": ts,
                # encoded, as held (see `_entries`): a copy of bytes, not an encoding; tuples
                # are CBOR arrays as lists are
                "objects": [(k[0], held[0], k[1], watched.get(k, ())) for k, held in self.live.items()],
                "lifecycles": lifecycles,
                "owners": [[list(k), [list(o) for o in v]] for k, v in self.owners.looked_up.items()],
                "cluster": list(self.cluster_live.values()),
            }

    def _snapshot_lifecycles(self, ts: int, followed: dict[int, str]) -> list[tuple[Key, int, dict[str, int | None]]]:
        """The lifecycles a snapshot at `ts` carries: running, ending at or after `ts`, or of
        a pod still followed; in the order of `lifecycles` (owner, pod hash, start), as a
        replay rebuilds it. A lifecycle that ended before `ts` of a pod no longer followed
        never qualifies again (its end no longer changes, snapshot times only grow), so it
        leaves `_lc_open`: the cost follows the running pods, not all those kept."""
        keep: list[tuple[Key, int, dict[str, int | None]]] = []
        for i, (owner, h, lc) in list(self._lc_open.items()):
            if _running_at(lc, ts) or i in followed:
                keep.append((owner, h, lc))
            else:
                del self._lc_open[i]
        if not keep:
            return []
        owner_rank = {owner: n for n, owner in enumerate(self.lifecycles)}
        ranked = []
        for owner, h, lc in keep:
            by_hash = self.lifecycles.get(owner)
            lcs = by_hash.get(h) if by_hash else None
            at = next((n for n in range(len(lcs) - 1, -1, -1) if lcs[n] is lc), None) if lcs else None
            if at is None:  # trimmed away
                del self._lc_open[id(lc)]
                continue
            assert by_hash is not None
            ranked.append(((owner_rank[owner], list(by_hash).index(h), at), (owner, h, lc)))
        ranked.sort(key=lambda item: item[0])
        return [entry for _rank, entry in ranked]

    def replay(self, records: Iterable[tuple[str, int, dict[str, Any]]], trusted: bool = False) -> int:
        """Rebuild from journal records (a snapshot first); returns how many were applied.
        Nothing is emitted to the sink while replaying. A record of the wrong shape (written
        by a broken or foreign writer, though its checksum holds) is skipped with a warning,
        as a damaged frame is: the tracer always starts, an export always answers.

        Encoded objects (journal version 2) name their key and owners beside the encoding.
        `trusted` (a tracer reopening its own journal) keeps them without decoding them, the
        bulk of a replay's cost; they are checked later by `verify()` (and by any export
        before that), which drops an object that does not decode to a valid object of its
        key, as the untrusted replay skips its record."""
        sink, self.sink = self.sink, None
        n = 0
        try:
            with self.lock:
                for kind, ts, payload in records:
                    unchanged: list[Key] = []
                    if kind == REC_SNAPSHOT and self._restored:
                        payload, unchanged = self._known_objects(payload)
                    issue = record_problem(kind, ts, payload)
                    entries: Any = None
                    if not issue and kind in (REC_EVENT, REC_SNAPSHOT):
                        try:
                            entries = self._entries(kind, payload, trusted and not self._restored_later(kind))
                        except ValueError as exc:
                            issue = str(exc)
                    if issue:
                        log.warning("journal record %r at ts %s is damaged (%s); skipped", kind, ts, issue)
                        continue
                    self.last_ts = max(self.last_ts, ts)
                    if kind == REC_SNAPSHOT:
                        self._load_snapshot(ts, payload, entries, unchanged)
                    elif kind == REC_EVENT:
                        applied, deleted = entries
                        for key, blob, owners, _obj in applied:
                            self.live[key] = (blob, None)
                            self.last_at[key] = ts
                            self.owners.remember(key, owners)
                            self._append(ts, (key, blob), False, key[0])
                        for key, blob, _owners, _obj in deleted:
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
                    elif kind == REC_USAGE:
                        for pod, gvk, name, h, at, cpu, mem in tracer_usage.iter_samples(payload):
                            self.usage.add(pod, (gvk, name), h, at, cpu, mem)
                    n += 1
        finally:
            self.sink = sink
        return n

    def _restored_later(self, kind: str) -> bool:
        """A later segment's snapshot: its changed objects are applied decoded (`_applied`)."""
        return kind == REC_SNAPSHOT and self._restored

    def _entries(self, kind: str, payload: dict[str, Any], trusted: bool) -> Any:
        """An event record's (applied, deleted) or a snapshot's objects as Entry tuples
        (key, encoding, owners, decoded object or None); ValueError when one is damaged."""
        if kind == REC_EVENT:
            applied, deleted = payload.get("a") or [], payload.get("d") or []
            if "k" not in payload:  # journal version 1: the objects themselves
                return ([_entry(key_of(o), o) for o in applied],
                        [_entry(key_of(o), o) for o in deleted])
            keys, owners = [_key(k) for k in payload["k"]], payload.get("o") or []
            return ([self._encoded_entry(k, b, [_key(o) for o in w], trusted)
                     for k, b, w in zip(keys[:len(applied)], applied, owners, strict=True)],
                    [self._encoded_entry(k, b, None, trusted) for k, b in zip(keys[len(applied):], deleted, strict=True)])
        out = []
        for item in payload.get("objects") or ():
            if len(item) == 2:
                out.append(_entry(object_key(item[0], item[1]), item[1]))
            else:
                gvk, blob, name, owners = item
                out.append(self._encoded_entry(_key((gvk, name)), blob, [_key(o) for o in owners], trusted))
        return out

    def _encoded_entry(self, key: Key, blob: bytes, owners: list[Key] | None, trusted: bool) -> Entry:
        if trusted:
            self._unverified.add(blob)
            return key, blob, owners or [], None
        obj = _checked(key, blob, owners)
        return key, blob, owners or [], obj

    def _known_objects(self, snap: Any) -> tuple[Any, list[Key]]:
        """A later snapshot's objects that are, byte for byte, live objects already (all of
        them, normally): their keys, and the snapshot without them (nothing to decode)."""
        objects = snap.get("objects") if isinstance(snap, dict) else None
        if not isinstance(objects, list):
            return snap, []
        by_blob = {held[0]: key for key, held in self.live.items()}
        rest, known = [], []
        for item in objects:
            four = isinstance(item, (list, tuple)) and len(item) == 4 and isinstance(item[1], bytes)
            key = by_blob.get(item[1]) if four else None
            if key is not None and key == (item[0], item[2]):
                known.append(key)
            else:
                rest.append(item)
        return {**snap, "objects": rest}, known

    def _load_snapshot(self, ts: int, snap: dict[str, Any], entries: list[Entry], unchanged: list[Key]) -> None:
        if self._restored:
            # A later segment's snapshot: normally the records before it built the same
            # state (`unchanged`); after a damaged segment it brings the state back in line.
            fresh = set(unchanged)
            for key, _blob, _owners, obj in entries:
                assert obj is not None  # decoded: see `_restored_later`
                fresh.add(key)
                self._applied(key[0], obj, ts, key)
            for key in [k for k in self.live if k not in fresh]:
                self._deleted(key[0], None, ts, key)
            self._load_cluster_snapshot(ts, snap)
            return
        self._restored = True
        held: list[Held] = []
        for key, blob, owners, _obj in entries:
            self.live[key] = (blob, None)
            self.last_at[key] = ts  # at the latest: the snapshot holds its state then
            self.owners.remember(key, owners)
            held.append((key, blob))
        if held:
            self.history.append(_held_event(ts, held))
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
        fresh = {cluster_key(obj): obj for obj in snap.get("cluster") or ()}
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
        self._lc_open[id(lc)] = (owner, rec["h"], lc)
        if name:
            self.pods[name] = (owner, rec["h"], lc)


Entry = tuple[Key, bytes, list[Key], "dict[str, Any] | None"]  # key, encoding, owners, decoded


def _running_at(lc: dict[str, int | None], ts: int) -> bool:
    end = lc["end_ts"]
    return end is None or end >= ts


def _held_event(ts: int, applied: list[Held]) -> dict[str, Any]:
    """An event of the history (`new_event` with encodings for objects)."""
    return {"ts": ts, "applied_objs": applied, "deleted_objs": []}


def _key(pair: Any) -> Key:
    """A key read from the journal, its strings shared with every other mention of them
    (the recording tracer shares them the same way: they come from its watch)."""
    return sys.intern(pair[0]), sys.intern(pair[1])


def _entry(key: Key, obj: dict[str, Any]) -> Entry:
    """An object of a version 1 journal (checked by `record_problem`), encoded now."""
    return key, encode(obj), owner_keys(obj), obj


def _checked(key: Key, blob: bytes, owners: list[Key] | None) -> dict[str, Any]:
    """The object an encoded journal object decodes to, if it is a valid trace object of the
    key (and owners) the record names beside it; ValueError says what is wrong otherwise."""
    from skctl.trace.shape import object_problem

    obj = decode(blob)
    issue = object_problem(obj)
    if issue:
        raise ValueError(issue)
    if key_of(obj) != key:
        raise ValueError(f"an encoded object that is not the {key[0]} {key[1]} its record names")
    if owners is not None and owner_keys(obj) != owners:
        raise ValueError(f"an encoded {key[0]} {key[1]} whose owners are not those its record names")
    return obj


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


def _objects_problem(objs: Any, encoded: bool = False) -> str | None:
    """What is wrong with a record's objects: trace objects, or with `encoded` (journal
    version 2) byte strings, which are decoded and checked against the keys their record
    names (see `_checked`), not here."""
    from skctl.trace.shape import object_problem

    if objs is None:
        return None
    if not isinstance(objs, list):
        return "its objects are not a list"
    if encoded:
        return None if all(isinstance(o, bytes) for o in objs) else "its encoded objects are not byte strings"
    for obj in objs:
        issue = object_problem(obj)
        if issue:
            return issue
    return None


def _keys(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_pair(k) for k in value)


def _event_problem(payload: dict[str, Any]) -> str | None:
    if "k" not in payload:
        return _objects_problem(payload.get("a")) or _objects_problem(payload.get("d"))
    issue = _objects_problem(payload.get("a"), True) or _objects_problem(payload.get("d"), True)
    if issue:
        return issue
    n_a, n_d = len(payload.get("a") or ()), len(payload.get("d") or ())
    owners = payload.get("o") or []
    if not (_keys(payload["k"]) and len(payload["k"]) == n_a + n_d):
        return "encoded objects without a [GVK, ns/name] key each"
    if not (isinstance(owners, list) and len(owners) == n_a and all(_keys(o) for o in owners)):
        return "encoded objects without a list of owner keys each"
    return None


def _snapshot_object_problem(item: Any) -> str | None:
    if not isinstance(item, (list, tuple)) or not isinstance(item[0] if item else None, str):
        return "a snapshot whose objects are not [GVK, object] pairs"
    if len(item) == 2:
        return object_problem_of(item[1])
    if len(item) == 4 and isinstance(item[1], bytes) and isinstance(item[2], str) and _keys(item[3]):
        return None
    return "a snapshot whose objects are not [GVK, object] pairs or [GVK, encoding, ns/name, owners]"


def object_problem_of(obj: Any) -> str | None:
    from skctl.trace.shape import object_problem

    return object_problem(obj)


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
    if kind == REC_EVENT:
        return _event_problem(payload)
    if kind == REC_CLUSTER:
        return _objects_problem(payload.get("a")) or _objects_problem(payload.get("d"))
    if kind == REC_LIFECYCLE:
        return _lifecycle_problem(payload)
    if kind == REC_USAGE:
        return tracer_usage.samples_problem(payload)
    if kind == REC_OWNERS:
        refs = payload.get("r") or []
        if not (_pair(payload.get("k")) and isinstance(refs, list) and all(_pair(r) for r in refs)):
            return "owners that are not [GVK, ns/name] pairs"
        return None
    if kind == REC_SNAPSHOT:
        objects = payload.get("objects") or []
        if not isinstance(objects, list):
            return "a snapshot whose objects are not [GVK, object] pairs"
        for item in objects:
            issue = _snapshot_object_problem(item)
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
