"""Duration and speed values for `skctl run`/`skctl drive` (trace time, not wall time)."""

from __future__ import annotations

import math
import re

from skctl import messages
from skctl.errors import InputError

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|[dhms]))+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|[dhms])")


def parse_duration(text: str) -> float:
    """Seconds for `90s`, `10m`, `1h30m`, `1.5h` or a bare number of seconds."""
    value = str(text).strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        if not _DURATION_RE.match(value):
            raise InputError(messages.RUN_BAD_DURATION.format(value=text)) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART_RE.findall(value))
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(messages.RUN_BAD_DURATION.format(value=text))
    return seconds


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


# SimKube's lifecycle flags (milliseconds) and the KWOK delay each one sets on every pod
LIFECYCLE_FLAGS = {
    "--image-pull-delay": "simkube.io/kwok-stage-create-delay",
    "--image-pull-jitter": "simkube.io/kwok-stage-create-delay-jitter",
    "--pod-startup-delay": "simkube.io/kwok-stage-ready-delay",
    "--pod-startup-jitter": "simkube.io/kwok-stage-ready-delay-jitter",
}


def parse_millis(text: str | int, flag: str) -> int:
    """A whole, non-negative number of milliseconds (SimKube's u32 lifecycle flags)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(messages.RUN_BAD_MILLIS.format(flag=flag, value=text)) from None
    if not 0 <= value < 2**32:
        raise InputError(messages.RUN_BAD_MILLIS.format(flag=flag, value=text))
    return value


def lifecycle_delays(values: dict[str, str | int]) -> dict[str, str]:
    """{flag: milliseconds} → the pod annotations SimKube's KWOK stages read ("250ms")."""
    return {LIFECYCLE_FLAGS[flag]: f"{parse_millis(values.get(flag, 0), flag)}ms" for flag in LIFECYCLE_FLAGS}
