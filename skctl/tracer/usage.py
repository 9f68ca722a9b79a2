"""Pod usage for the trace's `usage` section (skctl.trace.usage): the sampler and its log.

When the cluster serves the resource metrics API (`metrics.k8s.io/v1beta1`, i.e.
metrics-server runs), `UsageSampler` lists PodMetrics in all namespaces every `interval`
seconds (tracer config `usageInterval`, `skctl trace --usage-interval`; 30 s by default,
the HPA controller's view). Each pod whose lifecycle the store records (so: the same owner
and pod-spec hash as `pod_lifecycles`, skctl.trace.pods) gets a sample: the metrics' own
scrape time, the pod's CPU (millicores) and memory (bytes) summed over its containers. A
sample no newer than the pod's last one (metrics-server scrapes less often than asked) is
not recorded twice. Without the API the sampler says so once and records nothing; it looks
again every interval, so metrics-server installed (or becoming available) later is picked up.

`UsageLog` holds the series in compact arrays (24 bytes a sample), journaled through the
store as `REC_USAGE` records, trimmed by retention, and turned into the section on export.
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skctl.base import messages
from skctl.kube.quantity import byte_count, millicores
from skctl.trace import usage as usage_section

log = logging.getLogger(__name__)

METRICS_API = "metrics.k8s.io/v1beta1"
POD_METRICS_KIND = "PodMetrics"

Owner = tuple[str, str]
# A sample as the store journals it: [pod ns/name, owner GVK, owner ns/name, pod hash, ts, millicores, bytes]
Sample = tuple[str, str, str, int, int, int, int]


@dataclass
class PodSeries:
    owner: Owner
    hash: int
    t: array[int] = field(default_factory=lambda: array("q"))
    cpu: array[int] = field(default_factory=lambda: array("q"))
    mem: array[int] = field(default_factory=lambda: array("q"))


class UsageLog:
    """Per pod (ns/name): owner, hash and the samples; not thread-safe (the store locks)."""

    def __init__(self) -> None:
        self.pods: dict[str, PodSeries] = {}
        self.samples = 0

    def add(self, pod: str, owner: Owner, h: int, ts: int, cpu: int, mem: int) -> bool:
        """One sample; False (nothing kept) when it is not newer than the pod's last."""
        series = self.pods.get(pod)
        if series is None or series.owner != owner or series.hash != h:
            if series is not None:  # a new pod of the same name: its own series
                self._retire(pod, series)
            series = self.pods[pod] = PodSeries(owner, h)
        elif series.t and ts <= series.t[-1]:
            return False
        series.t.append(ts)
        series.cpu.append(cpu)
        series.mem.append(mem)
        self.samples += 1
        return True

    def _retire(self, pod: str, series: PodSeries) -> None:
        n = 0
        while f"{pod}#{n}" in self.pods:
            n += 1
        self.pods[f"{pod}#{n}"] = series

    def trim(self, cutoff: int) -> None:
        """Retention: samples before `cutoff` drop; pods left without one are forgotten."""
        for pod in list(self.pods):
            series = self.pods[pod]
            n = 0
            while n < len(series.t) and series.t[n] < cutoff:
                n += 1
            if n:
                del series.t[:n], series.cpu[:n], series.mem[:n]
                self.samples -= n
            if not series.t:
                del self.pods[pod]

    def section(self, interval: float) -> dict[str, Any] | None:
        """The trace's `usage` section (copies), or None without samples."""
        return usage_section.build(
            ((s.owner, s.hash, s.t.tolist(), s.cpu.tolist(), s.mem.tolist()) for s in self.pods.values()),
            round(interval))


def pod_usage(metrics: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) of one PodMetrics item: its containers' usage summed."""
    cpu = mem = 0
    for container in metrics.get("containers") or ():
        use = (container or {}).get("usage") or {}
        cpu += millicores(use.get("cpu", 0))
        mem += byte_count(use.get("memory", 0))
    return cpu, mem


class UsageSampler:
    """A thread that samples PodMetrics into a store (see the module doc).

    `list_metrics()` returns the PodMetrics items or raises LookupError when the API is not
    served; `record(rows)` takes (pod ns/name, scrape ts, millicores, bytes) rows.
    """

    def __init__(
        self,
        list_metrics: Callable[[], list[dict[str, Any]]],
        record: Callable[[list[tuple[str, int, int, int]]], int],
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.list_metrics = list_metrics
        self.record = record
        self.interval = interval
        self.clock = clock
        self.state = "starting"  # "sampling", "no metrics API", "stopped"
        self.rounds = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_sample_at: float | None = None
        self._said_unserved = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> UsageSampler:
        self._thread = threading.Thread(target=self._run, name="usage sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self.state = "stopped"

    def sample_once(self) -> bool:
        """One round; False when the metrics API is not served."""
        try:
            items = self.list_metrics()
        except LookupError:
            if not self._said_unserved:
                log.warning(messages.TRACE_NO_METRICS_API.format(api=METRICS_API))
                self._said_unserved = True
            self.state = "no metrics API"
            return False
        rows = []
        for item in items:
            meta = item.get("metadata") or {}
            ns, name = meta.get("namespace"), meta.get("name")
            if not (isinstance(ns, str) and isinstance(name, str)):
                continue
            ts = _scrape_time(item)
            if ts is None:
                ts = int(self.clock())
            cpu, mem = pod_usage(item)
            rows.append((f"{ns}/{name}", ts, cpu, mem))
        self.record(rows)
        self.state = "sampling"
        self.rounds += 1
        self.last_sample_at = self.clock()
        return True

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.sample_once()
            except Exception as exc:  # noqa: BLE001 - a failed round is retried next interval
                self.errors += 1
                self.last_error = str(exc)
                log.info("usage sampling failed: %s", exc)
            wait = self.interval

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "interval_seconds": self.interval, "rounds": self.rounds,
                "errors": self.errors, "last_error": self.last_error, "last_sample_at": self.last_sample_at}


def _scrape_time(item: Mapping[str, Any]) -> int | None:
    from skctl.kube.times import parse_ts

    value = parse_ts(item.get("timestamp"))
    return int(value) if value is not None else None


def metrics_lister(kube: Any) -> Callable[[], list[dict[str, Any]]]:
    """PodMetrics of every namespace through `kube` (skctl.kube.api.Kube); LookupError when
    discovery does not list the API (looked up afresh each time until it is found)."""
    from skctl.base.errors import InputError
    from skctl.kube.api import ApiError

    found: dict[str, bool] = {}

    def list_metrics() -> list[dict[str, Any]]:
        if not found:
            try:
                kube.resource(METRICS_API, POD_METRICS_KIND)
            except (InputError, ApiError):  # not listed, or its APIService is not available (503)
                raise LookupError(METRICS_API) from None
            found["yes"] = True
        items: list[dict[str, Any]] = kube.list(METRICS_API, POD_METRICS_KIND)
        return items

    return list_metrics


def samples_problem(payload: Any) -> str | None:
    """What keeps a journaled usage record from being replayed, or None."""
    rows = payload.get("s") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        return "usage samples that are not a list"
    for row in rows:
        if not (isinstance(row, list) and len(row) == 7 and all(isinstance(v, str) for v in row[:3])
                and all(type(v) is int for v in row[3:])):
            return "a usage sample that is not [pod, owner GVK, owner ns/name, hash, ts, cpu, mem]"
    return None


def iter_samples(payload: Mapping[str, Any]) -> Iterable[Sample]:
    for row in payload.get("s") or ():
        pod, gvk, name, h, ts, cpu, mem = row  # checked by samples_problem
        yield pod, gvk, name, h, ts, cpu, mem
