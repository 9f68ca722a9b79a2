"""Replay figures (issue: run/drive): the drive loop against an in-process sandbox.

A generated trace of 5,000 events, 30 per trace second (so ~167 s of trace time), is
replayed at --speed 10: 300 writes/s are due, one every ~3.3 ms, spread evenly within
each trace second (skctl.sim.driver). Figures:

- p50/p99 lateness of each event's apply versus its scheduled time (target p99 ≤ 50 ms)
- sustained applies/s over the replay (target ≥ 300)
- ratios to a same-run baseline: raw server-side-apply calls through the same client
  (skctl.kube.api.Kube.apply) in a tight loop, on the same objects, same sandbox
- the driver's full-speed throughput (no waits) ÷ that baseline: the driver's overhead
"""

from __future__ import annotations

import random
import statistics
import time

import _common
from _common import report, section

from skctl.kube.api import Kube  # noqa: E402
from skctl.sandbox import SandboxServer  # noqa: E402
from skctl.sim.driver import DriveOptions, Driver, StepRecord  # noqa: E402
from skctl.sim.mutate import virtual_namespace_object, virtual_object  # noqa: E402
from skctl.trace import synth  # noqa: E402
from skctl.trace.model import Trace, new_event  # noqa: E402

EVENTS = 5000
PER_SECOND = 32
SPEED = 10.0
START_TS = 1_750_000_000


def generated_trace(events: int = EVENTS, per_second: int = PER_SECOND, objects: int = 300, seed: int = 11) -> Trace:
    """One write per event: mostly Deployment creates/scales, ~10% deletes."""
    rng = random.Random(seed)
    templates = {f"app-{i}": synth.deployment(rng, synth.NAMESPACES[i % len(synth.NAMESPACES)], f"app-{i}", 1) for i in range(objects)}
    live: set[str] = set()
    out = []
    for i in range(events):
        ts = START_TS + i // per_second
        name = f"app-{rng.randrange(objects)}"
        obj = dict(templates[name])
        if name in live and rng.random() < 0.1:
            live.discard(name)
            out.append(new_event(ts, deleted=[obj]))
        else:
            live.add(name)
            obj = {**obj, "spec": {**obj["spec"], "replicas": rng.randint(1, 20)}}
            out.append(new_event(ts, applied=[obj]))
    return Trace(config={"trackedObjects": {"apps/v1.Deployment": {}}}, events=out)


def baseline_rate(kube: Kube, trace: Trace, count: int = 1500) -> float:
    """Raw SSA calls per second: pre-mutated objects, same client, tight loop."""
    objs = [
        virtual_object(o, sim_name="base", ns_prefix="base", template_paths=("/spec/template",))
        for e in trace.events[:count]
        for o in e["applied_objs"]
    ]
    for ns in {o["metadata"]["namespace"] for o in objs}:
        kube.apply(virtual_namespace_object(ns, "base"))
    start = time.perf_counter()
    for o in objs:
        kube.apply(o)
    elapsed = time.perf_counter() - start
    spaces = {o["metadata"]["namespace"] for o in objs}
    for ns in spaces:
        kube.delete("v1", "Namespace", ns)
    while any(kube.get("v1", "Namespace", ns) for ns in spaces):  # terminating namespaces empty shortly after
        time.sleep(0.05)
    return len(objs) / elapsed


def replay(kube: Kube, trace: Trace, speed: float, name: str) -> tuple[list[StepRecord], float, int]:
    records: list[StepRecord] = []
    driver = Driver(kube, trace, DriveOptions(name=name, speed=speed), on_step=records.append)
    result = driver.run()
    assert not result.failures, result.failures[:3]
    writes = result.applies + result.deletes
    span = records[-1].finished - records[0].started
    return records, span, writes


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] if len(values) > 1 else values[0]


def main() -> None:
    trace = generated_trace()
    span_trace = trace.events[-1]["ts"] - trace.events[0]["ts"] + 1
    section(f"replay: {len(trace.events):,} events at speed {SPEED:g} against the sandbox")
    print(f"  generated trace: {len(trace.events)} events over {span_trace}s of trace time")
    with SandboxServer() as server:
        kube = Kube(server.api_client())
        base = baseline_rate(kube, trace)
        records, span, writes = replay(kube, trace, SPEED, "bench")
        late_ms = [r.lateness * 1000 for r in records]
        rate = writes / span
        due_rate = len(records) / (records[-1].due - records[0].due)
        report("lateness p50 (ms)", pct(late_ms, 50), unit="")
        report("lateness p99 (ms)", pct(late_ms, 99), "<= 50", detail=f"max {max(late_ms):.1f} ms")
        report("sustained applies/s at speed 10", rate, ">= 300", detail=f"{writes} writes in {span:.1f}s; {due_rate:.0f}/s due")
        report("sustained applies/s ÷ raw SSA loop rate", rate / base, detail=f"raw loop {base:.0f} applies/s")
        report("p99 lateness ÷ raw apply latency", pct(late_ms, 99) / (1000 / base), detail=f"raw apply {1000 / base:.2f} ms")
        fast, fast_span, fast_writes = replay(kube, trace, 1e9, "bench-max")
        fast_rate = fast_writes / fast_span
        report("driver at full speed: applies/s ÷ raw SSA loop rate", fast_rate / base,
               detail=f"{fast_rate:.0f} vs {base:.0f} applies/s")
        kube.close()


if __name__ == "__main__":
    _common  # noqa: B018 - imported for its sys.path setup
    main()
