"""Tracer figures (issue 9): ingest, memory, end to end from the sandbox, export from a journal.

1. Ingest: 200,000 recorded watch-event lines (Deployments, ReplicaSets, Pods; adds,
   status and spec updates, deletes) fed through the tracer's processing path
   (json.loads, sanitise, spec comparison and hash, owners, pod lifecycles, journal
   append) vs only `json.loads` of the same lines in the same run. Target: ratio <= 3.
   Both run under the tracer's garbage-collector thresholds (`tune_gc`).
2. Resident memory per 100,000 live stored objects (Deployments of realistic size).
3. End to end: watch events/s from a sandbox API server in a child process, over HTTP,
   into a running tracer (the child creates pods as fast as it can).
4. Export from a journal: a 10-minute window at the end of a 1-hour and of a 10-hour
   journal. Target: the two differ by less than 1.5x (cost follows the window).

No asserts; figures only. Run: .venv/bin/python bench/bench_tracer.py
"""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import report, section  # noqa: E402

from skctl.trace.tracked import parse_config  # noqa: E402
from skctl.trace.window import ExportFilters  # noqa: E402
from skctl.tracer import journal as journal_mod  # noqa: E402
from skctl.tracer.store import POD_GVK, TraceStore  # noqa: E402

N_INGEST = 200_000
N_LIVE = 100_000
N_E2E = 30_000
CONFIG = parse_config({"trackedObjects": {
    "apps/v1.Deployment": {"trackLifecycle": True},
    "apps/v1.ReplicaSet": {"skipOwned": True},
    "v1.Pod": {"skipOwned": True, "trackLifecycle": True},
}})
NO_FILTERS = ExportFilters(frozenset(), ())
# The recording's clock: 2024-01-02, after the times the objects carry (pods run from
# 2024-01-01T00:01 to 00:05), as in a real recording. (Before 2026-12, it was November 2023:
# every pod then finished in the recording's future, which no cluster does, and every
# journal snapshot carried every lifecycle ever recorded as one still to end.)
T0 = 1_704_153_600


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def meta(name: str, rv: int, owner: dict | None = None, labels: dict | None = None) -> dict:
    m = {"name": name, "namespace": "bench", "uid": f"uid-{name}", "resourceVersion": str(rv), "generation": 2,
         "creationTimestamp": "2024-01-01T00:00:00Z", "labels": labels or {"app": name.split("-")[0]},
         "annotations": {"deployment.kubernetes.io/revision": "1"},
         "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                            "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                            "fieldsV1": {"f:status": {"f:replicas": {}, "f:readyReplicas": {}}}}]}
    if owner:
        m["ownerReferences"] = [owner]
    return m


def template(image: str) -> dict:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                     "env": [{"name": "MODE", "value": "prod"}]}],
                     "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}}


def deployment(i: int, rv: int, replicas: int = 3, image: str = "nginx:1.25") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(f"web-{i}", rv),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image)},
            "status": {"replicas": replicas, "readyReplicas": replicas, "observedGeneration": 2}}


def replicaset(i: int, rv: int) -> dict:
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"web-{i}", "uid": f"uid-web-{i}"}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta(f"web-{i}-rs", rv, owner),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template("nginx:1.25")},
            "status": {"replicas": 3}}


