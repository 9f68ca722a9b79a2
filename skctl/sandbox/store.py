"""Object storage with one global resourceVersion counter and an event history for watches.

Every mutation takes exactly one resourceVersion and appends exactly one event, so the
event for resourceVersion N sits at a computable index and a watch can resume from any
version still in the history. Objects are stored as immutable dicts next to their JSON
bytes, and every event line is serialised once, when it happens: lists and watches only
join bytes, which is what makes 10,000-object lists and 20,000 events/s cheap.

The in-process API (create/update/delete/get/list) is what the HTTP layer calls and what
the workload generator uses directly; `from_api=True` applies the REST-only rules (status
dropped on create, status only through the status subresource, names validated).
Its rooms: what each write is checked and defaulted with (strategy), owners and their
dependents (gc), terminating namespaces (namespaces); they share skctl.sandbox.objects.
"""

from __future__ import annotations

import bisect
import builtins
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from skctl.kube.names import NAME_SUFFIX_ALPHABET
from skctl.kube.times import now_rfc3339
from skctl.sandbox import errors, fields, strategy
from skctl.sandbox.discovery import CRD_TYPE, NAMESPACE_TYPE, Registry, ResourceType
from skctl.sandbox.gc import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, GarbageCollector
from skctl.sandbox.namespaces import DEFAULT_NAMESPACE_DELAY, NamespaceController
from skctl.sandbox.objects import Key, ObjKey, dumps

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_MAX_HISTORY = 200_000
# A real watch cache keeps at least the events of the last 75 s (its eventFreshDuration) and
# evicts older ones once more than its lower bound of 100 events is buffered.
DEFAULT_HISTORY_SECONDS = 75.0
HISTORY_LOWER_BOUND = 100
POD_KEY = ("", "pods")


def _pod_deletion_mark(pod: dict, now: float, grace: int) -> dict:
    """A copy of a pod as a real server marks it for deletion: deletionTimestamp = now + grace,
    deletionGracePeriodSeconds, and (pods track generation) the next generation."""
    obj = json.loads(dumps(pod))
    meta = obj["metadata"]
    meta["deletionTimestamp"] = now_rfc3339(lambda: now + grace)
    meta["deletionGracePeriodSeconds"] = grace
    meta["generation"] = meta.get("generation", 1) + 1
    return obj


@dataclass(slots=True)
class Event:
    """One watch event, serialised once (`line` is the full JSON line with a newline)."""

    rv: int
    type: str
    key: Key
    namespace: str
    obj: dict
    raw: bytes
    prev: dict | None
    line: bytes
    at: float  # time.monotonic() when it happened (history eviction)


def event_line(type_: str, raw: bytes) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"


