"""Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply conflicts.

A real server tracks, for every field manager, the exact set of fields it set, and refuses an
apply that would change a field another manager owns unless the apply is forced. The sandbox
does the same with one simplification: ownership goes down through maps (so `.spec.replicas`
and `.metadata.labels.app` are fields of their own) but a list is one field, owned whole,
where a real server tracks list items by key (`k:{"name":"web"}`). FieldsV1 written by a
real server is read with that simplification, so a recorded object keeps its owners.
"""

from __future__ import annotations

from typing import Any

from skctl.sandbox.errors import ApiError

Path = tuple[str, ...]
_MISSING = object()
# What a real server never records as owned (its "strip set"), plus server-set deletion fields.
_STRIPPED_META = frozenset({
    "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
    "managedFields", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
})


def leaf_paths(value: Any, prefix: Path = ()) -> set[Path]:
    """Every field path of `value`: maps are walked into, anything else (lists too) is a leaf."""
    out: set[Path] = set()
    stack = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict) and node:
            stack.extend(((*path, key), child) for key, child in node.items())
        elif path:
            out.add(path)
    return out


def object_paths(obj: dict, scope: str | None) -> set[Path]:
    """The fields of an object a manager can own. `scope` "main" leaves out status (the
    status subresource owns it), "status" keeps only status, None keeps both."""
    out = set()
    for path in leaf_paths(obj):
        head = path[0]
        if head in ("apiVersion", "kind") or path == ("metadata",):
            continue
        if head == "metadata" and path[1] in _STRIPPED_META:
            continue
        if (scope == "main" and head == "status") or (scope == "status" and head != "status"):
            continue
        out.add(path)
    return out


