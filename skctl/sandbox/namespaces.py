"""The namespace controller's part of the sandbox: a deleted namespace turns Terminating,
refuses new content, is emptied one object at a time `namespace_delay` seconds after the
DELETE (a real controller takes a few), reports the conditions a real one reports, and goes
once its `kubernetes` finalizer is gone.

The store asks it whether a namespace is terminating and tells it when a namespace is
deleted or an object removed; it writes back through the store, under the store's lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from skctl.kube.times import now_rfc3339
from skctl.sandbox.discovery import NAMESPACE_TYPE, Registry, ResourceType
from skctl.sandbox.objects import Key, ObjKey, dumps

# Seconds between a namespace's DELETE and the namespace controller emptying it (a real one
# takes a few); meanwhile it is Terminating and refuses new content.
DEFAULT_NAMESPACE_DELAY = 1.0
# The conditions the namespace controller reports once a terminating namespace is empty.
NAMESPACE_DONE_CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)


class _Store(Protocol):
    """What the controller uses of skctl.sandbox.store.Store."""

    registry: Registry
    cond: threading.Condition
    closed: bool
    clock: Callable[[], float]

    def stored(self, key: Key, namespace: str, name: str) -> dict | None: ...

    def stored_keys(self) -> Iterable[tuple[Key, ObjKey]]: ...

    def delete(self, rtype: ResourceType, namespace: str | None, name: str) -> dict: ...

    def write(self, rtype: ResourceType, cur: dict, new: dict) -> dict: ...

    def remove(self, rtype: ResourceType, cur: dict) -> dict: ...


class NamespaceController:
    """Terminating namespaces of one store and the work that empties and finishes them."""

    def __init__(self, store: _Store, delay: float = DEFAULT_NAMESPACE_DELAY) -> None:
        self.store = store
        self.delay = delay  # 0: terminating namespaces are emptied within the DELETE
        self._terminating: set[str] = set()  # namespaces being deleted
        self._swept: set[str] = set()  # terminating namespaces the controller has emptied
        self._emptying: set[str] = set()  # namespaces whose contents are being swept right now

    def terminating(self, namespace: str) -> bool:
        return namespace in self._terminating

    def swept(self, namespace: str) -> bool:
        """Emptied, waiting only on its finalizers (an update that removes the last finishes it)."""
        return namespace in self._swept

    def deleted(self, name: str, uid: str) -> None:
        """A namespace was marked for deletion: it is Terminating; empty it after the delay."""
        self._terminating.add(name)
        if self.delay > 0:
            timer = threading.Timer(self.delay, self.run, (name, uid))
            timer.daemon = True
            timer.start()
        else:
            self.run(name, uid)

    def removed(self, namespace: str) -> None:
        """An object of `namespace` is gone: an emptied namespace may now finish."""
        if namespace and namespace in self._swept and namespace not in self._emptying:
            self.finish(namespace)

    def _has_contents(self, namespace: str) -> bool:
        return any(k[0] == namespace for key, k in self.store.stored_keys() if key != NAMESPACE_TYPE.key)

    def run(self, namespace: str, uid: str) -> None:
        """What the namespace controller does with a terminating namespace, `delay` after the
        DELETE (a real one takes seconds): delete its contents one object at a time, as API
        calls would (other requests go on meanwhile), then finish it."""
        store = self.store

        def current() -> bool:
            obj = store.stored(NAMESPACE_TYPE.key, "", namespace)
            return not store.closed and obj is not None and obj["metadata"]["uid"] == uid

        with store.cond:
            if not current():
                return
            self._emptying.add(namespace)
            keys = sorted((key, k) for key, k in store.stored_keys() if k[0] == namespace)
        try:
            for key, (ns, name) in keys:
                with store.cond:
                    rtype = store.registry.by_key(key)
                    obj = store.stored(key, ns, name)
                    if store.closed:
                        return
                    if rtype is not None and obj is not None and "deletionTimestamp" not in obj["metadata"]:
                        store.delete(rtype, ns, name)
        finally:
            with store.cond:
                self._emptying.discard(namespace)
                if current():
                    self._swept.add(namespace)
                    self.finish(namespace)

    def finish(self, namespace: str) -> None:
        """Once a terminating namespace is empty: its `kubernetes` finalizer goes, then it does."""
        cur = self.store.stored(NAMESPACE_TYPE.key, "", namespace)
        if cur is None or self._has_contents(namespace):
            return
        new = json.loads(dumps(cur))
        ts = now_rfc3339(self.store.clock)
        new.setdefault("status", {})["conditions"] = [
            {"type": kind, "status": "False", "lastTransitionTime": ts, "reason": reason, "message": message}
            for kind, reason, message in NAMESPACE_DONE_CONDITIONS
        ]
        if new != cur:
            cur = self.store.write(NAMESPACE_TYPE, cur, new)
        if not cur["metadata"].get("finalizers"):  # then the controller finalizes and it goes
            self._terminating.discard(namespace)
            self._swept.discard(namespace)
            self.store.remove(NAMESPACE_TYPE, cur)
