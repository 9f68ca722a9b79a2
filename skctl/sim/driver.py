"""The drive loop: replay a trace's events against the simulation cluster, then clean up.

Timing. Event i is due at `start + (ts_i - ts_0) / speed` on the monotonic clock, so
lateness never accumulates: a slow apply makes the next event late only if it overruns
that event's own due time. Trace timestamps are whole seconds, so a burst of k events
recorded in the same second would otherwise all be due at one instant and queue up; the
k events of a second are spread evenly across it (`ts + j/k`), keeping their order. With
`--duration D`, only events with `ts - ts_0 < D` are replayed, and the simulation lasts
D/speed before cleanup (without it, cleanup follows the last event).

Cleanup. At the end, on stop() (SIGTERM/SIGINT from the command) or on an error, every
namespace labelled `simkube.io/simulation=<name>` is deleted (which takes the namespaced
virtual objects with it), then the cluster-scoped objects this run created, and the
driver waits until the namespaces are gone so the next repetition starts clean. A run
also starts with that cleanup, in case an earlier driver was killed before it finished.

Starting state (docs/run.md). Before the first event the trace's PriorityClasses are
applied (cluster-scoped: only when absent or already this simulation's), and with
`--nodes trace` KWOK nodes shaped like the recorded ones are created (skctl.sim.nodes) and
waited for until Ready; the state's later changes (nodes added, changed, removed) are
replayed on the trace's clock, just before the events of the same second. What the driver
created of them goes at cleanup, with the namespaces.

Owner references. The driver remembers the UID the API server gave each object it applied;
an ownerReference of a replayed object that names one of them is rewritten to that UID,
every other one is removed (skctl.sim.mutate).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.kube.api import ApiError, Kube
from skctl.kube.keys import Key, gvk_of, join_ns_name, key_of, ns_name
from skctl.kube.names import is_dns1123_label
from skctl.kube.owners import owner_candidates
from skctl.sim import DEFAULT_NODES, DEFAULT_SPEED, SIMULATION_LABEL, VIRTUAL_LABEL, access
from skctl.sim import nodes as sim_nodes
from skctl.sim.mutate import (
    HPA_GVKS,
    OwnerLookup,
    scale_target,
    virtual_namespace,
    virtual_namespace_object,
    virtual_object,
    without_replicas,
)
from skctl.sim.pause import PauseWatch
from skctl.sim.pods import PodContext, PodHandler
from skctl.sim.podwatch import PodWatcher
from skctl.sim.usage import UsageReplay
from skctl.trace import cluster, usage
from skctl.trace.model import Trace
from skctl.trace.tracked import TracerConfig, config_of_trace

log = logging.getLogger("skctl.sim.driver")
CLEANUP_TIMEOUT = 300.0
CLEANUP_POLL = 0.25
# Full (generation 2) garbage collections walk every live object and stall the loop for
# tens of milliseconds once the heap is big; they run only when the next event is at
# least IDLE_GC_SLACK seconds away, or unconditionally after FORCED_GC_WRITES writes.
IDLE_GC_SLACK = 0.5
IDLE_GC_WRITES = 1000
FORCED_GC_WRITES = 200_000
SA_RETRIES = 25
# A replay that falls behind the trace says so (the cluster takes writes slower than the trace
# makes them) instead of silently stretching it: a warning once lateness passes LAG_WARN
# seconds, repeated at most every LAG_WARN_EVERY seconds, and the worst lag at the end.
LAG_WARN = 1.0
LAG_WARN_EVERY = 10.0
SA_RETRY_DELAY = 0.2
NODE_READY_TIMEOUT = 60.0  # how long the first event waits for the simulation's nodes to be Ready
NODE_READY_POLL = 0.25


@dataclass
class DriveOptions:
    name: str
    speed: float = DEFAULT_SPEED
    duration: float | None = None  # trace seconds
    virtual_ns_prefix: str = "virtual"
    spread: bool = True
    cleanup_timeout: float = CLEANUP_TIMEOUT
    watch_pods: bool = True  # number, time and place the simulation's pods (skctl.sim.pods)
    delays: dict[str, str] | None = None  # KWOK create/ready delay annotations (default 0ms each)
    nodes: str = DEFAULT_NODES  # "cluster": the cluster's own nodes; "trace": the recorded ones (KWOK)
    node_ready_timeout: float = NODE_READY_TIMEOUT
    driver_namespace: str | None = None  # where the driver Job NAME is: its pause annotation (skctl.sim.pause)
    start_paused: bool = False  # pause the simulation before its first event (needs the Job)
    reschedule_bare_pods: bool = False  # recreate bare pods deleted while Running (skctl.sim.pods)


@dataclass
class Step:
    """One trace event with its due time (seconds after the replay starts, wall clock)."""

    index: int
    ts: int
    offset: float
    applied: list[dict[str, Any]]
    deleted: list[dict[str, Any]]


@dataclass
class StepRecord:
    """What happened to one step: handed to the on_step hook (tests, bench)."""

    index: int
    ts: int
    due: float  # monotonic
    started: float  # monotonic
    finished: float  # monotonic
    applied: list[tuple[str, str, str]]  # (gvk, namespace, name) as applied (virtual namespace)
    deleted: list[tuple[str, str, str]]

    @property
    def lateness(self) -> float:
        return self.started - self.due


@dataclass
class DriveResult:
    events: int = 0
    applies: int = 0
    deletes: int = 0
    failures: list[str] = field(default_factory=list)
    stopped_by: str | None = None
    started: float = 0.0
    finished: float = 0.0
    max_lateness: float = 0.0  # seconds the replay ran behind the trace at worst
    nodes_created: int = 0  # KWOK nodes made from the trace's starting state (--nodes trace)
    state_applies: int = 0  # starting-state objects applied (nodes, PriorityClasses), changes included
    failed_applies: int = 0  # of `failures`, the applies (the rest are deletes): for the report
    failed_deletes: int = 0
    paused_seconds: float = 0.0  # wall time the simulation spent paused (skctl pause/resume)


@dataclass
class StateStep:
    """A change of the trace's starting state (skctl.trace.cluster), due `offset` seconds in."""

    ts: int
    offset: float
    applied: list[dict[str, Any]]
    deleted: list[dict[str, Any]]


