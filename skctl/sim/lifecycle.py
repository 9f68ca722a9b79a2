"""Which recorded lifecycle a simulated pod gets, and when it must complete.

SimKube's rule (sk-core `Trace::lookup_pod_lifecycle`, sk-driver mutation), kept here:
- pods are numbered in the order the driver first sees them: the n-th pod (counting
  from 0) of an owner and pod-spec hash gets the n-th recorded lifecycle of that owner
  and hash, wrapping round when the simulation makes more pods than were recorded;
- for the built-in kinds (one kind of pod per owner) the hash is not compared: the
  owner's first recorded hash is used; for other kinds (custom resources with several
  pod templates) the hash must match. skctl adds one fallback: an owner with a single
  recorded hash uses it even when the live pod's hash differs (the simulated pod spec
  differs from the recorded one by the driver's own changes, so SimKube's exact match
  rarely holds);
- a recorded lifecycle that finished gives a completion time, `now + (end - start) /
  speed`, whole seconds as SimKube computes it; one still running when the trace was
  cut gives none, and the pod runs until the simulation deletes its owner.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from skctl.trace.config import BUILTIN_TEMPLATE_PATHS
from skctl.trace.model import PodLifecycles


class PodCounter:
    """Sequence numbers per (owner GVK, owner "ns/name", pod hash), thread-safe.

    SimKube counts per hash alone; counting per owner too only differs when two owners
    have identical pod specs, where SimKube would interleave their lifecycles.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def next(self, owner_gvk: str, owner_ns_name: str, pod_hash: int) -> int:
        key = (owner_gvk, owner_ns_name, pod_hash)
        with self._lock:
            seq = self._counts.get(key, 0)
            self._counts[key] = seq + 1
        return seq


def uses_hash(owner_gvk: str) -> bool:
    """Built-in kinds have one kind of pod per owner, so their hash is not compared."""
    return owner_gvk not in BUILTIN_TEMPLATE_PATHS


def lookup_lifecycle(
    lifecycles: PodLifecycles, owner_gvk: str, owner_ns_name: str, pod_hash: int, seq: int
) -> Mapping[str, Any] | None:
    """The recorded lifecycle for the `seq`-th pod (from 0) of an owner, or None."""
    by_hash = lifecycles.get((owner_gvk, owner_ns_name))
    if not by_hash:
        return None
    recorded = next(iter(by_hash.values())) if not uses_hash(owner_gvk) or len(by_hash) == 1 \
        else by_hash.get(pod_hash)
    if not recorded:
        return None
    return recorded[seq % len(recorded)]


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


def rfc3339(moment: datetime) -> str:
    """'2026-01-02T03:04:05Z': the form KWOK's delay.durationFrom reads as a point in time."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
