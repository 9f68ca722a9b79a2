"""Issue 24 end to end: record a real HorizontalPodAutoscaler under load, export, replay.

Record: `skctl trace` (a real process, sampling PodMetrics every 5 s) watches a "production"
namespace where a Deployment (100m CPU request) has an autoscaling/v2 HPA (50% CPU, 1..5
replicas, 15 s scale-down stabilisation). The "production load" is KWOK's usage annotations on
the running pods, kept at the current level by a background thread (so every pod the HPA adds
reports it too): low (20m, 20%), high (200m, 200%) until the HPA is at its maximum and every
pod has reported the high load, then low again (10m) until the HPA is back at its minimum.

Replay: `skctl drive` at --speed 1 into a simulation namespace of the same cluster; the driver
makes each simulated pod report the recorded usage of the pod it stands for, the simulated HPA
(the real kube-controller-manager's) scales the simulated Deployment, and its replica counts are
compared with production's at checkpoints.

Tolerance: the simulation runs behind production by the usage pipeline's delay (a recorded
sample is metrics-server's scrape time, and the simulated pod's new annotation reaches the HPA
one or two scrapes (15 s each) and an HPA sync (5 s) later), so the checkpoints are:
- before the load rises, both at 1 replica;
- the peak: the simulation reaches within 1 replica of production's peak, at most LAG seconds
  after production did, and holds it at the moment production's load fell;
- the end: the simulation is back at the minimum, at most LAG seconds after production was.
The whole-timeline agreement (every 5 s of production's timeline, checkpoints within SETTLE s
of a production change not judged, within 1 replica) is printed and must be at least 80%; the
report's own figure (tolerance 0, its own settling) is printed and must be at least 50%.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from skctl.sim import SIMULATION_LABEL
from skctl.trace import codec
from skctl.trace import usage as usage_section
from skctl.trace.load import read_trace
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import export_all, items, namespaces, usage_annotations
from tests.helpers import deployment, skctl, skctl_bg, tracer_url, wait_for

NS = "production"
VNS = f"virtual-{NS}"
OWNER = ("apps/v1.Deployment", f"{NS}/web")
MIN, MAX = 1, 5
LOW, HIGH, LOW_END = "20m", "200m", "10m"  # 20%, 200% and 10% of the 100m request
HIGH_MILLIS, LOW_MILLIS = 150, 40  # a sample at or above / at or below counts as high / low
USAGE_INTERVAL = "5s"
POLL = 2.0  # seconds between replica samples
LAG = 60.0  # seconds the simulation may run behind production at a checkpoint
SETTLE = 30.0  # as the report: right after a production change, the simulation is not judged
TOLERANCE = 1  # replicas

CONFIG = """\
trackedObjects:
  apps/v1.Deployment:
    trackLifecycle: true
  autoscaling/v2.HorizontalPodAutoscaler: {}
"""


def _hpa() -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": MIN, "maxReplicas": MAX,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}}}


def _create(cluster: Cluster, path: str, body: dict[str, Any]) -> None:
    r = cluster.request("POST", path, json=body)
    assert r.status_code == 201, r.text


def _replicas(cluster: Cluster, ns: str) -> int | None:
    r = cluster.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return int(r.json()["spec"].get("replicas", 1))


class Load(threading.Thread):
    """Keeps every pod of production's Deployment annotated with the current CPU level."""

    def __init__(self, cluster: Cluster, cpu: str) -> None:
        super().__init__(name="production load", daemon=True)
        self.cluster, self.cpu, self.stop = cluster, cpu, threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                want = usage_annotations(cpu=self.cpu, memory="64Mi")
                for pod in items(self.cluster, f"/api/v1/namespaces/{NS}/pods", "app=web"):
                    meta = pod["metadata"]
                    if meta.get("deletionTimestamp") or all(
                            (meta.get("annotations") or {}).get(k) == v for k, v in want.items()):
                        continue
                    r = self.cluster.request("PATCH", f"/api/v1/namespaces/{NS}/pods/{meta['name']}",
                                             json={"metadata": {"annotations": want}},
                                             headers={"Content-Type": "application/merge-patch+json"})
                    if r.status_code not in (200, 404):
                        self.errors.append(r.text)
            except requests.RequestException as exc:
                self.errors.append(str(exc))
            self.stop.wait(1.0)


