"""Kubernetes timestamps (metav1.Time): RFC 3339 in UTC with whole seconds, in one place.

The API server writes `2024-05-01T12:00:00Z`; the tracer reads them from pod statuses,
deletion and managedFields times, the replay report from creation and condition times,
the driver writes them for KWOK's stages, which read an absolute point in time in the same
form, and the sandbox API server stamps its objects with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from skctl.base.timeparse import utc_text


def parse_ts(value: Any) -> int | None:
    """Unix seconds of an RFC 3339 timestamp (`2024-05-01T12:00:00Z`), None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_ts(value)


@lru_cache(maxsize=8192)  # the same few timestamps repeat across a pod's many status updates
def _parse_ts(value: str) -> int | None:
    seconds = _parse_seconds(value)
    return None if seconds is None else int(seconds)


def parse_time(value: Any) -> float | None:
    """`parse_ts` to the fraction of a second the text gives (`...T12:00:00.5Z`)."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_seconds(value)


def _parse_seconds(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def rfc3339(moment: datetime) -> str:
    """'2026-01-02T03:04:05Z': the form the API server writes and KWOK's durationFrom reads."""
    return utc_text(moment.timestamp())


def rfc3339_at(seconds: float) -> str:
    """`rfc3339` of unix seconds (the fraction is dropped); the spelling is skctl.base.timeparse's,
    the one skctl also shows times in."""
    return utc_text(seconds)


_now_cache: tuple[int, str] = (-1, "")


def now_rfc3339(clock: Callable[[], float] = time.time) -> str:
    """`rfc3339_at(clock())`, formatted once per second (the sandbox stamps every write)."""
    global _now_cache
    sec = int(clock())
    cached = _now_cache
    if cached[0] != sec:
        cached = _now_cache = (sec, rfc3339_at(sec))
    return cached[1]
