"""Validation of a decoded trace document, shared by every encoding's reader.

A file can be valid CBOR, msgpack or JSON and still not be a trace that the window, the
driver, xray and the other encoders can walk: CBOR and msgpack carry values JSON cannot
(tags, datetimes, sets, byte strings, extension types, non-string map keys, integers
beyond 64 bits, infinities), JSON can carry lone surrogates, any of them can nest
thousands deep. The reader checks the whole document here, once, and reports the first
problem naming the event and object; every later stage can trust what it gets.

The walk is plain type tests (about half the cost of decoding, measured on a generated
100k-event trace); docs/trace-format.md lists what is accepted.
"""

from __future__ import annotations

import math
from typing import Any

from skctl.timeparse import MAX_TS
from skctl.trace.cluster import CLUSTER_KEY

MAX_DEPTH = 100  # nesting inside one object; real Kubernetes objects stay under ~30
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what JSON (int64) and msgpack (uint64) carry
# Event and lifecycle times: unix seconds from 1970 to 9999 (skctl.timeparse.MAX_TS).
TS_MIN, TS_MAX = 0, MAX_TS
HASH_MIN, HASH_MAX = 0, 2**64 - 1  # SimKube's pod and object hashes are u64

Problem = tuple[list[Any], str]  # (path inside the value, what is wrong)


def problem(doc: dict[str, Any], check_strings: bool = False) -> str | None:
    """What is wrong with a document whose top-level keys have the right types, or None.

    `check_strings` also refuses lone surrogates, which only a JSON reader can produce
    (CBOR and msgpack decoders already refuse invalid UTF-8).
    """
    issue = _config_problem(doc["config"])
    if issue:
        return f"config: {issue}"
    for i, event in enumerate(doc["events"]):
        if not isinstance(event, dict) or type(event.get("ts")) is not int:
            return f"event {i} has no integer 'ts'"
        ts = event["ts"]
        if not TS_MIN <= ts <= TS_MAX:
            return f"event {i} has a time {ts} out of range (unix seconds, 1970 to 9999)"
        for key in ("applied_objs", "deleted_objs"):
            objs = event.setdefault(key, [])
            if not isinstance(objs, list):
                return f"event {i} (ts {ts}): '{key}' is not a list"
            for j, obj in enumerate(objs):
                issue = _object_problem(obj, check_strings)
                if issue:
                    return f"event {i} (ts {ts}): {key}[{j}] {_describe(obj)}{issue}"
        others = {k: v for k, v in event.items() if k not in ("ts", "applied_objs", "deleted_objs")}
        found = _value_problem(others, 0, check_strings)
        if found:
            return f"event {i} (ts {ts}): {_where(*found)}"
    for gvk, names in doc["index"].items():
        if not isinstance(gvk, str) or not isinstance(names, dict):
            return f"index entry {gvk!r} is not a map of names to hashes"
        if not all(isinstance(k, str) and type(v) is int and HASH_MIN <= v <= HASH_MAX for k, v in names.items()):
            return f"index entry {gvk!r} has a name or hash of the wrong type"
    for owner, pods in doc["pod_lifecycles"].items():
        issue = _lifecycle_problem(owner, pods)
        if issue:
            return f"pod_lifecycles {owner!r}: {issue}"
    extra = {k: v for k, v in doc.items() if k not in ("version", "config", "events", "index", "pod_lifecycles")}
    if CLUSTER_KEY in extra:
        issue = _cluster_problem(extra[CLUSTER_KEY], check_strings)
        if issue:
            return f"{CLUSTER_KEY}: {issue}"
    found = _value_problem(extra, 0, check_strings)
    if found:
        return _where(*found)
    return None


def _cluster_problem(section: Any, check_strings: bool) -> str | None:
    """The starting-state section (skctl.trace.cluster): a map whose `events` list has the
    shape of the trace's events. Other keys and unknown kinds are allowed (newer writers)."""
    if not isinstance(section, dict):
        return "is not a map"
    events = section.get("events")
    if not isinstance(events, list):
        return "'events' is missing or not a list"
    for i, event in enumerate(events):
        if not isinstance(event, dict) or type(event.get("ts")) is not int:
            return f"event {i} has no integer 'ts'"
        ts = event["ts"]
        if not TS_MIN <= ts <= TS_MAX:
            return f"event {i} has a time {ts} out of range (unix seconds, 1970 to 9999)"
        for key in ("applied_objs", "deleted_objs"):
            objs = event.setdefault(key, [])
            if not isinstance(objs, list):
                return f"event {i} (ts {ts}): '{key}' is not a list"
            for j, obj in enumerate(objs):
                issue = _object_problem(obj, check_strings)
                if issue:
                    return f"event {i} (ts {ts}): {key}[{j}] {_describe(obj)}{issue}"
    return None


