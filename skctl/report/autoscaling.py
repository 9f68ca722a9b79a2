"""The outcome report's autoscaling section: per HorizontalPodAutoscaler, the replicas the
simulation's HPA wanted against the replicas recorded in the trace.

Recorded: the HPA's scale target's `spec.replicas` over trace time, as the trace holds it
(its changes are the production HPA's decisions: the tracer records spec changes, and an HPA
scales through the target's spec; HPA status is not recorded). Desired: the simulated HPA's
`status.desiredReplicas`, as the report recorder saw it change. Both are step functions on
the replay's clock (seconds since it started; trace times map through the speed-up).

Agreement is judged at the fidelity checkpoints' spacing (skctl.report.measure): from the
HPA's first appearance to the window's end, a checkpoint agrees when desired and recorded
differ by at most REPLICA_TOLERANCE; checkpoints within SETTLE_SECONDS (wall) of a recorded
change are not judged (the HPA acts at its sync period, 15 s by default, and a
metrics-server scrape later). Before the simulated HPA reports a desired count, its
checkpoints are not judged either.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from skctl.kube.keys import Key, join_ns_name, split_ns_name
from skctl.report.records import ObjectRecord, ReplayRecords, key_order
from skctl.sim.mutate import HPA_GVKS, scale_target, virtual_namespace

REPLICA_TOLERANCE = 0
SETTLE_SECONDS = 30.0  # wall seconds: two HPA sync periods
MAX_CHECKPOINTS = 300


def hpa_targets(objects: Iterable[tuple[int, str, Mapping[str, Any]]], ns_prefix: str) -> dict[Key, Key]:
    """(HPA key) → (its scale target's key), both (gvk, "virtual ns/name"), from the trace's
    object mentions (ts, action, obj); the latest applied state of each HPA wins."""
    out: dict[Key, Key] = {}
    for _ts, action, obj in objects:
        gvk = f"{obj.get('apiVersion', '')}.{obj.get('kind', '')}"
        if gvk not in HPA_GVKS or action != "applied":
            continue
        target = scale_target(obj)
        if target is None:
            continue
        ns, target_name = split_ns_name(target[1])
        vns = virtual_namespace(ns_prefix, ns)
        out[(gvk, join_ns_name(vns, str((obj.get("metadata") or {}).get("name") or "")))] = (
            target[0], join_ns_name(vns, target_name))
    return out


def desired_replicas(rec: ObjectRecord, now: float, obj: Mapping[str, Any]) -> None:
    """Fold an HPA's status into its record (the report recorder calls this for HPA kinds)."""
    value = (obj.get("status") or {}).get("desiredReplicas")
    if isinstance(value, int) and (not rec.desired or rec.desired[-1][1] != value):
        rec.desired.append((now, value))


def _at(series: Sequence[tuple[float, int]], times: Sequence[float], t: float) -> int | None:
    i = bisect.bisect_right(times, t) - 1
    return series[i][1] if i >= 0 else None


def measure(records: ReplayRecords, targets: Mapping[Key, Key], recorded: Mapping[Key, Sequence[tuple[float, int]]],
            t0: float, t_end: float, speed: float, start: float, end: float, ns_prefix: str) -> dict[str, Any]:
    """The section: {"hpas": [...], "tolerance": {...}} and the series under "_series"."""
    span = max(0.0, min(t_end, t0 + (end - start) * speed) - t0)
    interval = max(1.0, span / MAX_CHECKPOINTS)
    settle = SETTLE_SECONDS * speed
    hpas = []
    series: dict[str, dict[str, list[list[float]]]] = {}
    for key, target in sorted(targets.items(), key=lambda item: key_order(item[0])):
        ns, name = split_ns_name(key[1])
        tr = [(float(ts), r) for ts, r in recorded.get(target, ())]
        rec = records.objects.get(key)
        desired = list(rec.desired) if rec is not None else []
        d_t = [t for t, _ in desired]
        tr_t = [t for t, _ in tr]
        judged = ok = worst = 0
        if tr:
            k = max(0, math.ceil((tr_t[0] - t0) / interval - 1e-9))
            while (c := t0 + k * interval) <= t0 + span + 1e-9:
                k += 1
                i = bisect.bisect_right(tr_t, c) - 1
                want = _at(desired, d_t, start + (c - t0) / speed)
                if c - tr_t[i] < settle or want is None:
                    continue
                judged += 1
                if abs(want - tr[i][1]) <= REPLICA_TOLERANCE:
                    ok += 1
                else:
                    worst = max(worst, abs(want - tr[i][1]))
        original = ns[len(ns_prefix) + 1:] if ns.startswith(ns_prefix + "-") else ns
        label = f"{original}/{name}"
        target_name = split_ns_name(target[1])[1]
        hpas.append({"hpa": label, "target": f"{target[0]} {original}/{target_name}", "checkpoints": judged,
                     "agreeing": ok, "score": round(ok / judged, 4) if judged else None, "max_difference": worst,
                     "desired_final": desired[-1][1] if desired else None,
                     "recorded_final": tr[-1][1] if tr else None})
        series[label] = {
            "desired": [[round(max(0.0, t - start), 3), v] for t, v in desired if t <= end],
            "recorded": [[round(max(0.0, (t - t0) / speed), 3), r] for t, r in tr if t <= t_end],
        }
    return {"hpas": hpas, "tolerance": {"replicas": REPLICA_TOLERANCE, "settle_seconds": SETTLE_SECONDS},
            "_series": series}
