"""Tracer memory (issue 21): what the store holds per object, and a restart from a big journal.

1. Memory: the store (no journal) is fed 20,000 Deployments of realistic size (about
   13 KiB each as the Python dicts a watch decodes, one container with probes, env,
   resources and volumes; each object decoded from its own JSON, so nothing is shared
   between objects as nothing is in a real watch), then 2 spec updates of each (40,000
   held updates at the default retention), then 10,000 deletes. RSS after each phase,
   per object of that phase. Targets (issue 21, against SimKube's sk-tracer 2.7 at 21.9 KiB
   per live object and ~0.5 KiB per deleted one): <= 5.5 KiB per live object, <= 2 KiB per
   held update, <= 1 KiB per delete.
2. Restart: a child records the same kind of objects through a journal until it holds
   200 MB, reports its RSS and is killed with SIGKILL; a fresh process then replays the
   journal and starts the tracer API. Timed from the process start until GET /status
   answers with every object back (target <= 5 s); its RSS then is compared with the
   killed writer's (target <= 1).

Each part runs in a child process of its own, so RSS belongs to that part alone.
No asserts; figures only. Run: .venv/bin/python bench/bench_tracer_memory.py
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import ROOT, report, section

sys.path.insert(0, str(ROOT))

N_OBJECTS = 20_000
UPDATES = 2
N_DELETES = 10_000
JOURNAL_MB = float(os.environ.get("BENCH_JOURNAL_MB", "200"))
T0 = 1_700_000_000
GVK = "apps/v1.Deployment"


def deployment(i: int, rev: int = 0) -> dict[str, Any]:
    """A Deployment as the API server sends it (managed fields, status), decoded from JSON
    of its own so that no string or container is shared with another object."""
    name = f"svc-{i:05d}"
    ns = f"team-{i % 40}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": f"{name}-prod",
              "app.kubernetes.io/version": "1.24.3", "app.kubernetes.io/component": "backend",
              "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "Helm",
              "helm.sh/chart": "backend-4.2.1"}
    container = {
        "name": "app", "image": f"registry.example.com/shop/{name}-app:v1.24.{rev}", "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", "--log-level=info", f"--listen=:{8080 + i % 7}", "--metrics-addr=:9090"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_FORMAT", "value": "json"}, {"name": "REGION", "value": "eu-west-1"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": ns, "uid": f"6b1c2d3e-{i:08d}-4f5a-9b8c-7d6e5f4a3b2c",
            "resourceVersion": str(1000 + i + rev), "generation": 1 + rev, "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": str(1 + rev), "meta.helm.sh/release-name": f"{name}-prod",
                            "meta.helm.sh/release-namespace": ns},
            "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "apps/v1",
                               "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
        "spec": {
            "replicas": 3 + rev, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": f"{name}-prod"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {
                    "checksum/config": f"{i:064x}"}},
                "spec": {"containers": [container],
                         "volumes": [{"name": "config", "configMap": {"name": f"{name}-config", "defaultMode": 420}},
                                     {"name": "tmp", "emptyDir": {}}],
                         "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "serviceAccountName": name, "serviceAccount": name,
                         "securityContext": {"runAsUser": 1000, "fsGroup": 1000}, "schedulerName": "default-scheduler"}}},
        "status": {"observedGeneration": 1 + rev, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                   "availableReplicas": 3,
                   "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-11-01T10:01:00Z",
                                   "lastTransitionTime": "2026-11-01T10:01:00Z", "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability."}]},
    }
    return json.loads(json.dumps(obj))


def rss_kib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    return 0.0


def _settled_rss() -> float:
    gc.collect()
    return rss_kib()


def child_memory() -> dict[str, float]:
    from bench_tracer import CONFIG

    from skctl.tracer.service import tune_gc
    from skctl.tracer.store import TraceStore

    tune_gc()
    store = TraceStore(CONFIG, clock=lambda: T0)
    deployment(0)  # warm the generator's and the store's caches outside the measurement
    r0 = _settled_rss()
    for i in range(N_OBJECTS):
        store.applied(GVK, deployment(i), T0 + i // 100)
    r1 = _settled_rss()
    ts = T0 + N_OBJECTS // 100
    for rev in range(1, UPDATES + 1):
        for i in range(N_OBJECTS):
            store.applied(GVK, deployment(i, rev), ts + i // 100)
        ts += N_OBJECTS // 100
    r2 = _settled_rss()
    for i in range(N_DELETES):
        store.deleted(GVK, deployment(i, UPDATES), ts + i // 100)
    r3 = _settled_rss()
    return {"live_kib": (r1 - r0) / N_OBJECTS, "update_kib": (r2 - r1) / (N_OBJECTS * UPDATES),
            "delete_kib": (r3 - r2) / N_DELETES, "total_mib": (r3 - r0) / 1024, "events": store.event_count(),
            "dict_kib": _dict_kib()}


def _dict_kib() -> float:
    """RSS per Deployment held as the decoded, sanitised dicts (what the store held before)."""
    from skctl.tracer.objects import sanitize

    r0 = _settled_rss()
    held = [sanitize(deployment(i)) for i in range(2000)]
    r1 = _settled_rss()
    del held
    return (r1 - r0) / 2000


def child_write(directory: Path) -> None:
    """Record through a journal until it holds JOURNAL_MB, print RSS, then wait to be killed."""
    from bench_tracer import CONFIG

    from skctl.tracer import journal as journal_mod
    from skctl.tracer.service import tune_gc
    from skctl.tracer.store import TraceStore

    tune_gc()
    now = [float(T0)]
    store = TraceStore(CONFIG, clock=lambda: now[0])
    journal = journal_mod.Journal(directory, retention=30 * 86400, clock=lambda: now[0])
    journal.open(store)
    k = 0
    rev = 0
    while journal.bytes_written < JOURNAL_MB * 1e6:
        i = k % N_OBJECTS
        if i == 0:
            rev += 1
        if rev > 1 and i % 4 == 3:
            store.deleted(GVK, deployment(i, rev - 1), now[0])
        store.applied(GVK, deployment(i, rev), now[0])
        k += 1
        now[0] = T0 + k / 20
    journal.flush()
    print(json.dumps({"rss_kib": _settled_rss(), "live": len(store.live), "events": store.event_count(),
                      "journal_mb": journal.size() / 1e6, "segments": len(journal_mod.segments(directory))}), flush=True)
    sys.stdin.read()  # killed here


def child_restart(directory: Path) -> None:
    """What `skctl trace` does before it watches: reopen and replay the journal, serve the API."""
    from bench_tracer import CONFIG

    from skctl.tracer import journal as journal_mod
    from skctl.tracer.server import TracerAPI
    from skctl.tracer.service import settle_gc, tune_gc
    from skctl.tracer.store import TraceStore

    tune_gc()
    store = TraceStore(CONFIG)
    journal = journal_mod.Journal(directory, retention=30 * 86400)
    journal.open(store, trusted=True)
    settle_gc()
    threading.Thread(target=store.verify, daemon=True).start()
    api = TracerAPI("127.0.0.1", 0, store.export,
                    lambda: {"live_objects": len(store.live), "events": store.event_count(),
                             "unchecked": store.unchecked()}).start()
    print(json.dumps({"port": api.address[1]}), flush=True)
    sys.stdin.read()


def _child(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, **kw)


def measure_memory() -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit("bench_tracer_memory: the memory child failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_restart(tmp: Path) -> dict[str, float]:
    directory = tmp / "journal"
    writer = _child("--write", str(directory))
    assert writer.stdout is not None
    wrote = json.loads(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    gc.collect()
    t0 = time.perf_counter()
    reader = _child("--restart", str(directory))
    try:
        assert reader.stdout is not None
        port = json.loads(reader.stdout.readline())["port"]
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as resp:
                status = json.loads(resp.read())
            if status["live_objects"] == wrote["live"] and status["events"] == wrote["events"]:
                break
            time.sleep(0.01)
        took = time.perf_counter() - t0
        rss = rss_kib(reader.pid)
        while status.get("unchecked"):  # the check of the replayed objects, in the background
            time.sleep(0.05)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as resp:
                status = json.loads(resp.read())
        checked = time.perf_counter() - t0
        rss_checked = rss_kib(reader.pid)
    finally:
        reader.kill()
        reader.wait()
    return {"restart_s": took, "rss_before_kib": wrote["rss_kib"], "rss_after_kib": rss, "checked_s": checked,
            "rss_checked_kib": rss_checked,
            "journal_mb": wrote["journal_mb"], "segments": wrote["segments"], "events": wrote["events"],
            "live": wrote["live"]}


def main() -> None:
    m = measure_memory()
    section(f"tracer memory: {N_OBJECTS:,} Deployments, {UPDATES} updates each, {N_DELETES:,} deletes")
    report("KiB RSS per live object", m["live_kib"], "<= 5.5",
           detail=f"as decoded dicts {m['dict_kib']:.1f} KiB; sk-tracer 2.7: 21.9 KiB")
    report("KiB RSS per held update", m["update_kib"], "<= 2", detail=f"{N_OBJECTS * UPDATES:,} updates")
    report("KiB RSS per delete", m["delete_kib"], "<= 1", detail="sk-tracer 2.7: ~0.5 KiB")
    report("MiB RSS for the whole recording", m["total_mib"], detail=f"{int(m['events']):,} stored events")
    with tempfile.TemporaryDirectory(prefix="skctl-bench-tmem-") as tmp:
        r = measure_restart(Path(tmp))
    section(f"tracer restart from a {JOURNAL_MB:.0f} MB journal after SIGKILL")
    report("seconds until the API answers with the whole recording", r["restart_s"], "<= 5", unit=" s",
           detail=f"{r['journal_mb']:.0f} MB in {int(r['segments'])} segments, {int(r['events']):,} events, "
                  f"{int(r['live']):,} live objects")
    report("seconds until the replayed objects are checked too", r["checked_s"], unit=" s",
           detail="in the background, the API answering meanwhile")
    report("RSS after the restart ÷ before the kill", r["rss_after_kib"] / r["rss_before_kib"], "<= 1",
           detail=f"{r['rss_after_kib'] / 1024:.0f} MiB vs {r['rss_before_kib'] / 1024:.0f} MiB")
    report("RSS after the check ÷ before the kill", r["rss_checked_kib"] / r["rss_before_kib"], "<= 1",
           detail=f"{r['rss_checked_kib'] / 1024:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory":
        print(json.dumps(child_memory()))
    elif len(sys.argv) > 1 and sys.argv[1] == "--write":
        child_write(Path(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--restart":
        child_restart(Path(sys.argv[2]))
    else:
        main()
