"""Pod rules, one home: the tracer, the exporter, the driver and xray all go through here.

- **The stable pod spec and its hash** key `pod_lifecycles`. The hash is SimKube's
  (`jsonutils::hash` of `PodExt::stable_spec`, skctl.trace.jsonhash), so SimKube's driver
  finds the lifecycles skctl recorded and skctl's driver finds SimKube's. The stable spec
  drops nodeName, serviceAccount, serviceAccountName and every main container's ports,
  and removes the service-account token volume (`kube-api-access-*`) and its mounts;
  SimKube's typed round trip also turns absent `volumes`/`volumeMounts` into empty lists
  and drops null fields, which is reproduced here.
- **A pod's lifecycle** (start, end) from its container statuses, as SimKube computes it.
- **The lifecycle owner**: the outermost ancestor the trace knows in a pod's owner chain
  (skctl.kube.owners); a bare pod is its own.
- **Lifecycle lookup**: pods are numbered per owner and hash in the order they are first
  seen; the n-th gets the n-th lifecycle recorded for that owner and hash, wrapping round.
  Every kind uses the hash, so after a rollout each pod gets the lifecycles recorded for
  its own spec. When the hash was not recorded for that owner, built-in kinds (one kind of
  pod per owner) fall back to the owner's first recorded hash, as SimKube does for them,
  and so does any owner with a single recorded hash; a custom kind with several recorded
  pod templates gets nothing rather than another template's lifecycle.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from skctl.kube.keys import Key
from skctl.kube.times import parse_ts
from skctl.trace.jsonhash import json_hash
from skctl.trace.model import PodLifecycles
from skctl.trace.tracked import BUILTIN_TEMPLATE_PATHS

POD_GVK = "v1.Pod"
TOKEN_VOLUME_PREFIX = "kube-api-access"

Obj = dict[str, Any]


# --- the stable pod spec and its hash ---------------------------------------------------


def stable_pod_spec(spec: Mapping[str, Any]) -> Obj:
    """The part of a pod spec that identifies "the same kind of pod" (see the module doc)."""
    out = {k: v for k, v in spec.items() if k not in ("nodeName", "serviceAccount", "serviceAccountName")}
    out["volumes"] = [v for v in spec.get("volumes") or () if not _is_token(v)]
    for key in ("initContainers", "containers"):
        if key not in spec:
            continue
        containers = []
        for container in spec.get(key) or ():
            c = dict(container) if isinstance(container, Mapping) else {}
            c["volumeMounts"] = [m for m in c.get("volumeMounts") or () if not _is_token(m)]
            if key == "containers":
                c.pop("ports", None)
            containers.append(c)
        out[key] = containers
    return out


def _is_token(entry: Any) -> bool:
    return isinstance(entry, Mapping) and str(entry.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


_HASHES: dict[str, int] = {}
_HASH_CACHE_MAX = 20_000


def pod_spec_hash(spec: Mapping[str, Any]) -> int:
    """SimKube's u64 hash of a pod spec's stable part.

    The pure-Python SipHash is slow next to everything else done per pod, and the pods of
    one template share a stable spec, so hashes are cached by the spec's canonical JSON
    (C-accelerated).
    """
    stable = stable_pod_spec(spec)
    key = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    found = _HASHES.get(key)
    if found is None:
        if len(_HASHES) >= _HASH_CACHE_MAX:
            _HASHES.clear()
        found = _HASHES[key] = json_hash(_drop_nulls(stable))
    return found


def spec_hash(obj: Mapping[str, Any]) -> int:
    """A stable unsigned 64-bit hash of an object's `spec`.

    First 8 bytes (big-endian) of SHA-256 over the canonical JSON of `spec` (sorted keys,
    no whitespace, UTF-8). Stable across runs, machines and Python versions, which
    Python's `hash()` is not. Used only when the input index has no hash for an object;
    the pod-spec hash that keys lifecycles is another rule, SimKube's (`pod_spec_hash`).
    """
    canonical = json.dumps(obj.get("spec"), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")


def pod_hash(pod: Mapping[str, Any]) -> int:
    """The hash that keys a pod's lifecycle: `pod_spec_hash` of its spec."""
    spec = pod.get("spec")
    return pod_spec_hash(spec if isinstance(spec, Mapping) else {})


