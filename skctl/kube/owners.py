"""Owner chains, one home for the tracer, the export window and the driver: who
(transitively) owns an object, through objects nobody watches (a Pod names its ReplicaSet,
the ReplicaSet its Deployment).

Owners are keyed as every object is (skctl.kube.keys): (GVK, "ns/name"), in the owned
object's namespace, since an ownerReference has none of its own; a namespaced object may
also be owned by a cluster-scoped object, which `owner_candidates` adds. `OwnersCache`
learns owner references from the objects it is shown and looks the others up once through
a callback (the tracer reads the production cluster, the driver the simulation).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from skctl.kube.keys import Key, join_ns_name, split_ns_name

log = logging.getLogger(__name__)

Lookup = Callable[[str, "str | None", str], "dict[str, Any] | None"]  # (gvk, namespace, name) → object
MAX_LOOKED_UP = 200_000
_NO_OWNERS: list[Key] = []  # shared and never mutated: "known to have no owners"


def owner_key(ref: Any, namespace: str | None) -> Key | None:
    """The key of the owner an ownerReference names, in the owned object's namespace; None
    when it names no kind or name."""
    if not (isinstance(ref, Mapping) and ref.get("kind") and ref.get("name")):
        return None
    return f"{ref.get('apiVersion', '')}.{ref['kind']}", join_ns_name(namespace, ref["name"])


def owner_keys(obj: Mapping[str, Any]) -> list[Key]:
    """The owners an object names, as keys in the object's namespace."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return [key for ref in meta.get("ownerReferences") or () if (key := owner_key(ref, ns)) is not None]


def owner_candidates(owner: Key) -> tuple[Key, ...]:
    """Where an owner key may be found: in the owned object's namespace, then (for a
    namespaced owned object) as a cluster-scoped object of the same name."""
    gvk, ns_name = owner
    ns, name = split_ns_name(ns_name)
    return (owner, (gvk, name)) if ns else (owner,)


class OwnersCache:
    """(GVK, ns/name) → owner keys, fed by watches and filled in through `lookup`."""

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup
        self.watched: dict[Key, list[Key]] = {}
        self._raw: dict[Key, Any] = {}  # the ownerReferences each watched entry was computed from
        self.looked_up: dict[Key, list[Key]] = {}
        self.lookups = 0  # API lookups made (for metrics)
        self._lock = threading.Lock()

    def observe(self, key: Key, obj: Mapping[str, Any]) -> None:
        """Remember a watched object's owners (called for every event of it)."""
        refs = (obj.get("metadata") or {}).get("ownerReferences")
        if key in self.watched and self._raw.get(key) == refs:
            return  # the common case: a status update with the same owners
        self._raw[key] = refs
        # empty too (one shared list, never mutated): a watched object is never looked up
        self.watched[key] = owner_keys(obj) or _NO_OWNERS

    def remember(self, key: Key, owners: list[Key]) -> None:
        """A watched object's owners as a journal recorded them (the next `observe` of the
        object computes them again unless it has none)."""
        self._raw.pop(key, None)
        self.watched[key] = owners or _NO_OWNERS

    def forget(self, key: Key) -> None:
        self.watched.pop(key, None)
        self._raw.pop(key, None)

    def owners(self, key: Key) -> list[Key]:
        """The direct owners of `key`, looking it up through the API when it is unknown."""
        found = self.watched.get(key)
        if found is not None:
            return found
        found = self.looked_up.get(key)
        if found is not None:
            return found
        if self.lookup is None:
            return []
        gvk, ns_name = key
        ns, name = split_ns_name(ns_name)
        try:
            obj = self.lookup(gvk, ns or None, name)
        except Exception as exc:  # noqa: BLE001 - an unreadable owner ends the chain, it is not fatal
            log.warning("could not look up owner %s %s: %s", gvk, ns_name, exc)
            obj = None
        with self._lock:
            self.lookups += 1
            found = owner_keys(obj) if obj else []
            if len(self.looked_up) >= MAX_LOOKED_UP:
                self.looked_up.clear()
            self.looked_up[key] = found
        return found

    def chain(self, key: Key, first: list[Key] | None = None) -> list[Key]:
        """Every ancestor of `key`, nearest first (breadth-first; cycles are cut)."""
        seen = {key}
        out: list[Key] = []
        queue = list(first if first is not None else self.owners(key))
        while queue:
            owner = queue.pop(0)
            if owner in seen:
                continue
            seen.add(owner)
            out.append(owner)
            queue.extend(self.owners(owner))
        return out
