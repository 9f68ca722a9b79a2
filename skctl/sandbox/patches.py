"""The PATCH flavours the API server accepts, applied to plain dicts.

- JSON merge patch (RFC 7386).
- Strategic merge patch: merge patch plus merging lists of objects by their `name`
  (or `containerPort`/`port`/`ip`/`type` where there is no name), and the `$patch`,
  `$setElementOrder/...`, `$retainKeys` and `$deleteFromPrimitiveList/...` directives
  kubectl sends. The real server uses per-field patch strategies from the Go types; this
  key-based heuristic gives the same result for the fields kubectl and controllers touch.
- JSON patch (RFC 6902), by the jsonpatch library (its pointers by jsonpointer).
- Server-side apply is a strategic merge without field ownership (fields a manager
  stops applying are kept, not removed).
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type", "topologyKey")


class PatchError(ValueError):
    """A patch that cannot be applied; reported as 422 (or 409 for a failed JSON-patch test)."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(items: list) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        if all(key in i for i in items):
            return key
    return None


def _strategic_list(target: list, patch: list, order: list | None) -> list:
    key = _merge_key([p for p in patch if not (isinstance(p, dict) and "$patch" in p and len(p) == 1)])
    if key is None or not all(isinstance(t, dict) and key in t for t in target):
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return copy.deepcopy(patch)
    result = [copy.deepcopy(t) for t in target]
    index = {t[key]: i for i, t in enumerate(result)}
    deleted = set()
    for item in patch:
        directive = item.get("$patch")
        if directive == "replace":
            return [strategic_merge({}, p) for p in patch if p.get("$patch") != "replace"]
        if directive == "delete":
            deleted.add(item.get(key))
            continue
        if item[key] in index:
            result[index[item[key]]] = strategic_merge(result[index[item[key]]], item)
        else:
            index[item[key]] = len(result)
            result.append(strategic_merge({}, item))
    result = [r for r in result if r.get(key) not in deleted]
    if order:
        rank = {o.get(key) if isinstance(o, dict) else o: i for i, o in enumerate(order)}
        result.sort(key=lambda r: rank.get(r.get(key), len(rank)))
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch with key-based list merging (see the module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    if patch.get("$patch") == "replace":
        return strategic_merge({}, {k: v for k, v in patch.items() if k != "$patch"})
    if patch.get("$patch") == "delete":
        return None
    result = dict(target)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _strategic_list(result[key], value, patch.get(f"$setElementOrder/{key}"))
        elif isinstance(value, list):
            result[key] = [strategic_merge({}, v) if isinstance(v, dict) else v for v in value]
            result[key] = [v for v in result[key] if v is not None]
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test) on a copy of `target`, by jsonpatch."""
    import jsonpatch
    import jsonpointer

    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(ops).apply(target)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(f"test operation failed: {exc}", conflict=True) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(str(exc)) from exc