# --- a pod's lifecycle ------------------------------------------------------------------


def pod_lifecycle(pod: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(start, end) of a pod from its container statuses, as SimKube computes them.

    Start: the earliest time any (init) container started. End: the latest time one
    finished, only once every main container has terminated. Neither is ever the time
    the tracer happened to see the pod.
    """
    status = pod.get("status") or {}
    start: int | None = None
    end: int | None = None
    terminated = 0
    for field_name in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(field_name) or ():
            state = (cs or {}).get("state") or {}
            running, done = state.get("running"), state.get("terminated")
            began = parse_ts((running or {}).get("startedAt")) if running else parse_ts((done or {}).get("startedAt"))
            finished = parse_ts(done.get("finishedAt")) if done else None
            if began is not None and (start is None or began < start):
                start = began
            if finished is not None:
                if field_name == "containerStatuses":
                    terminated += 1
                end = finished if end is None else max(end, finished)
    containers = ((pod.get("spec") or {}).get("containers")) or ()
    if terminated != len(containers) or start is None:
        end = None
    return start, end


# --- the lifecycle owner ---------------------------------------------------------------


def lifecycle_owner(pod_key: Key, chain: list[Key], known: Callable[[Key], bool]) -> Key | None:
    """The owner a pod's lifecycle is keyed by: the outermost ancestor in `chain` that
    `known` accepts (the one an export keeps); a pod with no owners is its own owner when
    `known` accepts it. A pod owned by another Pod has none."""
    if not chain:
        return pod_key if known(pod_key) else None
    owner: Key | None = None
    for ancestor in chain:
        if known(ancestor):
            owner = ancestor  # keep going: the outermost known ancestor wins
    if owner is not None and owner[0] == POD_GVK and owner != pod_key:
        return None
    return owner


# --- lifecycle lookup -------------------------------------------------------------------


class PodCounter:
    """Sequence numbers per (owner GVK, owner "ns/name", pod hash), thread-safe.

    SimKube counts per hash alone; counting per owner too only differs when two owners
    have identical pod specs, where SimKube would interleave their lifecycles.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def next(self, owner_gvk: str, owner_ns_name: str, pod_hash: int) -> int:
        key = (owner_gvk, owner_ns_name, pod_hash)
        with self._lock:
            seq = self._counts.get(key, 0)
            self._counts[key] = seq + 1
        return seq


def is_builtin(owner_gvk: str) -> bool:
    """Built-in workload kinds have one kind of pod per owner."""
    return owner_gvk in BUILTIN_TEMPLATE_PATHS


def lookup_lifecycle(
    lifecycles: PodLifecycles, owner_gvk: str, owner_ns_name: str, pod_hash: int, seq: int
) -> Mapping[str, Any] | None:
    """The recorded lifecycle for the `seq`-th pod (from 0) of an owner and hash, or None
    (the fallbacks are in the module doc)."""
    found: Mapping[str, Any] | None = lookup_recorded(lifecycles, owner_gvk, owner_ns_name, pod_hash, seq)
    return found


def lookup_recorded(
    recorded_by_owner: Mapping[tuple[str, str], Mapping[int, Any]], owner_gvk: str, owner_ns_name: str,
    pod_hash: int, seq: int,
) -> Any:
    """What was recorded for the `seq`-th pod of an owner and hash, from a map (owner → pod
    hash → list, one entry per recorded pod): lifecycles, and usage series
    (skctl.trace.usage), which stand for the same pods by the same rule."""
    by_hash = recorded_by_owner.get((owner_gvk, owner_ns_name))
    if not by_hash:
        return None
    recorded = by_hash.get(pod_hash)
    if not recorded and (is_builtin(owner_gvk) or len(by_hash) == 1):
        recorded = next(iter(by_hash.values()))
    if not recorded:
        return None
    return recorded[seq % len(recorded)]
