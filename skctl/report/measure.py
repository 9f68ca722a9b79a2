"""The measurements: pure functions from the recorder's records to numbers (docs/report.md).

Every time is a float unix second on the recorder's clock, and every measurement is taken
inside the replay window [replay_start, replay_end]: trace time t0 maps to replay_start,
and the window ends when the driver stopped replaying (its cleanup then deletes everything,
which is not part of the simulation's outcome). Percentiles are nearest-rank
(ClusterLoader2's: the value at index ceil(n * p / 100) - 1 of the sorted samples).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skctl.kube.keys import Key, split_ns_name
from skctl.report import autoscaling
from skctl.report.records import ObjectRecord, PodRecord, ReplayRecords, key_order

MAX_POINTS = 1500  # points per time series in report.json (peaks kept, see downsample)
MAX_CHECKPOINTS = 300  # fidelity checkpoints per object over the replayed trace time
SETTLE_SECONDS = 5.0  # wall seconds the simulation may lag the trace at a fidelity checkpoint
REPLICA_TOLERANCE = 0  # replicas a checkpoint may differ by and still agree
WORST_OBJECTS = 6  # objects whose ready-vs-trace series the report keeps
CDF_POINTS = 200


@dataclass(frozen=True)
class TraceFacts:
    """What the trace says, in the simulation's terms (skctl.report.session builds it)."""

    t0: float  # trace time of the first replayed event
    t_end: float  # trace time the replay window ends at
    speed: float
    # (gvk, "virtual ns/name") → [(trace ts, spec.replicas)], 0 once deleted
    replicas: Mapping[Key, Sequence[tuple[float, int]]] = field(default_factory=dict)
    lifecycle_owners: frozenset[tuple[str, str]] = frozenset()  # (gvk, "original ns/name")
    kinds: frozenset[str] = frozenset()
    ns_prefix: str = "virtual"
    # HPA (gvk, "virtual ns/name") → its scale target's key (skctl.report.autoscaling)
    hpas: Mapping[Key, Key] = field(default_factory=dict)


@dataclass(frozen=True)
class DriverFacts:
    events: int = 0
    applies: int = 0
    deletes: int = 0
    failed_applies: int = 0
    failed_deletes: int = 0
    stopped_by: str | None = None


# --- small statistics ---------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    index = max(0, math.ceil(len(sorted_values) * p / 100) - 1)
    return sorted_values[min(index, len(sorted_values) - 1)]


