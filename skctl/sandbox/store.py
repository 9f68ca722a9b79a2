"""Object storage with one global resourceVersion counter and an event history for watches.

Every mutation takes exactly one resourceVersion and appends exactly one event, so the
event for resourceVersion N sits at a computable index and a watch can resume from any
version still in the history. Objects are stored as immutable dicts next to their JSON
bytes, and every event line is serialised once, when it happens: lists and watches only
join bytes, which is what makes 10,000-object lists and 20,000 events/s cheap.

The in-process API (create/update/delete/get/list) is what the HTTP layer calls and what
the workload generator uses directly; `from_api=True` applies the REST-only rules (status
dropped on create, status only through the status subresource, names validated).
"""

from __future__ import annotations

import base64
import bisect
import builtins
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from skctl.kube.names import is_dns1123_label, is_dns1123_subdomain
from skctl.kube.times import now_rfc3339
from skctl.sandbox import errors, fields
from skctl.sandbox.discovery import CRD_TYPE, NAMESPACE_TYPE, Registry, ResourceType

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_MAX_HISTORY = 200_000
# A real watch cache keeps at least the events of the last 75 s (its eventFreshDuration) and
# evicts older ones once more than its lower bound of 100 events is buffered.
DEFAULT_HISTORY_SECONDS = 75.0
HISTORY_LOWER_BOUND = 100
# Seconds between a namespace's DELETE and the namespace controller emptying it (a real one
# takes a few); meanwhile it is Terminating and refuses new content.
DEFAULT_NAMESPACE_DELAY = 1.0
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
SECRET_KEY = ("", "secrets")
POD_KEY = ("", "pods")
# The conditions the namespace controller reports once a terminating namespace is empty.
NAMESPACE_DONE_CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)
# Kinds whose registry strategy never sets metadata.generation (built-in groups only;
# custom resources always have it).
_NO_GENERATION_GROUPS = ("rbac.authorization.k8s.io", "coordination.k8s.io", "scheduling.k8s.io")


def _tracks_generation(rtype: ResourceType) -> bool:
    if rtype.group == "":
        return rtype.kind == "Pod"
    if rtype.group == "apps":
        return rtype.kind != "ControllerRevision"
    return rtype.group not in _NO_GENERATION_GROUPS


def _pod_deletion_mark(pod: dict, now: float, grace: int) -> dict:
    """A copy of a pod as a real server marks it for deletion: deletionTimestamp = now + grace,
    deletionGracePeriodSeconds, and (pods track generation) the next generation."""
    obj = json.loads(dumps(pod))
    meta = obj["metadata"]
    meta["deletionTimestamp"] = now_rfc3339(lambda: now + grace)
    meta["deletionGracePeriodSeconds"] = grace
    meta["generation"] = meta.get("generation", 1) + 1
    return obj


def _set_resource_version(value: Any) -> bool:
    """Whether a create body carries a resourceVersion a real server refuses (a non-zero integer)."""
    try:
        return int(str(value)) != 0
    except ValueError:
        return False


