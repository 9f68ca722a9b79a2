"""`skctl export --from` figures (issue 4: export windows; issue 21: streaming).

Generates a trace of 1,000,000 events over ~10,000 objects (Deployments and bare Pods
with realistic, sanitised specs, spread over two hours), then exports the middle hour
(two namespaces and one label selector filtered out) two ways:

- from the recording in memory (what a tracer serving POST /export does): window + encode
  + write ÷ encoding the exported document alone (target ≤ 2);
- `--from FILE`, a format-3 source streamed into a format-3 output through the library
  call the CLI uses (`skctl.export.export`), in a child process of its own so that its
  peak RSS is the export's alone (target ≤ 1 GB): the whole export (reading and decoding
  the chunks it needs, cutting, encoding, writing) ÷ that same encode (target ≤ 2).

`BENCH_EXPORT_EVENTS=100000` runs a smaller trace. `BENCH_EXPORT_10M=1` also streams a
10,000,000-event source to disk (never held in memory) and exports its middle hour the
same way: peak RSS (target ≤ 2 GB) and its time ÷ the smaller run's (target ≤ 11).
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import best_of, peak_rss_mb, report, section

from skctl import export as exporter
from skctl.trace import format3, load
from skctl.trace.model import Trace, gc_paused, new_event
from skctl.trace.window import ExportFilters, export_window

T0 = 1_750_000_000
SPAN = 2 * 3600
NAMESPACES = [f"team-{i}" for i in range(18)] + ["kube-system", "monitoring"]
IMAGES = ["nginx:1.27.1", "ghcr.io/acme/api:2.14.0", "redis:7.4", "ghcr.io/acme/worker:5.1.3"]


def _pod_spec(rng: random.Random, app: str) -> dict[str, Any]:
    return {
        "containers": [
            {
                "name": app,
                "image": rng.choice(IMAGES),
                "imagePullPolicy": "IfNotPresent",
                "args": ["--port=8080", f"--name={app}"],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                ],
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}}],
    }


class Objects:
    """The generator's objects: each event gets a fresh top-level dict; specs share their
    pod templates in memory (the encoded file does not), which keeps generation cheap."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    def new(self) -> dict[str, Any]:
        self.serial += 1
        rng, i = self.rng, self.serial
        ns = rng.choice(NAMESPACES)
        labels = {"app": f"app-{i}", "team": rng.choice(("core", "growth", "infra")), "tier": rng.choice(("web", "db"))}
        if rng.random() < 0.7:
            name = f"svc-{i}"
            spec = {
                "replicas": rng.randint(1, 6),
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": labels["app"]}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec(rng, name)},
            }
            return {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}
        name = f"pod-{i}"
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": _pod_spec(rng, name)}

    def changed(self, obj: dict[str, Any]) -> dict[str, Any]:
        spec = dict(obj["spec"])
        if obj["kind"] == "Deployment":
            spec["replicas"] = self.rng.randint(0, 12)
        else:
            spec["activeDeadlineSeconds"] = self.rng.randint(60, 6000)
        return {**obj, "spec": spec}


CONFIG = {"trackedObjects": {"apps/v1.Deployment": {"trackLifecycle": True},
                             "v1.Pod": {"trackLifecycle": True, "skipOwned": True}}}


