"""The garbage collector's part of the sandbox: which objects own which (ownerReferences),
dependents deleted after their owner (background), before it (foreground, the
`foregroundDeletion` finalizer) or orphaned (the `orphan` finalizer).

The store keeps the index current on every write and calls in here when an owner is
deleted; the collector writes back through the store's own update and delete, under its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from skctl.sandbox.discovery import Registry, ResourceType
from skctl.sandbox.objects import Key

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"

Ref = tuple[Key, str, str]  # (type key, namespace, name) of a dependent


class _Store(Protocol):
    """What the collector uses of skctl.sandbox.store.Store."""

    registry: Registry

    def stored(self, key: Key, namespace: str, name: str) -> dict | None: ...

    def update(self, rtype: ResourceType, namespace: str | None, name: str, mutate: Callable[[dict], dict], *,
               check_rv: bool = True) -> dict: ...

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *,
               propagation: str = "Background") -> dict: ...


class GarbageCollector:
    """Owner → dependents index and the deletions it drives, for one store."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self._dependents: dict[str, set[Ref]] = {}
        self._foreground: dict[str, tuple[ResourceType, str, str]] = {}  # uid -> owner waiting on dependents

    def index(self, rtype: ResourceType, obj: dict, add: bool) -> None:
        """Add (or drop) a stored object as a dependent of each owner it names by uid."""
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

    def has_dependents(self, uid: str) -> bool:
        return bool(self._dependents.get(uid))

    def _dependent_refs(self, uid: str) -> list[Ref]:
        return sorted(self._dependents.get(uid, ()))

    def delete_dependents(self, uid: str, propagation: str) -> None:
        """Delete an owner's dependents. For a foreground owner it deletes in the foreground only
        dependents that have dependents of their own; the others go in the background."""
        for key, ns, name in self._dependent_refs(uid):
            rtype = self.store.registry.by_key(key)
            obj = self.store.stored(key, ns, name)
            if rtype is None or obj is None or "deletionTimestamp" in obj["metadata"]:
                continue
            policy = propagation
            if propagation == "Foreground" and not self._dependents.get(obj["metadata"]["uid"]):
                policy = "Background"
            self.store.delete(rtype, ns, name, propagation=policy)

    def foreground(self, uid: str, owner: tuple[ResourceType, str, str]) -> None:
        """An owner deleted in the foreground: its dependents go first, then its finalizer."""
        self._foreground[uid] = owner
        self.delete_dependents(uid, "Foreground")
        if not self._dependents.get(uid):
            self._release(uid, FOREGROUND_FINALIZER)

    def orphan(self, uid: str, owner: tuple[ResourceType, str, str]) -> None:
        """An owner deleted with Orphan: its dependents lose their ownerReference, then it its finalizer."""

        def drop_ref(obj: dict) -> dict:
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)
            return obj

        for key, ns, name in self._dependent_refs(uid):
            rtype = self.store.registry.by_key(key)
            if rtype is not None and self.store.stored(key, ns, name) is not None:
                self.store.update(rtype, ns, name, drop_ref, check_rv=False)
        self._release_finalizer(*owner, ORPHAN_FINALIZER)

    def removed(self, meta: dict) -> None:
        """An object is gone: a foreground owner waiting on it as its last dependent is released."""
        for ref in meta.get("ownerReferences") or ():
            uid = ref.get("uid")
            if uid in self._foreground and not self._dependents.get(uid):
                self._release(uid, FOREGROUND_FINALIZER)

    def _release_finalizer(self, rtype: ResourceType, ns: str, name: str, finalizer: str) -> None:
        """Remove one finalizer, as its controller does when done (the object may go with it)."""
        if self.store.stored(rtype.key, ns, name) is None:
            return

        def drop(obj: dict) -> dict:
            rest = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
            if rest:
                obj["metadata"]["finalizers"] = rest
            else:
                obj["metadata"].pop("finalizers", None)
            return obj

        self.store.update(rtype, ns, name, drop, check_rv=False)

    def _release(self, uid: str, finalizer: str) -> None:
        owner = self._foreground.pop(uid, None)
        if owner is not None:
            self._release_finalizer(*owner, finalizer)
