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
from skctl.sandbox import errors
from skctl.sandbox.discovery import CRD_TYPE, NAMESPACE_TYPE, Registry, ResourceType

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_MAX_HISTORY = 200_000
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


_ts_cache: tuple[int, str] = (-1, "")


def now_rfc3339(clock: Callable[[], float] = time.time) -> str:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes metadata uses."""
    global _ts_cache
    sec = int(clock())
    cached = _ts_cache
    if cached[0] != sec:
        cached = _ts_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec)))
    return cached[1]


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
    ) -> None:
        self.registry = registry or Registry.with_builtins()
        self.max_history = max_history
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self._rv = 0
        self._objects: dict[Key, dict[ObjKey, tuple[dict, bytes]]] = {}
        self._history: list[Event] = []
        self._first_rv = 1  # resourceVersion of _history[0] (or the next event, when empty)
        self._dependents: dict[str, set[tuple[Key, str, str]]] = {}
        self._rand = random.Random()
        self.closed = False
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
        self._history.append(Event(self._rv, type_, rtype.key, ns, obj, raw, prev, event_line(type_, raw)))
        if len(self._history) > self.max_history:
            drop = max(1, self.max_history // 4)
            del self._history[:drop]
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

    def create(self, rtype: ResourceType, obj: dict, *, namespace: str | None = None, from_api: bool = False) -> dict:
        """Store a new object and emit ADDED; returns the stored object (do not mutate it).

        `obj` is taken over (not copied). With `from_api`, REST rules apply: the server
        assigns uid and creationTimestamp and resets status for types with a status
        subresource. In-process callers may preset uid/creationTimestamp/status.
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
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            if from_api or not meta.get("uid"):
                meta["uid"] = str(uuid.uuid4())
            if from_api or not meta.get("creationTimestamp"):
                meta["creationTimestamp"] = now_rfc3339(self.clock)
            meta.pop("deletionTimestamp", None)
            meta["generation"] = 1
            if from_api and rtype.has_status and rtype.kind != "Node":
                fresh = self._fresh_status(rtype)
                if fresh is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = fresh
            if rtype.key == CRD_TYPE.key:
                self._check_crd(obj)
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
    ) -> dict:
        """Replace an object with `mutate(copy_of_current)` and emit MODIFIED.

        A resourceVersion left in the result must equal the current one (optimistic
        concurrency, 409 otherwise). Generation is bumped when anything outside metadata
        and status changes. With `from_api`, the main resource ignores status changes
        and the status subresource changes only status, as on a real server.
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
                    new = json.loads(cur_raw)
                    if status is None:
                        new.pop("status", None)
                    else:
                        new["status"] = status
                    meta = new["metadata"]
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
            if "deletionTimestamp" in cmeta:
                meta["deletionTimestamp"] = cmeta["deletionTimestamp"]
            elif from_api:
                meta.pop("deletionTimestamp", None)
            gen = cmeta.get("generation", 1)
            meta["generation"] = gen + 1 if _spec_part(new) != _spec_part(cur) else gen
            if rtype.key == CRD_TYPE.key and subresource != "status":
                self._check_crd(new)
            if "deletionTimestamp" in meta and not meta.get("finalizers"):
                return self._remove(rtype, cur, final=new)
            meta["resourceVersion"] = cmeta["resourceVersion"]
            if new == cur:  # a no-op write: no new resourceVersion, no event (as etcd-backed servers)
                return cur
            meta["resourceVersion"] = str(self._next_rv())
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
    ) -> dict:
        """Delete an object (and, unless orphaning, its dependents); emit DELETED.

        An object with finalizers only gets a deletionTimestamp until an update removes
        them. Deleting a Namespace deletes everything in it; deleting a CRD deletes its
        custom resources and removes the resource from discovery.
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
            if meta.get("finalizers"):
                if "deletionTimestamp" in meta:
                    return cur
                ts = now_rfc3339(self.clock)

                def mark(obj: dict) -> dict:
                    obj["metadata"]["deletionTimestamp"] = ts
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    return obj

                return self.update(rtype, ns, name, mark, check_rv=False)
            uid = meta["uid"]
            if rtype.key == NAMESPACE_TYPE.key:
                self._delete_namespace_contents(name)
            if rtype.key == CRD_TYPE.key:
                self._delete_crd_contents(cur)
            if propagation == "Orphan":
                self._orphan(uid)
            elif propagation == "Foreground":
                self._delete_dependents(uid, "Foreground")
            result = self._remove(rtype, cur)
            if propagation == "Background":
                self._delete_dependents(uid, "Background")
            return result

    def _remove(self, rtype: ResourceType, cur: dict, final: dict | None = None) -> dict:
        meta = cur["metadata"]
        obj = final if final is not None else json.loads(dumps(cur))
        del self._objects[rtype.key][(meta.get("namespace", ""), meta["name"])]
        self._index_owners(rtype, cur, add=False)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        if rtype.key == CRD_TYPE.key:
            self.registry.remove_crd(meta["name"])
        self._emit("DELETED", rtype, obj, dumps(obj), cur)
        return obj

    def _type_for(self, key: Key) -> ResourceType | None:
        return self.registry.by_key(key)

    def _dependent_refs(self, uid: str) -> builtins.list[tuple[Key, str, str]]:
        return sorted(self._dependents.get(uid, ()))

    def _delete_dependents(self, uid: str, propagation: str) -> None:
        for key, ns, name in self._dependent_refs(uid):
            rtype = self._type_for(key)
            if rtype is None or (ns, name) not in self._objects.get(key, {}):
                continue
            self.delete(rtype, ns, name, propagation=propagation)

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

    def _delete_namespace_contents(self, namespace: str) -> None:
        for key, bucket in list(self._objects.items()):
            rtype = self._type_for(key)
            if rtype is None or not rtype.namespaced:
                continue
            for ns, name in sorted(k for k in bucket if k[0] == namespace):
                if (ns, name) in bucket:
                    entry = bucket[(ns, name)]
                    self._remove(rtype, entry[0])

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
