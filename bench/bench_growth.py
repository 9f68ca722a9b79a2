"""Cost growth (issue 12, class 15): tracer ingest and export at 10k, 100k and 1M watch events.

Each size runs in its own child process, so the peak RSS (the child's `ru_maxrss`) belongs
to that size alone. In the child:

1. Ingest: N watch-event lines (bench_tracer's mix of Deployments, ReplicaSets and pods,
   100 per second of trace time) go through the tracer's path: json.loads, the store's
   callbacks (sanitise, spec hash, owners, lifecycles) and the journal append, with the
   journal's fsync thread running. Lines are made in chunks of 5,000 outside the timed
   part; `json.loads` of the same chunk is timed too, as the same-run baseline. The time
   spent in journal segment snapshots and in the cyclic collector is printed as a share,
   because those are the parts that grow with the recording.
2. Export from the recording (what a tracer answers to POST /export): the whole span,
   window + encode + write to a local file, through the same calls as `skctl export`
   (`TraceStore.export`, `skctl.export.encode`, `skctl.storage.write_bytes`).
3. A second child runs `skctl export --from` on that file (`skctl.export.export`: read,
   decode, window, encode, write) with its own peak RSS.

Growth is printed as the cost per event at the largest size ÷ the cost per event at the
next size (1.0 is linear). `BENCH_GROWTH_SIZES=10000,100000` runs fewer sizes.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, report, section

sys.path.insert(0, str(ROOT))

SIZES = tuple(int(n) for n in os.environ.get("BENCH_GROWTH_SIZES", "10000,100000,1000000").split(","))
T0 = 1_704_153_600  # as bench_tracer.T0: after the objects' own times
RATE = 100  # watch events per second of trace time
CHUNK = 5_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_ingest(n: int, tmp: Path) -> dict[str, float]:
    """Ingest n lines, then export the whole recording to tmp/whole.sktrace."""
    import gc

    from bench_tracer import CONFIG, process, watch_lines

    from skctl import export as exporter
    from skctl import storage
    from skctl.trace.model import gc_paused
    from skctl.trace.window import ExportFilters
    from skctl.tracer import journal as journal_mod
    from skctl.tracer.service import tune_gc
    from skctl.tracer.store import TraceStore

    class Journal(journal_mod.Journal):
        """The tracer's journal, timing its segment rotations (each writes a snapshot of
        every live object): the part of the ingest that grows with the recording."""

        rotate_s = 0.0
        rotations = 0

        def _rotate(self, ts: int) -> None:
            t = time.perf_counter()
            super()._rotate(ts)
            self.rotate_s += time.perf_counter() - t
            self.rotations += 1

    collecting = [0.0, 0.0, False]  # seconds in the cyclic collector during the timed part, start, on

    def on_gc(phase: str, info: dict) -> None:
        if not collecting[2]:
            return
        if phase == "start":
            collecting[1] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - collecting[1]

    gc.callbacks.append(on_gc)
    tune_gc()
    now = [T0]
    store = TraceStore(CONFIG, clock=lambda: now[0])
    journal = Journal(tmp / "journal", retention=10 * n / RATE + 3600, clock=lambda: now[0])
    journal.open(store)
    lines = watch_lines()
    fed = [0]

    def clock() -> int:
        fed[0] += 1
        return T0 + fed[0] // RATE

    gc.collect()
    first_rotate = journal.rotate_s  # the segment open() starts, before any event
    rss0 = _rss_mb()
    took = base = 0.0
    done = 0
    while done < n:
        chunk = list(itertools.islice(lines, min(CHUNK, n - done)))
        t = time.perf_counter()
        for line in chunk:
            json.loads(line)
        t1 = time.perf_counter()
        collecting[2] = True
        process(chunk, store, clock)
        collecting[2] = False
        took += time.perf_counter() - t1
        base += t1 - t
        done += len(chunk)
        now[0] = T0 + done // RATE
    rotate_s, rotations = journal.rotate_s, journal.rotations  # the rotations while ingesting
    journal.close()
    del chunk
    gc.collect()
    stored = store.event_count()
    out = {"events": n, "ingest_s": took, "loads_s": base, "stored": stored, "journal_mb": journal.size() / 2**20,
           "rss_before_mb": rss0, "rss_after_mb": _rss_mb(), "ingest_peak_mb": _peak_mb(),
           "rotate_s": rotate_s - first_rotate, "rotations": rotations - 1, "gc_s": collecting[0]}

    first, last = store.time_range() or (T0, T0)
    dest = f"file://{tmp}/whole.sktrace"
    with gc_paused():  # as `skctl export` does for the whole job
        t = time.perf_counter()
        window = store.export(first, last + 1, ExportFilters())
        t1 = time.perf_counter()
        data = exporter.encode(window)
        t2 = time.perf_counter()
        storage.write_bytes(dest, data)
        t3 = time.perf_counter()
        out.update(export_window_s=t1 - t, export_encode_s=t2 - t1, export_write_s=t3 - t2,
                   export_s=t3 - t, export_events=sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in window.events), export_mb=len(data) / 2**20,
                   first=first, last=last)
        del window, data
    out["peak_mb"] = _peak_mb()
    return out


def child_export_from(source: Path, first: int, last: int) -> dict[str, float]:
    """`skctl export --from FILE` of the whole span, in a process of its own."""
    from skctl import export as exporter
    from skctl.base.progress import no_progress
    from skctl.trace.window import ExportFilters

    rss0 = _rss_mb()
    request = exporter.ExportRequest(start_ts=first, end_ts=last + 1, filters=ExportFilters(),
                                     output=f"file://{source.parent}/again.sktrace", source_url=str(source),
                                     progress=no_progress)
    t = time.perf_counter()
    result = exporter.export(request)
    took = time.perf_counter() - t
    return {"from_s": took, "from_decode_s": result.timings.get("decode", 0.0), "from_events": result.events,
            "from_rss_before_mb": rss0, "from_peak_mb": _peak_mb()}


def _run_child(*args: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench_growth child {args} failed with exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="skctl-bench-growth-") as tmp:
        out = _run_child("--ingest", str(n), tmp)
        out.update(_run_child("--export-from", str(Path(tmp) / "whole.sktrace"), str(out["first"]), str(out["last"])))
    return out


def show(m: dict[str, float]) -> None:
    n, stored = int(m["events"]), int(m["stored"])
    section(f"growth: {n:,} watch events")
    report("ingest seconds", m["ingest_s"], unit=" s",
           detail=f"{stored:,} stored (applied or deleted objects in trace events), journal {m['journal_mb']:.0f} MB")
    report("ingest watch events/s", n / m["ingest_s"])
    report("ingest ÷ json.loads of the same lines", m["ingest_s"] / m["loads_s"], "<= 2.5",
           detail=f"json.loads {m['loads_s']:.2f} s")
    if "rotate_s" in m:
        report("share of the ingest in journal segment snapshots", m["rotate_s"] / m["ingest_s"],
               detail=f"{int(m['rotations'])} snapshots of every live object, {m['rotate_s']:.2f} s")
        report("share of the ingest in the cyclic garbage collector", m["gc_s"] / m["ingest_s"],
               detail=f"{m['gc_s']:.2f} s with the tracer's thresholds")
    grew = m["rss_after_mb"] - m["rss_before_mb"]
    report("RSS per 100k stored events", grew / stored * 100_000, unit=" MB",
           detail=f"+{grew:.0f} MB for {stored:,} events and their live objects")
    report("peak RSS of the ingest", m["ingest_peak_mb"], unit=" MB", detail=f"{m['rss_before_mb']:.0f} MB before it")
    report("peak RSS per 100k stored events", m["ingest_peak_mb"] / stored * 100_000, unit=" MB")
    report("export from the recording: window+encode+write seconds", m["export_s"], unit=" s",
           detail=f"window {m['export_window_s']:.2f}, encode {m['export_encode_s']:.2f}, "
                  f"write {m['export_write_s']:.2f} s; {int(m['export_events']):,} objects, {m['export_mb']:.1f} MB")
    report("export from the recording: stored events/s", m["export_events"] / m["export_s"])
    report("peak RSS with the export", m["peak_mb"], unit=" MB")
    report("export --from FILE seconds", m["from_s"], unit=" s", detail=f"decode {m['from_decode_s']:.2f} s")
    report("export --from FILE: peak RSS", m["from_peak_mb"], unit=" MB",
           detail=f"{m['from_rss_before_mb']:.0f} MB before it")


def growth(small: dict[str, float], big: dict[str, float]) -> None:
    """Cost per event at the bigger size ÷ at the smaller one: 1.0 is linear."""
    ns, nb = small["events"], big["events"]
    ss, sb = small["stored"], big["stored"]
    section(f"growth: {int(ns):,} → {int(nb):,} watch events (1.0 = linear)")
    norm = (big["ingest_s"] / big["loads_s"]) / (small["ingest_s"] / small["loads_s"])
    report(f"ingest time ÷ ({nb / ns:g} × at {int(ns):,})", (big["ingest_s"] / nb) / (small["ingest_s"] / ns), "<= 1.1",
           detail=f"{big['ingest_s']:.2f} s vs {small['ingest_s']:.2f} s; {norm:.2f} relative to json.loads")
    report(f"export from the recording time ÷ ({sb / ss:.3g} × at {int(ns):,})",
           (big["export_s"] / sb) / (small["export_s"] / ss),
           detail=f"{big['export_s']:.2f} s vs {small['export_s']:.2f} s, per stored event")
    report(f"export --from FILE time ÷ ({sb / ss:.3g} × at {int(ns):,})", (big["from_s"] / sb) / (small["from_s"] / ss),
           detail=f"{big['from_s']:.2f} s vs {small['from_s']:.2f} s, per stored event")
    rb = (big["rss_after_mb"] - big["rss_before_mb"]) / sb
    rs = (small["rss_after_mb"] - small["rss_before_mb"]) / ss
    report("RSS per stored event ÷ at the smaller size", rb / rs,
           detail=f"{rb * 100_000:.0f} vs {rs * 100_000:.0f} MB per 100k")


def main() -> None:
    results = []
    for n in SIZES:
        print(f"  {n:,} events ...", flush=True)
        t = time.perf_counter()
        m = measure(n)
        print(f"  ({time.perf_counter() - t:.0f} s with generation)", flush=True)
        show(m)
        results.append(m)
    if len(results) >= 2:
        growth(results[-2], results[-1])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ingest":
        print(json.dumps(child_ingest(int(sys.argv[2]), Path(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--export-from":
        print(json.dumps(child_export_from(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
