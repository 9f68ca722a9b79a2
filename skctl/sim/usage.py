"""Replaying recorded pod usage: each simulated pod reports the usage of the pod it stands for.

A trace's `usage` section (skctl.trace.usage) holds, per lifecycle owner and pod-spec hash,
one CPU/memory series per recorded pod. The pod handler (skctl.sim.pods) numbers each
simulated pod per owner and hash; the n-th gets the n-th recorded series by the lifecycle
rule (`skctl.trace.pods.lookup_recorded`). While the replay runs, the pod carries the
series' value at the current trace time in the annotations KWOK's `ClusterResourceUsage`
(config/kwok) reads, `kwok.x-k8s.io/usage-cpu` and `kwok.x-k8s.io/usage-memory`; the
metrics it serves feed metrics-server and so the HPA controller. KWOK evaluates the
annotations once per container, so a pod of n containers carries 1/n of the recorded pod
total (the sampler sums a pod's containers) and reports the total again.

Trace time comes from the driver: the first event's time plus the wall time since the
replay started, minus the time it was paused, times the speed-up, so a 10x replay moves
through the series ten times as fast. While the simulation is paused nothing changes. A
pod is patched only when its value changes (a merge patch of the two annotations). A trace
without the section sets nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from skctl.kube.api import ApiError, Kube
from skctl.kube.quantity import cpu_text, memory_text
from skctl.trace import usage as usage_section
from skctl.trace.pods import lookup_recorded

log = logging.getLogger("skctl.sim.usage")

USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
MERGE_PATCH = "application/merge-patch+json"
TICK = 1.0  # wall seconds between looks at the trace clock


def usage_annotations(cpu_millis: int, mem_bytes: int, containers: int = 1) -> dict[str, str]:
    """The two annotations that make a KWOK pod of `containers` containers report this pod
    total (KWOK applies them to each container; rounded up, so a small usage never reads 0)."""
    n = max(1, containers)
    return {USAGE_CPU_ANNOTATION: cpu_text(-(-cpu_millis // n)),
            USAGE_MEMORY_ANNOTATION: memory_text(-(-mem_bytes // n))}


class UsageReplay:
    """Keeps every numbered simulated pod's usage annotations at the trace clock's value.

    `trace_time()` answers the current trace time, or None when the replay has not started
    or is paused. `seen` and `gone` are called by the pod handler (its watch thread).
    """

    def __init__(self, kube: Kube, section: Mapping[str, Any], trace_time: Callable[[], float | None],
                 tick: float = TICK) -> None:
        self.kube = kube
        self.series = usage_section.by_owner(section)
        self.trace_time = trace_time
        self.tick = tick
        self._pods: dict[tuple[str, str], tuple[Mapping[str, Any], tuple[int, int] | None]] = {}
        self._containers: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._patching = threading.Lock()  # one update at a time: a change is patched once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.patches = 0

    def seen(self, namespace: str, name: str, owner: tuple[str, str] | None, pod_hash: int, seq: int,
             containers: int = 1) -> None:
        """A pod the handler numbered: follow it when its owner and hash have recorded usage."""
        if owner is None:
            return
        series = lookup_recorded(self.series, owner[0], owner[1], pod_hash, seq)
        if series is None:
            return
        with self._lock:
            self._pods.setdefault((namespace, name), (series, None))
            self._containers[(namespace, name)] = containers
        now = self.trace_time()
        if now is not None:
            self._update((namespace, name), now)

    def gone(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pods.pop((namespace, name), None)
            self._containers.pop((namespace, name), None)

    def follows(self, namespace: str, name: str) -> bool:
        with self._lock:
            return (namespace, name) in self._pods

    def update_all(self) -> int:
        """One look at the trace clock: patch every pod whose value changed; returns patches."""
        now = self.trace_time()
        if now is None:
            return 0
        with self._lock:
            keys = list(self._pods)
        return sum(self._update(key, now) for key in keys)

    def _update(self, key: tuple[str, str], now: float) -> int:
        with self._patching:
            return self._update_locked(key, now)

    def _update_locked(self, key: tuple[str, str], now: float) -> int:
        with self._lock:
            entry = self._pods.get(key)
        if entry is None:
            return 0
        series, last = entry
        containers = self._containers.get(key, 1)
        value = usage_section.value_at(series, now)
        if value == last:
            return 0
        namespace, name = key
        try:
            self.kube.request(
                "PATCH", self.kube.resource("v1", "Pod").path(namespace, name),
                body={"metadata": {"annotations": usage_annotations(*value, containers)}},
                content_type=MERGE_PATCH, what=f"usage of pod {namespace}/{name}")
        except ApiError as exc:
            if exc.code == 404:
                self.gone(namespace, name)
            else:
                log.warning("could not set the usage of pod %s/%s: %s", namespace, name, exc)
            return 0
        with self._lock:
            if key in self._pods:
                self._pods[key] = (series, value)
        self.patches += 1
        return 1

    def start(self) -> UsageReplay:
        self._thread = threading.Thread(target=self._run, name="usage replay", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.update_all()
            except Exception as exc:  # noqa: BLE001 - one failed round is retried at the next tick
                log.warning("usage replay: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
