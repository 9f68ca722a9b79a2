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

from skctl.base.timeparse import MAX_TS
from skctl.trace import usage
from skctl.trace.cluster import CLUSTER_KEY

MAX_DEPTH = 100  # nesting inside one object; real Kubernetes objects stay under ~30
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what JSON (int64) and msgpack (uint64) carry
# Event and lifecycle times: unix seconds from 1970 to 9999 (skctl.base.timeparse.MAX_TS).
TS_MIN, TS_MAX = 0, MAX_TS
HASH_MIN, HASH_MAX = 0, 2**64 - 1  # SimKube's pod and object hashes are u64

Problem = tuple[list[Any], str]  # (path inside the value, what is wrong)


def problem(doc: dict[str, Any], check_strings: bool = False) -> str | None:
    """What is wrong with a document whose top-level keys have the right types, or None.

    `check_strings` also refuses lone surrogates, which only a JSON reader can produce
    (CBOR and msgpack decoders already refuse invalid UTF-8).
    """
    issue, config = _config_problem(doc["config"])
    if issue:
        return f"config: {issue}"
    assert config is not None
    issue = _events_problem(doc["events"], check_strings, config)
    if issue:
        return issue
    for gvk, names in doc["index"].items():
        if not isinstance(gvk, str) or not isinstance(names, dict) or (check_strings and not is_text(gvk)):
            return f"index entry {_show(gvk)} is not a map of names to hashes"
        if not all(isinstance(k, str) and type(v) is int and HASH_MIN <= v <= HASH_MAX for k, v in names.items()):
            return f"index entry {_show(gvk)} has a name or hash of the wrong type"
        if check_strings and not all(is_text(k) for k in names):
            return f"index entry {_show(gvk)} has a name with a lone surrogate, which is not text"
    for owner, pods in doc["pod_lifecycles"].items():
        issue = _lifecycle_problem(owner, pods, check_strings)
        if issue:
            return f"pod_lifecycles {_show(owner)}: {issue}"
    extra = {k: v for k, v in doc.items() if k not in ("version", "config", "events", "index", "pod_lifecycles")}
    if CLUSTER_KEY in extra:
        issue = _cluster_problem(extra[CLUSTER_KEY], check_strings)
        if issue:
            return f"{CLUSTER_KEY}: {issue}"
    if usage.USAGE_KEY in extra:
        issue = usage.shape_problem(extra[usage.USAGE_KEY])
        if issue:
            return f"{usage.USAGE_KEY}: {issue}"
    found = _value_problem(extra, 0, check_strings)
    if found:
        return _where(*found)
    return None


def events_problem(events: list[Any], config: Any, deep: bool = True) -> str | None:
    """What is wrong with a run of decoded CBOR events (a version-3 chunk), or None, with
    `config` the trace's parsed tracer config. `deep=False` checks only what the export
    window reads (times, the event lists, each object's kind, name, namespace, labels and
    owner references), for chunks the window only folds into the state at its start: the
    objects of that state that are written out get the full check then (skctl.trace.stream)."""
    return _events_problem(events, False, config if deep else None, deep)


def _events_problem(events: list[Any], check_strings: bool, config: Any = None, deep: bool = True) -> str | None:
    """The events (the trace's, or the starting state's): objects of the right shape, in
    time order. With `config`, each object's pod templates are checked too; without
    `deep`, objects get only their structural check (_object_head_problem)."""
    previous = TS_MIN
    for i, event in enumerate(events):
        if not isinstance(event, dict) or type(event.get("ts")) is not int:
            return f"event {i} has no integer 'ts'"
        ts = event["ts"]
        if not TS_MIN <= ts <= TS_MAX:
            return f"event {i} has a time {_show(ts)} out of range (unix seconds, 1970 to 9999)"
        if ts < previous:
            return f"event {i} (ts {ts}) comes after an event at {previous}: events must be in time order"
        previous = ts
        for key in ("applied_objs", "deleted_objs"):
            objs = event.setdefault(key, [])
            if not isinstance(objs, list):
                return f"event {i} (ts {ts}): '{key}' is not a list"
            for j, obj in enumerate(objs):
                issue = _object_problem(obj, check_strings) if deep else _object_head_problem(obj)
                if not issue and config is not None:
                    issue = _templates_problem(obj, config)
                if issue:
                    return f"event {i} (ts {ts}): {key}[{j}] {_describe(obj)}{issue}"
        if config is not None and deep:
            others = {k: v for k, v in event.items() if k not in ("ts", "applied_objs", "deleted_objs")}
            found = None if not check_strings and _clean(others, 0) else _value_problem(others, 0, check_strings)
            if found:
                return f"event {i} (ts {ts}): {_where(*found)}"
    return None


