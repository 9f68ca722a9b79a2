"""Shape checks for a decoded trace document, shared by every encoding's reader.

A file can be valid CBOR or msgpack and still not be a trace that the window, the driver
and xray can walk. Checking once, at read time, turns such a file into one clear input
error instead of a crash deep inside a command. The checks are plain type tests, cheap
next to decoding.
"""

from __future__ import annotations

from typing import Any


def problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with a document whose top-level keys have the right types, or None."""
    for i, event in enumerate(doc["events"]):
        if not isinstance(event, dict) or type(event.get("ts")) is not int:
            return f"event {i} has no integer 'ts'"
        for key in ("applied_objs", "deleted_objs"):
            objs = event.setdefault(key, [])
            if not isinstance(objs, list):
                return f"event {i}: '{key}' is not a list"
            for obj in objs:
                issue = _object_problem(obj)
                if issue:
                    return f"event {i}: {key} {issue}"
    for gvk, names in doc["index"].items():
        if not isinstance(gvk, str) or not isinstance(names, dict):
            return f"index entry {gvk!r} is not a map of names to hashes"
        if not all(isinstance(k, str) and type(v) is int for k, v in names.items()):
            return f"index entry {gvk!r} has a name or hash of the wrong type"
    for owner, pods in doc["pod_lifecycles"].items():
        issue = _lifecycle_problem(owner, pods)
        if issue:
            return f"pod_lifecycles {owner!r}: {issue}"
    return None


def _object_problem(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"holds a {type(obj).__name__}, not an object"
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return "holds an object without a string apiVersion and kind"
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return "holds an object without metadata.name"
    if not isinstance(meta.get("namespace", ""), str):
        return f"object {meta['name']!r} has a namespace that is not a string"
    labels = meta.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        return f"object {meta['name']!r} has labels that are not a map of strings"
    owners = meta.get("ownerReferences")
    if owners is not None and not (isinstance(owners, list) and all(isinstance(o, dict) for o in owners)):
        return f"object {meta['name']!r} has ownerReferences that are not a list of objects"
    return None


def _lifecycle_problem(owner: Any, pods: Any) -> str | None:
    if not (isinstance(owner, tuple) and len(owner) == 2 and all(isinstance(p, str) for p in owner)):
        return "the key is not a [GVK, ns/name] pair"
    if not isinstance(pods, dict):
        return "is not a map of pod hashes to lifecycles"
    for pod_hash, lifecycles in pods.items():
        if type(pod_hash) is not int or not isinstance(lifecycles, list):
            return "maps a pod hash to something other than a list of lifecycles"
        for lc in lifecycles:
            if not isinstance(lc, dict) or not all(
                lc.get(k) is None or type(lc.get(k)) is int for k in ("start_ts", "end_ts")
            ):
                return "has a lifecycle that is not {start_ts, end_ts} integers"
    return None
