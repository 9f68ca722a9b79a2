"""Label and field selectors, parsed once per request and matched against plain dicts.

Label selectors follow the Kubernetes grammar (=, ==, !=, in, notin, exists, !key).
Field selectors accept =, == and != on any dotted path (metadata.name, metadata.namespace,
status.phase, spec.nodeName...); the real server allows only a per-kind list, the
sandbox is more lenient on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Matcher = Callable[[dict], bool]

_KEY = r"[A-Za-z0-9_./-]+"
_VALUE = r"[A-Za-z0-9_.-]*"
_SET_RE = re.compile(rf"\s*(!?)\s*({_KEY})\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")


class SelectorError(ValueError):
    """A selector string that does not parse; reported to the client as 400 BadRequest."""


def _split_requirements(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _label_requirement(req: str) -> Callable[[dict], bool]:
    m = _EQ_RE.match(req)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _SET_RE.match(req)
    if m:
        neg, key, op, values = m.groups()
        if op and neg:
            raise SelectorError(f"unable to parse requirement: {req.strip()!r}")
        if op:
            allowed = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                return lambda labels: labels.get(key) in allowed
            return lambda labels: labels.get(key) not in allowed
        if neg:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: {req.strip()!r}")


def parse_label_selector(text: str | None) -> Matcher | None:
    """A predicate over objects, or None when the selector selects everything."""
    if not text or not text.strip():
        return None
    reqs = [_label_requirement(r) for r in _split_requirements(text)]

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req(labels) for req in reqs)

    return match


def _field_value(obj: dict, path: str) -> str:
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> Matcher | None:
    """A predicate over objects for a field selector, or None for everything."""
    if not text or not text.strip():
        return None
    reqs: list[tuple[str, bool, str]] = []
    for req in _split_requirements(text):
        m = re.match(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", req)
        if not m:
            raise SelectorError(f"invalid field selector: {req.strip()!r}")
        path, op, value = m.groups()
        reqs.append((path, op != "!=", value))

    def match(obj: dict) -> bool:
        return all((_field_value(obj, p) == v) == eq for p, eq, v in reqs)

    return match


def combine(*matchers: Matcher | None) -> Matcher | None:
    """AND of the given predicates (None entries select everything)."""
    active = [m for m in matchers if m is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(m(obj) for m in active)
