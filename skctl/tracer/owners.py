"""Owner chains: who (transitively) owns an object, through objects nobody watches.

A Pod names its ReplicaSet, the ReplicaSet names its Deployment; the tracer watches
Deployments and Pods but not ReplicaSets. The cache learns owner references from every
watched object it is shown and looks up the others (once, then cached) through a
callback that reads the object from the API server. Chains stop at cycles and at owners
that cannot be found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (GVK, "ns/name" or "name")
Lookup = Callable[[str, str | None, str], "dict[str, Any] | None"]  # (gvk, namespace, name) → object

MAX_LOOKED_UP = 200_000
_NO_OWNERS: list[Key] = []  # looked-up (unwatched) entries kept; the cache is cleared past this


def owner_keys(obj: dict[str, Any]) -> list[Key]:
    """The owners an object names, as keys in the object's namespace."""
    meta = obj.get("metadata") or {}
    refs = meta.get("ownerReferences") or ()
    ns = meta.get("namespace")
    out = []
    for ref in refs:
        if isinstance(ref, dict) and ref.get("kind") and ref.get("name"):
            gvk = f"{ref.get('apiVersion', '')}.{ref['kind']}"
            out.append((gvk, f"{ns}/{ref['name']}" if ns else ref["name"]))
    return out


class OwnersCache:
    """(GVK, ns/name) → owner keys, fed by watches and filled in through `lookup`."""

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup
        self.watched: dict[Key, list[Key]] = {}
        self._raw: dict[Key, Any] = {}  # the ownerReferences each watched entry was computed from
        self.looked_up: dict[Key, list[Key]] = {}
        self.lookups = 0  # API lookups made (for metrics)

    def observe(self, key: Key, obj: dict[str, Any]) -> None:
        """Remember a watched object's owners (called for every event of it)."""
        refs = (obj.get("metadata") or {}).get("ownerReferences")
        if key in self.watched and self._raw.get(key) == refs:
            return  # the common case: a status update with the same owners
        self._raw[key] = refs
        # empty too (one shared list, never mutated): a watched object is never looked up
        self.watched[key] = owner_keys(obj) or _NO_OWNERS

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
        ns, _, name = ns_name.rpartition("/")
        try:
            obj = self.lookup(gvk, ns or None, name)
        except Exception as exc:  # noqa: BLE001 - an unreadable owner ends the chain, it is not fatal
            log.warning("could not look up owner %s %s: %s", gvk, ns_name, exc)
            obj = None
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
