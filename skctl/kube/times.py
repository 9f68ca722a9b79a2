"""Kubernetes timestamps (metav1.Time): RFC 3339 in UTC with whole seconds, in one place.

The API server writes `2024-05-01T12:00:00Z`; the tracer reads them from pod statuses,
deletion and managedFields times, and the driver writes them for KWOK's stages, which
read an absolute point in time in the same form.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any


def parse_ts(value: Any) -> int | None:
    """Unix seconds of an RFC 3339 timestamp (`2024-05-01T12:00:00Z`), None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_ts(value)


@lru_cache(maxsize=8192)  # the same few timestamps repeat across a pod's many status updates
def _parse_ts(value: str) -> int | None:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except (ValueError, OverflowError, OSError):
        return None


def rfc3339(moment: datetime) -> str:
    """'2026-01-02T03:04:05Z': the form the API server writes and KWOK's durationFrom reads."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