def _checked_metadata(obj: dict) -> dict:
    """obj["metadata"] (created if absent), after the type checks the real server's decoding
    does: a 400 here keeps malformed objects out of the store, where selectors would trip on them."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise errors.bad_request(f"metadata.{field} must be a map of strings to strings")
    owners = meta.get("ownerReferences")
    if owners is not None and not (isinstance(owners, list) and all(isinstance(o, dict) for o in owners)):
        raise errors.bad_request("metadata.ownerReferences must be a list of objects")
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)):
        raise errors.bad_request("metadata.finalizers must be a list of strings")
    return meta


_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
FRESH_STATUS: dict[str, dict] = {
    "Pod": {"phase": "Pending", "qosClass": "BestEffort"},
    "Namespace": {"phase": "Active"},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0},
    "PodDisruptionBudget": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
    "PersistentVolume": {"phase": "Pending"},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "Service": {"loadBalancer": {}},
}


def dumps(obj: Any) -> bytes:
    """Compact JSON, the one serialisation used for responses and events."""
    return json.dumps(obj, separators=(",", ":")).encode()


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


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


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
        self.namespace_delay = namespace_delay  # 0: terminating namespaces are emptied within the DELETE
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self._rv = 0
        self._objects: dict[Key, dict[ObjKey, tuple[dict, bytes]]] = {}
        self._history: list[Event] = []
        self._first_rv = 1  # resourceVersion of _history[0] (or the next event, when empty)
        self._dependents: dict[str, set[tuple[Key, str, str]]] = {}
        self._rand = random.Random()
        self._terminating: set[str] = set()  # namespaces being deleted
        self._swept: set[str] = set()  # terminating namespaces the namespace controller has emptied
        self._emptying: set[str] = set()  # namespaces whose contents are being swept right now
        self._foreground: dict[str, tuple[ResourceType, str, str]] = {}  # uid -> owner waiting on dependents
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

    def _index_owners(self, rtype: ResourceType, obj: dict, add: bool) -> None:
        meta = obj["metadata"]
        ref = (rtype.key, meta.get("namespace", ""), meta["name"])
        for owner in meta.get("ownerReferences") or ():
            uid = owner.get("uid")
            if not uid:
                continue
            if add:
                self._dependents.setdefault(uid, set()).add(ref)
            else:
                deps = self._dependents.get(uid)
                if deps:
                    deps.discard(ref)
                    if not deps:
                        del self._dependents[uid]

    def _validate_name(self, rtype: ResourceType, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise errors.invalid(
                rtype.kind, rtype.group, "", "metadata.name", "Required value: name or generateName is required"
            )
        if rtype.group == "rbac.authorization.k8s.io":
            ok = "/" not in name and "%" not in name and name not in (".", "..")
        elif rtype.key == NAMESPACE_TYPE.key:  # a namespace name is a DNS label: no dots, 63 at most
            ok = is_dns1123_label(name)
        else:
            ok = is_dns1123_subdomain(name)
        if not ok:
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                name,
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )

    def _check_crd(self, obj: dict) -> None:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        name = obj["metadata"]["name"]
        problems = []
        if not spec.get("group"):
            problems.append(("spec.group", "Required value"))
        if not names.get("plural") or not names.get("kind"):
            problems.append(("spec.names", "Required value: plural and kind are required"))
        if not spec.get("versions"):
            problems.append(("spec.versions", "Required value: must have exactly one version marked as storage"))
        if spec.get("group") and names.get("plural") and name != f"{names['plural']}.{spec['group']}":
            problems.append(("metadata.name", "Invalid value: must be spec.names.plural+\".\"+spec.group"))
        if problems:
            field, problem = problems[0]
            raise errors.invalid("CustomResourceDefinition", CRD_TYPE.group, name, field, problem)
        accepted = dict(names)
        accepted.setdefault("singular", names["kind"].lower())
        accepted.setdefault("listKind", names["kind"] + "List")
        ts = now_rfc3339(self.clock)
        obj["status"] = {
            "acceptedNames": accepted,
            "storedVersions": [v.get("name") for v in spec["versions"] if v.get("storage")] or [],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": ts},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": ts},
            ],
        }

    @staticmethod
    def _fresh_status(rtype: ResourceType) -> dict | None:
        """The status a real server gives a new object (Go zero values of required fields)."""
        if rtype.group not in ("", "apps", "batch", "policy", "apiextensions.k8s.io"):
            return None
        return json.loads(json.dumps(FRESH_STATUS.get(rtype.kind, {})))

    def _defaults(self, rtype: ResourceType, obj: dict, creating: bool) -> None:
        """What a real server's defaulting and conversion add to every write of these kinds."""
        meta = obj["metadata"]
        if rtype.key == NAMESPACE_TYPE.key:
            if creating:
                spec = obj.setdefault("spec", {})
                if isinstance(spec, dict) and "finalizers" not in spec:
                    spec["finalizers"] = ["kubernetes"]
            if meta.get("name"):
                meta["labels"] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: meta["name"]}
        elif rtype.key == SECRET_KEY:
            string_data = obj.pop("stringData", None)
            if isinstance(string_data, dict):
                current = obj.get("data")
                data: dict = current if isinstance(current, dict) else {}
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
                obj["data"] = data
            if not obj.get("type"):
                obj["type"] = "Opaque"

    def _namespace_terminating(self, namespace: str) -> bool:
        return namespace in self._terminating

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
        meta = _checked_metadata(obj)
        with self.cond:
            ns = self._ns(rtype, namespace if namespace is not None else meta.get("namespace"))
            if rtype.namespaced:
                if not ns:
                    raise errors.bad_request("the namespace of the object must be set")
                if not self.namespace_exists(ns):
                    raise errors.not_found("", "namespaces", ns)
                if self._namespace_terminating(ns):
                    why = f"unable to create new content in namespace {ns} because it is being terminated"
                    raise errors.forbidden(rtype.group, rtype.plural, meta.get("name") or "", why, [
                        {"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
                         "field": "metadata.namespace"}])
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    cand = meta["generateName"] + "".join(self._rand.choice(_GEN_ALPHABET) for _ in range(5))
                    if (ns, cand) not in self._objects.get(rtype.key, {}):
                        meta["name"] = cand
                        break
            self._validate_name(rtype, meta.get("name"))
            name = meta["name"]
            if (ns, name) in self._objects.get(rtype.key, {}):
                raise errors.already_exists(rtype.group, rtype.plural, name)
            if from_api and _set_resource_version(meta.get("resourceVersion")):
                raise errors.ApiError(500, "", "resourceVersion should not be set on objects to be created")
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            if from_api or not meta.get("uid"):
                meta["uid"] = str(uuid.uuid4())
            if from_api or not meta.get("creationTimestamp"):
                meta["creationTimestamp"] = now_rfc3339(self.clock)
            meta.pop("deletionTimestamp", None)
            meta.pop("deletionGracePeriodSeconds", None)
            if _tracks_generation(rtype):
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            self._defaults(rtype, obj, creating=True)
            if from_api and rtype.has_status and rtype.kind != "Node":
                fresh = self._fresh_status(rtype)
                if fresh is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = fresh
            if rtype.key == CRD_TYPE.key:
                self._check_crd(obj)
            if manager is not None:
                fields.record_update(None, obj, manager, rtype.api_version, now_rfc3339(self.clock), None,
                                     "main" if rtype.has_status else None)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            meta["resourceVersion"] = str(self._next_rv())
            raw = self._put(rtype, obj)
            self._index_owners(rtype, obj, add=True)
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
            meta = _checked_metadata(new)
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
            if _tracks_generation(rtype):
                gen = cmeta.get("generation", 1)
                meta["generation"] = gen + 1 if _spec_part(new) != _spec_part(cur) else gen
            else:
                meta.pop("generation", None)
            self._defaults(rtype, new, creating=False)
            if rtype.key == NAMESPACE_TYPE.key and name in self._terminating:
                new.setdefault("status", {})["phase"] = "Terminating"
            if rtype.key == CRD_TYPE.key and subresource != "status":
                self._check_crd(new)
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
                gone = self._remove(rtype, cur)
                meta["resourceVersion"] = gone["metadata"]["resourceVersion"]
                return new
            written = self._write(rtype, cur, new)
            if is_namespace and name in self._swept:
                self._finish_namespace(name)
            return written

    def _write(self, rtype: ResourceType, cur: dict, new: dict) -> dict:
        """Store `new` in place of `cur` with the next resourceVersion; emit MODIFIED."""
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self._index_owners(rtype, cur, add=False)
        raw = self._put(rtype, new)
        self._index_owners(rtype, new, add=True)
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
                result = self._remove(rtype, cur, final=final)
                if propagation == "Background":
                    self._delete_dependents(uid, "Background")
                return result
            updated = self._write(rtype, cur, marked)
            if stage == "namespace":
                self._terminating.add(name)
                if self.namespace_delay > 0:
                    timer = threading.Timer(self.namespace_delay, self._namespace_controller, (name, updated["metadata"]["uid"]))
                    timer.daemon = True
                    timer.start()
                else:
                    self._namespace_controller(name, updated["metadata"]["uid"])
            elif stage == "graceful":
                # The kubelet's part, at once: containers stopped, deleted again with zero grace.
                now = _pod_deletion_mark(updated, self.clock(), 0)
                now["metadata"]["generation"] = updated["metadata"].get("generation", 1)
                self._remove(rtype, self._write(rtype, updated, now))
            elif stage == "Foreground":
                self._foreground[uid] = (rtype, ns, name)
                self._delete_dependents(uid, "Foreground")
                if not self._dependents.get(uid):
                    self._release(uid, FOREGROUND_FINALIZER)
            elif stage == "Orphan":
                self._orphan(uid)
                self._release_finalizer(rtype, ns, name, ORPHAN_FINALIZER)
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

    def _release_finalizer(self, rtype: ResourceType, ns: str, name: str, finalizer: str) -> None:
        """Remove one finalizer, as its controller does when done (the object may go with it)."""
        if (ns, name) not in self._objects.get(rtype.key, {}):
            return

        def drop(obj: dict) -> dict:
            rest = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
            if rest:
                obj["metadata"]["finalizers"] = rest
            else:
                obj["metadata"].pop("finalizers", None)
            return obj

        self.update(rtype, ns, name, drop, check_rv=False)

    def _release(self, uid: str, finalizer: str) -> None:
        owner = self._foreground.pop(uid, None)
        if owner is not None:
            self._release_finalizer(*owner, finalizer)

    def _remove(self, rtype: ResourceType, cur: dict, final: dict | None = None) -> dict:
        meta = cur["metadata"]
        obj = final if final is not None else json.loads(dumps(cur))
        del self._objects[rtype.key][(meta.get("namespace", ""), meta["name"])]
        self._index_owners(rtype, cur, add=False)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        if rtype.key == CRD_TYPE.key:
            self.registry.remove_crd(meta["name"])
        self._emit("DELETED", rtype, obj, dumps(obj), cur)
        # Controllers waiting on this object: a foreground owner, a terminating namespace.
        for ref in meta.get("ownerReferences") or ():
            uid = ref.get("uid")
            if uid in self._foreground and not self._dependents.get(uid):
                self._release(uid, FOREGROUND_FINALIZER)
        ns = meta.get("namespace", "")
        if ns and ns in self._swept and ns not in self._emptying:
            self._finish_namespace(ns)
        return obj

    def _type_for(self, key: Key) -> ResourceType | None:
        return self.registry.by_key(key)

    def _dependent_refs(self, uid: str) -> builtins.list[tuple[Key, str, str]]:
        return sorted(self._dependents.get(uid, ()))

    def _delete_dependents(self, uid: str, propagation: str) -> None:
        """The garbage collector's part. For a foreground owner it deletes in the foreground only
        dependents that have dependents of their own; the others go in the background."""
        for key, ns, name in self._dependent_refs(uid):
            rtype = self._type_for(key)
            entry = self._objects.get(key, {}).get((ns, name))
            if rtype is None or entry is None or "deletionTimestamp" in entry[0]["metadata"]:
                continue
            policy = propagation
            if propagation == "Foreground" and not self._dependents.get(entry[0]["metadata"]["uid"]):
                policy = "Background"
            self.delete(rtype, ns, name, propagation=policy)

    def _orphan(self, uid: str) -> None:
        def drop_ref(obj: dict) -> dict:
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)
            return obj

        for key, ns, name in self._dependent_refs(uid):
            rtype = self._type_for(key)
            if rtype is not None and (ns, name) in self._objects.get(key, {}):
                self.update(rtype, ns, name, drop_ref, check_rv=False)

    def _namespace_has_contents(self, namespace: str) -> bool:
        return any(k[0] == namespace for key, bucket in self._objects.items() if key != NAMESPACE_TYPE.key
                   for k in bucket)

    def _namespace_controller(self, namespace: str, uid: str) -> None:
        """What the namespace controller does with a terminating namespace, `namespace_delay`
        after the DELETE (a real one takes seconds): delete its contents one object at a
        time, as API calls would (other requests go on meanwhile), then finish it."""

        def current() -> bool:
            entry = self._objects.get(NAMESPACE_TYPE.key, {}).get(("", namespace))
            return not self.closed and entry is not None and entry[0]["metadata"]["uid"] == uid

        with self.cond:
            if not current():
                return
            self._emptying.add(namespace)
            keys = sorted((key, k) for key, bucket in self._objects.items() for k in bucket if k[0] == namespace)
        try:
            for key, (ns, name) in keys:
                with self.cond:
                    rtype = self._type_for(key)
                    entry = self._objects.get(key, {}).get((ns, name))
                    if self.closed:
                        return
                    if rtype is not None and entry is not None and "deletionTimestamp" not in entry[0]["metadata"]:
                        self.delete(rtype, ns, name)
        finally:
            with self.cond:
                self._emptying.discard(namespace)
                if current():
                    self._swept.add(namespace)
                    self._finish_namespace(namespace)

    def _finish_namespace(self, namespace: str) -> None:
        """Once a terminating namespace is empty: its `kubernetes` finalizer goes, then it does."""
        entry = self._objects.get(NAMESPACE_TYPE.key, {}).get(("", namespace))
        if entry is None or self._namespace_has_contents(namespace):
            return
        cur = entry[0]
        new = json.loads(dumps(cur))
        ts = now_rfc3339(self.clock)
        new.setdefault("status", {})["conditions"] = [
            {"type": kind, "status": "False", "lastTransitionTime": ts, "reason": reason, "message": message}
            for kind, reason, message in NAMESPACE_DONE_CONDITIONS
        ]
        if new != cur:
            cur = self._write(NAMESPACE_TYPE, cur, new)
        if not cur["metadata"].get("finalizers"):  # then the controller finalizes and it goes
            self._terminating.discard(namespace)
            self._swept.discard(namespace)
            self._remove(NAMESPACE_TYPE, cur)

    def _delete_crd_contents(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group") or "", (spec.get("names") or {}).get("plural") or "")
        rtype = self._type_for(key)
        bucket = self._objects.get(key, {})
        if rtype is None:
            return
        for k in sorted(bucket):
            if k in bucket:
                self._remove(rtype, bucket[k][0])

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
