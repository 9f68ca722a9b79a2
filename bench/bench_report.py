"""Report recorder figures (issue 19): the recorder must not slow the replay.

- 100,000 pod watch events (25,000 pods, each ADDED, bound, Running and DELETED, as a
  replay makes them) through the recorder's path: `json.loads` of the line, as the watch
  loop does, then `Recorder.on_pod`; against `json.loads` of the same lines alone, the
  same-run baseline (target <= 2). Lines are made before the timed part.
- Peak RSS per 10,000 pods: a child process folds 100,000 pods (lines made one at a time,
  never held) and reports its peak RSS growth over its start, per 10,000 pods.
- Measuring the records (skctl.report.measure) for those 100,000 pods: seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import ROOT, medians, peak_rss_mb, report, section

sys.path.insert(0, str(ROOT))

from skctl.report import measure  # noqa: E402
from skctl.report.recorder import Recorder  # noqa: E402

T0 = 1_750_000_000.0
NS = "virtual-bench"


def pod_lines(pods: int):
    """Watch-event lines of `pods` pods, four events each, as an API server sends them."""
    for i in range(pods):
        name = f"web-{i // 50}-{i:06d}"
        meta = {"name": name, "namespace": NS, "uid": f"u-{i}", "resourceVersion": str(10 * i),
                "creationTimestamp": "2025-01-01T00:00:00Z", "labels": {"app": "web", "simkube.io/simulation": "b"},
                "annotations": {"static.simkube.io/original-namespace": "bench"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"web-{i // 50}",
                                     "uid": f"rs-{i // 50}", "controller": True}]}
        spec = {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}}],
            "nodeSelector": {"type": "virtual"}, "tolerations": [{"key": "kwok-provider", "operator": "Exists"}]}
        status: dict = {"phase": "Pending", "conditions": []}
        yield json.dumps({"type": "ADDED", "object": {"metadata": meta, "spec": spec, "status": status}})
        spec = {**spec, "nodeName": f"node-{i % 100}"}
        status = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}
        yield json.dumps({"type": "MODIFIED", "object": {"metadata": meta, "spec": spec, "status": status}})
        status = {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"},
                                                     {"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {"startedAt": "x"}}}]}
        yield json.dumps({"type": "MODIFIED", "object": {"metadata": meta, "spec": spec, "status": status}})
        yield json.dumps({"type": "DELETED", "object": {"metadata": meta, "spec": spec, "status": status}})


def fold(lines, recorder: Recorder) -> None:
    t = T0
    for line in lines:
        event = json.loads(line)
        t += 0.001
        recorder.on_pod(event["type"], event["object"], t)


def child(pods: int) -> None:
    """Fold `pods` pods with the lines made on the fly; print peak RSS growth and measure time."""
    base = peak_rss_mb()
    r = Recorder([NS], ["apps/v1.Deployment"], "virtual", clock=time.time)
    fold(pod_lines(pods), r)
    grown = peak_rss_mb() - base
    r.records.replay_start, r.records.replay_end = T0, T0 + pods * 0.004 + 1
    start = time.perf_counter()
    measure.measure(r.records, measure.TraceFacts(t0=0, t_end=pods * 0.004, speed=1.0), measure.DriverFacts())
    print(json.dumps({"rss_mb": grown, "measure_s": time.perf_counter() - start}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
        return
    section("report recorder")
    # the child first: a forked child starts with its parent's peak RSS (Linux keeps ru_maxrss
    # across exec), so the parent must not hold the 100k lines yet
    out = subprocess.run([sys.executable, __file__, "--child", "100000"], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    lines = list(pod_lines(25_000))
    assert len(lines) == 100_000

    def recorder_path() -> None:
        fold(lines, Recorder([NS], ["apps/v1.Deployment"], "virtual"))

    def baseline() -> None:
        for line in lines:
            json.loads(line)

    t = medians({"recorder": recorder_path, "loads": baseline}, repeat=5)
    report("100k pod watch events: (json.loads + recorder) / json.loads", t["recorder"] / t["loads"], "<= 2",
           detail=f"{t['recorder']:.3f}s vs {t['loads']:.3f}s")
    report("peak RSS per 10,000 pods (100,000 pods folded)", figures["rss_mb"] / 10, unit=" MB",
           detail=f"{figures['rss_mb']:.1f} MB for 100,000 pods")
    report("measure 100,000 pods' records", figures["measure_s"], unit=" s")


if __name__ == "__main__":
    main()
