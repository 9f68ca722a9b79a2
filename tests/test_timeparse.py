"""Time and duration parsing for --start-time/--end-time (skctl.base.timeparse)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from skctl.base import timeparse
from skctl.base.errors import InputError
from skctl.base.timeparse import iso, resolve_window

NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("-30m", -1800),
        ("-1h30m", -5400),
        ("+5m", 300),
        ("90s", -90),  # unsigned = before the reference, like --since
        ("2d", -172800),
        ("1w", -604800),
        ("1.5h", -5400),
        ("-1H", -3600),
        ("now", None),
        ("30", None),
        ("-30", None),
        ("m", None),
        ("-1h-30m", None),
        ("-500ms", -0.5),  # the one grammar: what --duration takes, export takes too
        ("-1h 30m", None),
        ("-1y", None),
    ],
)
def test_parse_offset(text: str, seconds: float | None) -> None:
    assert timeparse.parse_offset(text) == seconds


local_noon = datetime(2024, 5, 1, 12, 0, 0).timestamp()
local_midnight = datetime(2024, 5, 1).timestamp()


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A local zone that is not UTC (CI machines usually are), restored afterwards."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01T12:00:00", 1_714_579_200),  # 12:00 EDT = 16:00 UTC
        ("2024-05-01", 1_714_536_000),  # local midnight = 04:00 UTC
        ("2024-05-01T12:00:00Z", 1_714_564_800),  # an explicit offset ignores the local zone
    ],
)
def test_times_without_offset_are_local(new_york: None, text: str, expected: float) -> None:
    assert timeparse.parse_time(text, NOW, "--x", now=NOW) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("now", NOW),
        ("NOW", NOW),
        ("-30m", NOW - 1800),
        ("+5m", NOW + 300),
        ("2024-05-01T12:00:00Z", 1_714_564_800),
        ("2024-05-01T12:00:00z", 1_714_564_800),
        ("2024-05-01T14:00:00+02:00", 1_714_564_800),
        ("2024-05-01T12:00:00.500Z", 1_714_564_800.5),
        ("2024-05-01T12:00:00", local_noon),
        ("2024-05-01 12:00", local_noon),
        ("2024-05-01", local_midnight),
        ("1714564800", 1_714_564_800),
        ("1714564800.25", 1_714_564_800.25),
        ("  1714564800  ", 1_714_564_800),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert timeparse.parse_time(text, NOW, "--x", now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "last tuesday", "-30", "30 parsecs", "2024-13-01", "2024-05-01T25:00", "1e9", "-"])
def test_bad_times_name_the_flag_and_the_forms(text: str) -> None:
    with pytest.raises(InputError) as info:
        timeparse.parse_time(text, NOW, "--start-time", now=NOW)
    message = str(info.value)
    assert message.startswith("--start-time: cannot understand")
    assert "-30m" in message and "ISO 8601" in message and "unix seconds" in message
    assert "\n" not in message


def test_relative_start_is_relative_to_the_end() -> None:
    assert timeparse.resolve_window("-30m", "2024-05-01T12:00:00Z", now=0) == (1_714_563_000, 1_714_564_800)


def test_relative_end_is_relative_to_now() -> None:
    assert timeparse.resolve_window("-1h", "-10m", now=NOW) == (NOW - 600 - 3600, NOW - 600)


def test_defaults_give_the_last_half_hour() -> None:
    start, end = timeparse.resolve_window("-30m", "now")
    assert end - start == 1800
    assert abs(end - time.time()) < 5


def test_fractional_bounds_round_up() -> None:
    assert timeparse.resolve_window("100.2", "200.7", now=NOW) == (101, 201)


@pytest.mark.parametrize("start,end", [("now", "now"), ("+5m", "now"), ("200", "100"), ("100", "100"), ("100.2", "100.7")])
def test_start_not_before_end_is_an_input_error(start: str, end: str) -> None:
    with pytest.raises(InputError, match="export window is empty"):
        timeparse.resolve_window(start, end, now=NOW)


def test_iso_rendering() -> None:
    assert timeparse.iso(1_714_564_800.9) == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize(
    "start, end, words",
    [
        ("1750000000000", "1750000100000", ["outside", "milliseconds"]),
        ("-99999999999999999w", "300", ["--start-time", "outside"]),
        ("99999999999999999999", "now", ["--start-time", "outside"]),
        # an offset that carries the time past year 9999 or before year 1 in UTC was an
        # OverflowError ("internal error"), and then not a milliseconds mistake
        ("9999-12-31T23:59:59-23:59", "now", ["--start-time", "outside"]),
        ("0", "0001-01-01T00:00:00+23:59", ["--end-time", "outside"]),
    ],
)
def test_out_of_range_times_are_input_errors(start: str, end: str, words: list[str]) -> None:
    with pytest.raises(InputError) as err:
        resolve_window(start, end, now=1_750_000_000)
    for word in words:
        assert word in str(err.value)
    if "T" in start:
        assert "milliseconds" not in str(err.value)


def test_iso_shows_unrepresentable_times_as_numbers() -> None:
    assert iso(10**15) == str(10**15)