class Sampler(threading.Thread):
    """Polls one Deployment's spec.replicas: [(seconds since `t0`, replicas)], changes only."""

    def __init__(self, read: Callable[[], int | None]) -> None:
        super().__init__(name="replica sampler", daemon=True)
        self.read, self.stop = read, threading.Event()
        self.t0: float | None = None
        self.timeline: list[tuple[float, int]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                value = self.read()
            except requests.RequestException:
                value = None
            if value is not None:
                now = time.monotonic()
                if self.t0 is None:
                    self.t0 = now
                if not self.timeline or self.timeline[-1][1] != value:
                    self.timeline.append((round(now - self.t0, 1), value))
            self.stop.wait(POLL)

    def at(self, t: float) -> int | None:
        value = None
        for ts, v in self.timeline:
            if ts <= t:
                value = v
        return value

    def first(self, pred: Callable[[int], bool], after: float = 0.0) -> float | None:
        return next((ts for ts, v in self.timeline if ts >= after and pred(v)), None)

    def finish(self) -> None:
        self.stop.set()
        self.join(10)


def _pod_series(url: str) -> list[dict[str, list[int]]]:
    section = usage_section.section_of(export_all(url))
    for entry in (section or {}).get("owners") or ():
        if tuple(entry["owner"]) == OWNER:
            return list(entry["pods"])
    return []


def _recorded(url: str, pred: Callable[[list[dict[str, list[int]]]], bool]) -> list[dict[str, list[int]]] | None:
    pods = _pod_series(url)
    return pods if pods and pred(pods) else None


def _since(series: dict[str, list[int]], ts: float) -> list[int]:
    return [c for t, c in zip(series["t"], series["cpu"], strict=True) if t >= ts]


@pytest.mark.timeout(1200)
def test_record_export_replay_hpa(metrics_cluster: Cluster, tmp_path: Path) -> None:
    cluster, kc = metrics_cluster, str(metrics_cluster.kubeconfig)
    started = time.monotonic()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    _create(cluster, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    tracer = skctl_bg("trace", "--kubeconfig", kc, "-c", str(cfg), "--journal", str(tmp_path / "j"),
                      "--listen", "127.0.0.1:0", "--usage-interval", USAGE_INTERVAL)
    load = Load(cluster, LOW)
    prod = Sampler(lambda: _replicas(cluster, NS))
    drive = None
    sim = Sampler(lambda: _replicas(cluster, VNS))
    trace_file = tmp_path / "production.sktrace"
    try:
        # --- record -------------------------------------------------------------------------
        url = tracer_url(tracer)
        wait_for(lambda: all(w.get("state") == "watching"
                            for w in requests.get(url + "/status", timeout=5).json()["watches"].values()),
                what="the tracer's watches", timeout=60, interval=0.5)
        window_start = int(time.time()) - 1
        _create(cluster, f"/apis/apps/v1/namespaces/{NS}/deployments",
                deployment("web", NS, image="web:1", container="app", cpu="100m", kwok=True))
        prod.start()
        load.start()
        _create(cluster, f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa())
        # low: the tracer has the first pod's low usage, and the HPA keeps one replica
        wait_for(lambda: _recorded(url, lambda pods: len([c for c in pods[0]["cpu"] if c <= LOW_MILLIS]) >= 2),
                timeout=180, interval=3, what="two low usage samples of the first pod in the recording")
        assert _replicas(cluster, NS) == MIN
        t_high = time.monotonic() - (prod.t0 or 0)
        load.cpu = HIGH
        wait_for(lambda: _replicas(cluster, NS) == MAX, timeout=240, interval=2,
                what=f"production's HPA scaling up to {MAX}")
        # hold the load until every pod of the maximum has reported it twice in the recording
        high_since = window_start + int(t_high)
        wait_for(lambda: _recorded(url, lambda pods: len([s for s in pods if len(
            [c for c in _since(s, high_since) if c >= HIGH_MILLIS]) >= 2]) >= MAX),
            timeout=180, interval=3, what=f"two high usage samples of {MAX} pods in the recording")
        t_low = time.monotonic() - (prod.t0 or 0)
        load.cpu = LOW_END
        wait_for(lambda: _replicas(cluster, NS) == MIN, timeout=240, interval=2,
                what=f"production's HPA scaling down to {MIN}")
        # the remaining pod's low usage is in the recording too
        low_since = window_start + int(t_low)
        wait_for(lambda: _recorded(url, lambda pods: any(len([c for c in _since(s, low_since) if c <= LOW_MILLIS]) >= 2
                                                        for s in pods)),
                timeout=120, interval=3, what="two low usage samples after the load fell")
        load.stop.set()
        load.join(10)
        prod.finish()
        assert not load.errors, load.errors[:3]
        window_end = int(time.time()) + 1
        r = skctl("export", "--tracer-address", url, "-s", str(window_start), "-t", str(window_end),
                  "-o", f"file://{trace_file}", timeout=120)
        assert r.returncode == 0, r.stderr
        tracer.terminate()
        tracer.communicate(timeout=60)

        trace = read_trace(str(trace_file))
        section = usage_section.section_of(trace)
        assert section is not None, "no usage section in the exported trace"
        (entry,) = [e for e in section["owners"] if tuple(e["owner"]) == OWNER]
        pods = entry["pods"]
        samples = sum(len(s["t"]) for s in pods)
        # the expected shape: the first pod low, then high, then low again; the pods the HPA
        # added report the high load; no sample outside the window
        first = pods[0]["cpu"]
        peak = first.index(max(first))
        assert first[0] <= LOW_MILLIS and first[peak] >= HIGH_MILLIS and first[-1] <= LOW_MILLIS, first
        assert any(c <= LOW_MILLIS for c in first[peak:]) and all(c >= 1 for c in first), first
        assert len(pods) >= MAX and sum(1 for s in pods if max(s["cpu"]) >= HIGH_MILLIS) >= MAX, pods
        assert all(window_start <= t < window_end for s in pods for t in s["t"])
        hpas = [o for _t, a, o in trace.iter_objects() if o.get("kind") == "HorizontalPodAutoscaler"]
        assert hpas and hpas[0]["metadata"]["namespace"] == NS and hpas[0]["spec"]["maxReplicas"] == MAX
        without = codec.encode(dataclasses.replace(trace, extra={
            k: v for k, v in trace.extra.items() if k != usage_section.USAGE_KEY}))
        usage_bytes = len(codec.encode(trace)) - len(without)
        raw_bytes = len(codec.encode(trace, "none")) - len(codec.encode(dataclasses.replace(trace, extra={
            k: v for k, v in trace.extra.items() if k != usage_section.USAGE_KEY}), "none"))
        print(f"\nrecorded usage: {len(pods)} pods, {samples} samples, {usage_bytes} bytes in the encoded trace "
              f"({raw_bytes} uncompressed) "
              f"({trace_file.stat().st_size} bytes in all, {window_end - window_start} s window)")
        print(f"production replicas (s since the Deployment): {prod.timeline}; load high at {t_high:.0f} s, "
              f"low at {t_low:.0f} s")

        # --- replay -------------------------------------------------------------------------
        duration = window_end - window_start + int(LAG)
        drive = skctl_bg("drive", "e2e-hpa", "--trace-path", f"file://{trace_file}", "--speed", "1",
                         "--duration", f"{duration}s", "--kubeconfig", kc, "--report", str(tmp_path / "report"))
        sim.start()
        wait_for(lambda: sim.t0 is not None or drive.poll() is not None, timeout=60, interval=0.5,
                what="the simulated Deployment")
        out, err = drive.communicate(timeout=duration + 180)
        sim.finish()
        assert drive.returncode == 0, out + err
        print(f"simulated replicas (s since the Deployment): {sim.timeline}")
    finally:
        load.stop.set()
        prod.stop.set()
        sim.stop.set()
        for proc in (tracer, drive):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.communicate(timeout=120)
        cluster.kubectl("delete", "namespace", NS, "--wait=false", "--ignore-not-found")

    # --- compare ---------------------------------------------------------------------------
    p_peak = max(v for _t, v in prod.timeline)
    t_p_peak = prod.first(lambda v: v == p_peak)
    t_p_min = prod.first(lambda v: v == MIN, after=t_low)
    assert p_peak == MAX and t_p_peak is not None and t_p_min is not None, prod.timeline
    checks = {
        "before the load rose": (sim.at(t_high), MIN),
        "production's load fell (plateau)": (sim.at(t_low), p_peak),
    }
    t_s_peak = sim.first(lambda v: v >= p_peak - TOLERANCE)
    t_s_min = sim.first(lambda v: v == MIN, after=t_s_peak or 0.0)
    assert t_s_peak is not None and t_s_peak <= t_p_peak + LAG, (
        f"simulation reached {p_peak - TOLERANCE}+ at {t_s_peak}, production {p_peak} at {t_p_peak}: {sim.timeline}")
    assert t_s_min is not None and t_s_min <= t_p_min + LAG, (
        f"simulation back at {MIN} at {t_s_min}, production at {t_p_min}: {sim.timeline}")
    for what, (got, want) in checks.items():
        assert got is not None and abs(got - want) <= TOLERANCE, f"{what}: simulation {got}, production {want}"

    # the whole timeline, every 5 s of production's, away from production's changes
    changes = [t for t, _v in prod.timeline[1:]]
    judged = [(prod.at(t), sim.at(t)) for t in range(0, int(prod.timeline[-1][0] + LAG), 5)
              if not any(0 <= t - c < SETTLE for c in changes) and sim.at(t) is not None]
    assert judged, (prod.timeline, sim.timeline)
    agree = sum(1 for p, s in judged if p is not None and abs(p - s) <= TOLERANCE)
    worst = max(abs((p or 0) - (s or 0)) for p, s in judged)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    (hpa,) = report["autoscaling"]["hpas"]
    t_p_reach = prod.first(lambda v: v >= p_peak - TOLERANCE) or t_p_peak
    print(f"checkpoints: {checks}; simulation at {p_peak - TOLERANCE}+ {t_s_peak - t_p_reach:+.0f} s and back at "
          f"{MIN} {t_s_min - t_p_min:+.0f} s after production")
    print(f"replica agreement: {agree}/{len(judged)} = {agree / len(judged):.2f} of 5-s checkpoints within "
          f"{TOLERANCE} (max difference {worst}); report: {hpa}; test took {time.monotonic() - started:.0f} s")
    assert hpa["hpa"] == f"{NS}/web" and hpa["recorded_final"] == MIN and hpa["desired_final"] == MIN, hpa
    assert hpa["score"] is not None and hpa["score"] >= 0.5, hpa
    assert agree / len(judged) >= 0.8, judged
    wait_for(lambda: not namespaces(cluster, f"{SIMULATION_LABEL}=e2e-hpa"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)