class Store:
    """All objects of the sandbox, their history, and the condition watchers wait on."""

    def __init__(
        self,
        registry: Registry | None = None,
        max_history: int = DEFAULT_MAX_HISTORY,
        clock: Callable[[], float] = time.time,
        history_seconds: float = DEFAULT_HISTORY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        namespace_delay: float = DEFAULT_NAMESPACE_DELAY,
    ) -> None:
        self.registry = registry or Registry.with_builtins()
        self.max_history = max_history
        self.history_seconds = history_seconds
        self.monotonic = monotonic  # ages history events (tests pass a clock they move)
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self._rv = 0
        self._objects: dict[Key, dict[ObjKey, tuple[dict, bytes]]] = {}
        self._history: list[Event] = []
        self._first_rv = 1  # resourceVersion of _history[0] (or the next event, when empty)
        self._rand = random.Random()
        self.gc = GarbageCollector(self)
        self.namespaces = NamespaceController(self, namespace_delay)
        self.closed = False
        # Called with every event, under the store's lock, in order (e.g. `skctl demo` counts
        # what a simulation applied); an observer must be quick and must not write to the store.
        self.observers: builtins.list[Callable[[Event], None]] = []
        for ns in INITIAL_NAMESPACES:
            self.create(NAMESPACE_TYPE, {"metadata": {"name": ns}}, from_api=True)

    # --- reading -----------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def oldest_resumable_rv(self) -> int:
        """The oldest resourceVersion a watch may resume from (410 below it)."""
        return self._first_rv - 1

    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict | None:
        """A private copy of the object, or None."""
        raw = self.get_raw(rtype, namespace, name)
        return json.loads(raw) if raw is not None else None

    def get_raw(self, rtype: ResourceType, namespace: str, name: str) -> bytes | None:
        entry = self._objects.get(rtype.key, {}).get((self._ns(rtype, namespace), name))
        return entry[1] if entry else None

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        match: Callable[[dict], bool] | None = None,
        after: ObjKey | None = None,
    ) -> tuple[int, list[tuple[ObjKey, dict, bytes]]]:
        """(resourceVersion, [(key, obj, raw)]) sorted by (namespace, name), after `after`."""
        with self.cond:
            rv = self._rv
            bucket = self._objects.get(rtype.key, {})
            items = list(bucket.items())
        if namespace:
            items = [i for i in items if i[0][0] == namespace]
        items.sort(key=lambda i: i[0])
        if after is not None:
            items = [i for i in items if i[0] > after]
        out = [(k, obj, raw) for k, (obj, raw) in items if match is None or match(obj)]
        return rv, out

    def objects(self, rtype: ResourceType, namespace: str | None = None) -> builtins.list[dict]:
        """Private copies of every object of a type (convenience for tests and generators)."""
        _, items = self.list(rtype, namespace)
        return [json.loads(raw) for _, _, raw in items]

    def namespace_exists(self, name: str) -> bool:
        return ("", name) in self._objects.get(NAMESPACE_TYPE.key, {})

    def stored(self, key: Key, namespace: str, name: str) -> dict | None:
        """The stored object itself (not a copy: do not mutate it), or None; for the store's controllers."""
        entry = self._objects.get(key, {}).get((namespace, name))
        return entry[0] if entry else None

    def stored_keys(self) -> Iterator[tuple[Key, ObjKey]]:
        """(type key, (namespace, name)) of every stored object; iterate under the lock."""
        return ((key, k) for key, bucket in self._objects.items() for k in bucket)

    # --- history -----------------------------------------------------------------------
    def events_after(self, rv: int, limit: int) -> builtins.list[Event] | None:
        """Up to `limit` events newer than `rv`; None when `rv` was compacted away."""
        with self.cond:
            start = rv + 1 - self._first_rv
            if start < 0:
                return None
            return self._history[start : start + limit]

    def wait(self, rv: int, timeout: float) -> None:
        """Block until an event newer than `rv` exists, the store closes, or `timeout`."""
        with self.cond:
            if self._rv <= rv and not self.closed:
                self.cond.wait(timeout)

    def compact(self) -> int:
        """Forget all history: resuming from any earlier resourceVersion now gets 410."""
        with self.cond:
            self._history.clear()
            self._first_rv = self._rv + 1
            self.cond.notify_all()
            return self._rv

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _emit(self, type_: str, rtype: ResourceType, obj: dict, raw: bytes, prev: dict | None) -> None:
        ns = (obj.get("metadata") or {}).get("namespace", "")
        now = self.monotonic()
        history = self._history
        event = Event(self._rv, type_, rtype.key, ns, obj, raw, prev, event_line(type_, raw), now)
        history.append(event)
        for observe in self.observers:
            observe(event)
        drop = 0
        if len(history) > self.max_history:
            drop = max(1, self.max_history // 4)
        elif len(history) > HISTORY_LOWER_BOUND and history[0].at < now - self.history_seconds - 1.0:
            # Evict in steps of about a second so this check stays O(1) per event.
            cut = bisect.bisect_left(history, now - self.history_seconds, key=lambda e: e.at)
            drop = min(cut, len(history) - HISTORY_LOWER_BOUND)
        if drop > 0:
            del history[:drop]
            self._first_rv += drop
        self.cond.notify_all()

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # --- writing -----------------------------------------------------------------------
    @staticmethod
    def _ns(rtype: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rtype.namespaced else ""

    def _put(self, rtype: ResourceType, obj: dict) -> bytes:
        meta = obj["metadata"]
        raw = dumps(obj)
        self._objects.setdefault(rtype.key, {})[(meta.get("namespace", ""), meta["name"])] = (obj, raw)
        return raw

    def create(
        self,
        rtype: ResourceType,
        obj: dict,
        *,
        namespace: str | None = None,
        from_api: bool = False,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> dict:
        """Store a new object and emit ADDED; returns the stored object (do not mutate it).

        `obj` is taken over (not copied). With `from_api`, REST rules apply: the server
        assigns uid and creationTimestamp and resets status for types with a status
        subresource. In-process callers may preset uid/creationTimestamp/status.
        `dry_run` checks and answers as if created, storing nothing; `manager` records
        the creator in managedFields (operation Update).
        """
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        meta = strategy.checked_metadata(obj)
        with self.cond:
            ns = self._ns(rtype, namespace if namespace is not None else meta.get("namespace"))
            if rtype.namespaced:
                if not ns:
                    raise errors.bad_request("the namespace of the object must be set")
                if not self.namespace_exists(ns):
                    raise errors.not_found("", "namespaces", ns)
                if self.namespaces.terminating(ns):
                    why = f"unable to create new content in namespace {ns} because it is being terminated"
                    raise errors.forbidden(rtype.group, rtype.plural, meta.get("name") or "", why, [
                        {"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
                         "field": "metadata.namespace"}])
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    cand = meta["generateName"] + "".join(self._rand.choice(NAME_SUFFIX_ALPHABET) for _ in range(5))
                    if (ns, cand) not in self._objects.get(rtype.key, {}):
                        meta["name"] = cand
                        break
            strategy.validate_name(rtype, meta.get("name"))
            name = meta["name"]
            if (ns, name) in self._objects.get(rtype.key, {}):
                raise errors.already_exists(rtype.group, rtype.plural, name)
            if from_api and strategy.sets_resource_version(meta.get("resourceVersion")):
                raise errors.ApiError(500, "", "resourceVersion should not be set on objects to be created")
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            if from_api or not meta.get("uid"):
                meta["uid"] = str(uuid.uuid4())
            if from_api or not meta.get("creationTimestamp"):
                meta["creationTimestamp"] = now_rfc3339(self.clock)
            meta.pop("deletionTimestamp", None)
            meta.pop("deletionGracePeriodSeconds", None)
            if strategy.tracks_generation(rtype):
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            strategy.apply_defaults(rtype, obj, creating=True)
            if from_api and rtype.has_status and rtype.kind != "Node":
                fresh = strategy.fresh_status(rtype)
                if fresh is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = fresh
            if rtype.key == CRD_TYPE.key:
                strategy.check_crd(obj, now_rfc3339(self.clock))
            if manager is not None:
                fields.record_update(None, obj, manager, rtype.api_version, now_rfc3339(self.clock), None,
                                     "main" if rtype.has_status else None)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            meta["resourceVersion"] = str(self._next_rv())
            raw = self._put(rtype, obj)
            self.gc.index(rtype, obj, add=True)
            if rtype.key == CRD_TYPE.key:
                self.registry.add_crd(obj)
            self._emit("ADDED", rtype, obj, raw, None)
            return obj

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict], dict],
        *,
        subresource: str | None = None,
        from_api: bool = False,
        check_rv: bool = True,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> dict:
        """Replace an object with `mutate(copy_of_current)` and emit MODIFIED.

        A resourceVersion left in the result must equal the current one (optimistic
        concurrency, 409 otherwise). Generation is bumped when anything outside metadata
        and status changes. With `from_api`, the main resource ignores status changes
        and the status subresource changes only status, as on a real server. An object
        being deleted whose last finalizer goes is removed (DELETED). `dry_run` answers
        as if updated; `manager` records the writer in managedFields (operation Update).
        """
        with self.cond:
            ns = self._ns(rtype, namespace)
            entry = self._objects.get(rtype.key, {}).get((ns, name))
            if entry is None:
                raise errors.not_found(rtype.group, rtype.plural, name)
            cur, cur_raw = entry
            new = mutate(json.loads(cur_raw))
            if not isinstance(new, dict):
                raise errors.bad_request("the request body must be a JSON object")
            meta = strategy.checked_metadata(new)
            cmeta = cur["metadata"]
            if meta.get("name", name) != name:
                raise errors.bad_request(
                    f'the name of the object ({meta.get("name")}) does not match the name on the URL ({name})'
                )
            if rtype.namespaced and meta.get("namespace", ns) != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            want_rv = meta.get("resourceVersion")
            if check_rv and want_rv not in (None, "") and str(want_rv) != cmeta["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.plural, name)
            if from_api and rtype.has_status:
                if subresource == "status":
                    status = new.get("status")
                    managed = meta.get("managedFields")
                    new = json.loads(cur_raw)
                    if status is None:
                        new.pop("status", None)
                    else:
                        new["status"] = status
                    meta = new["metadata"]
                    if managed is not None:
                        meta["managedFields"] = managed
                elif "status" in cur:
                    new["status"] = cur["status"]
                else:
                    new.pop("status", None)
            new["apiVersion"] = rtype.api_version
            new["kind"] = rtype.kind
            meta["name"] = name
            if rtype.namespaced:
                meta["namespace"] = ns
            for fixed in ("uid", "creationTimestamp"):
                meta[fixed] = cmeta[fixed]
            for fixed in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if fixed in cmeta:
                    meta[fixed] = cmeta[fixed]
                elif from_api:
                    meta.pop(fixed, None)
            if strategy.tracks_generation(rtype):
                gen = cmeta.get("generation", 1)
                meta["generation"] = gen + 1 if strategy.spec_part(new) != strategy.spec_part(cur) else gen
            else:
                meta.pop("generation", None)
            strategy.apply_defaults(rtype, new, creating=False)
            if rtype.key == NAMESPACE_TYPE.key and self.namespaces.terminating(name):
                new.setdefault("status", {})["phase"] = "Terminating"
            if rtype.key == CRD_TYPE.key and subresource != "status":
                strategy.check_crd(new, now_rfc3339(self.clock))
            meta["resourceVersion"] = cmeta["resourceVersion"]
            if manager is not None:
                scope = None if not rtype.has_status else ("status" if subresource == "status" else "main")
                fields.record_update(cur, new, manager, rtype.api_version, now_rfc3339(self.clock),
                                     subresource, scope)
            if new == cur:  # a no-op write: no new resourceVersion, no event (as etcd-backed servers)
                return cur
            if dry_run:
                return new
            is_namespace = rtype.key == NAMESPACE_TYPE.key  # goes when its controller is done, below
            if "deletionTimestamp" in meta and not meta.get("finalizers") and not is_namespace:
                # DELETED carries the last stored state (etcd's previous value), the answer the update.
                gone = self.remove(rtype, cur)
                meta["resourceVersion"] = gone["metadata"]["resourceVersion"]
                return new
            written = self.write(rtype, cur, new)
            if is_namespace and self.namespaces.swept(name):
                self.namespaces.finish(name)
            return written

    def write(self, rtype: ResourceType, cur: dict, new: dict) -> dict:
        """Store `new` in place of `cur` with the next resourceVersion; emit MODIFIED. No
        checks: for the store's controllers, under the lock (others call update)."""
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self.gc.index(rtype, cur, add=False)
        raw = self._put(rtype, new)
        self.gc.index(rtype, new, add=True)
        if rtype.key == CRD_TYPE.key:
            self.registry.add_crd(new)
        self._emit("MODIFIED", rtype, new, raw, cur)
        return new

    def replace(self, rtype: ResourceType, obj: dict, *, namespace: str | None = None, **kw: Any) -> dict:
        """PUT semantics: the whole object, resourceVersion-checked if it carries one."""
        meta = obj.get("metadata") or {}
        return self.update(rtype, namespace if namespace is not None else meta.get("namespace"),
                           meta.get("name", ""), lambda _cur: obj, **kw)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
        grace_period: int | None = None,
        dry_run: bool = False,
    ) -> dict:
        """Delete an object the way a real server and its controllers do; returns what a
        real DELETE answers (the object, marked for deletion when it is not gone yet).

        Without finalizers an object goes at once (DELETED) and, in the background, its
        dependents. Otherwise it is first marked (MODIFIED with deletionTimestamp):
        existing finalizers hold it until an update removes them; Foreground adds
        `foregroundDeletion` (dependents go first), Orphan adds `orphan` (dependents lose
        their ownerReference first), a namespace turns Terminating and goes once its
        contents are gone, and a scheduled pod gets its grace period, which the absent
        kubelet ends at once. `dry_run` answers the same and changes nothing.
        """
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"unsupported propagationPolicy {propagation!r}")
        with self.cond:
            ns = self._ns(rtype, namespace)
            entry = self._objects.get(rtype.key, {}).get((ns, name))
            if entry is None:
                raise errors.not_found(rtype.group, rtype.plural, name)
            cur = entry[0]
            meta = cur["metadata"]
            if precondition_uid and precondition_uid != meta["uid"]:
                raise errors.conflict(rtype.group, rtype.plural, name,
                                      f"Precondition failed: UID in precondition: {precondition_uid}, "
                                      f"UID in object meta: {meta['uid']}")
            if precondition_rv and precondition_rv != meta["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.plural, name)
            if "deletionTimestamp" in meta:
                return cur  # already being deleted
            marked, stage = self._deletion_stage(rtype, cur, propagation, grace_period)
            if marked is None and rtype.key == POD_KEY:
                # A pod deleted at once still goes out with deletionTimestamp, zero grace and a new generation.
                final = _pod_deletion_mark(cur, self.clock(), 0)
            else:
                final = None
            if dry_run:
                return marked or final or json.loads(dumps(cur))
            uid = meta["uid"]
            if marked is None:
                if rtype.key == CRD_TYPE.key:
                    self._delete_crd_contents(cur)
                result = self.remove(rtype, cur, final=final)
                if propagation == "Background":
                    self.gc.delete_dependents(uid, "Background")
                return result
            updated = self.write(rtype, cur, marked)
            if stage == "namespace":
                self.namespaces.deleted(name, updated["metadata"]["uid"])
            elif stage == "graceful":
                # The kubelet's part, at once: containers stopped, deleted again with zero grace.
                now = _pod_deletion_mark(updated, self.clock(), 0)
                now["metadata"]["generation"] = updated["metadata"].get("generation", 1)
                self.remove(rtype, self.write(rtype, updated, now))
            elif stage == "Foreground":
                self.gc.foreground(uid, (rtype, ns, name))
            elif stage == "Orphan":
                self.gc.orphan(uid, (rtype, ns, name))
            return updated

    def _deletion_stage(self, rtype: ResourceType, cur: dict, propagation: str,
                        grace_period: int | None) -> tuple[dict | None, str | None]:
        """(the object marked for deletion, why it is not removed at once), or (None, None)."""
        obj = json.loads(dumps(cur))
        meta = obj["metadata"]
        now = self.clock()
        if rtype.key == NAMESPACE_TYPE.key:
            meta["deletionTimestamp"] = now_rfc3339(lambda: now)
            meta["deletionGracePeriodSeconds"] = 0
            obj.setdefault("status", {})["phase"] = "Terminating"
            return obj, "namespace"
        if rtype.key == POD_KEY:
            spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
            grace = grace_period if grace_period is not None else spec.get("terminationGracePeriodSeconds", 30)
            phase = (obj.get("status") or {}).get("phase")
            if spec.get("nodeName") and isinstance(grace, int) and grace > 0 and phase not in ("Succeeded",
                                                                                               "Failed"):
                return _pod_deletion_mark(cur, now, grace), "graceful"
        finalizers = list(meta.get("finalizers") or [])
        stage = None
        if propagation == "Foreground" and FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
            stage = "Foreground"
        elif propagation == "Orphan" and ORPHAN_FINALIZER not in finalizers:
            finalizers.append(ORPHAN_FINALIZER)
            stage = "Orphan"
        if not finalizers:
            return None, None
        meta["finalizers"] = finalizers
        meta["deletionTimestamp"] = now_rfc3339(lambda: now)
        meta["deletionGracePeriodSeconds"] = 0
        return obj, stage or "finalizers"

    def remove(self, rtype: ResourceType, cur: dict, final: dict | None = None) -> dict:
        """Take an object out at once and emit DELETED (with `final` as its last state, when
        given). No deletion rules: for the store's controllers, under the lock (others call delete)."""
        meta = cur["metadata"]
        obj = final if final is not None else json.loads(dumps(cur))
        del self._objects[rtype.key][(meta.get("namespace", ""), meta["name"])]
        self.gc.index(rtype, cur, add=False)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        if rtype.key == CRD_TYPE.key:
            self.registry.remove_crd(meta["name"])
        self._emit("DELETED", rtype, obj, dumps(obj), cur)
        # Controllers waiting on this object: a foreground owner, a terminating namespace.
        self.gc.removed(meta)
        self.namespaces.removed(meta.get("namespace", ""))
        return obj

    def _delete_crd_contents(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group") or "", (spec.get("names") or {}).get("plural") or "")
        rtype = self.registry.by_key(key)
        bucket = self._objects.get(key, {})
        if rtype is None:
            return
        for k in sorted(bucket):
            if k in bucket:
                self.remove(rtype, bucket[k][0])

    # --- conveniences for in-process writers --------------------------------------------
    def resource(self, api_version: str, kind: str) -> ResourceType:
        """The resource type for an apiVersion/kind (KeyError when not registered)."""
        rtype = self.registry.by_kind(api_version, kind)
        if rtype is None:
            raise KeyError(f"no resource for {api_version} {kind}")
        return rtype

    def create_many(self, rtype: ResourceType, objs: Iterable[dict]) -> int:
        """Create several objects under one lock acquisition (benchmarks, fixtures)."""
        n = 0
        with self.cond:
            for obj in objs:
                self.create(rtype, obj)
                n += 1
        return n