def _show(value: Any) -> str:
    """A value for a message: never a 4,300-digit integer (which str() refuses) or a page."""
    if type(value) is int and value.bit_length() > 64:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = ascii(value) if not isinstance(value, str) or not is_text(value) else repr(value)
    except (ValueError, RecursionError):  # a huge integer somewhere inside
        text = f"<a {type(value).__name__} holding an integer too long to show>"
    return text if len(text) <= 120 else text[:117] + "..."


# What every later stage (validate and --fix, the driver's mutation, pod hashes, xray)
# assumes of a pod template: these members, when present and not null, are maps ("map")
# or lists of maps ("list", with the schema of each item).
_CONTAINER = {"env": ("list", {"valueFrom": ("map", {"secretKeyRef": ("map", {}), "configMapKeyRef": ("map", {}),
                                                       "fieldRef": ("map", {}), "resourceFieldRef": ("map", {})})}),
              "envFrom": ("list", {"secretRef": ("map", {}), "configMapRef": ("map", {})}),
              "volumeMounts": ("list", {}), "ports": ("list", {}), "resources": ("map", {})}
_POD_SPEC = {"containers": ("list", _CONTAINER), "initContainers": ("list", _CONTAINER),
             "ephemeralContainers": ("list", _CONTAINER),
             "volumes": ("list", {"secret": ("map", {}), "configMap": ("map", {}), "projected": ("map", {})}),
             "tolerations": ("list", {}), "nodeSelector": ("map", {}), "affinity": ("map", {})}
_TEMPLATE = {"metadata": ("map", {}), "spec": ("map", _POD_SPEC)}


def _a(value: Any) -> str:
    name = {"str": "string", "int": "integer", "dict": "map", "bool": "boolean"}.get(type(value).__name__,
                                                                                 type(value).__name__)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _templates_problem(obj: dict[str, Any], config: Any) -> str | None:
    from skctl.kube.keys import gvk_of
    from skctl.kube.pointers import iter_pod_templates

    meta_of_template = None
    for at, template in iter_pod_templates(obj, config.template_paths(gvk_of(obj))):
        found = None if _schema_ok(template, _TEMPLATE) else _schema_problem(template, _TEMPLATE, [])
        if found is None:
            meta_of_template = template.get("metadata") or {}
            for field in ("labels", "annotations"):
                value = meta_of_template.get(field)
                if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
                    found = (["metadata", field], "is not a map of strings")
                    break
        if found is not None:
            path, what = found
            return f"has a pod template at {at or '/'} whose {_where(path, what)}"
    return None


