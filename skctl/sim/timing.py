"""Speed values and Go-duration output for `skctl run`/`skctl drive` (durations: skctl.timeparse)."""

from __future__ import annotations

import math

from skctl import messages
from skctl.errors import InputError

# A trace of up to ~300 years (timeparse.MAX_TS) divided by the speed stays a finite, plannable
# wall time, and a sleep of trace-time/speed stays above float resolution.
MIN_SPEED, MAX_SPEED = 1e-6, 1e6


def parse_speed(text: str | float) -> float:
    """A speed-up factor from MIN_SPEED to MAX_SPEED (1e-320 would make every wait infinite)."""
    try:
        speed = float(text)
    except (TypeError, ValueError):
        raise InputError(messages.RUN_BAD_SPEED.format(value=text)) from None
    if not math.isfinite(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise InputError(messages.RUN_BAD_SPEED.format(value=text))
    return speed


def format_number(value: float) -> str:
    """1000.0 → '1000', 2.5 → '2.5': how numbers appear in the driver's command line."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def go_duration(seconds: float) -> str:
    """A Go time.ParseDuration string (what KWOK's durationFrom parses): 30 → '30s', 0.03 → '30ms'."""
    ms = max(0, round(seconds * 1000))
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"
