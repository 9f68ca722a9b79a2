"""Times and durations: every time or duration string a user types goes through here.

Durations (`--duration`, `--retention`, and the relative forms of `--start-time`/`--end-time`)
share one grammar: Go's time.ParseDuration units (ns, us/µs, ms, s, m, h) plus d and w,
combined and fractional (`1h30m`, `1.5h`, `500ms`, `2d`, `1w`); parsed by durationpy, units
case-insensitive. `parse_duration` also takes a bare number of seconds.

Times for `--start-time`/`--end-time` (docs/export.md), resolved to unix seconds:

- `now`
- a duration relative to a reference time: `-30m`, `-1h30m`, `+5m`, `90s`, `2d`, `1.5h`
  (an unsigned duration means *before* the reference, like kubectl's `--since`); the
  start's reference is the end time, the end's is now
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

import durationpy

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.numbers import parse_float, parse_int

DURATION_UNITS = ("ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", "w")
# durationpy also knows months and years, and skips what lies between two parts
# ("1h 30m"); this pattern keeps the grammar to Go's units plus d and w, written solid.
_DURATION_RE = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h|d|w))+")
_OFFSET_RE = re.compile(r"([+-]?)(.+)")
_UNIX_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")  # ASCII digits: "١٢٣" is no time


def duration_seconds(text: str) -> float | None:
    """Seconds for an unsigned duration (`1h30m`, `500ms`, `2d`), or None if it isn't one."""
    value = text.strip().lower()
    if not _DURATION_RE.fullmatch(value):
        return None
    try:
        return float(durationpy.from_str(value).total_seconds())
    except durationpy.DurationError:  # well formed, but beyond timedelta's range
        return math.inf


def parse_offset(text: str) -> float | None:
    """Signed seconds for `-1h30m`-style text (unsigned = negative), or None if it isn't one."""
    m = _OFFSET_RE.fullmatch(text.strip())
    if not m:
        return None
    sign, body = m.groups()
    seconds = duration_seconds(body)
    if seconds is None:
        return None
    return seconds if sign == "+" else -seconds


# The durations a flag may hold: from a microsecond (the resolution durations are parsed
# to, timedelta's) to a century, which every wait, timer and timedelta the value ends up in
# can hold (threading's waits stop near 292 years; `1e300` seconds would be an overflow deep
# inside a command, not a usage error).
MIN_DURATION = 1e-6
MAX_DURATION = 36_500 * 86_400.0


def in_duration_range(seconds: float) -> bool:
    """Whether `seconds` is a duration skctl can wait for (MIN_DURATION to MAX_DURATION)."""
    return MIN_DURATION <= seconds <= MAX_DURATION


def parse_duration(text: str | float, message: str = messages.RUN_BAD_DURATION) -> float:
    """Positive seconds for a duration or a bare number of seconds (`90s`, `1h30m`, `45`).

    Zero, negative, infinite and malformed values are an InputError with `message`; a
    duration outside MIN_DURATION..MAX_DURATION is one that names the range. A leading `+`
    is allowed, as SimKube writes durations after the start (`--duration +5m`).
    """
    value = str(text).strip()
    if value.startswith("+") and not value.startswith("++"):
        value = value[1:]
    try:
        seconds: float | None = parse_float(value)
    except ValueError:
        seconds = duration_seconds(value)
    if seconds is None or math.isnan(seconds) or seconds <= 0:
        raise InputError(message.format(value=text))
    if not in_duration_range(seconds):
        raise InputError(messages.DURATION_OUT_OF_RANGE.format(value=text, max_days=MAX_DURATION / 86_400))
    return seconds


# The range a trace timestamp can be shown in (datetime's): 1970-01-01 to 9999-12-31 UTC.
MAX_TS = 253_402_300_799


