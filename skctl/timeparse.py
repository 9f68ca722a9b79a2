"""Time and duration strings for `--start-time`/`--end-time`, resolved to unix seconds.

Accepted forms (docs/export.md):

- `now`
- a duration relative to a reference time: `-30m`, `-1h30m`, `+5m`, `90s`, `2d`, `1.5h`
  (units w, d, h, m, s; an unsigned duration means *before* the reference, like
  kubectl's `--since`); the start's reference is the end time, the end's is now
- ISO 8601: `2024-05-01T12:00:00Z`, `2024-05-01T14:00:00+02:00`, `2024-05-01 12:00`;
  without an offset the time is local time (the machine's TZ); `Z` means UTC
- a bare date `2024-05-01`: midnight, local time
- unix seconds, integer or fractional: `1714564800`, `1714564800.5`
- the GNU `date -d` forms SimKube's skctl accepts (parse_gnu_relative): `@1714564800`,
  `2 hours ago`, `1 hour 30 minutes ago`, `3 days`, `yesterday`, `today`, `tomorrow`;
  these are relative to now, as in GNU date

Trace timestamps are whole seconds, so a resolved window is rounded up to whole
seconds: `[ceil(start), ceil(end))` holds exactly the events at or after `start`
and before `end`.
"""

from __future__ import annotations

import math
import re
import time
from datetime import date, datetime, timezone

from skctl import messages
from skctl.errors import InputError

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"^([+-]?)((?:\d+(?:\.\d+)?[wdhms])+)$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIX_RE = re.compile(r"^\d+(?:\.\d+)?$")


def parse_duration(text: str) -> float | None:
    """Signed seconds for `-1h30m`-style text (unsigned = negative), or None if it isn't one."""
    m = _DURATION_RE.match(text.strip().lower())
    if not m:
        return None
    sign, body = m.groups()
    seconds = sum(float(n) * UNITS[u] for n, u in _PART_RE.findall(body))
    return seconds if sign == "+" else -seconds


# The range a trace timestamp can be shown in (datetime's): 1970-01-01 to 9999-12-31 UTC.
MAX_TS = 253_402_300_799


def parse_time(text: str, reference: float, flag: str = "time", now: float | None = None) -> float:
    """Unix seconds for `text`; relative durations are added to `reference`.

    Raises InputError naming `flag` and listing the accepted forms, or saying the time is
    out of range (a common cause: milliseconds given where seconds are expected).
    """
    result = _parse_time(text, reference, flag, now)
    if not (math.isfinite(result) and 0 <= result <= MAX_TS):
        hint = messages.EXPORT_MILLISECONDS_HINT if MAX_TS < result < MAX_TS * 1000 + 1000 else ""
        raise InputError(messages.EXPORT_TIME_OUT_OF_RANGE.format(flag=flag, value=text, hint=hint))
    return result


def _parse_time(text: str, reference: float, flag: str, now: float | None) -> float:
    value = text.strip()
    if not value:
        raise InputError(messages.EXPORT_BAD_TIME.format(flag=flag, value=text))
    if value.lower() == "now":
        return time.time() if now is None else now
    duration = parse_duration(value)
    if duration is not None:
        return reference + duration
    if _UNIX_RE.match(value):
        return float(value)
    gnu = parse_gnu_relative(value, time.time() if now is None else now)
    if gnu is not None:
        return gnu
    parsed = _parse_iso(value)
    if parsed is None:
        raise InputError(messages.EXPORT_BAD_TIME.format(flag=flag, value=text))
    return parsed


_GNU_UNITS = {
    "sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
    "fortnight": 14 * 86400,
}
_GNU_PART_RE = re.compile(r"([+-]?\d+)\s*(sec|second|min|minute|hour|day|week|fortnight)s?\b")
_GNU_RELATIVE_RE = re.compile(
    r"^(?:[+-]?\d+\s*(?:sec|second|min|minute|hour|day|week|fortnight)s?\s*)+(ago)?$"
)
_GNU_DAYS = {"yesterday": -86400, "today": 0, "tomorrow": 86400}


def parse_gnu_relative(text: str, now: float) -> float | None:
    """Unix seconds for the GNU-date forms SimKube accepts (module doc), or None.

    `@N` is unix seconds; `N unit [N unit ...] [ago]` counts from now (forward without
    `ago`, back with it); `yesterday`/`tomorrow` are now minus/plus a day.
    """
    value = " ".join(text.strip().lower().split())
    if value.startswith("@"):
        return float(value[1:]) if _UNIX_RE.match(value[1:]) else None
    if value in _GNU_DAYS:
        return now + _GNU_DAYS[value]
    m = _GNU_RELATIVE_RE.match(value)
    if not m:
        return None
    seconds = sum(int(n) * _GNU_UNITS[u] for n, u in _GNU_PART_RE.findall(value))
    return now - seconds if m.group(1) else now + seconds


def _parse_iso(value: str) -> float | None:
    text = value
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day).timestamp()  # local midnight
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.timestamp()  # naive = local time
    return moment.astimezone(timezone.utc).timestamp()


def resolve_window(start: str, end: str, now: float | None = None) -> tuple[int, int]:
    """`(start_ts, end_ts)` in whole seconds for `--start-time`/`--end-time`.

    The end is resolved first (relative to now), then the start (relative to the end).
    An empty or inverted window is an InputError.
    """
    now = time.time() if now is None else now
    end_value = parse_time(end, now, "--end-time", now)
    start_value = parse_time(start, end_value, "--start-time", now)
    start_ts, end_ts = math.ceil(start_value), math.ceil(end_value)
    if start_ts >= end_ts:
        raise InputError(
            messages.EXPORT_EMPTY_WINDOW.format(start=start, end=end, start_iso=iso(start_value), end_iso=iso(end_value))
        )
    return start_ts, end_ts


def iso(ts: float) -> str:
    """UTC ISO 8601 with a Z, to whole seconds: how times are shown back to the user.

    A time datetime cannot represent (a damaged or hand-made trace) is shown as the number.
    """
    try:
        return datetime.fromtimestamp(math.floor(ts), tz=timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return str(ts)