def _schema_ok(node: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether _schema_problem finds nothing (the common answer, without building paths)."""
    for key, (shape, inner) in schema.items():
        value = node.get(key)
        if value is None:
            continue
        if shape == "map":
            if type(value) is not dict and not isinstance(value, dict):
                return False
            if inner and not _schema_ok(value, inner):
                return False
        else:
            if type(value) is not list and not isinstance(value, list):
                return False
            for item in value:
                if type(item) is not dict and not isinstance(item, dict):
                    return False
                if inner and not _schema_ok(item, inner):
                    return False
    return True


def _schema_problem(node: dict[str, Any], schema: dict[str, Any], path: list[Any]) -> Problem | None:
    for key, (shape, inner) in schema.items():
        value = node.get(key)
        if value is None:
            continue
        if shape == "map":
            if not isinstance(value, dict):
                return [*path, key], f"is {_a(value)}, not a map"
            if inner:
                found = _schema_problem(value, inner, [*path, key])
                if found:
                    return found
        else:
            if not isinstance(value, list):
                return [*path, key], f"is {_a(value)}, not a list"
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    return [*path, key, i], f"is {_a(item)}, not a map"
                if inner:
                    found = _schema_problem(item, inner, [*path, key, i])
                    if found:
                        return found
    return None


def _cluster_problem(section: Any, check_strings: bool) -> str | None:
    """The starting-state section (skctl.trace.cluster): a map whose `events` list has the
    shape of the trace's events. Other keys and unknown kinds are allowed (newer writers)."""
    if not isinstance(section, dict):
        return "is not a map"
    events = section.get("events")
    if not isinstance(events, list):
        return "'events' is missing or not a list"
    return _events_problem(events, check_strings)


def _config_problem(config: dict[str, Any]) -> tuple[str | None, Any]:
    """The embedded tracer config, read exactly as the driver will read it: (what is
    wrong, None) or (None, the parsed config)."""
    from skctl.base.errors import InputError
    from skctl.trace.tracked import parse_config

    found = _value_problem(config, 0, False)
    if found:
        return _where(*found), None
    try:
        return None, parse_config(config, "in the trace", strict=False)
    except InputError as exc:
        return str(exc), None


def _describe(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return ""
    ns = meta.get("namespace")
    name = f"{ns}/{meta['name']}" if isinstance(ns, str) and ns else meta["name"]
    kind = obj.get("kind")
    return f"({kind if isinstance(kind, str) else _show(kind)} {name}) "


def object_problem(obj: Any) -> str | None:
    """What is wrong with one Kubernetes object as a trace holds it (string apiVersion, kind,
    metadata.name, values JSON can carry, ...), or None; for readers of other containers of
    objects (the tracer's journal)."""
    issue = _object_problem(obj, False)
    return f"{_describe(obj)}{issue}" if issue else None


def _object_problem(obj: Any, check_strings: bool) -> str | None:
    issue = _object_head_problem(obj)
    if issue:
        return issue
    if not check_strings and _clean(obj, 0):
        return None
    found = _value_problem(obj, 0, check_strings)
    return _where(*found) if found else None


def _object_head_problem(obj: Any) -> str | None:
    """What the window and every later stage read of an object's identity."""
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
    return None


def _where(path: list[Any], what: str) -> str:
    if not path:
        return what
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[") + f": {what}"


def _clean(value: Any, depth: int) -> bool:
    """Whether _value_problem(value, depth, False) finds nothing: the same tests, without
    building paths, maps and lists walked apart (the common answer, ~2x faster). On False
    the caller walks again with _value_problem for the message."""
    if depth >= MAX_DEPTH:
        return False
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is dict or tv is list:
                if not _clean(v, depth + 1):
                    return False
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    return False
            elif tv is not float or not _isfinite(v):
                return False
        return True
    for v in value:
        tv = type(v)
        if tv is str or tv is bool or v is None:
            continue
        if tv is dict or tv is list:
            if not _clean(v, depth + 1):
                return False
        elif tv is int:
            if not INT_MIN <= v <= INT_MAX:
                return False
        elif tv is not float or not _isfinite(v):
            return False
    return True


_isfinite = math.isfinite


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
                return [k], f"the integer {_show(v)} does not fit in 64 bits"
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


def _lifecycle_problem(owner: Any, pods: Any, check_strings: bool = False) -> str | None:
    if not (isinstance(owner, tuple) and len(owner) == 2 and all(isinstance(p, str) for p in owner)):
        return "the key is not a [GVK, ns/name] pair"
    if check_strings and not all(is_text(p) for p in owner):
        return "the key has a lone surrogate, which is not text"
    if not isinstance(pods, dict):
        return "is not a map of pod hashes to lifecycles"
    for pod_hash, lifecycles in pods.items():
        if type(pod_hash) is not int or not HASH_MIN <= pod_hash <= HASH_MAX or not isinstance(lifecycles, list):
            return "maps a pod hash to something other than a list of lifecycles"
        for lc in lifecycles:
            if not isinstance(lc, dict) or not all(
                lc.get(k) is None or (type(lc.get(k)) is int and TS_MIN <= lc[k] <= TS_MAX) for k in ("start_ts", "end_ts")
            ):
                return f"pod {pod_hash} has a lifecycle that is not {{start_ts, end_ts}} times in range: {_show(lc)}"
            if lc.get("start_ts") is None and lc.get("end_ts") is not None:
                return f"pod {pod_hash} has a lifecycle that ends at {lc['end_ts']} but never started (start_ts is null)"
    return None