def parse_unix_seconds(text: str) -> int:
    """Whole unix seconds in the range a trace can hold (0 to MAX_TS), e.g. for `--start-ts`."""
    try:
        value = parse_int(text.strip())
    except ValueError:
        raise InputError(messages.BAD_UNIX_SECONDS.format(value=text)) from None
    if not 0 <= value <= MAX_TS:
        hint = messages.EXPORT_MILLISECONDS_HINT if MAX_TS < value < MAX_TS * 1000 + 1000 else ""
        raise InputError(messages.UNIX_SECONDS_OUT_OF_RANGE.format(value=text, hint=hint))
    return value


def parse_time(text: str, reference: float, flag: str = "time", now: float | None = None) -> float:
    """Unix seconds for `text`; relative durations are added to `reference`.

    Raises InputError naming `flag` and listing the accepted forms, or saying the time is
    out of range (a common cause: milliseconds given where seconds are expected).
    """
    result = _parse_time(text, reference, flag, now)
    if not (math.isfinite(result) and 0 <= result <= MAX_TS):
        numeric = _UNIX_RE.match(text.strip()) is not None  # not for 9999-12-31T23:59:59-01:00
        hint = messages.EXPORT_MILLISECONDS_HINT if numeric and MAX_TS < result < MAX_TS * 1000 + 1000 else ""
        raise InputError(messages.EXPORT_TIME_OUT_OF_RANGE.format(flag=flag, value=text, hint=hint))
    return result


def _parse_time(text: str, reference: float, flag: str, now: float | None) -> float:
    value = text.strip()
    if not value:
        raise InputError(messages.EXPORT_BAD_TIME.format(flag=flag, value=text))
    if value.lower() == "now":
        return time.time() if now is None else now
    offset = parse_offset(value)
    if offset is not None:
        return reference + offset
    if _UNIX_RE.match(value):
        return float(value)
    gnu = parse_gnu_relative(value, time.time() if now is None else now)
    if gnu is not None:
        return gnu
    parsed = _parse_iso(value)
    if parsed is None:
        raise InputError(messages.EXPORT_BAD_TIME.format(flag=flag, value=text))
    if not isinstance(parsed, float):  # _DST_GAP
        raise InputError(messages.EXPORT_TIME_IN_DST_GAP.format(flag=flag, value=text))
    return parsed


_GNU_UNITS = {
    "sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
    "fortnight": 14 * 86400,
}
# ASCII digits only ("١٢" is no number here), at most 20 of them: a count beyond that is far
# outside 1970..9999 in any unit, and hundreds of digits would overflow the float arithmetic.
_GNU_PART_RE = re.compile(r"([+-]?[0-9]{1,20})\s*(sec|second|min|minute|hour|day|week|fortnight)s?\b")
_GNU_RELATIVE_RE = re.compile(
    r"^(?:[+-]?[0-9]{1,20}\s*(?:sec|second|min|minute|hour|day|week|fortnight)s?\s*)+(ago)?$"
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


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DST_GAP = object()  # _parse_iso's answer for a local time that the clocks skipped


def _parse_iso(value: str) -> float | object | None:
    """Unix seconds, None if `value` is not ISO 8601, or _DST_GAP for a local time that
    does not exist (the clocks jumped over it); Python would silently shift it by the gap."""
    text = value
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day)  # local midnight
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        # by subtraction: astimezone() overflows for 9999-12-31T23:59:59-01:00 (year 10000
        # in UTC), which parse_time then reports as out of range
        return (moment - _EPOCH).total_seconds()
    try:  # naive = local time
        ts = moment.timestamp()
        exists = datetime.fromtimestamp(ts) == moment
    except (OverflowError, OSError, ValueError):
        return None
    return ts if exists else _DST_GAP


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
        return utc_text(ts)
    except (ValueError, OverflowError, OSError):
        return str(ts)


def utc_text(ts: float) -> str:
    """`2026-01-02T03:04:05Z`: whole seconds in UTC with a Z, the one spelling of a time that
    skctl shows and that Kubernetes writes (RFC 3339, skctl.kube.times); raises ValueError or
    OverflowError for a time datetime cannot represent."""
    return datetime.fromtimestamp(math.floor(ts), tz=timezone.utc).isoformat().replace("+00:00", "Z")
