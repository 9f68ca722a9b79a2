"""Speed values and Go-duration output for `skctl run`/`skctl drive` (durations: skctl.base.timeparse)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.numbers import parse_int

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


# SimKube's lifecycle flags (milliseconds) and the KWOK delay each one sets on every pod
LIFECYCLE_FLAGS = {
    "--image-pull-delay": "simkube.io/kwok-stage-create-delay",
    "--image-pull-jitter": "simkube.io/kwok-stage-create-delay-jitter",
    "--pod-startup-delay": "simkube.io/kwok-stage-ready-delay",
    "--pod-startup-jitter": "simkube.io/kwok-stage-ready-delay-jitter",
}


def parse_millis(text: str | int) -> int:
    """A whole, non-negative number of milliseconds (SimKube's u32 lifecycle flags)."""
    try:
        value = parse_int(str(text).strip())
    except ValueError:
        raise InputError(messages.RUN_BAD_MILLIS.format(value=text)) from None
    if not 0 <= value < 2**32:
        raise InputError(messages.RUN_BAD_MILLIS.format(value=text))
    return value


def lifecycle_delays(values: Mapping[str, str | int]) -> dict[str, str]:
    """{flag: milliseconds} → the pod annotations SimKube's KWOK stages read ("250ms")."""
    return {LIFECYCLE_FLAGS[flag]: f"{parse_millis(values.get(flag, 0))}ms" for flag in LIFECYCLE_FLAGS}