def pod(i: int, j: int, rv: int, phase: str) -> dict:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"web-{i}-rs", "uid": f"uid-web-{i}-rs"}
    spec = template("nginx:1.25")["spec"]
    spec = {**spec, "nodeName": f"node-{j % 7}", "serviceAccountName": "default",
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": []}}]}
    state: dict = {}
    if phase == "Running":
        state = {"running": {"startedAt": "2024-01-01T00:01:00Z"}}
    elif phase == "Succeeded":
        state = {"terminated": {"startedAt": "2024-01-01T00:01:00Z", "finishedAt": "2024-01-01T00:05:00Z",
                                "exitCode": 0}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(f"web-{i}-p{j}", rv, owner), "spec": spec,
            "status": {"phase": phase, "podIP": "10.0.0.1",
                       "containerStatuses": [{"name": "main", "ready": phase == "Running", "restartCount": 0,
                                              "image": "nginx:1.25", "state": state}] if state else []}}


def watch_lines() -> Iterator[bytes]:
    """An endless stream of watch-event lines: Deployments with their ReplicaSet and pods
    going Pending → Running → Succeeded → deleted, status-only updates, scales, rollouts,
    and a third of the Deployments deleted."""
    rng = random.Random(1)
    rv = 0

    def line(kind: str, obj: dict) -> bytes:
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode()

    i = 0
    while True:
        rv += 1
        yield line("ADDED", deployment(i, rv))
        yield line("ADDED", replicaset(i, rv))
        for j in range(3):
            yield line("ADDED", pod(i, j, rv, "Pending"))
            yield line("MODIFIED", pod(i, j, rv, "Running"))
        for _ in range(4):  # status-only updates: no event recorded
            yield line("MODIFIED", deployment(i, rv + 1))
        yield line("MODIFIED", deployment(i, rv + 2, replicas=rng.randint(1, 5)))  # scale
        yield line("MODIFIED", deployment(i, rv + 3, image=f"nginx:1.{rng.randint(26, 30)}"))  # rollout
        for j in range(3):
            yield line("MODIFIED", pod(i, j, rv, "Succeeded"))
            yield line("DELETED", pod(i, j, rv, "Succeeded"))
        if i % 3 == 0:
            yield line("DELETED", deployment(i, rv + 4))
        i += 1


def ingest_lines(n: int) -> list[bytes]:
    return list(itertools.islice(watch_lines(), n))


def handlers(store: TraceStore, clock: Callable[[], int]) -> dict[tuple[str, str], Callable[[str, dict], object]]:
    """What skctl.tracer.recorder binds per watched resource: the store callback for a kind."""

    def tracked(gvk: str) -> Callable[[str, dict], object]:
        def on_event(kind: str, obj: dict) -> None:
            if kind == "DELETED":
                store.deleted(gvk, obj, clock())
            else:
                store.applied(gvk, obj, clock())
        return on_event

    return {("apps/v1", "Deployment"): tracked("apps/v1.Deployment"),
            ("apps/v1", "ReplicaSet"): tracked("apps/v1.ReplicaSet"),
            ("v1", "Pod"): lambda kind, obj: store.pod_event(kind, obj, clock())}


def process(lines: Iterable[bytes], store: TraceStore, clock: Callable[[], int] = lambda: T0) -> None:
    """What the watch loops do per event line: decode, then the resource's callback."""
    by_kind = handlers(store, clock)
    loads = json.loads
    for line in lines:
        ev = loads(line)
        obj = ev["object"]
        by_kind[obj["apiVersion"], obj["kind"]](ev["type"], obj)


def bench_ingest(rounds: int = 3) -> None:
    """Best of `rounds` for both sides, interleaved (the machine is shared; the best run is
    the one least disturbed by others)."""
    lines = ingest_lines(N_INGEST)
    base = took = float("inf")
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        for line in lines:
            json.loads(line)
        base = min(base, time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            store = TraceStore(CONFIG, clock=lambda: T0)
            journal = journal_mod.Journal(Path(tmp) / "j", retention=86400, clock=lambda: T0)
            journal.open(store)
            rss0 = rss_mb()
            t0 = time.perf_counter()
            process(lines, store)
            took = min(took, time.perf_counter() - t0)
            store_events = store.event_count()
            journal.close()
            size = journal.size()
            grew = rss_mb() - rss0
        del store, journal
    section(f"tracer: ingest of {N_INGEST:,} watch events")
    report("ingest: tracer ÷ json.loads of the same lines", took / base, "<= 3",
           detail=f"{took:.2f} s vs {base:.2f} s; best of {rounds}")
    report("ingest: watch events/s", N_INGEST / took,
           detail=f"{store_events} trace events recorded, journal {size / 1e6:.1f} MB")
    report("ingest: peak RSS (MB)", peak_rss_mb(), detail=f"RSS +{grew:.0f} MB during the ingest")


def bench_memory() -> None:
    gc.collect()
    store = TraceStore(CONFIG)
    objs = (deployment(i, i) for i in range(N_LIVE))
    rss0 = rss_mb()
    for obj in objs:
        store.applied("apps/v1.Deployment", obj, T0)
    gc.collect()
    used = rss_mb() - rss0
    section("tracer: memory")
    report("MB RSS per 100,000 live Deployments", used / (len(store.live) / 100_000),
           detail=f"{len(store.live)} live, with their recorded event: {used:.0f} MB")


def _sandbox(ready: mp.Queue, go: mp.Queue) -> None:
    from skctl.sandbox import SandboxServer

    server = SandboxServer(max_history=N_E2E * 4)
    store = server.store
    store.create(store.resource("v1", "Namespace"), {"metadata": {"name": "bench"}})
    server.start()
    ready.put(server.port)
    n = go.get()
    pods = store.resource("v1", "Pod")
    t0 = time.perf_counter()
    for i in range(n):
        p = pod(i, 0, 0, "Running")
        p["metadata"] = {"name": f"bare-{i}", "namespace": "bench"}
        store.create(pods, p)
    ready.put(time.perf_counter() - t0)
    go.get()


def bench_end_to_end() -> None:
    from skctl.kube.api import Kube
    from skctl.tracer.service import Tracer, TracerOptions

    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    go: mp.Queue = ctx.Queue()
    child = ctx.Process(target=_sandbox, args=(ready, go), daemon=True)
    child.start()
    port = ready.get(timeout=60)
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    config = parse_config({"trackedObjects": {"v1.Pod": {"trackLifecycle": True}}})
    with tempfile.TemporaryDirectory() as tmp:
        tracer = Tracer(Kube(client.ApiClient(cfg)), TracerOptions(config=config, journal_dir=Path(tmp) / "j", port=0))
        tracer.start()
        tracer.recorder.wait_synced(30)
        watch = tracer.recorder.watches[POD_GVK]
        t0 = time.perf_counter()
        go.put(N_E2E)
        while watch.stats.events < N_E2E:
            time.sleep(0.01)
        took = time.perf_counter() - t0
        produced = ready.get(timeout=60)
        tracer.close()
    go.put(None)
    child.join(10)
    section("tracer: end to end from the sandbox")
    report("pod events/s watched over HTTP and recorded", N_E2E / took,
           detail=f"{N_E2E} pod creations in a sandbox child process; it produced {N_E2E / produced:,.0f}/s")


def build_journal(directory: Path, hours: float, rate: float) -> int:
    clock = [float(T0)]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(directory, retention=hours * 3600 + 3600, clock=lambda: clock[0])
    journal.open(store)
    rng = random.Random(2)
    n = int(hours * 3600 * rate)
    for k in range(n):
        clock[0] = T0 + k / rate
        i = rng.randrange(300)
        store.applied("apps/v1.Deployment", deployment(i, k, replicas=rng.randint(1, 50)), clock[0])
    journal.close()
    return int(clock[0])


def bench_journal_export(rounds: int = 7) -> None:
    """Best of `rounds`, the two journals measured in turn (a shared machine drifts)."""
    with tempfile.TemporaryDirectory() as tmp:
        journals = {}
        for hours in (1, 10):
            path = Path(tmp) / f"j{hours}"
            journals[hours] = (path, build_journal(path, hours, rate=5.0))
        times = {1: float("inf"), 10: float("inf")}
        events = {}
        for _ in range(rounds):
            for hours, (path, end) in journals.items():
                t0 = time.perf_counter()
                trace = journal_mod.export_journal(path, end - 600, end + 1, NO_FILTERS)
                times[hours] = min(times[hours], time.perf_counter() - t0)
                events[hours] = len(trace.events)
        section("tracer: 10-minute export from a journal")
        for hours, (path, _end) in journals.items():
            size = sum(p.stat().st_size for _s, _q, p in journal_mod.segments(path))
            report(f"{hours}h journal: 10-minute window (ms)", times[hours] * 1000,
                   detail=f"{size / 1e6:.0f} MB, {len(journal_mod.segments(path))} segments, "
                          f"{events[hours]} events; best of {rounds}")
    report("10h journal ÷ 1h journal", times[10] / times[1], "< 1.5")


if __name__ == "__main__":
    from skctl.tracer.service import tune_gc

    tune_gc()  # the tracer process's collector settings, for both sides of every ratio
    bench_ingest()
    bench_memory()
    bench_end_to_end()
    bench_journal_export()
