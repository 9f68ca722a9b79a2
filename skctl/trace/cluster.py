"""The starting state a trace carries: the recorded cluster's nodes and PriorityClasses.

A replay that starts from the namespaced objects alone runs on whatever nodes the
simulation cluster happens to have; the node inventory (how many nodes, their capacity,
labels and taints) decides every scheduling and autoscaling outcome, and a pod whose
PriorityClass is missing is refused by admission. So the tracer records both, and the
trace carries them under one top-level key that SimKube's reader ignores (its `Trace`
struct has no `deny_unknown_fields`), never in `events`, which SimKube's driver would apply:

    "cluster": {"events": [{"ts": <unix seconds>, "applied_objs": [obj], "deleted_objs": [obj]}]}

a timeline of changes in the same shape as `events`, so the state at any time is the fold
of the events up to it (docs/trace-format.md). This module is the one home of what is
recorded of each kind (`recorded`), of that fold, of the export window's cut of the section
(`window`) and of the inventory xray shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from skctl.kube.keys import Key, cluster_key, gvk_of
from skctl.trace.model import Obj, Trace, new_event

CLUSTER_KEY = "cluster"
NODE_GVK = "v1.Node"
PRIORITY_CLASS_GVK = "scheduling.k8s.io/v1.PriorityClass"
STATE_GVKS = (NODE_GVK, PRIORITY_CLASS_GVK)
# Taints the node lifecycle controller, the kubelet or a cloud controller derive from the
# node's conditions or initialisation: status, not inventory. The simulation cluster's own
# controllers set them on its nodes.
CONDITION_TAINTS = frozenset({
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cloudprovider.kubernetes.io/shutdown",
})
# PriorityClasses every API server creates itself; no one else may create one with this prefix.
SYSTEM_PRIORITY_PREFIX = "system-"
PRIORITY_CLASS_FIELDS = ("value", "globalDefault", "preemptionPolicy", "description")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

def recorded(gvk: str, obj: Mapping[str, Any]) -> Obj | None:
    """What is recorded of a Node or PriorityClass (None: nothing, e.g. a system PriorityClass).

    Two states with the same recorded form are the same state: a node's heartbeat, its
    conditions, images, addresses or a condition taint change nothing recorded.
    """
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str):
        return None
    if gvk == NODE_GVK:
        return _recorded_node(name, meta, obj)
    if gvk == PRIORITY_CLASS_GVK:
        if name.startswith(SYSTEM_PRIORITY_PREFIX):
            return None
        out: Obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": _meta(name, meta)}
        for key in PRIORITY_CLASS_FIELDS:
            if key in obj:
                out[key] = obj[key]
        return out
    return None


def _meta(name: str, meta: Mapping[str, Any], annotations: bool = True) -> Obj:
    out: Obj = {"name": name}
    labels = meta.get("labels")
    if labels:
        out["labels"] = dict(labels)
    notes = meta.get("annotations") if annotations else None
    if notes:
        kept = {k: v for k, v in notes.items() if k not in _DROPPED_ANNOTATIONS}
        if kept:
            out["annotations"] = kept
    return out


def _recorded_node(name: str, meta: Mapping[str, Any], obj: Mapping[str, Any]) -> Obj:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out_spec: Obj = {}
    taints = [
        {k: v for k, v in t.items() if k != "timeAdded"}
        for t in spec.get("taints") or ()
        if isinstance(t, Mapping) and t.get("key") not in CONDITION_TAINTS
    ]
    if taints:
        out_spec["taints"] = taints
    if spec.get("unschedulable"):
        out_spec["unschedulable"] = True
    out_status: Obj = {}
    for key in ("capacity", "allocatable"):
        if status.get(key):
            out_status[key] = dict(status[key])
    # annotations are left out: on a real node they are agents' bookkeeping and change often
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(name, meta, annotations=False),
            "spec": out_spec, "status": out_status}


# --- the section ---------------------------------------------------------------------------


def events_of(trace: Trace) -> list[dict[str, Any]]:
    """The section's events in time order ([] when the trace carries none)."""
    section = trace.extra.get(CLUSTER_KEY)
    if not isinstance(section, Mapping):
        return []
    events = section.get("events") or []
    return sorted(events, key=lambda e: e["ts"])  # stable: same-second order is kept


