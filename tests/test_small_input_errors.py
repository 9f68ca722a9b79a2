"""Issue 12, class 12: the small ones, one table: each input gets exit 2 and the right reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cbor2
import msgpack
import pytest

from skctl.cli.main import main
from skctl.trace import synth
from skctl.trace.codec import SELF_DESCRIBE


def with_version(version: object) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        doc = synth.generate(events=3, objects=2).to_document()
        doc["version"] = version
        path = tmp / "t.sktrace"
        path.write_bytes(SELF_DESCRIBE + cbor2.dumps(doc))
        return str(path)

    return make


def written(data: bytes) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        path = tmp / "t.sktrace"
        path.write_bytes(data)
        return str(path)

    return make


def under_a_file(tmp: Path) -> str:
    (tmp / "afile").write_bytes(b"x")
    return str(tmp / "afile" / "t.sktrace")


# (name, make the input path, words the one error line must contain, words it must not)
CASES: list[tuple[str, Callable[[Path], str], tuple[str, ...], tuple[str, ...]]] = [
    ("version 2.0", with_version(2.0), ("format version 2.0 (float)", "not a version number"), ()),
    ('version "2"', with_version("2"), ("format version '2' (str)", "not a version number"), ()),
    ("version true", with_version(True), ("format version True (bool)",), ()),
    ("version 3 in a version-2 body", with_version(3), ("corrupt", "header names no compression"), ("upgrade",)),
    ("version 4", with_version(4), ("version 4", "reads versions 2"), ()),
    ("empty CBOR document", written(SELF_DESCRIBE + cbor2.dumps({})), ("is not a trace file",), ("version",)),
    ("empty msgpack document", written(msgpack.packb({})), ("is not a trace file",), ("version",)),
    ("unrelated JSON map", written(b'{"kind": "Pod"}'), ("is not a trace file",), ("version",)),
    ("path under a file", under_a_file, ("could not read",), ("could not write",)),
]


@pytest.mark.parametrize("name, make, words, absent", CASES, ids=[c[0] for c in CASES])
def test_small_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    name: str, make: Callable[[Path], str], words: tuple[str, ...], absent: tuple[str, ...],
) -> None:
    assert main(["xray", make(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    for word in absent:
        assert word not in err[0], err[0]


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "start, ok",
    [
        ("2024-03-31T02:30", False),  # 02:00-03:00 skipped in Berlin
        ("2024-03-31T02:00:00", False),
        ("2024-03-31T01:59:59", True),
        ("2024-03-31T03:00", True),
        ("2024-10-27T02:30", True),  # repeated, not skipped: the first one
        ("2024-03-31T02:30Z", True),  # an explicit offset is never in a gap
    ],
)
def test_a_local_time_in_a_dst_gap_is_refused(
    berlin: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str, ok: bool
) -> None:
    src = tmp_path / "t.sktrace"
    assert main(["example", "-o", str(src), "--events", "5"]) == 0
    capsys.readouterr()
    code = main(["export", "--from", str(src), "-s", start, "-t", "2024-12-01", "-o", str(tmp_path / "o.sktrace")])
    err = capsys.readouterr().err
    if ok:
        assert "daylight saving" not in err
    else:
        assert code == 2
        assert "does not exist in local time" in err and start in err