def state_plan(trace: Trace, speed: float, duration: float | None = None) -> tuple[list[dict[str, Any]], list[StateStep]]:
    """(the starting state at the first event, its later changes as steps), cut like `schedule`."""
    if not trace.events:
        return [], []
    t0 = trace.events[0]["ts"]
    start, later = cluster.split_at(cluster.events_of(trace), t0)
    steps = [
        StateStep(e["ts"], (e["ts"] - t0) / speed, list(e.get("applied_objs") or []), list(e.get("deleted_objs") or []))
        for e in later
        if duration is None or e["ts"] - t0 < duration
    ]
    return list(start.values()), steps


def schedule(trace: Trace, speed: float, duration: float | None = None, spread: bool = True) -> list[Step]:
    """The replay plan: events cut to `duration` (trace seconds) and their wall-clock offsets."""
    events = [e for e in trace.events]
    if not events:
        return []
    t0 = events[0]["ts"]
    if duration is not None:
        events = [e for e in events if e["ts"] - t0 < duration]
    counts: dict[int, int] = {}
    for e in events:
        counts[e["ts"]] = counts.get(e["ts"], 0) + 1
    seen: dict[int, int] = {}
    steps = []
    for i, e in enumerate(events):
        ts = e["ts"]
        j = seen.get(ts, 0)
        seen[ts] = j + 1
        frac = j / counts[ts] if spread else 0.0
        steps.append(Step(i, ts, (ts - t0 + frac) / speed, list(e.get("applied_objs") or []), list(e.get("deleted_objs") or [])))
    return steps


def virtual_twin(
    obj: dict[str, Any], opts: DriveOptions, config: TracerConfig, namespaced: bool, owner_uid: OwnerLookup | None = None
) -> dict[str, Any]:
    """What the driver applies for the recorded `obj`: its virtual twin (skctl.sim.mutate) with
    these options. Also what a check of the simulation expects it to have received (`skctl demo`).
    `owner_uid` gives the simulation's UID of an owner (None: every ownerReference is removed)."""
    gvk = gvk_of(obj)
    try:
        return virtual_object(
            obj,
            sim_name=opts.name,
            ns_prefix=opts.virtual_ns_prefix,
            template_paths=config.template_paths(gvk),
            namespaced=namespaced,
            delays=opts.delays,
            owner_uid=owner_uid,
        )
    except (AttributeError, TypeError, KeyError) as exc:  # a pod template of the wrong shape
        raise InputError(messages.DRIVE_BAD_OBJECT.format(gvk=gvk, name=ns_name(obj), detail=exc)) from exc


