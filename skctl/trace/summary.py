"""What a trace contains, as plain data: `skctl xray` renders it, scripts read its JSON."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from skctl.timeparse import iso
from skctl.trace import cluster, usage
from skctl.trace.model import Trace, gvk_of, ns_name
from skctl.trace.validate import check, counts, failing_events


def summarize(trace: Trace) -> dict[str, Any]:
    applied: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    distinct: dict[str, set[str]] = defaultdict(set)
    namespaces: Counter[str] = Counter()
    for _ts, action, obj in trace.iter_objects():
        gvk = gvk_of(obj)
        (applied if action == "applied" else deleted)[gvk] += 1
        distinct[gvk].add(ns_name(obj))
        ns = (obj.get("metadata") or {}).get("namespace")
        if ns:
            namespaces[ns] += 1
    time_range = trace.time_range()
    findings, _ = check(trace)
    owners = []
    for (gvk, owner), pods in sorted(trace.pod_lifecycles.items()):
        lifecycles = [lc for lcs in pods.values() for lc in lcs]
        owners.append(
            {
                "gvk": gvk,
                "owner": owner,
                "pod_specs": len(pods),
                "lifecycles": len(lifecycles),
                "running": sum(1 for lc in lifecycles if lc.get("start_ts") is not None and lc.get("end_ts") is None),
            }
        )
    return {
        "version": trace.version,
        "start_ts": time_range[0] if time_range else None,
        "end_ts": time_range[1] if time_range else None,
        "start": iso(time_range[0]) if time_range else None,
        "end": iso(time_range[1]) if time_range else None,
        "duration_seconds": (time_range[1] - time_range[0]) if time_range else 0,
        "events": len(trace.events),
        "applied": sum(applied.values()),
        "deleted": sum(deleted.values()),
        "tracked_objects": sorted(trace.tracked_objects),
        "objects": {
            gvk: {"objects": len(distinct[gvk]), "applied": applied[gvk], "deleted": deleted[gvk]}
            for gvk in sorted(distinct)
        },
        "namespaces": dict(sorted(namespaces.items())),
        "pod_lifecycle_owners": owners,
        # the starting state (skctl.trace.cluster): nodes at the start and their shapes; None without one
        "starting_state": cluster.inventory(trace),
        # recorded pod usage per owner (skctl.trace.usage): pods sampled, peak and median CPU/memory
        "usage": usage.summary(trace.usage),
        # SimKube's validation rules (skctl validate): counts per code and the failing events
        "validation": {
            "counts": counts(findings),
            "events": [dict(row, time=iso(row["ts"])) for row in failing_events(findings)],
        },
    }