def summary(values: Iterable[float]) -> dict[str, Any]:
    """{count, p50, p90, p99, max} of `values` in seconds (rounded to milliseconds)."""
    data = sorted(values)
    out: dict[str, Any] = {"count": len(data)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        value = percentile(data, p)
        out[name] = None if value is None else round(value, 3)
    return out


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --- time series ----------------------------------------------------------------------------------

def sweep(changes: Iterable[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """A step function from (time, delta) changes: [(t, value)] at every change inside
    [start, end), times relative to start; the value before start is carried in. A change
    at the end itself (a span cut off there) is not a change of the window."""
    ordered = sorted(changes)
    value = 0.0
    out: list[tuple[float, float]] = [(0.0, 0.0)]
    for t, delta in ordered:
        if t >= end:
            break
        value += delta
        rel = max(0.0, t - start)
        if out[-1][0] == rel:
            out[-1] = (rel, value)
        else:
            out.append((rel, value))
    return out


def series_max(points: Sequence[tuple[float, float]]) -> float:
    return max((v for _t, v in points), default=0.0)


def time_weighted_mean(points: Sequence[tuple[float, float]], length: float) -> float | None:
    if length <= 0 or not points:
        return None
    total = 0.0
    for (t, v), (t_next, _v) in zip(points, [*points[1:], (length, 0.0)], strict=True):
        total += v * max(0.0, min(t_next, length) - t)
    return total / length


def downsample(points: Sequence[tuple[float, float]], length: float, limit: int = MAX_POINTS) -> list[list[float]]:
    """At most `limit` points: each bucket of time keeps its highest value (so a peak stays
    visible and its height exact) at the bucket's first change time, plus the last value."""
    if len(points) <= limit:
        return [[round(t, 3), round(v, 4)] for t, v in points]
    width = max(length, points[-1][0]) / (limit - 1) or 1.0
    out: list[list[float]] = []
    bucket = -1
    for t, v in points:
        b = int(t // width)
        if b != bucket:
            out.append([round(t, 3), round(v, 4)])
            bucket = b
        elif v > out[-1][1]:
            out[-1][1] = round(v, 4)
    last = points[-1]
    if out[-1][0] != round(last[0], 3):
        out.append([round(last[0], 3), round(last[1], 4)])
    return out


# --- the window -----------------------------------------------------------------------------------

def window(records: ReplayRecords) -> tuple[float, float]:
    """[start, end] of the replay on the recorder's clock."""
    start = records.replay_start
    if start is None:
        created = [p.created for p in records.pods.values() if p.created is not None]
        start = min(created) if created else 0.0
    end = records.replay_end if records.replay_end is not None else start
    return start, max(start, end)


def _in(t: float | None, end: float) -> float | None:
    """`t` if it happened by the window's end, else None (not seen happen)."""
    return t if t is not None and t <= end else None


def _pods_in_window(records: ReplayRecords, start: float, end: float) -> list[PodRecord]:
    return [p for p in records.pods.values() if p.created is not None and start - 1.0 <= p.created <= end]


def _pod_end(p: PodRecord, end: float) -> float:
    """When a pod stopped holding its place on a node (or in the queue): finished,
    deleted or the window's end, whichever came first."""
    return min(t for t in (p.finished, p.deleted, end) if t is not None)


# --- pod startup ------------------------------------------------------------------------------------

def startup(pods: Sequence[PodRecord], end: float, owners: Mapping[str, str]) -> dict[str, Any]:
    """create→schedule, schedule→run and create→run latencies, overall and per virtual owner."""
    c2s, s2r, c2r = [], [], []
    by_owner: dict[str, list[float]] = {}
    for p in pods:
        created, scheduled, running = p.created, _in(p.scheduled, end), _in(p.running, end)
        if created is not None and scheduled is not None:
            c2s.append(max(0.0, scheduled - created))
        if scheduled is not None and running is not None:
            s2r.append(max(0.0, running - scheduled))
        if created is not None and running is not None:
            c2r.append(max(0.0, running - created))
            by_owner.setdefault(owners.get(p.uid, "(no owner)"), []).append(max(0.0, running - created))
    return {
        "create_to_schedule": summary(c2s),
        "schedule_to_run": summary(s2r),
        "create_to_run": summary(c2r),
        "by_owner": {owner: summary(values) for owner, values in sorted(by_owner.items())},
    }


def startup_cdf(pods: Sequence[PodRecord], end: float, points: int = CDF_POINTS) -> list[list[float]]:
    """[latency seconds, share of started pods] for the create→run CDF, at most `points`."""
    data = sorted(max(0.0, r - p.created) for p in pods
                  if p.created is not None and (r := _in(p.running, end)) is not None)
    if not data:
        return []
    n = len(data)
    step = max(1, n // points)
    idx = list(range(step - 1, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [[round(data[i], 3), round((i + 1) / n, 4)] for i in idx]


# --- scheduling -------------------------------------------------------------------------------------

def scheduling(pods: Sequence[PodRecord], start: float, end: float, event_reasons: Mapping[str, int]) -> dict[str, Any]:
    length = end - start
    pending_changes: list[tuple[float, float]] = []
    unsched_changes: list[tuple[float, float]] = []
    pending_times: list[float] = []
    reasons: dict[str, int] = {}
    unschedulable_pods = 0
    preemptions = evictions = 0
    for p in pods:
        if p.created is None:
            continue
        scheduled = _in(p.scheduled, end)
        stop = scheduled if scheduled is not None else _pod_end(p, end)
        pending_times.append(max(0.0, stop - p.created))
        pending_changes += [(p.created, 1.0), (stop, -1.0)]
        since = _in(p.unschedulable, end)
        if since is not None:
            unschedulable_pods += 1
            unsched_changes += [(since, 1.0), (max(since, stop), -1.0)]
            for reason in p.reasons:
                reasons[reason] = reasons.get(reason, 0) + 1
        if p.disruption == "preempted":
            preemptions += 1
        elif p.disruption == "evicted":
            evictions += 1
    pending = sweep(pending_changes, start, end)
    unschedulable = sweep(unsched_changes, start, end)
    return {
        "pending_seconds": summary(pending_times),
        "pending_max": int(series_max(pending)),
        "unschedulable_max": int(series_max(unschedulable)),
        "unschedulable_pods": unschedulable_pods,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "preemptions": preemptions,
        "evictions": evictions,
        "events": dict(sorted(event_reasons.items())),
        "throughput": throughput([s for p in pods if (s := _in(p.scheduled, end)) is not None and s >= start]),
        "_series": {"pending": downsample(pending, length), "unschedulable": downsample(unschedulable, length)},
    }


def throughput(scheduled: Sequence[float]) -> dict[str, Any]:
    """Pods bound per second (ClusterLoader2's SchedulingThroughput): every scheduled pod in
    the second it was seen bound, every second from the first bind to the last counted
    (idle ones as 0), and the percentiles of those per-second counts."""
    if not scheduled:
        return {"total": 0, "window_seconds": 0, "p50": None, "p90": None, "p99": None, "max": None}
    first = math.floor(min(scheduled))
    counts: dict[int, int] = {}
    for t in scheduled:
        sec = math.floor(t) - first
        counts[sec] = counts.get(sec, 0) + 1
    seconds = max(counts) + 1
    per_second = sorted(float(counts.get(i, 0)) for i in range(seconds))
    return {"total": len(scheduled), "window_seconds": seconds,
            **{k: percentile(per_second, p) for k, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}}


# --- nodes ------------------------------------------------------------------------------------------

def nodes(records: ReplayRecords, pods: Sequence[PodRecord], start: float, end: float) -> dict[str, Any]:
    length = end - start
    virtual = {n.name: n for n in records.nodes.values() if n.virtual}
    count_changes: list[tuple[float, float]] = []
    cpu_alloc: list[tuple[float, float]] = []
    mem_alloc: list[tuple[float, float]] = []
    added = removed = 0
    for n in virtual.values():
        since = n.added if n.added is not None else start
        until = n.removed if n.removed is not None else math.inf
        if since > end or until < start:
            continue
        if since > start:
            added += 1
        if until <= end:
            removed += 1
        count_changes += [(since, 1.0), (until, -1.0)]
        cpu_alloc += [(since, n.cpu_m), (until, -n.cpu_m)]
        mem_alloc += [(since, n.memory), (until, -n.memory)]
    bound: dict[str, list[tuple[float, float, PodRecord]]] = {}
    for p in pods:
        scheduled = _in(p.scheduled, end)
        if scheduled is None or p.node not in virtual:
            continue
        gone = virtual[p.node].removed  # a pod stops counting with its node (it is deleted soon after)
        stop = min(_pod_end(p, end), gone if gone is not None else end)
        bound.setdefault(p.node, []).append((scheduled, max(scheduled, stop), p))
    cpu_req: list[tuple[float, float]] = []
    mem_req: list[tuple[float, float]] = []
    pod_changes: list[tuple[float, float]] = []
    per_node: dict[str, dict[str, Any]] = {}
    for name, n in sorted(virtual.items()):
        spans = bound.get(name, [])
        node_cpu = [c for a, b, p in spans for c in ((a, p.cpu_m), (b, -p.cpu_m))]
        node_mem = [c for a, b, p in spans for c in ((a, p.memory), (b, -p.memory))]
        node_pods = [c for a, b, _p in spans for c in ((a, 1.0), (b, -1.0))]
        cpu_req += node_cpu
        mem_req += node_mem
        pod_changes += node_pods
        peak_cpu = series_max(sweep(node_cpu, start, end))
        per_node[name] = {
            "cpu_allocatable_m": n.cpu_m, "memory_allocatable": n.memory, "pods_allocatable": n.pods,
            "pods_peak": int(series_max(sweep(node_pods, start, end))),
            "pods_total": len(spans),
            "cpu_requested_peak_m": int(peak_cpu),
            "memory_requested_peak": int(series_max(sweep(node_mem, start, end))),
            "cpu_utilisation_peak": _r(peak_cpu / n.cpu_m, 4) if n.cpu_m else None,
        }
    count = sweep(count_changes, start, end)
    counts_in_window = [v for _t, v in count]
    cpu_util = _ratio(sweep(cpu_req, start, end), sweep(cpu_alloc, start, end))
    mem_util = _ratio(sweep(mem_req, start, end), sweep(mem_alloc, start, end))
    running = sweep(pod_changes, start, end)
    spread, at_peak = _spread_at_peak(running, bound, virtual, start)
    for name, value in at_peak.items():
        per_node[name]["pods_at_peak"] = value
    return {
        "count_min": int(min(counts_in_window)),
        "count_max": int(max(counts_in_window)),
        "added": added,
        "removed": removed,
        "cpu_utilisation_peak": _r(series_max(cpu_util), 4),
        "cpu_utilisation_mean": _r(time_weighted_mean(cpu_util, length), 4),
        "memory_utilisation_peak": _r(series_max(mem_util), 4),
        "memory_utilisation_mean": _r(time_weighted_mean(mem_util, length), 4),
        "pods_bound_peak": int(series_max(running)),
        "pods_per_node_spread": spread,
        "per_node": per_node,
        "_series": {"nodes": downsample(count, length), "cpu_utilisation": downsample(cpu_util, length),
                    "memory_utilisation": downsample(mem_util, length), "pods_bound": downsample(running, length)},
    }


def _ratio(numerator: list[tuple[float, float]], denominator: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """numerator(t) / denominator(t) as a step function (0 where the denominator is 0)."""
    times = sorted({t for t, _v in numerator} | {t for t, _v in denominator})
    num_t, den_t = [t for t, _ in numerator], [t for t, _ in denominator]
    out: list[tuple[float, float]] = []
    for t in times:
        a = numerator[bisect.bisect_right(num_t, t) - 1][1]
        b = denominator[bisect.bisect_right(den_t, t) - 1][1]
        out.append((t, a / b if b > 0 else 0.0))
    return out


def _spread_at_peak(running: list[tuple[float, float]], bound: Mapping[str, list[tuple[float, float, PodRecord]]],
                    virtual: Mapping[str, Any], start: float) -> tuple[int | None, dict[str, int]]:
    """Pods per node at the moment the most pods were bound, and its spread (most minus
    fewest, over the virtual nodes present then): how a scheduler packs or spreads."""
    if not running or series_max(running) <= 0:
        return None, {}
    peak_value = series_max(running)
    t_peak = start + next(t for t, v in running if v == peak_value)
    counts = {}
    for name, n in virtual.items():
        if (n.added or 0) <= t_peak and (n.removed is None or n.removed > t_peak):
            counts[name] = sum(1 for a, b, _p in bound.get(name, []) if a <= t_peak < b)
    return (max(counts.values()) - min(counts.values()) if counts else None), counts


# --- fidelity ---------------------------------------------------------------------------------------

def _value_at(series: Sequence[tuple[float, int]], times: Sequence[float], t: float) -> int:
    i = bisect.bisect_right(times, t) - 1
    return series[i][1] if i >= 0 else 0


def fidelity(records: ReplayRecords, facts: TraceFacts, start: float, end: float,
             owners: Mapping[str, tuple[str, str] | None]) -> dict[str, Any]:
    """Ready replicas in the simulation vs spec.replicas in the trace, at checkpoints.

    Checkpoints are spaced evenly over the replayed trace time (at most MAX_CHECKPOINTS, at
    least 1 trace second apart), from each object's first appearance in the trace to the end
    of the window; checkpoint c is looked at on the wall clock at start + (c - t0) / speed.
    A checkpoint within SETTLE_SECONDS (wall) of the object's last change in the trace is
    settling and not judged: controllers, the scheduler and KWOK take a moment to follow a
    change. Every other checkpoint agrees when the object's ready replicas differ by at most
    REPLICA_TOLERANCE from the trace's spec.replicas at c (0 before it exists, after it is
    deleted). The score is agreeing / judged; None when nothing could be judged (a replay
    faster than the settle time allows).
    """
    speed, t0 = facts.speed, facts.t0
    span = max(0.0, min(facts.t_end, t0 + (end - start) * speed) - t0)
    interval = max(1.0, span / MAX_CHECKPOINTS)
    settle = SETTLE_SECONDS * speed  # in trace seconds
    unobserved = set(records.unobserved_kinds)
    objects: list[dict[str, Any]] = []
    judged_total = agreeing = settling_total = 0
    worst_series: dict[str, dict[str, list[list[float]]]] = {}
    for key, trace_series in sorted(facts.replicas.items(), key=lambda item: key_order(item[0])):
        gvk = key[0]
        if gvk in unobserved or not trace_series:
            continue
        rec: ObjectRecord | None = records.objects.get(key)
        sim = [(t, ready) for t, _spec, ready in (rec.replicas if rec is not None else [])]
        sim_t = [t for t, _ in sim]
        tr = [(float(ts), r) for ts, r in trace_series]
        tr_t = [t for t, _ in tr]
        k = max(0, math.ceil((tr_t[0] - t0) / interval - 1e-9))
        judged = ok = settling = worst = 0
        while (c := t0 + k * interval) <= t0 + span + 1e-9:
            k += 1
            i = bisect.bisect_right(tr_t, c) - 1
            if c - tr_t[i] < settle:
                settling += 1
                continue
            ready = _value_at(sim, sim_t, start + (c - t0) / speed)
            judged += 1
            if abs(ready - tr[i][1]) <= REPLICA_TOLERANCE:
                ok += 1
            else:
                worst = max(worst, abs(tr[i][1] - ready))
        if not judged and not settling:
            continue
        judged_total += judged
        agreeing += ok
        settling_total += settling
        ns, name = split_ns_name(key[1])
        label = f"{gvk} {_original(ns, facts.ns_prefix)}/{name}"
        objects.append({"object": label, "checkpoints": judged, "agreeing": ok, "settling": settling,
                        "score": round(ok / judged, 4) if judged else None, "max_difference": worst})
        worst_series[label] = {
            "ready": [[round(max(0.0, t - start), 3), v] for t, v in sim if t <= end],
            "trace": [[round(max(0.0, (t - t0) / speed), 3), r] for t, r in tr if t <= facts.t_end],
        }
    objects.sort(key=lambda o: (1.0 if o["score"] is None else o["score"], -o["max_difference"], o["object"]))
    keep = {o["object"] for o in objects[:WORST_OBJECTS]}
    return {
        "score": round(agreeing / judged_total, 4) if judged_total else None,
        "checkpoints": judged_total,
        "agreeing": agreeing,
        "settling": settling_total,
        "tolerance": {"replicas": REPLICA_TOLERANCE, "settle_seconds": SETTLE_SECONDS,
                      "checkpoint_interval_trace_seconds": round(interval, 3)},
        "objects": objects,
        "unobserved_kinds": sorted(unobserved),
        "lifecycles": lifecycles(records, facts, owners),
        "_series": {k: v for k, v in worst_series.items() if k in keep},
    }


def _original(ns: str, prefix: str) -> str:
    return ns[len(prefix) + 1:] if ns.startswith(prefix + "-") else ns


def lifecycles(records: ReplayRecords, facts: TraceFacts, owners: Mapping[str, tuple[str, str] | None]) -> dict[str, int]:
    """Pods whose owner has recorded lifecycles in the trace: how many the driver gave their
    recorded end (found) and how many ended the replay without one (none); other pods are
    untracked (the trace holds no lifecycle for their owner)."""
    found = none = untracked = 0
    for p in records.pods.values():
        owner = owners.get(p.uid)
        if owner is None or owner not in facts.lifecycle_owners:
            untracked += 1
        elif p.lifecycle_end:
            found += 1
        else:
            none += 1
    return {"found": found, "none": none, "untracked": untracked}


# --- owners -----------------------------------------------------------------------------------------

def resolve_owners(records: ReplayRecords, facts: TraceFacts, max_depth: int = 8) -> dict[str, tuple[str, str] | None]:
    """pod uid → (GVK, "original ns/name") of the virtual object that owns it through its
    controller chain, the pod itself when the trace holds bare pods, or None."""
    by_uid = records.objects_by_uid()
    out: dict[str, tuple[str, str] | None] = {}
    for uid, p in records.pods.items():
        owner: tuple[str, str] | None = None
        link = p.controller_uid
        for _ in range(max_depth):
            obj = by_uid.get(link) if link else None
            if obj is None:
                break
            if obj.virtual:
                owner = (obj.gvk, f"{_original(obj.namespace, facts.ns_prefix)}/{obj.name}")
                break
            link = obj.controller_uid
        if owner is None and not p.controller_uid and "v1.Pod" in facts.kinds:
            owner = ("v1.Pod", f"{p.original_namespace}/{p.name}")
        out[uid] = owner
    return out


# --- the driver -------------------------------------------------------------------------------------

def driver(records: ReplayRecords, facts: DriverFacts) -> dict[str, Any]:
    lateness = summary(max(0.0, s.lateness) for s in records.steps)
    return {
        "events": facts.events, "applies": facts.applies, "deletes": facts.deletes,
        "failed_applies": facts.failed_applies, "failed_deletes": facts.failed_deletes,
        "lateness_p50": lateness["p50"], "lateness_p99": lateness["p99"], "lateness_max": lateness["max"],
        "stopped_by": facts.stopped_by,
    }


# --- everything -------------------------------------------------------------------------------------

def measure(records: ReplayRecords, facts: TraceFacts, driver_facts: DriverFacts) -> dict[str, Any]:
    """Every measurement of one replay, as the report's sections (series under "series")."""
    start, end = window(records)
    pods = _pods_in_window(records, start, end)
    owners = resolve_owners(records, facts)
    labels = {uid: f"{o[0]} {o[1]}" for uid, o in owners.items() if o is not None}
    sched = scheduling(pods, start, end, records.event_reasons)
    node = nodes(records, pods, start, end)
    fid = fidelity(records, facts, start, end, owners)
    scaling = autoscaling.measure(records, facts.hpas, facts.replicas, facts.t0, facts.t_end, facts.speed, start, end,
                                  facts.ns_prefix)
    series = {**sched.pop("_series"), **node.pop("_series"),
              "startup_cdf": startup_cdf(pods, end), "ready_vs_trace": fid.pop("_series"),
              "hpa_replicas": scaling.pop("_series")}
    return {
        "window": {"start": start, "end": end, "seconds": round(end - start, 3)},
        "pods": {"count": len(pods), "scheduled": sum(1 for p in pods if _in(p.scheduled, end) is not None),
                 "running": sum(1 for p in pods if _in(p.running, end) is not None),
                 "startup": startup(pods, end, labels)},
        "scheduling": sched,
        "nodes": node,
        "fidelity": fid,
        "autoscaling": scaling,
        "driver": driver(records, driver_facts),
        "series": series,
    }


def metrics(sections: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The flat, stable metric names gates (`--slo`) and diffs use; seconds, shares 0..1."""
    st = sections["pods"]["startup"]
    sc = sections["scheduling"]
    nd = sections["nodes"]
    fd = sections["fidelity"]
    dr = sections["driver"]
    out: dict[str, float | int | None] = {"pods": sections["pods"]["count"]}
    for prefix, key in (("pod_startup", "create_to_run"), ("create_to_schedule", "create_to_schedule"),
                        ("schedule_to_run", "schedule_to_run")):
        for q in ("p50", "p90", "p99", "max"):
            out[f"{prefix}_{q}"] = st[key][q]
    out.update({
        "pending_p99": sc["pending_seconds"]["p99"], "pending_max": sc["pending_max"],
        "unschedulable_max": sc["unschedulable_max"], "unschedulable_pods": sc["unschedulable_pods"],
        "preemptions": sc["preemptions"], "evictions": sc["evictions"],
        "scheduling_throughput_p50": sc["throughput"]["p50"], "scheduling_throughput_max": sc["throughput"]["max"],
        "nodes_min": nd["count_min"], "nodes_max": nd["count_max"], "nodes_added": nd["added"],
        "nodes_removed": nd["removed"],
        "cpu_utilisation_peak": nd["cpu_utilisation_peak"], "cpu_utilisation_mean": nd["cpu_utilisation_mean"],
        "memory_utilisation_peak": nd["memory_utilisation_peak"],
        "memory_utilisation_mean": nd["memory_utilisation_mean"],
        "pods_per_node_spread": nd["pods_per_node_spread"],
        "fidelity": fd["score"], "lifecycles_found": fd["lifecycles"]["found"],
        "lifecycles_missing": fd["lifecycles"]["none"],
        "driver_lateness_p50": dr["lateness_p50"], "driver_lateness_p99": dr["lateness_p99"],
        "driver_failed_applies": dr["failed_applies"], "driver_failed_deletes": dr["failed_deletes"],
    })
    return out


# Which way is better for each metric: -1 lower, +1 higher, 0 neither (a change is only a change).
DIRECTION: dict[str, int] = {
    **{f"{p}_{q}": -1 for p in ("pod_startup", "create_to_schedule", "schedule_to_run")
       for q in ("p50", "p90", "p99", "max")},
    "pods": 0, "pending_p99": -1, "pending_max": -1, "unschedulable_max": -1, "unschedulable_pods": -1,
    "preemptions": -1, "evictions": -1, "scheduling_throughput_p50": 1, "scheduling_throughput_max": 1,
    "nodes_min": 0, "nodes_max": 0, "nodes_added": 0, "nodes_removed": 0,
    "cpu_utilisation_peak": 0, "cpu_utilisation_mean": 0, "memory_utilisation_peak": 0,
    "memory_utilisation_mean": 0, "pods_per_node_spread": 0, "fidelity": 1, "lifecycles_found": 1,
    "lifecycles_missing": -1, "driver_lateness_p50": -1, "driver_lateness_p99": -1,
    "driver_failed_applies": -1, "driver_failed_deletes": -1,
}
# Metrics in seconds (shown with units; `5s`/`500ms` in gates) and shares (shown as %).
SECONDS = frozenset(k for k in DIRECTION if k.startswith(("pod_startup_", "create_to_schedule_", "schedule_to_run_",
                                                           "pending_p", "driver_lateness_")))
SHARES = frozenset({"fidelity", "cpu_utilisation_peak", "cpu_utilisation_mean", "memory_utilisation_peak",
                    "memory_utilisation_mean"})
METRICS = tuple(DIRECTION)
