"""Progress of counted work (issue 21): `skctl.cli.output.work_progress`, and `skctl example` using it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from skctl.cli import main as cli
from skctl.cli import output
from skctl.trace import codec


def test_away_from_a_terminal_a_plain_line_says_how_far() -> None:
    stream = io.StringIO()
    with output.work_progress("events", stream=stream, interval=0, terminal=False)("converting", 300_000) as advance:
        advance(120_000)
        advance(180_000)
    with output.work_progress("chunks", stream=stream, interval=0, terminal=False)("reading", None) as advance:
        advance(5)
    assert stream.getvalue().splitlines() == [
        "converting: 120,000/300,000 events (40%)",
        "converting: 300,000/300,000 events (100%)",
        "reading: 5 chunks",
    ]


def test_work_shorter_than_the_interval_prints_nothing() -> None:
    stream = io.StringIO()
    with output.work_progress(stream=stream, interval=3600, terminal=False)("converting", 10) as advance:
        advance(10)
    assert stream.getvalue() == ""


def test_a_description_from_the_user_cannot_drive_the_terminal() -> None:
    assert output.progress_line("reading \x1b[2J", 1, 2, "events") == "reading \\x1b[2J: 1/2 events (50%)"


def test_example_reports_generation_and_encoding_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(output, "PROGRESS_LINE_SECONDS", 0)  # a line at every step
    dest = tmp_path / "ex.sktrace"

    assert cli.main(["example", "--events", "2500", "--objects", "40", "-o", str(dest)]) == 0

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[:2] == ["generating: 1,000/2,500 events (40%)", "generating: 2,000/2,500 events (80%)"]
    assert "generating: 2,500/2,500 events (100%)" in lines
    assert any(line.startswith("encoding: ") and line.endswith(" bytes") for line in lines)
    assert any(line.startswith("compressing: ") for line in lines)
    assert captured.out.splitlines() == [f"wrote cbor trace to {dest} ({dest.stat().st_size} bytes, 2500 events)"]
    assert len(codec.decode(dest.read_bytes()).events) == 2500


def _example(tmp_path: Path, *extra: str) -> Path:
    dest = tmp_path / ("ex" + "-".join(extra) + ".sktrace")
    assert cli.main(["example", "--events", "9000", "--objects", "40", "-o", str(dest), *extra]) == 0
    return dest


@pytest.mark.parametrize("version", ["2", "3"])
def test_convert_export_and_xray_report_their_events_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], version: str,
) -> None:
    """The long commands of issue 21 count events away from a terminal (export writes version
    3, which counts as it encodes, whatever the source); stdout keeps only their data (xray
    --json stays parseable)."""
    import json

    source = tmp_path / "source.sktrace"
    assert cli.main(["convert", str(_example(tmp_path)), str(source), "--to", "cbor", "--format-version", version]) == 0
    capsys.readouterr()
    monkeypatch.setattr(output, "PROGRESS_LINE_SECONDS", 0)

    def events_lines(err: str) -> list[str]:
        return [line for line in err.splitlines() if line.endswith(("events", "%)"))]

    assert cli.main(["convert", str(source), str(tmp_path / "out.msgpack"), "--to", "msgpack"]) == 0
    if version == "3":  # a version-2 or msgpack source is one CBOR/msgpack document: no count while decoding
        assert events_lines(capsys.readouterr().err)
    assert cli.main(["export", "--from", str(source), "-s", "0", "-t", "99999999999",
                     "-o", str(tmp_path / "window.sktrace")]) == 0
    err = capsys.readouterr().err
    assert events_lines(err), err
    assert cli.main(["xray", str(source), "--json"]) == 0
    captured = capsys.readouterr()
    assert events_lines(captured.err)
    assert json.loads(captured.out)["events"] > 0
