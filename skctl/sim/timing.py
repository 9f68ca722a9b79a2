"""Speed values and Go-duration output for `skctl run`/`skctl drive` (durations: skctl.timeparse)."""

from __future__ import annotations

import math

from skctl import messages
from skctl.errors import InputError


def parse_speed(text: str | float) -> float:
    try:
        speed = float(text)
    except (TypeError, ValueError):
        raise InputError(messages.RUN_BAD_SPEED.format(value=text)) from None
    if not math.isfinite(speed) or speed <= 0:
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