def value_at(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def encode(paths: set[Path]) -> dict:
    """FieldsV1 for a set of paths (`{"f:spec": {"f:replicas": {}}}`); a path owned itself
    that also has owned children gets the "." marker. Sorted, so a prefix comes first."""
    root: dict = {}
    owned: set[int] = set()
    for path in sorted(paths):
        node = root
        for part in path:
            if id(node) in owned and "." not in node:
                node["."] = {}
            node = node.setdefault("f:" + part, {})
        owned.add(id(node))
    return root


def decode(fields: Any, prefix: Path = ()) -> set[Path]:
    """Paths of a FieldsV1 document; list items (`k:`, `v:`, `i:`) make their list owned whole."""
    out: set[Path] = set()
    stack = [(prefix, fields)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict) or not node:
            if path:
                out.add(path)
            continue
        for key, child in node.items():
            if key.startswith("f:"):
                stack.append(((*path, key[2:]), child))
            elif path:  # ".", or an item of a list: the sandbox owns the list whole
                out.add(path)
    return out


def path_string(path: Path) -> str:
    return "".join("." + part for part in path)


def _valid_entries(entries: Any) -> list[dict] | None:
    if not isinstance(entries, list) or not entries:
        return None
    if not all(isinstance(e, dict) and isinstance(e.get("manager", ""), str) for e in entries):
        return None
    return entries


def _entry(manager: str, operation: str, api_version: str, ts: str, paths: set[Path],
           subresource: str | None) -> dict:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": ts,
             "fieldsType": "FieldsV1", "fieldsV1": encode(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same(entry: dict, manager: str, operation: str, subresource: str | None) -> bool:
    return (entry.get("manager") == manager and entry.get("operation") == operation
            and (entry.get("subresource") or None) == subresource)


def _set_entries(meta: dict, entries: list[dict]) -> None:
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def record_update(cur: dict | None, new: dict, manager: str, api_version: str, ts: str,
                  subresource: str | None, scope: str | None) -> None:
    """Give `manager` (operation Update) the fields this write changed, taking them from others.

    As on a real server, managedFields sent in the body are kept when they are a valid list
    (that is how a client rewrites ownership); otherwise the current object's are used.
    """
    meta = new.setdefault("metadata", {})
    base = _valid_entries(meta.get("managedFields"))
    if base is None:
        base = _valid_entries(((cur or {}).get("metadata") or {}).get("managedFields")) or []
    old = cur or {}
    new_paths = object_paths(new, scope)
    changed = {p for p in new_paths if value_at(old, p) != value_at(new, p)}
    removed = {p for p in object_paths(old, scope) if value_at(new, p) is _MISSING}
    if not changed and not removed:
        _set_entries(meta, list(base))
        return
    touched = changed | removed
    entries, mine = [], set()
    for entry in base:
        owned = decode(entry.get("fieldsV1"))
        if _same(entry, manager, "Update", subresource):
            mine = owned
            continue
        kept = {q for q in owned if not any(_overlaps(q, t) for t in touched)}
        if kept == owned:
            entries.append(entry)
        elif kept:
            entries.append({**entry, "fieldsV1": encode(kept)})
    mine = {p for p in mine if not any(_overlaps(p, r) for r in removed)} | changed
    entries.append(_entry(manager, "Update", api_version, ts, mine, subresource))
    _set_entries(meta, entries)


def _describe(entry: dict) -> str:
    who = f'"{entry.get("manager", "")}"'
    if entry.get("subresource"):
        who += f' with subresource "{entry["subresource"]}"'
    if entry.get("operation") == "Update":
        who += f' using {entry.get("apiVersion", "")}'
    return who


def conflict_error(conflicts: list[tuple[dict, Path]]) -> ApiError:
    """409 as a real server words an apply conflict (`Apply failed with N conflict(s): ...`)."""
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_describe(e)}",
               "field": path_string(p)} for e, p in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_describe(entry)}: {path_string(path)}"
    else:
        groups: dict[str, list[Path]] = {}
        for entry, path in conflicts:
            groups.setdefault(_describe(entry), []).append(path)
        lines = []
        for who in sorted(groups):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {path_string(p)}" for p in groups[who])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def apply(live: dict, merged: dict, applied: dict, manager: str, api_version: str, ts: str, *,
          force: bool, subresource: str | None, scope: str | None) -> dict:
    """Ownership for a server-side apply of `applied` (already merged into `merged`).

    Raises the 409 conflict when the apply changes a field another manager owns and `force`
    is off; with `force` the applier takes those fields. Fields this manager applied before
    and no longer applies are removed from the object unless another manager owns them.
    Returns `merged` with its managedFields set.
    """
    base = _valid_entries((live.get("metadata") or {}).get("managedFields")) or []
    applied_paths = object_paths(applied, scope)
    conflicts: list[tuple[dict, Path]] = []
    previous: set[Path] = set()
    previous_fields: Any = None
    others: list[tuple[dict, set[Path]]] = []
    for entry in base:
        owned = decode(entry.get("fieldsV1"))
        if _same(entry, manager, "Apply", subresource):
            previous, previous_fields = owned, entry.get("fieldsV1")
            continue
        others.append((entry, owned))  # ownership is per field, whichever subresource set it
        for q in sorted(owned):
            if any(_overlaps(q, p) for p in applied_paths) and value_at(live, q) != value_at(merged, q):
                conflicts.append((entry, q))
    if conflicts and not force:
        raise conflict_error(conflicts)
    taken = {q for _, q in conflicts}
    entries = []
    still_owned: set[Path] = set()
    for entry, owned in others:
        kept = {q for q in owned if q not in taken} if force else owned
        still_owned |= kept
        if kept == owned:
            entries.append(entry)
        elif kept:
            entries.append({**entry, "fieldsV1": encode(kept)})
    for path in sorted(previous - applied_paths, key=len, reverse=True):
        if any(_overlaps(path, q) for q in still_owned | applied_paths):
            continue
        parent = value_at(merged, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    meta = merged.setdefault("metadata", {})
    if previous == applied_paths and len(entries) == len(others) and _same_object(live, merged):
        # A no-op apply changes nothing, managedFields' timestamps included (no new resourceVersion).
        _set_entries(meta, list(base))
        return merged
    entry = _entry(manager, "Apply", api_version, ts, set(), subresource)
    entry["fieldsV1"] = previous_fields if previous == applied_paths else encode(applied_paths)
    entries.append(entry)
    _set_entries(meta, entries)
    return merged


def _same_object(a: dict, b: dict) -> bool:
    """Equal apart from managedFields."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        if key == "metadata" and isinstance(value, dict) and isinstance(b[key], dict):
            other = b[key]
            if {k for k in value if k != "managedFields"} != {k for k in other if k != "managedFields"}:
                return False
            if any(v != other[k] for k, v in value.items() if k != "managedFields"):
                return False
        elif value != b[key]:
            return False
    return True


def manager_from_user_agent(user_agent: str) -> str:
    """The default field manager: the user agent up to its first "/" (as a real server does)."""
    return user_agent.split("/", 1)[0][:128]