def _events(trace: Trace, events: int, objects: int, seed: int = 4) -> Iterator[dict[str, Any]]:
    """The generated events in order; `trace` collects the lifecycles and the index."""
    rng = random.Random(seed)
    gen = Objects(rng)
    live: dict[int, dict[str, Any]] = {}
    keys: list[int] = []
    lifecycles = trace.pod_lifecycles

    def add(ts: int) -> dict[str, Any]:
        obj = gen.new()
        live[gen.serial] = obj
        keys.append(gen.serial)
        owner = (f"{obj['apiVersion']}.{obj['kind']}", f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        start = ts + rng.randint(1, 30)
        lifecycles.setdefault(owner, {})[rng.getrandbits(63)] = [
            {"start_ts": start, "end_ts": start + rng.randint(30, 3 * SPAN) if rng.random() < 0.7 else None}
        ]
        # A tracer's index (every object ever seen), so the export keeps hashes instead of computing them.
        trace.index.setdefault(owner[0], {})[owner[1]] = hash(obj["metadata"]["name"]) & (2**64 - 1)
        return obj

    yield new_event(T0, [add(T0) for _ in range(objects * 4 // 5)])
    per_second = events / SPAN
    for n in range(1, events):
        ts = T0 + int(n / per_second)
        roll = rng.random()
        if roll < 0.005 and len(live) < objects:
            yield new_event(ts, [add(ts)])
        elif roll < 0.009 and len(live) > objects // 4:
            slot = rng.randrange(len(keys))
            keys[slot], keys[-1] = keys[-1], keys[slot]
            yield new_event(ts, [], [live.pop(keys.pop())])
        else:
            serial = keys[rng.randrange(len(keys))]
            live[serial] = gen.changed(live[serial])
            yield new_event(ts, [live[serial]])


def generate(events: int, objects: int, seed: int = 4) -> Trace:
    trace = Trace(config=CONFIG)
    trace.events = list(_events(trace, events, objects, seed))
    return trace


def write_source(path: Path, events: int, objects: int) -> None:
    """A format-3 trace of `events` generated events written as it is generated (for 10M
    events, which would not fit in memory as a list)."""
    trace = Trace(config=CONFIG)
    with path.open("wb") as f, gc_paused():
        writer = format3.Writer(f.write)
        batch: list[dict[str, Any]] = []
        for event in _events(trace, events, objects):
            batch.append(event)
            if len(batch) == format3.CHUNK_EVENTS:
                writer.add_events(batch)
                batch = []
        writer.add_events(batch)
        writer.finish(format3.sections_of(trace))


START, END = T0 + SPAN // 4, T0 + SPAN // 4 + 3600
EXCLUDED = (["kube-system", "monitoring"], ["tier=db,team=infra"])


def _own_peak_mb() -> float:
    """This process's peak RSS since it started: VmHWM, which exec resets. (ru_maxrss keeps
    the parent's size at fork across exec on Linux: a 2 GB parent would show 2 GB here.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def _child(source: str, dest: str) -> None:
    """Run one export --from in this (fresh) process; print its figures as JSON."""
    request = exporter.ExportRequest(start_ts=START, end_ts=END, filters=ExportFilters.from_strings(*EXCLUDED),
                                     output=dest, source_url=source)
    t = time.perf_counter()
    result = exporter.export(request)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_mb": _own_peak_mb(), "events": result.events, "objects": result.objects,
                      "owners": result.owners, "size": result.size, "timings": result.timings}))


def export_from(source: Path, dest: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", str(source), f"file://{dest}"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the export child failed: {done.stderr.strip()}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
        return
    events = int(os.environ.get("BENCH_EXPORT_EVENTS", "1000000"))
    objects = 10_000
    filters = ExportFilters.from_strings(*EXCLUDED)
    section(f"export: a 1-hour window of a {events:,}-event, 2-hour trace")
    print(f"  generating {events} events over ~{objects} objects ...", flush=True)
    t = time.perf_counter()
    trace = generate(events, objects)
    with tempfile.TemporaryDirectory(prefix="skctl-bench-export-") as tmp:
        source = Path(tmp) / "recording.sktrace"
        source.write_bytes(load.encode_as(trace, "cbor", version=3))  # the streaming format export writes
        print(f"  source: {source.stat().st_size / 1e6:.1f} MB, generated and encoded in "
              f"{time.perf_counter() - t:.1f}s", flush=True)

        # From the recording in memory: what a tracer serving POST /export does.
        memory_out = Path(tmp) / "memory.sktrace"
        with gc_paused():
            t0 = time.perf_counter()
            window = export_window(trace, START, END, filters)
            t1 = time.perf_counter()
            data = exporter.encode(window)
            t2 = time.perf_counter()
            memory_out.write_bytes(data)
            t3 = time.perf_counter()
            encode_window = best_of(functools.partial(exporter.encode, window), 2)
        del trace, window, data
        cut = t3 - t0
        report("in-memory recording: (window+encode+write) / encode", cut / encode_window, "<= 2",
               detail=f"{cut:.2f}s vs {encode_window:.2f}s (window {t1 - t0:.2f}s, encode {t2 - t1:.2f}s, "
                      f"write {t3 - t2:.2f}s)")

        # --from FILE, streamed, in a process of its own.
        dest = Path(tmp) / "window.sktrace"
        figures = export_from(source, dest)
        exported = load.read_trace(str(dest))
        with gc_paused():
            encode_alone = best_of(functools.partial(load.encode_as, exported, "cbor", version=3), 2)
        del exported
        total, tm = figures["seconds"], figures["timings"]
        print(f"  exported [{START}, {END}): {figures['events']} events, {figures['objects']} objects, "
              f"{figures['owners']} lifecycle owners, {figures['size'] / 1e6:.1f} MB")
        for stage in ("window", "write"):  # streamed: window (read+decode+check+cut+spool) and write
            report(f"{stage} seconds", tm.get(stage, 0.0), unit=" s")
        report("export seconds (read+decode+window+encode+write)", total, unit=" s")
        report("--from file: (read+decode+window+encode+write) / encode", total / encode_alone, "<= 2",
               detail=f"{total:.2f}s vs {encode_alone:.2f}s (format 3 source and output, streamed)")
        report("--from file: peak RSS", figures["peak_mb"], "<= 1024", unit=" MB",
               detail="the export's own process")

        if os.environ.get("BENCH_EXPORT_10M") == "1":
            big = 10 * events
            source.unlink()
            dest.unlink()
            print(f"  writing a {big:,}-event source as it is generated ...", flush=True)
            t = time.perf_counter()
            write_source(source, big, objects)
            print(f"  source: {source.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f}s", flush=True)
            ten = export_from(source, dest)
            report(f"{big // 1_000_000}M events: --from peak RSS", ten["peak_mb"], "<= 2048", unit=" MB",
                   detail=f"{ten['events']} events exported in {ten['seconds']:.1f}s")
            report(f"{big // 1_000_000}M events: --from time / {events // 1_000_000 or events}"
                   f"{'M' if events >= 1_000_000 else ''} time", ten["seconds"] / total, "<= 11",
                   detail=f"{ten['seconds']:.1f}s vs {total:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