class Driver:
    """Replays one trace once. Thread-safe stop(); everything else runs on the caller's thread."""

    def __init__(
        self,
        kube: Kube,
        trace: Trace,
        opts: DriveOptions,
        on_step: Callable[[StepRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.trace = trace
        self.opts = opts
        self.on_step = on_step
        self.clock = clock
        self.config: TracerConfig = config_of_trace(trace)
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._namespaces: set[str] = set()
        # what the trace's HPAs scale: applied without spec.replicas (skctl.sim.mutate), and
        # their pods not ended at the recorded times (skctl.sim.pods.completion_patch)
        self._scaled: frozenset[Key] = frozenset(
            target for _ts, _a, obj in trace.iter_objects()
            if gvk_of(obj) in HPA_GVKS and (target := scale_target(obj)) is not None)
        self.pods = PodHandler(
            kube,
            PodContext(
                sim_name=opts.name,
                ns_prefix=opts.virtual_ns_prefix,
                speed=opts.speed,
                lifecycles=trace.pod_lifecycles or {},
                index=trace.index or {},
                delays=opts.delays,
                reschedule_bare_pods=opts.reschedule_bare_pods,
                autoscaled=self._scaled,
            ),
            owns_namespace=self._namespaces.__contains__,
        )
        self.pause: PauseWatch | None = None
        self._shift = 0.0  # seconds the replay was paused: every later event moves by this much
        self._cluster_objects: dict[tuple[str, str, str], None] = {}  # created by this simulation
        self._foreign: set[tuple[str, str, str]] = set()  # cluster-scoped, someone else's: left alone
        self._writes_since_gc = 0
        self._last_lag_warning = float("-inf")
        self._uids: dict[Key, str] = {}  # (GVK, virtual "ns/name") → UID here
        self._nodes: dict[str, str] = {}  # recorded node name → the simulation's node name
        self._started: float | None = None  # clock() when the first event was due
        # recorded pod usage replayed as KWOK usage annotations (skctl.sim.usage); None without
        section = usage.section_of(trace)
        self.usage = UsageReplay(kube, section, self.trace_time) if section and opts.watch_pods and trace.events else None
        self.pods.usage = self.usage

    # --- control --------------------------------------------------------------------

    def stop(self, reason: str = "stop") -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def trace_time(self) -> float | None:
        """The trace time the replay is at (the first event's time plus the wall time since the
        start, less the time paused, times the speed-up); None before the start or while paused."""
        if self._started is None or (self.pause is not None and self.pause.paused):
            return None
        elapsed = max(0.0, self.clock() - self._started - self._shift)
        return float(self.trace.events[0]["ts"]) + elapsed * self.opts.speed

    # --- the loop -------------------------------------------------------------------

    def run(self) -> DriveResult:
        steps = schedule(self.trace, self.opts.speed, self.opts.duration, self.opts.spread)
        initial, state_steps = state_plan(self.trace, self.opts.speed, self.opts.duration)
        if self.opts.nodes == "trace" and not any(
            gvk_of(o) == cluster.NODE_GVK for o in (*initial, *(o for s in state_steps for o in s.applied))
        ):
            raise InputError(messages.DRIVE_NO_RECORDED_NODES)
        result = DriveResult()
        self.preflight()
        self._start_pause_watch()
        watcher: PodWatcher | None = None
        try:
            self.cleanup(leftovers=True)
            if self.opts.watch_pods:
                watcher = PodWatcher(self.kube, self.pods.handle)
                watcher.start()
            self._start_state(initial, result)
            with _quiet_gc():
                start = self.clock()
                result.started = start
                self._started = start
                if self.usage is not None:
                    self.usage.update_all()
                    self.usage.start()
                pending = list(state_steps)
                for step in steps:
                    stopped = False
                    while pending and pending[0].offset <= step.offset:  # state first: nodes before pods
                        change = pending.pop(0)
                        if self._wait_until(start, change.offset):
                            stopped = True
                            break
                        self._state_change(change.applied, change.deleted, result)
                    if stopped or self._wait_until(start, step.offset):
                        break
                    self._run_step(step, start + self._shift + step.offset, result)
                    result.events += 1
            if self.opts.duration is not None and not self.stopped:
                self._wait_until(start, self.opts.duration / self.opts.speed)
        except BaseException:
            if self.usage is not None:
                self.usage.stop()
            if self.pause is not None:
                self.pause.stop()
            if watcher is not None:
                watcher.stop()
            try:
                self.cleanup()
            except Exception as exc:  # noqa: BLE001 - the original error is the one to report
                log.warning("cleanup after an error failed too: %s", exc)
            raise
        result.stopped_by = self._stop_reason
        result.paused_seconds = self._shift
        if self.usage is not None:
            self.usage.stop()
        if self.pause is not None:
            self.pause.stop()
        if watcher is not None:
            watcher.stop()
        self.cleanup()
        result.finished = self.clock()
        return result

    def preflight(self) -> None:
        """Fail before the first event, not hours in: every kind in the trace must be served by
        the cluster, every virtual namespace name must be a valid namespace name, and the
        driver must be allowed every call the replay makes (skctl.sim.access)."""
        kinds: dict[tuple[str, str], bool] = {}  # (apiVersion, kind) -> the trace deletes some
        namespaces: set[str] = set()
        for _ts, action, obj in self.trace.iter_objects():
            key = (obj.get("apiVersion", ""), obj.get("kind", ""))
            kinds[key] = kinds.get(key, False) or action == "deleted"
            ns = (obj.get("metadata") or {}).get("namespace")
            if ns:
                namespaces.add(virtual_namespace(self.opts.virtual_ns_prefix, ns))
        for event in cluster.events_of(self.trace):  # the starting state's cluster-scoped kinds
            for obj in (*event.get("applied_objs", ()), *event.get("deleted_objs", ())):
                if gvk_of(obj) == cluster.PRIORITY_CLASS_GVK:
                    kinds[(obj.get("apiVersion", ""), obj.get("kind", ""))] = True
        resources = []
        for api_version, kind in sorted(kinds):
            # InputError naming the kind if it is not served
            resources.append((self.kube.resource(api_version, kind), kinds[(api_version, kind)]))
        for ns in sorted(namespaces):
            if not is_dns1123_label(ns):
                raise InputError(messages.DRIVE_BAD_VIRTUAL_NAMESPACE.format(namespace=ns))
        access.check(self.kube, access.needed(resources, self.opts.watch_pods, self.opts.nodes == "trace"))

    def _start_pause_watch(self) -> None:
        """Follow the driver Job's pause annotation (skctl.sim.pause); with --start-paused, set it."""
        ns = self.opts.driver_namespace
        if ns is None:
            return
        from skctl.sim.pause import PauseWatch, now_text

        watch = PauseWatch(self.kube, self.opts.name, ns)
        job = watch.refresh()
        if job is None:
            if self.opts.start_paused:
                raise InputError(messages.DRIVE_START_PAUSED_NO_JOB.format(namespace=ns, name=self.opts.name))
            log.debug("no driver Job %s/%s: this replay cannot be paused", ns, self.opts.name)
            return
        if self.opts.start_paused and not watch.paused:
            from skctl.sim.pause import set_paused

            set_paused(self.kube, self.opts.name, ns, now_text())
            watch.refresh()
        self.pause = watch
        watch.start()

    def _wait_until(self, start: float, offset: float) -> bool:
        """Sleep until `offset` seconds after `start` plus the time spent paused (monotonic),
        holding while the simulation is paused; True if stop() was called meanwhile."""
        if self.pause is not None:
            self._shift += self.pause.wait_while_paused(self._stop, self.clock)
        due = start + self._shift + offset
        remaining = due - self.clock()
        if self._writes_since_gc >= FORCED_GC_WRITES or (
            remaining > IDLE_GC_SLACK and self._writes_since_gc >= IDLE_GC_WRITES
        ):
            gc.collect()
            self._writes_since_gc = 0
        while True:
            if self.pause is not None and self.pause.paused and not self._stop.is_set():
                self._shift += self.pause.wait_while_paused(self._stop, self.clock)
                due = start + self._shift + offset
            remaining = due - self.clock()
            if self._stop.is_set():
                return True
            if remaining <= 0:
                return False
            # wake up now and then so a signal handler's stop() is seen promptly
            self._stop.wait(min(remaining, 0.5))

    def _run_step(self, step: Step, due: float, result: DriveResult) -> StepRecord:
        started = self.clock()
        applied: list[tuple[str, str, str]] = []
        deleted: list[tuple[str, str, str]] = []
        for obj in step.applied:
            ref = self._apply(obj, result)
            if ref is not None:
                applied.append(ref)
        for obj in step.deleted:
            ref = self._delete(obj, result)
            if ref is not None:
                deleted.append(ref)
        self._writes_since_gc += len(step.applied) + len(step.deleted)
        record = StepRecord(step.index, step.ts, due, started, self.clock(), applied, deleted)
        self._note_lateness(record, result)
        if self.on_step is not None:
            self.on_step(record)
        return record

    def _note_lateness(self, record: StepRecord, result: DriveResult) -> None:
        lag = record.lateness
        result.max_lateness = max(result.max_lateness, lag)
        if lag > LAG_WARN and record.started - self._last_lag_warning >= LAG_WARN_EVERY:
            self._last_lag_warning = record.started
            log.warning(messages.DRIVE_BEHIND.format(name=self.opts.name, lag=lag, ts=record.ts))

    def _apply(self, obj: dict[str, Any], result: DriveResult, state: bool = False) -> tuple[str, str, str] | None:
        """Apply the virtual twin of `obj`; `state`: a starting-state object, counted as such."""
        gvk = gvk_of(obj)
        if gvk == "v1.Namespace":  # virtual namespaces stand in for the recorded ones
            return None
        res = self.kube.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        vobj = virtual_twin(obj, self.opts, self.config, res.namespaced, owner_uid=self._owner_uid)
        traced = obj.get("metadata") or {}
        if self._scaled and (gvk, join_ns_name(traced.get("namespace") or "default", traced.get("name"))) in self._scaled:
            without_replicas(vobj)
        meta = vobj["metadata"]
        ns = meta.get("namespace") or ""
        if res.namespaced:
            self._ensure_namespace(ns)
        elif not self._claim_cluster_object((vobj["apiVersion"], vobj["kind"], meta["name"])):
            return None
        try:
            applied = self._apply_with_patience(vobj)
        except ApiError as exc:
            log.warning("apply of %s %s/%s failed: %s", gvk, ns, meta.get("name"), exc)
            result.failures.append(str(exc))
            result.failed_applies += 1
            return None
        self._note_uid(vobj, applied)
        if state:
            result.state_applies += 1
        else:
            result.applies += 1
        log.debug("applied %s %s/%s", gvk, ns, meta.get("name"))
        return gvk, ns, meta["name"]

    def _apply_with_patience(self, vobj: dict[str, Any]) -> dict[str, Any]:
        """Apply; in a namespace created a moment ago, a pod can be refused until the
        service-account controller has made the namespace's `default` account: wait for it."""
        for attempt in range(SA_RETRIES + 1):
            try:
                return self.kube.apply(vobj)
            except ApiError as exc:
                if exc.code != 403 or "service account" not in str(exc).lower() or attempt == SA_RETRIES:
                    raise
                if self._stop.wait(SA_RETRY_DELAY):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # --- owner references -----------------------------------------------------------

    def _note_uid(self, vobj: dict[str, Any], applied: Any) -> None:
        uid = ((applied or {}).get("metadata") or {}).get("uid") if isinstance(applied, dict) else None
        if isinstance(uid, str) and uid:
            self._uids[key_of(vobj)] = uid

    def _owner_uid(self, owner: Key) -> str | None:
        """The UID of the owner this simulation applied (same namespace, or cluster-scoped)."""
        for candidate in owner_candidates(owner):
            found = self._uids.get(candidate)
            if found is not None:
                return found
        return None

    # --- the starting state (nodes, PriorityClasses) ---------------------------------

    def _start_state(self, initial: list[dict[str, Any]], result: DriveResult) -> None:
        """Before the first event: the trace's PriorityClasses, and with --nodes trace its nodes,
        then wait (bounded) until the nodes are Ready so the first pods find them."""
        if not initial:
            return
        self._state_change(initial, [], result)
        if self.opts.nodes == "trace" and self._nodes:
            log.info("created %d nodes shaped like the recorded ones", result.nodes_created)
            self._wait_nodes_ready()

    def _state_change(self, applied: list[dict[str, Any]], deleted: list[dict[str, Any]], result: DriveResult) -> None:
        for obj in applied:
            gvk = gvk_of(obj)
            if gvk == cluster.NODE_GVK:
                if self.opts.nodes == "trace":
                    self._apply_node(obj, result)
            elif gvk == cluster.PRIORITY_CLASS_GVK:
                self._apply(obj, result, state=True)
            else:
                log.debug("starting state of kind %s is not replayed by this skctl", gvk)
        for obj in deleted:
            gvk = gvk_of(obj)
            if gvk == cluster.NODE_GVK:
                if self.opts.nodes == "trace":
                    self._delete_node(obj, result)
            elif gvk == cluster.PRIORITY_CLASS_GVK:
                self._delete(obj, result, state=True)

    def _apply_node(self, recorded: dict[str, Any], result: DriveResult) -> None:
        manifest = sim_nodes.node_manifest(recorded, self.opts.name, self.opts.virtual_ns_prefix)
        name = manifest["metadata"]["name"]
        if not self._claim_cluster_object(("v1", "Node", name)):
            return
        try:
            sim_nodes.apply_node(self.kube, manifest)
        except ApiError as exc:
            log.warning("apply of Node %s failed: %s", name, exc)
            result.failures.append(str(exc))
            return
        original = recorded["metadata"]["name"]
        if original not in self._nodes:
            result.nodes_created += 1
        self._nodes[original] = name
        result.state_applies += 1
        log.debug("applied Node %s (recorded %s)", name, original)

    def _delete_node(self, recorded: dict[str, Any], result: DriveResult) -> None:
        name = self._nodes.pop(recorded["metadata"]["name"], None)
        if name is None or ("v1", "Node", name) not in self._cluster_objects:
            return
        try:
            self.kube.delete("v1", "Node", name)
        except ApiError as exc:
            log.warning("delete of Node %s failed: %s", name, exc)
            result.failures.append(str(exc))
            return
        self._cluster_objects.pop(("v1", "Node", name), None)
        log.debug("deleted Node %s", name)

    def _wait_nodes_ready(self) -> None:
        deadline = self.clock() + self.opts.node_ready_timeout
        selector = sim_nodes.simulation_nodes_selector(self.opts.name)
        wanted = set(self._nodes.values())
        while True:
            ready = {n["metadata"]["name"] for n in self.kube.list("v1", "Node", label_selector=selector)
                     if sim_nodes.is_ready(n)}
            missing = sorted(wanted - ready)
            if not missing:
                return
            if self.clock() > deadline:
                log.warning(messages.DRIVE_NODES_NOT_READY.format(
                    count=len(missing), timeout=int(self.opts.node_ready_timeout), first=missing[0]))
                return
            if self._stop.wait(NODE_READY_POLL):
                return

    def _delete(self, obj: dict[str, Any], result: DriveResult, state: bool = False) -> tuple[str, str, str] | None:
        gvk = gvk_of(obj)
        if gvk == "v1.Namespace":
            return None
        res = self.kube.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        ns = virtual_namespace(self.opts.virtual_ns_prefix, meta.get("namespace") or "default") if res.namespaced else ""
        key = (obj["apiVersion"], obj["kind"], meta["name"])
        if not res.namespaced and key not in self._cluster_objects:
            return None  # not created by this simulation: never delete the real cluster's objects
        if gvk == "v1.Pod":  # the trace ends this pod: not an interruption to reschedule
            self.pods.expect_delete(ns, meta["name"])
        try:
            self.kube.delete(obj["apiVersion"], obj["kind"], meta["name"], ns or None)
        except ApiError as exc:
            log.warning("delete of %s %s/%s failed: %s", gvk, ns, meta.get("name"), exc)
            result.failures.append(str(exc))
            result.failed_deletes += 1
            return None
        self._cluster_objects.pop(key, None)
        self._uids.pop((gvk, join_ns_name(ns, meta["name"])), None)
        if not state:
            result.deletes += 1
        log.debug("deleted %s %s/%s", gvk, ns, meta.get("name"))
        return gvk, ns, meta["name"]

    def _ensure_namespace(self, ns: str) -> None:
        if ns in self._namespaces:
            return
        existing = self.kube.get("v1", "Namespace", ns)
        if existing is not None and not self._owned(existing):
            owner = _labels(existing).get(SIMULATION_LABEL)
            raise InputError(messages.DRIVE_NAMESPACE_TAKEN.format(
                namespace=ns, owner=f"simulation {owner}" if owner else "the cluster (not a virtual namespace)"
            ))
        self.kube.apply(virtual_namespace_object(ns, self.opts.name))
        self._namespaces.add(ns)
        log.info("created virtual namespace %s", ns)

    def _claim_cluster_object(self, key: tuple[str, str, str]) -> bool:
        """May this simulation apply the cluster-scoped object `key`? Only if it is absent or
        already ours: an existing object of the real cluster is never adopted (and later deleted)."""
        if key in self._cluster_objects:
            return True
        if key in self._foreign:
            return False
        existing = self.kube.get(key[0], key[1], key[2])
        if existing is not None and not self._owned(existing):
            self._foreign.add(key)
            log.warning("not replaying %s %s: it exists in the cluster and is not part of simulation %s",
                        key[1], key[2], self.opts.name)
            return False
        self._cluster_objects[key] = None
        return True

    def _owned(self, obj: dict[str, Any]) -> bool:
        return _labels(obj).get(SIMULATION_LABEL) == self.opts.name

    # --- cleanup --------------------------------------------------------------------

    def _delete_labelled_nodes(self) -> None:
        """Every node labelled with this simulation (also those of a driver killed earlier)."""
        selector = sim_nodes.simulation_nodes_selector(self.opts.name)
        for node in self.kube.list("v1", "Node", label_selector=selector):
            name = node["metadata"]["name"]
            try:
                self.kube.delete("v1", "Node", name)
            except ApiError as exc:
                log.warning("delete of Node %s failed: %s", name, exc)
            self._cluster_objects.pop(("v1", "Node", name), None)

    def _labelled_namespaces(self) -> list[str]:
        selector = f"{SIMULATION_LABEL}={self.opts.name},{VIRTUAL_LABEL}=true"
        return [n["metadata"]["name"] for n in self.kube.list("v1", "Namespace", label_selector=selector)]

    def cleanup(self, leftovers: bool = False) -> None:
        """Delete every namespace and cluster-scoped object of the simulation; wait until gone.
        The simulation's nodes go last, once the namespaces are: a pod whose node vanished
        first waits for the pod garbage collector's 40 s quarantine instead of KWOK."""
        names = set(self._labelled_namespaces())  # only what still carries this simulation's label
        for ns in sorted(names):
            self.kube.delete("v1", "Namespace", ns, propagation="Background")
        self._uids.clear()
        self._nodes.clear()
        if not (leftovers and not names):
            self._delete_cluster_objects(names)
        if self.opts.nodes == "trace":
            self._delete_labelled_nodes()
        self._cluster_objects.clear()

    def _delete_cluster_objects(self, names: set[str]) -> None:
        """The cluster-scoped objects this run created (but its nodes), then wait for `names`."""
        for api_version, kind, name in list(self._cluster_objects):
            if (api_version, kind) == ("v1", "Node"):
                continue
            try:
                current = self.kube.get(api_version, kind, name)
                if current is not None and self._owned(current):
                    self.kube.delete(api_version, kind, name, propagation="Background")
            except ApiError as exc:
                log.warning("delete of %s %s failed: %s", kind, name, exc)
            self._cluster_objects.pop((api_version, kind, name), None)
        self._namespaces.clear()
        if names:
            log.info("deleted virtual namespaces %s", ", ".join(sorted(names)))
        deadline = self.clock() + self.opts.cleanup_timeout
        while True:
            remaining = self._labelled_namespaces()
            if not remaining:
                return
            if self.clock() > deadline:
                raise OperationalError(
                    messages.DRIVE_CLEANUP_TIMEOUT.format(
                        name=self.opts.name, namespaces=", ".join(remaining), timeout=int(self.opts.cleanup_timeout)
                    )
                )
            time.sleep(CLEANUP_POLL)


def _labels(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """Freeze what exists (the trace: never garbage during the replay) out of the
    collector's sight, and leave full collections to _wait_until's idle moments."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