def _config_problem(config: dict[str, Any]) -> str | None:
    """The embedded tracer config, read exactly as the driver will read it."""
    from skctl.errors import InputError
    from skctl.trace.config import parse_config

    found = _value_problem(config, 0, False)
    if found:
        return _where(*found)
    try:
        parse_config(config, "in the trace", strict=False)
    except InputError as exc:
        return str(exc)
    return None


def _describe(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return ""
    ns = meta.get("namespace")
    name = f"{ns}/{meta['name']}" if isinstance(ns, str) and ns else meta["name"]
    return f"({obj.get('kind')} {name}) "


def _object_problem(obj: Any, check_strings: bool) -> str | None:
    if not isinstance(obj, dict):
        return f"holds a {type(obj).__name__}, not an object"
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return "holds an object without a string apiVersion and kind"
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return "holds an object without metadata.name"
    if not isinstance(meta.get("namespace", ""), str):
        return "has a namespace that is not a string"
    labels = meta.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        return "has labels that are not a map of strings"
    owners = meta.get("ownerReferences")
    if owners is not None:
        if not (isinstance(owners, list) and all(isinstance(o, dict) for o in owners)):
            return "has ownerReferences that are not a list of objects"
        for k, owner in enumerate(owners):
            if not all(isinstance(owner.get(f), str) for f in ("apiVersion", "kind", "name")):
                return f"has ownerReferences[{k}] without a string apiVersion, kind and name"
    found = _value_problem(obj, 0, check_strings)
    return _where(*found) if found else None


def _where(path: list[Any], what: str) -> str:
    if not path:
        return what
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[") + f": {what}"


def _value_problem(value: Any, depth: int, check_strings: bool) -> Problem | None:
    """The first value under `value` (a dict or list) that JSON and msgpack cannot carry.

    Written for speed: every node of every object passes through here once.
    """
    if depth >= MAX_DEPTH:
        return [], f"nests deeper than {MAX_DEPTH} levels"
    if type(value) is dict:
        items: Any = value.items()
    else:
        items = enumerate(value)
    for k, v in items:
        if type(k) is str:
            if check_strings and not is_text(k):
                return [k], "a key with a lone surrogate, which is not text"
        elif type(value) is dict:
            return [], f"a map key {k!r} that is not a string"
        tv = type(v)
        if tv is str:
            if check_strings and not is_text(v):
                return [k], "a string with a lone surrogate, which is not text"
        elif tv is dict or tv is list:
            found = _value_problem(v, depth + 1, check_strings)
            if found:
                found[0].insert(0, k)
                return found
        elif tv is int:
            if not INT_MIN <= v <= INT_MAX:
                return [k], f"the integer {v} does not fit in 64 bits"
        elif tv is float:
            if not math.isfinite(v):
                return [k], f"the number {v} is not finite"
        elif tv is not bool and v is not None:
            return [k], f"{_kind(v)}, which JSON and msgpack cannot carry"
    return None


def is_text(s: str) -> bool:
    """False for a str no UTF-8 can carry: lone surrogates, as a JSON reader or undecodable
    command-line bytes (Python's surrogate escapes) produce."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: Any) -> str:
    name = type(value).__name__
    return {
        "bytes": "a byte string",
        "CBORTag": f"CBOR tag {getattr(value, 'tag', '?')}",
        "ExtType": "a msgpack extension type",
        "UndefinedType": "CBOR undefined",
        "tuple": "an array used where a value belongs",
    }.get(name, f"a {name}")


def _lifecycle_problem(owner: Any, pods: Any) -> str | None:
    if not (isinstance(owner, tuple) and len(owner) == 2 and all(isinstance(p, str) for p in owner)):
        return "the key is not a [GVK, ns/name] pair"
    if not isinstance(pods, dict):
        return "is not a map of pod hashes to lifecycles"
    for pod_hash, lifecycles in pods.items():
        if type(pod_hash) is not int or not HASH_MIN <= pod_hash <= HASH_MAX or not isinstance(lifecycles, list):
            return "maps a pod hash to something other than a list of lifecycles"
        for lc in lifecycles:
            if not isinstance(lc, dict) or not all(
                lc.get(k) is None or (type(lc.get(k)) is int and TS_MIN <= lc[k] <= TS_MAX) for k in ("start_ts", "end_ts")
            ):
                return f"pod {pod_hash} has a lifecycle that is not {{start_ts, end_ts}} times in range: {lc!r}"[:300]
    return None
