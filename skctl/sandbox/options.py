"""Request options checked the way a real server checks them: ListOptions (list and watch),
dryRun, field-selector labels, and the wait for a resourceVersion the server has not reached.

Kept apart from the handlers so each rule and its exact wording sit in one place; the
messages are the real server's, since clients and tests match on them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from skctl.sandbox import errors

BLOCK_SECONDS = 3.0  # how long a real watch cache waits to become fresh before answering 504

_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
# Field labels each built-in kind accepts beyond metadata.name/namespace (the registries'
# field label conversion functions). Kinds listed here word a refusal "field label not
# supported: X"; other built-in kinds use the default converter's wording.
_FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset({
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
    }),
    ("", "Event"): frozenset({
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type",
    }),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("", "Secret"): frozenset({"type"}),
    ("", "Node"): frozenset({"spec.unschedulable"}),
    ("", "PersistentVolume"): frozenset(),
    ("apps", "ReplicaSet"): frozenset({"status.replicas"}),
    ("apps", "StatefulSet"): frozenset({"status.successful"}),
    ("batch", "Job"): frozenset({"status.successful"}),
}
_BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "policy", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
    "coordination.k8s.io", "scheduling.k8s.io", "autoscaling",
})


def is_custom_resource(group: str) -> bool:
    """Whether a group is served from a CustomResourceDefinition (no strategic merge patch)."""
    return group not in _BUILTIN_GROUPS


def field_selector_labels(text: str | None) -> list[str]:
    """The field names a field selector string refers to (`a=b,c!=d` -> [a, c])."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            if op in part:
                out.append(part.split(op, 1)[0].strip())
                break
    return out


def check_field_labels(group: str, kind: str, text: str | None) -> None:
    """400 for a field selector on a field the kind does not index, worded as a real server."""
    own = _FIELD_LABELS.get((group, kind))
    custom = is_custom_resource(group)
    for label in field_selector_labels(text):
        if label in _META_FIELDS or (own is not None and label in own):
            continue
        if own is not None or custom:
            raise errors.bad_request(f"field label not supported: {label}")
        raise errors.bad_request(
            f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
        )


def _bool_option(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value in ("1", "true", "True"):
        return True
    if value in ("0", "false", "False"):
        return False
    raise errors.bad_request(f'invalid boolean value for {name}: "{value}"')


def check_list_options(query: Mapping[str, str], watch: bool) -> bool | None:
    """Validate ListOptions as a real server does (422 `ListOptions.meta.k8s.io "" is invalid`);
    returns sendInitialEvents (None when absent)."""
    send_initial = _bool_option(query, "sendInitialEvents")
    rv = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    cont = query.get("continue", "")
    forbidden = "FieldValueForbidden"
    problems: list[tuple[str, str, str]] = []
    if watch:
        if send_initial is not None and match != "NotOlderThan":
            problems.append(("resourceVersionMatch", forbidden,
                             "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
        if match:
            if send_initial is None:
                problems.append(("resourceVersionMatch", forbidden, "Forbidden: resourceVersionMatch is forbidden "
                                 "for watch unless sendInitialEvents is provided"))
            if match != "NotOlderThan":
                problems.append(("resourceVersionMatch", "FieldValueNotSupported",
                                 f'Unsupported value: "{match}": supported values: "NotOlderThan"'))
            if cont:
                problems.append(("resourceVersionMatch", forbidden,
                                 "Forbidden: resourceVersionMatch is forbidden when continue is provided"))
    else:
        if match:
            if not rv:
                problems.append(("resourceVersionMatch", forbidden,
                                 "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"))
            if cont:
                problems.append(("resourceVersionMatch", forbidden,
                                 "Forbidden: resourceVersionMatch is forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                problems.append(("resourceVersionMatch", "FieldValueNotSupported",
                                 f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""'))
            if match == "Exact" and rv == "0":
                problems.append(("resourceVersionMatch", forbidden,
                                 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
        if send_initial is not None:
            problems.append(("sendInitialEvents", forbidden, "Forbidden: sendInitialEvents is forbidden for list"))
    if problems:
        raise errors.invalid_fields("ListOptions", "meta.k8s.io", "", problems)
    if not watch and cont and rv not in ("", "0"):
        raise errors.bad_request("specifying resource version is not allowed when using continue")
    return send_initial


def parse_resource_version(value: str) -> int | None:
    """A resourceVersion query value as a number (None for unset or "0"); 400 when malformed."""
    if value in ("", "0"):
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise errors.bad_request(f"invalid resource version: {value}")
    return number


def wait_until_fresh(store: Any, wanted: int, seconds: float) -> None:
    """Block until the store reaches `wanted` or `seconds` pass; then 504 Too large resource version."""
    deadline = time.monotonic() + seconds
    while store.resource_version < wanted and not store.closed:
        left = deadline - time.monotonic()
        if left <= 0:
            raise errors.too_large_resource_version(wanted, store.resource_version)
        store.wait(store.resource_version, left)


def dry_run(values: list[str], kind: str) -> bool:
    """Whether a write is a dry run; 422 for values other than "All" (`CreateOptions`, ...)."""
    if not values:
        return False
    if any(v != "All" for v in values):
        shown = "[" + ", ".join(f'"{v}"' for v in values) + "]"
        raise errors.invalid_fields(kind, "meta.k8s.io", "", [
            ("dryRun", "FieldValueNotSupported", f'Unsupported value: {shown}: supported values: "All"')])
    return True