def section(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"events": events}


def fold(events: Iterable[Mapping[str, Any]], state: dict[Key, Obj] | None = None) -> dict[Key, Obj]:
    """The state after `events` (in order), starting from `state` (changed in place)."""
    state = {} if state is None else state
    for event in events:
        apply_event(state, event)
    return state


def apply_event(state: dict[Key, Obj], event: Mapping[str, Any]) -> None:
    for obj in event.get("applied_objs") or ():
        state[cluster_key(obj)] = obj
    for obj in event.get("deleted_objs") or ():
        state.pop(cluster_key(obj), None)


def split_at(events: list[dict[str, Any]], ts: int) -> tuple[dict[Key, Obj], list[dict[str, Any]]]:
    """(the state at `ts`, events at or before it folded in; the events after it)."""
    n = 0
    while n < len(events) and events[n]["ts"] <= ts:
        n += 1
    return fold(events[:n]), events[n:]


def window(trace: Trace, start_ts: int, end_ts: int) -> dict[str, Any] | None:
    """The section of the export window `[start_ts, end_ts)`: the state before `start_ts` as
    one event at `start_ts` (kept even when empty, as the window's own start event), then the
    changes inside the window with their own times. None when there is nothing to carry."""
    events = events_of(trace)
    if not events:
        return None
    before = fold(e for e in events if e["ts"] < start_ts)
    inside = [e for e in events if start_ts <= e["ts"] < end_ts]
    if not before and not inside:
        return None
    return section([new_event(start_ts, list(before.values())), *inside])


def set_section(trace: Trace, value: dict[str, Any] | None) -> None:
    if value is None:
        trace.extra.pop(CLUSTER_KEY, None)
    else:
        trace.extra[CLUSTER_KEY] = value


# --- what xray shows ------------------------------------------------------------------------

MAX_SHAPES = 5


def node_shape(node: Mapping[str, Any]) -> str:
    """One line for a node's scheduling shape: allocatable cpu, memory, pods; taints; cordon."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    parts = [f"{k} {alloc[k]}" for k in ("cpu", "memory", "pods") if k in alloc]
    spec = node.get("spec") or {}
    taints = [t.get("key") for t in spec.get("taints") or () if isinstance(t, Mapping)]
    if taints:
        parts.append("taints " + ",".join(str(t) for t in taints))
    if spec.get("unschedulable"):
        parts.append("unschedulable")
    return ", ".join(parts) or "no capacity recorded"


def inventory(trace: Trace) -> dict[str, Any] | None:
    """The starting state in brief: nodes at the trace's start (its first event, where a replay
    starts), their most common shapes, how many node changes follow, PriorityClasses. None
    when the trace carries no starting state."""
    events = events_of(trace)
    if not events:
        return None
    start, later = split_at(events, trace.events[0]["ts"] if trace.events else events[0]["ts"])
    nodes = [obj for (gvk, _n), obj in start.items() if gvk == NODE_GVK]
    shapes = Counter(node_shape(n) for n in nodes)
    changes = sum(1 for e in later for o in (*e.get("applied_objs", ()), *e.get("deleted_objs", ()))
                  if gvk_of(o) == NODE_GVK)
    return {
        "nodes": len(nodes),
        "node_shapes": [{"shape": s, "nodes": c} for s, c in shapes.most_common(MAX_SHAPES)],
        "other_shapes": max(0, len(shapes) - MAX_SHAPES),
        "node_changes": changes,
        "priority_classes": sorted(name for (gvk, name) in start if gvk == PRIORITY_CLASS_GVK),
    }
