"""Label and field selectors, parsed once per request and matched against plain dicts.

Label selectors are skctl.kube.selectors, the one Kubernetes-grammar parser in skctl.
Field selectors accept =, == and != on any dotted path (metadata.name, metadata.namespace,
status.phase, spec.nodeName...); the real server allows only a per-kind list, the
sandbox is more lenient on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from skctl.kube.selectors import SelectorError, parse_selector

__all__ = ["SelectorError", "combine", "parse_field_selector", "parse_label_selector"]

Matcher = Callable[[dict], bool]


def _split_requirements(text: str) -> list[str]:
    """Split a field selector on commas (field selectors have no parentheses)."""
    return [p for p in text.split(",") if p.strip()]


def parse_label_selector(text: str | None) -> Matcher | None:
    """A predicate over objects, or None when the selector selects everything."""
    selector = parse_selector(text or "")
    if not selector.requirements:
        return None

    def match(obj: dict) -> bool:
        return selector.matches((obj.get("metadata") or {}).get("labels"))

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
