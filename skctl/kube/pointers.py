"""JSON pointers (RFC 6901, by the `jsonpointer` library) with a `*` segment, and the pod
templates they name.

A tracer config's `podSpecTemplatePaths` (skctl.trace.tracked) are JSON pointers in which a
`*` segment stands for every element of an array, so one path can name all the templates
of a multi-task custom resource (`/spec/tasks/*/template`). The trace's shape check, `skctl
validate` and the driver's mutation all find pod templates through here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import jsonpointer


def split_pointer(pointer: str) -> list[str]:
    """'/spec/tasks/*/template' → ['spec', 'tasks', '*', 'template']; '' → [].

    Raises ValueError for text that is not a JSON pointer (no leading '/', a bad '~' escape).
    """
    return list(_split_pointer(pointer))


@functools.lru_cache(maxsize=256)
def _split_pointer(pointer: str) -> tuple[str, ...]:
    # Cached: every object of a trace resolves the same few paths (the shape check and the driver).
    try:
        return tuple(jsonpointer.JsonPointer(pointer).parts)
    except jsonpointer.JsonPointerException as exc:
        raise ValueError(f"not a JSON pointer: {pointer!r} ({exc})") from exc


def resolve_pointer(doc: Any, pointer: str) -> list[tuple[str, Any]]:
    """Every (concrete pointer, value) the pointer reaches; `*` fans out over arrays.

    Missing members are simply not matched: an object without a template has none.
    Iterative, not a recursive closure: a closure that calls itself is a reference cycle,
    garbage only the cyclic collector frees, once per object of a trace.
    """
    tokens = _split_pointer(pointer)
    level: list[tuple[str, Any]] = [("", doc)]
    for head in tokens:
        reached: list[tuple[str, Any]] = []
        for at, node in level:
            if isinstance(node, list):
                if head == "*":
                    reached.extend((f"{at}/{i}", item) for i, item in enumerate(node))
                elif head.isascii() and head.isdigit() and int(head) < len(node):  # not "²" or "١"
                    reached.append((f"{at}/{head}", node[int(head)]))
            elif isinstance(node, dict) and head in node:
                reached.append((f"{at}/{jsonpointer.escape(head)}", node[head]))
        level = reached
    return level


def iter_pod_templates(obj: dict[str, Any], paths: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The pod templates (dicts with metadata/spec, mutable in place) at `paths` in `obj`.

    A path may name the template itself or an object holding it under `template`
    (the ReplicaSet's "/spec" in SPEC section 4).
    """
    seen: set[int] = set()
    for path in paths:
        for at, node in resolve_pointer(obj, path):
            if not isinstance(node, dict):
                continue
            spec = node.get("spec")
            if not (isinstance(spec, dict) and "containers" in spec) and isinstance(node.get("template"), dict):
                at, node = f"{at}/template", node["template"]
            if id(node) not in seen:
                seen.add(id(node))
                yield at, node
