"""What a trace contains, as plain data: `skctl xray` renders it, scripts read its JSON."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from skctl.base.timeparse import iso
from skctl.kube.keys import gvk_of, ns_name
from skctl.trace import cluster, usage
from skctl.trace.model import Trace
from skctl.trace.validate import Finding, check, counts, failing_events


class Counts:
    """What the summary counts, fed the events in order (a whole trace, or chunk by chunk)."""

    def __init__(self) -> None:
        self.events = 0
        self.applied: Counter[str] = Counter()
        self.deleted: Counter[str] = Counter()
        self.distinct: dict[str, set[str]] = defaultdict(set)
        self.namespaces: Counter[str] = Counter()

    def feed(self, events: Iterable[dict[str, Any]]) -> None:
        applied, deleted, distinct, namespaces = self.applied, self.deleted, self.distinct, self.namespaces
        for event in events:
            self.events += 1
            for action, counter in (("applied_objs", applied), ("deleted_objs", deleted)):
                for obj in event.get(action, ()):
                    gvk = gvk_of(obj)
                    counter[gvk] += 1
                    distinct[gvk].add(ns_name(obj))
                    ns = (obj.get("metadata") or {}).get("namespace")
                    if ns:
                        namespaces[ns] += 1


def summarize(trace: Trace) -> dict[str, Any]:
    tally = Counts()
    tally.feed(trace.events)
    return summary_doc(trace, tally, trace.time_range(), check(trace)[0])


def summary_doc(trace: Trace, tally: Counts, time_range: tuple[int, int] | None, findings: list[Finding]) -> dict[str, Any]:
    """The summary of a trace's sections (`trace`, whose events may be left out), the counts
    of its events, their time range and the validation findings."""
    applied, deleted, distinct, namespaces = tally.applied, tally.deleted, tally.distinct, tally.namespaces
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
        "events": tally.events,
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
