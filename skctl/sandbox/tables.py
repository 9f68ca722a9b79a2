"""Server-side printing: `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for.

Only a few columns per kind (the ones kubectl users look at first); everything else gets
NAME and AGE, as the real server does for custom resources without printer columns.
"""

from __future__ import annotations

import time
from typing import Any

from skctl.kube.times import parse_ts
from skctl.sandbox.discovery import ResourceType

_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "Pod": [("Ready", "string"), ("Status", "string"), ("Restarts", "string")],
    "Deployment": [("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer")],
    "ReplicaSet": [("Desired", "integer"), ("Current", "integer"), ("Ready", "integer")],
    "Job": [("Status", "string"), ("Completions", "string")],
    "Namespace": [("Status", "string")],
}


def _builtin_kind(rtype: ResourceType) -> str:
    """The kind, for built-in groups only (a custom `Job` must not get batch/v1 Job columns)."""
    return rtype.kind if rtype.group in ("", "apps", "batch") else ""


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(ts: str | None) -> str:
    created = parse_ts(ts)
    if created is None:
        return "<unknown>"
    secs = max(int(time.time() - created), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * 2:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _cells(kind: str, obj: dict) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Pod":
        cs = status.get("containerStatuses") or []
        total = len(spec.get("containers") or []) or len(cs)
        ready = sum(1 for c in cs if c.get("ready"))
        restarts = sum(int(c.get("restartCount", 0)) for c in cs)
        return [f"{ready}/{total}", status.get("phase", "Pending"), str(restarts)]
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        return [f"{status.get('readyReplicas', 0)}/{want}", status.get("updatedReplicas", 0),
                status.get("availableReplicas", 0)]
    if kind == "ReplicaSet":
        return [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0)]
    if kind == "Job":
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        state = "Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True" \
            else "Running"
        return [state, f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"]
    if kind == "Namespace":
        return [status.get("phase", "Active")]
    return []


def table_row(rtype: ResourceType, obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    cells = [meta.get("name", ""), *_cells(_builtin_kind(rtype), obj), _age(meta.get("creationTimestamp"))]
    return {"cells": cells, "object": obj}


def table_for(rtype: ResourceType, objs: list[dict], resource_version: str) -> dict:
    """A Table of `objs` with full objects embedded (includeObject=Object)."""
    cols = [("Name", "string"), *_COLUMNS.get(_builtin_kind(rtype), []), ("Age", "string")]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": typ, "format": "name" if name == "Name" else "", "description": "",
             "priority": 0}
            for name, typ in cols
        ],
        "rows": [table_row(rtype, o) for o in objs],
    }
