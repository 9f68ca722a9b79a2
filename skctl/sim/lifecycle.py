"""When a simulated pod must complete, on the simulation's clock.

Which recorded lifecycle a pod gets is a pod rule shared with the tracer
(skctl.trace.pods: `lookup_lifecycle`, `PodCounter`). What the driver adds: a recorded
lifecycle that finished gives a completion time, `now + (end - start) / speed`, whole
seconds as SimKube computes it; one still running when the trace was cut gives none, and
the pod runs until the simulation deletes its owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any


def lifetime(lifecycle: Mapping[str, Any] | None) -> int | None:
    """Recorded seconds from start to end of a finished lifecycle; None if it never ended."""
    if not lifecycle:
        return None
    start, end = lifecycle.get("start_ts"), lifecycle.get("end_ts")
    if start is None or end is None:
        return None
    return max(0, int(end) - int(start))


def completion_time(lifecycle: Mapping[str, Any] | None, speed: float, now: datetime) -> datetime | None:
    """When a pod that is running at `now` must complete, on the simulation's clock."""
    seconds = lifetime(lifecycle)
    if seconds is None:
        return None
    return now + timedelta(seconds=int(seconds / speed))
