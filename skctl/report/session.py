"""A report beside one replay: what the trace says, the recorder around the driver, the result.

`ReportSession` is the hook `skctl drive --report` uses: `start(kube)` before the replay
(the watches list what exists first), `on_step` as the driver's step hook, `finish(result)`
after it, even when the replay was stopped or failed (the report is then marked incomplete).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from skctl.kube.keys import Key, gvk_of, join_ns_name
from skctl.report import autoscaling, measure
from skctl.report.recorder import Recorder
from skctl.sim.mutate import virtual_namespace
from skctl.trace.model import Trace


def trace_facts(trace: Trace, speed: float, duration: float | None, ns_prefix: str) -> measure.TraceFacts:
    """The trace's replicas timeline per object (in virtual namespaces), its lifecycle owners
    and kinds, cut to the replayed window."""
    if not trace.events:
        return measure.TraceFacts(t0=0.0, t_end=0.0, speed=speed, ns_prefix=ns_prefix)
    t0 = trace.events[0]["ts"]
    last = trace.events[-1]["ts"]
    t_end = min(last, t0 + duration) if duration is not None else last
    replicas: dict[Key, list[tuple[float, int]]] = {}
    kinds: set[str] = set()
    for ts, action, obj in trace.iter_objects():
        if duration is not None and ts - t0 >= duration:
            break
        gvk = gvk_of(obj)
        kinds.add(gvk)
        meta = obj.get("metadata") or {}
        if not meta.get("namespace") and gvk != "v1.Pod":
            continue
        key = (gvk, join_ns_name(virtual_namespace(ns_prefix, meta.get("namespace") or "default"),
                                 str(meta.get("name") or "")))
        spec = obj.get("spec") or {}
        if action == "deleted":
            if key in replicas:
                replicas[key].append((float(ts), 0))
        elif isinstance(spec, dict) and "replicas" in spec:
            try:
                value = int(spec.get("replicas") or 0)
            except (TypeError, ValueError):
                continue
            replicas.setdefault(key, []).append((float(ts), value))
    owners = frozenset((gvk, key) for gvk, key in (trace.pod_lifecycles or {}))
    hpas = autoscaling.hpa_targets(trace.iter_objects(), ns_prefix)
    return measure.TraceFacts(t0=float(t0), t_end=float(t_end), speed=speed, replicas=replicas,
                              lifecycle_owners=owners, kinds=frozenset(kinds), ns_prefix=ns_prefix, hpas=hpas)


def virtual_namespaces(trace: Trace, ns_prefix: str) -> set[str]:
    return {virtual_namespace(ns_prefix, (obj.get("metadata") or {}).get("namespace") or "default")
            for _ts, _a, obj in trace.iter_objects() if gvk_of(obj) != "v1.Namespace"}


class ReportSession:
    """The recorder around one replay, and the report it ends with."""

    def __init__(self, trace: Trace, *, name: str, trace_url: str, speed: float, duration: float | None,
                 ns_prefix: str, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.trace_url = trace_url
        self.speed = speed
        self.duration = duration
        self.facts = trace_facts(trace, speed, duration, ns_prefix)
        self.recorder = Recorder(virtual_namespaces(trace, ns_prefix), self.facts.kinds, ns_prefix, clock=clock)
        self.clock = clock
        self._last_step_finished: float | None = None  # wall time the latest replayed event was done

    def start(self, kube: Any) -> None:
        self.recorder.start(kube, self.facts.kinds)

    def on_step(self, record: Any) -> None:
        """The driver's on_step hook (skctl.sim.driver.StepRecord)."""
        self.recorder.on_step(record.ts, record.lateness, record.due, first=record.index == 0)
        self._last_step_finished = self.clock() - (time.monotonic() - record.finished)

    def finish(self, result: Any | None, error: str | None = None) -> dict[str, Any]:
        """Stop the recorder; the report document of what it saw (skctl.report.document).
        `result` is the driver's DriveResult, None when the replay failed with `error`."""
        rec = self.recorder.records
        end = self._last_step_finished
        if result is not None and self.duration is not None and rec.replay_start is not None and not result.stopped_by:
            end = max(end or 0.0, rec.replay_start + self.duration / self.speed)
        rec.replay_end = end if end is not None else self.clock()
        self.recorder.stop()
        from skctl.report import document

        facts = measure.DriverFacts(
            events=getattr(result, "events", 0), applies=getattr(result, "applies", 0),
            deletes=getattr(result, "deletes", 0), failed_applies=getattr(result, "failed_applies", 0),
            failed_deletes=getattr(result, "failed_deletes", 0), stopped_by=getattr(result, "stopped_by", None),
        )
        complete = result is not None and not result.stopped_by and error is None
        incomplete_reason = None if complete else (error or f"stopped by {getattr(result, 'stopped_by', None)}")
        return document.build(
            measure.measure(rec, self.facts, facts),
            simulation={"name": self.name, "trace": self.trace_url, "speed": self.speed, "duration": self.duration,
                        "trace_start": self.facts.t0, "trace_end": self.facts.t_end},
            complete=complete, incomplete_reason=incomplete_reason, created=self.clock(),
        )
