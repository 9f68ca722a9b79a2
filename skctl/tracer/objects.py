"""What the tracer keeps of an object: sanitising, the stable pod spec and its hash, and
a pod's lifecycle read from its status.

`sanitize` is the one place that decides what of an API object is recorded (SPEC
section 4). `pod_hash` keys pod lifecycles; it is SimKube's hash (sk-core `jsonutils::hash`
of `PodExt::stable_spec`) so that SimKube's driver, which hashes the pods it admits the
same way, finds the lifecycles skctl recorded:

- SipHash-1-3 with a zero key (Rust's `DefaultHasher::new()`), fed the way Rust's
  `Hash` feeds a `serde_json::Value`: strings as UTF-8 bytes plus 0xFF, numbers as 8
  little-endian bytes (u64, i64, or the f64 bits), booleans as one byte, null as the
  8-byte discriminant 0, arrays as their elements, objects as key, value pairs in
  sorted key order (serde_json's default BTreeMap).
- The stable spec drops nodeName, serviceAccount, serviceAccountName and every main
  container's ports, and removes the service-account token volume (`kube-api-access-*`)
  and its mounts; SimKube's typed round trip also turns absent `volumes`/`volumeMounts`
  into empty lists and drops null fields, which is reproduced here.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from functools import lru_cache
from typing import Any

from skctl.trace.model import SERVER_SET_METADATA

Obj = dict[str, Any]

DROPPED_METADATA = SERVER_SET_METADATA
DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
SECRET_FIELDS = ("data", "stringData")
TOKEN_VOLUME_PREFIX = "kube-api-access"


def sanitize(obj: Obj) -> Obj:
    """The recorded form of an API object: a new top-level dict and metadata, sharing the
    rest (the input is not changed). Drops status, server-managed metadata and the two
    noisy annotations, keeps ownerReferences (owner chains need them), never Secret data."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        new_meta = {k: v for k, v in meta.items() if k not in DROPPED_METADATA}
        annotations = meta.get("annotations")
        if annotations and any(a in annotations for a in DROPPED_ANNOTATIONS):
            kept = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
            if kept:
                new_meta["annotations"] = kept
            else:
                del new_meta["annotations"]
        out["metadata"] = new_meta
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        for key in SECRET_FIELDS:
            out.pop(key, None)
    return out


# --- pod lifecycles ------------------------------------------------------------------


def parse_ts(value: Any) -> int | None:
    """Unix seconds of an RFC 3339 timestamp (`2024-05-01T12:00:00Z`), None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_ts(value)


@lru_cache(maxsize=8192)  # the same few timestamps repeat across a pod's many status updates
def _parse_ts(value: str) -> int | None:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def pod_lifecycle(pod: Obj) -> tuple[int | None, int | None]:
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


# --- the stable pod spec and SimKube's hash -------------------------------------------


def stable_pod_spec(spec: Obj) -> Obj:
    """The part of a pod spec that identifies "the same kind of pod" (see module doc)."""
    out = {k: v for k, v in spec.items() if k not in ("nodeName", "serviceAccount", "serviceAccountName")}
    out["volumes"] = [v for v in spec.get("volumes") or () if not _is_token(v)]
    for key in ("initContainers", "containers"):
        if key not in spec:
            continue
        containers = []
        for container in spec.get(key) or ():
            c = dict(container)
            c["volumeMounts"] = [m for m in container.get("volumeMounts") or () if not _is_token(m)]
            if key == "containers":
                c.pop("ports", None)
            containers.append(c)
        out[key] = containers
    return out


def _is_token(entry: Any) -> bool:
    return isinstance(entry, dict) and str(entry.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


_HASHES: dict[str, int] = {}
_HASH_CACHE_MAX = 20_000


def pod_hash(pod: Obj) -> int:
    """SimKube's u64 hash of the pod's stable spec.

    The pure-Python SipHash is slow next to everything else the tracer does per pod, and
    the pods of one template share a stable spec, so hashes are cached by the spec's
    canonical JSON (C-accelerated).
    """
    stable = stable_pod_spec(pod.get("spec") or {})
    key = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    found = _HASHES.get(key)
    if found is None:
        if len(_HASHES) >= _HASH_CACHE_MAX:
            _HASHES.clear()
        found = _HASHES[key] = json_hash(_drop_nulls(stable))
    return found


def json_hash(value: Any) -> int:
    """SimKube's `jsonutils::hash` of a JSON value (see module doc)."""
    out = bytearray()
    _feed(value, out)
    return siphash13(bytes(out))


_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


def _feed(value: Any, out: bytearray) -> None:
    if value is None:
        out += b"\0" * 8
    elif value is True or value is False:
        out.append(1 if value else 0)
    elif isinstance(value, int):
        out += _U64.pack(value) if value >= 0 else _I64.pack(value)
    elif isinstance(value, float):
        out += _F64.pack(0.0 if value == 0.0 else value)
    elif isinstance(value, str):
        out += value.encode("utf-8")
        out.append(0xFF)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(item, out)
    elif isinstance(value, dict):
        for key in sorted(value):
            out += str(key).encode("utf-8")
            out.append(0xFF)
            _feed(value[key], out)
    else:
        raise TypeError(f"not JSON: {type(value).__name__}")


_M = 0xFFFFFFFFFFFFFFFF


def siphash13(data: bytes, k0: int = 0, k1: int = 0, c_rounds: int = 1, d_rounds: int = 3) -> int:
    """SipHash-c-d (default 1-3, Rust's DefaultHasher) of `data`."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _M
            v1 = ((v1 << 13) | (v1 >> 51)) & _M
            v1 ^= v0
            v0 = ((v0 << 32) | (v0 >> 32)) & _M
            v2 = (v2 + v3) & _M
            v3 = ((v3 << 16) | (v3 >> 48)) & _M
            v3 ^= v2
            v0 = (v0 + v3) & _M
            v3 = ((v3 << 21) | (v3 >> 43)) & _M
            v3 ^= v0
            v2 = (v2 + v1) & _M
            v1 = ((v1 << 17) | (v1 >> 47)) & _M
            v1 ^= v2
            v2 = ((v2 << 32) | (v2 >> 32)) & _M

    whole = len(data) - len(data) % 8
    for (m,) in _U64.iter_unpack(data[:whole]):
        v3 ^= m
        rounds(c_rounds)
        v0 ^= m
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    rounds(c_rounds)
    v0 ^= last
    v2 ^= 0xFF
    rounds(d_rounds)
    return v0 ^ v1 ^ v2 ^ v3
