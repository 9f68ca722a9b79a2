"""The report recorder: list+watch the simulation cluster and fold each change into records.

Watches (skctl.kube.watch.ListWatch, the project's resumable list+watch): Pods, Nodes and
core Events cluster-wide, and the virtual objects of the trace's kinds plus the controllers
between them and their pods (ReplicaSets, Jobs). Pods, Events and objects outside the
simulation's virtual namespaces are dropped at once. Nothing is installed in the cluster and
nothing is written to it; the driver's ClusterRole grants get/list/watch on these.

Each `on_*` method takes one object and the time it was seen and updates one small record
(skctl.report.records): the first time a pod is seen bound, Running, Unschedulable, ...;
a virtual object's (spec.replicas, readyReplicas) when either changes; a node's allocatable.
A watch runs on its own thread; each record is written by one watch only, and the lists and
dicts are only appended to, so no lock is needed for the measurement read at the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from skctl.kube.keys import join_ns_name
from skctl.kube.times import parse_time
from skctl.report.autoscaling import desired_replicas
from skctl.report.records import NodeRecord, ObjectRecord, PodRecord, ReplayRecords, StepTiming
from skctl.report.resources import node_allocatable, pod_requests
from skctl.sim import (
    KWOK_STAGE_COMPLETE_TIME_ANNOTATION,
    ORIGINAL_NAMESPACE_ANNOTATION,
    VIRTUAL_NODE_SELECTOR_KEY,
    VIRTUAL_NODE_SELECTOR_VALUE,
)
from skctl.sim.mutate import HPA_GVKS

log = logging.getLogger("skctl.report.recorder")

# Controllers between a virtual object and its pods, watched for owner resolution only.
LINK_KINDS = ("apps/v1.ReplicaSet", "batch/v1.Job")
# Event reasons kept (counted) for the simulation's pods: scheduling and disruption.
EVENT_REASONS = frozenset({"FailedScheduling", "Preempted", "Evicted", "TaintManagerEviction", "Killing"})
PREEMPTION_REASONS = frozenset({"Preempted", "PreemptionByScheduler"})
EVICTION_REASONS = frozenset({"Evicted", "TaintManagerEviction", "EvictionByEvictionAPI", "DeletionByTaintManager",
                              "TerminationByKubelet"})
FIRST_LIST_TIMEOUT = 60.0


def scheduler_reasons(message: str) -> tuple[str, ...]:
    """The reasons in a scheduler's "0/4 nodes are available: 1 Insufficient cpu, 3 node(s)
    had untolerated taint {...}. preemption: ..." message, without the node counts:
    ("Insufficient cpu", "node(s) had untolerated taint {...}"). A message of another shape
    is kept whole."""
    text = message.split(" preemption:", 1)[0].strip()
    _, sep, rest = text.partition("are available: ")
    if not sep:
        return (text.rstrip("."),) if text else ()
    out = []
    for part in rest.rstrip(".").split(", "):
        count, _, reason = part.strip().partition(" ")
        out.append(reason if count.isdigit() and reason else part.strip())
    return tuple(dict.fromkeys(r for r in out if r))


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _controller_uid(meta: Mapping[str, Any]) -> str:
    for ref in meta.get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


class Recorder:
    """Folds watch events into ReplayRecords. `namespaces` are the simulation's virtual
    namespaces; `virtual_kinds` the GVKs of the trace (their objects get replica series)."""

    def __init__(self, namespaces: Iterable[str], virtual_kinds: Iterable[str], ns_prefix: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.namespaces = frozenset(namespaces)
        self.virtual_kinds = frozenset(virtual_kinds)
        self.ns_prefix = ns_prefix
        self.clock = clock
        self.records = ReplayRecords()
        self._watches: list[Any] = []
        self._first_step = threading.Event()

    # --- pods -----------------------------------------------------------------------------

    def on_pod(self, event_type: str, pod: Mapping[str, Any], now: float | None = None, listed: bool = False) -> None:
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace") or ""
        if ns not in self.namespaces:
            return
        now = self.clock() if now is None else now
        uid = str(meta.get("uid") or f"{ns}/{meta.get('name')}")
        rec = self.records.pods.get(uid)
        if rec is None:
            rec = self._new_pod(uid, pod, now, listed)
            self.records.pods[uid] = rec
        if event_type == "DELETED":
            if rec.deleted is None:
                rec.deleted = now
            return
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        node = spec.get("nodeName")
        if node and rec.scheduled is None:
            rec.node = str(node)
            cond = _condition(status, "PodScheduled")
            rec.scheduled = (parse_time(cond.get("lastTransitionTime")) if listed and cond else None) or now
        if rec.scheduled is None:
            cond = _condition(status, "PodScheduled")
            if cond is not None and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
                if rec.unschedulable is None:
                    rec.unschedulable = now
                reasons = scheduler_reasons(str(cond.get("message") or ""))
                if reasons:
                    rec.reasons = tuple(dict.fromkeys((*rec.reasons, *reasons)))
        phase = status.get("phase")
        if phase == "Running" and rec.running is None:
            rec.running = now
        elif phase in ("Succeeded", "Failed") and rec.finished is None:
            rec.finished = now
        if not rec.disruption:
            cond = _condition(status, "DisruptionTarget")
            if cond is not None and cond.get("status") == "True":
                rec.disruption = _disruption(str(cond.get("reason") or ""))
        if not rec.lifecycle_end and KWOK_STAGE_COMPLETE_TIME_ANNOTATION in (meta.get("annotations") or {}):
            rec.lifecycle_end = True

    def _new_pod(self, uid: str, pod: Mapping[str, Any], now: float, listed: bool) -> PodRecord:
        meta = pod.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        cpu, mem = pod_requests(pod.get("spec") or {})
        original = (meta.get("annotations") or {}).get(ORIGINAL_NAMESPACE_ANNOTATION)
        if not original:
            original = ns[len(self.ns_prefix) + 1:] if ns.startswith(self.ns_prefix + "-") else ns
        created = (parse_time(meta.get("creationTimestamp")) if listed else None) or now
        return PodRecord(namespace=ns, name=str(meta.get("name") or ""), uid=uid, controller_uid=_controller_uid(meta),
                         original_namespace=str(original), cpu_m=cpu, memory=mem, created=created)

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event_type: str, event: Mapping[str, Any], now: float | None = None, listed: bool = False) -> None:
        if event_type == "DELETED":
            return
        involved = event.get("involvedObject") or event.get("regarding") or {}
        reason = str(event.get("reason") or "")
        if involved.get("kind") != "Pod" or reason not in EVENT_REASONS:
            return
        if involved.get("namespace") not in self.namespaces:
            return
        counts = self.records.event_reasons
        counts[reason] = counts.get(reason, 0) + 1
        uid = str(involved.get("uid") or f"{involved.get('namespace')}/{involved.get('name')}")
        rec = self.records.pods.get(uid)
        if rec is None:
            return
        if reason == "FailedScheduling" and rec.scheduled is None:
            reasons = scheduler_reasons(str(event.get("message") or event.get("note") or ""))
            rec.reasons = tuple(dict.fromkeys((*rec.reasons, *reasons)))
            if rec.unschedulable is None:
                rec.unschedulable = self.clock() if now is None else now
        elif not rec.disruption and reason in PREEMPTION_REASONS | EVICTION_REASONS:
            rec.disruption = _disruption(reason)

    # --- nodes ------------------------------------------------------------------------------

    def on_node(self, event_type: str, node: Mapping[str, Any], now: float | None = None, listed: bool = False) -> None:
        meta = node.get("metadata") or {}
        name = str(meta.get("name") or "")
        now = self.clock() if now is None else now
        rec = self.records.nodes.get(name)
        if rec is None or (rec.removed is not None and event_type != "DELETED"):
            added = (parse_time(meta.get("creationTimestamp")) if listed else None) or now
            rec = self.records.nodes[name] = NodeRecord(name=name, added=added)
        if event_type == "DELETED":
            rec.removed = now
            return
        rec.cpu_m, rec.memory, rec.pods = node_allocatable(node)
        rec.virtual = (meta.get("labels") or {}).get(VIRTUAL_NODE_SELECTOR_KEY) == VIRTUAL_NODE_SELECTOR_VALUE

    # --- virtual objects and their controllers ------------------------------------------------

    def on_object(self, gvk: str, event_type: str, obj: Mapping[str, Any], now: float | None = None) -> None:
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        if ns not in self.namespaces:
            return
        now = self.clock() if now is None else now
        name = str(meta.get("name") or "")
        key = (gvk, join_ns_name(ns, name))
        rec = self.records.objects.get(key)
        uid = str(meta.get("uid") or "")
        if rec is None or (rec.uid and uid and rec.uid != uid):
            rec = ObjectRecord(gvk=gvk, namespace=ns, name=name, uid=uid, virtual=gvk in self.virtual_kinds,
                               replicas=rec.replicas if rec is not None else [])
            self.records.objects[key] = rec
        rec.controller_uid = _controller_uid(meta) or rec.controller_uid
        if event_type == "DELETED":
            rec.deleted = now
            if rec.virtual:
                self._replicas(rec, now, 0, 0)
            return
        rec.deleted = None
        if gvk in HPA_GVKS:
            desired_replicas(rec, now, obj)
        if rec.virtual:
            spec = obj.get("spec") or {}
            if "replicas" in spec:
                ready = (obj.get("status") or {}).get("readyReplicas") or 0
                self._replicas(rec, now, int(spec.get("replicas") or 0), int(ready))

    @staticmethod
    def _replicas(rec: ObjectRecord, now: float, spec: int, ready: int) -> None:
        if not rec.replicas or rec.replicas[-1][1:] != (spec, ready):
            rec.replicas.append((now, spec, ready))

    # --- the driver ---------------------------------------------------------------------------

    def on_step(self, ts: int, lateness: float, due_monotonic: float, first: bool) -> None:
        """One replayed event (from the driver's on_step hook): its lateness, and for the
        first, the wall time trace time t0 maps to."""
        if first and self.records.replay_start is None:
            self.records.replay_start = self.clock() - (time.monotonic() - due_monotonic)
        self.records.steps.append(StepTiming(ts, lateness))

    def mark_end(self, now: float | None = None) -> None:
        """The replay is over (its cleanup starts): later observations are not measured."""
        if self.records.replay_end is None:
            self.records.replay_end = self.clock() if now is None else now

    # --- watching -------------------------------------------------------------------------------

    def start(self, kube: Any, kinds: Iterable[str], timeout: float = FIRST_LIST_TIMEOUT) -> None:
        """Start the watches and return once each has listed what exists (or was refused)."""
        from skctl.kube.watch import ListWatch

        def listed(fold: Callable[..., None]) -> Callable[[list[dict[str, Any]]], None]:
            def sync(items: list[dict[str, Any]]) -> None:
                now = self.clock()
                for item in items:
                    fold("ADDED", item, now, listed=True)
            return sync

        def refused(gvk: str) -> Callable[[Exception], None]:
            def on_fatal(exc: Exception) -> None:
                log.warning("report: cannot watch %s (%s); its objects are left out of the report", gvk, exc)
                self.records.unobserved_kinds.append(gvk)
            return on_fatal

        specs: list[tuple[str, str, Callable[[str, dict[str, Any]], None], Callable[[list[dict[str, Any]]], None]]] = [
            ("v1.Pod", kube.resource("v1", "Pod").path(), self.on_pod, listed(self.on_pod)),
            ("v1.Node", kube.resource("v1", "Node").path(), self.on_node, listed(self.on_node)),
            ("v1.Event", kube.resource("v1", "Event").path(), self.on_event, listed(self.on_event)),
        ]
        for gvk in sorted(set(kinds) | set(LINK_KINDS)):
            if gvk in ("v1.Pod", "v1.Namespace"):
                continue
            api_version, _, kind = gvk.rpartition(".")
            try:
                res = kube.resource(api_version, kind)
            except Exception as exc:  # noqa: BLE001 - a kind the cluster does not serve is left out
                log.warning("report: %s is not served (%s); left out of the report", gvk, exc)
                self.records.unobserved_kinds.append(gvk)
                continue
            if not res.namespaced:
                continue

            def fold(event_type: str, obj: dict[str, Any], now: float | None = None, listed: bool = False,
                     gvk: str = gvk) -> None:
                self.on_object(gvk, event_type, obj, now)

            specs.append((gvk, res.path(), fold, listed(fold)))
        for gvk, path, on_event, on_sync in specs:
            watch = ListWatch(kube.api_client, path, on_event, on_sync, name=f"report {gvk}", on_fatal=refused(gvk))
            self._watches.append(watch.start())
        deadline = time.monotonic() + timeout
        for watch in self._watches:
            while not watch.stats.synced.wait(0.05):
                if watch.stats.state == "failed" or time.monotonic() > deadline:
                    break

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()
        for watch in self._watches:
            watch.join(0.5)
        self._watches.clear()


def _disruption(reason: str) -> str:
    if reason in PREEMPTION_REASONS:
        return "preempted"
    return "evicted" if reason in EVICTION_REASONS else ""
