"""`skctl export -o s3://… / gs://… / az://…` against the loopback object stores.

Uses the `object_store_url` fixture of tests/fixtures/storage_servers.py (moto, the GCS
emulator, Azurite).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec, load
from skctl.trace.model import Trace, new_event
from tests.fixtures.storage_servers import list_objects
from tests.helpers import deployment

T0 = 1_750_000_000


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    trace = Trace(events=[new_event(T0 + i, [deployment(f"web-{i}", "shop", replicas=i % 5)]) for i in range(50)])
    path = tmp_path / "in.sktrace"
    path.write_bytes(codec.encode(trace))
    return path


def test_export_to_object_store_and_read_back(object_store_url: str, trace_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    url = f"{object_store_url}/exports/window.sktrace"
    local = tmp_path / "window.sktrace"
    window = ["-s", str(T0 + 10), "-t", str(T0 + 40), "--excluded-labels", "app in (web-20,web-21)"]
    assert main(["export", "--from", str(trace_file), *window, "-o", url]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"to {url} (" in out and "exported 29 events, 38 objects" in out
    assert main(["export", "--from", str(trace_file), *window, "-o", str(local)]) == 0
    assert list_objects(object_store_url) == ["exports/window.sktrace"]

    remote = load.read_trace(url)
    assert remote.to_document() == load.read_trace(str(local)).to_document()
    capsys.readouterr()
    assert main(["xray", "--json", url]) == 0
    assert '"events": 29' in capsys.readouterr().out


def test_export_can_read_its_source_from_the_object_store(object_store_url: str, trace_file: Path,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = f"{object_store_url}/recordings/full.sktrace"
    assert main(["convert", str(trace_file), source, "--to", "cbor"]) == 0
    out = tmp_path / "w.sktrace"
    assert main(["export", "--from", source, "-s", str(T0), "-t", str(T0 + 5), "-o", str(out)]) == 0
    assert len(load.read_trace(str(out)).events) == 6


_INTERRUPT: dict[str, signal.Signals | None] = {"signal": None}


@contextlib.contextmanager
def _interrupting_progress(description: str, total: int | None, enabled: bool | None = None) -> Iterator:
    calls = {"n": 0}

    def advance(n: int) -> None:
        calls["n"] += 1
        if description.startswith("writing") and calls["n"] >= 3:  # after ~12 MB: past the first multipart part of every backend
            sig = _INTERRUPT["signal"]
            if sig is None:
                raise KeyboardInterrupt
            signal.raise_signal(sig)  # a real SIGINT; SIGTERM, SIGHUP: handled as Ctrl-C (issue 22, class 6)

    yield advance


@pytest.mark.parametrize(("sig", "status"),
                         [(None, 130), (signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["ctrl-c", "SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.usefixtures("interrupts_handled")  # a real SIGINT, even in a suite that ignores it (nohup)
def test_interrupted_upload_leaves_nothing_and_keeps_the_old_object(
    object_store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
    sig: signal.Signals | None, status: int,
) -> None:
    # ~20 MB of incompressible objects so the upload takes several chunks.
    big = Trace(events=[new_event(T0 + i, [deployment(f"web-{i}", "shop", replicas=i % 5, pod_annotations={"blob": os.urandom(600).hex()})]) for i in range(16_000)])
    source = tmp_path / "big.sktrace"
    source.write_bytes(codec.encode(big, "none"))
    url = f"{object_store_url}/exports/keep.sktrace"
    small = tmp_path / "small.sktrace"
    small.write_bytes(codec.encode(Trace(events=[new_event(T0, [deployment("web-1", "shop")])])))
    assert main(["export", "--from", str(small), "-s", str(T0), "-t", str(T0 + 1), "-o", url]) == 0
    before = load.read_trace(url).to_document()

    import skctl.cli.output

    args = ["export", "--from", str(source), "-s", str(T0), "-t", str(T0 + 20_000), "--compression", "none"]
    with monkeypatch.context() as patch:
        patch.setattr(skctl.cli.output, "transfer_progress", _interrupting_progress)
        patch.setitem(_INTERRUPT, "signal", sig)
        assert main([*args, "-o", url]) == status
        assert main([*args, "-o", f"{object_store_url}/exports/new.sktrace"]) == status

    assert list_objects(object_store_url) == ["exports/keep.sktrace"]
    assert load.read_trace(url).to_document() == before
