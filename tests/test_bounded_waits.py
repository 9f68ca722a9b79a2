"""Every wait has an overall bound (issue 22, classes 8 and 10): a tracer that trickles or
redirects, a FIFO without a writer, a symlink loop, a storage service that never answers.

Real loopback servers stand in for a misbehaving tracer; files, FIFOs and symlink loops
are real too. Each row is exit 2 (bad input) or 1 (the world), one line, never a hang.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec, synth
from tests.fixtures.fifos import fed_fifo

SERVE_SECONDS = 30  # how long a trickling server keeps going: longer than any bound tested here


def _serve(handler: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                handler(self)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _trickle(h: BaseHTTPRequestHandler) -> None:
    """A CBOR-looking answer, one byte every 0.2 s: each read is quick, the whole never ends."""
    body = codec.encode(synth.generate(events=50, objects=5))
    h.send_response(200)
    h.send_header("Content-Type", "application/cbor")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    deadline = time.monotonic() + SERVE_SECONDS
    for byte in body:
        if time.monotonic() > deadline:
            return
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)


def _redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return answer


@pytest.fixture
def trickling_tracer() -> Iterator[str]:
    yield from _serve(_trickle)


def test_a_trickling_tracer_is_bounded_by_tracer_timeout_overall(trickling_tracer: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.sktrace"
    assert main(["export", "--tracer-address", trickling_tracer, "-s", "0", "-t", "+1h", "--tracer-timeout", "1",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not answer within 1s" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://x/", "http://127.0.0.1:1/export", "::"])
def test_a_tracer_that_redirects_is_the_tracer_s_fault_not_the_address(location: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for url in _serve(_redirect(location)):
        assert main(["export", "--tracer-address", url, "-s", "0", "-t", "+1h", "-o", str(tmp_path / "o.sktrace")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "redirect" in err[0] and "--tracer-address" in err[0], err
    assert "is not an http(s) URL" not in err[0]


# --- class 10 -------------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)  # nobody ever writes to it
    return path


@pytest.mark.parametrize("argv", [
    lambda p, tmp: ["xray", str(p)],
    lambda p, tmp: ["xray", "--json", str(p)],
    lambda p, tmp: ["convert", str(p), str(tmp / "o.msgpack")],
    lambda p, tmp: ["validate", str(p)],
    lambda p, tmp: ["export", "--from", str(p), "-s", "0", "-t", "+1h", "-o", str(tmp / "o.sktrace")],
], ids=["xray", "xray --json", "convert", "validate", "export --from"])
@pytest.mark.parametrize("kind", ["FIFO without a writer", "symlink loop"])
def test_unreadable_local_inputs_are_bad_input_at_once(tmp_path: Path, fifo: Path, capsys: pytest.CaptureFixture[str],
                                                       argv: Callable[[Path, Path], list[str]], kind: str) -> None:
    path = fifo
    if kind == "symlink loop":
        path = tmp_path / "loop"
        path.symlink_to(path)
    assert main(argv(path, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0], err
    assert ("is empty" if kind.startswith("FIFO") else "symbolic links form a loop") in err[0]


def test_a_pipe_with_a_writer_is_still_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`xray <(zcat t.gz)`: a FIFO whose writer comes is read as before."""
    data = codec.encode(synth.generate(events=5, objects=2))
    with fed_fifo(tmp_path / "fifo", lambda f: f.write(data)) as fifo:
        assert main(["xray", "--json", str(fifo)]) == 0, capsys.readouterr().err


def test_trace_config_from_a_fifo_is_refused_at_once(fifo: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from skctl.base.errors import InputError
    from skctl.tracer.config import load_config

    with pytest.raises(InputError):
        load_config(str(fifo))


@pytest.fixture
def silent_gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A GCS endpoint that accepts connections and reads requests but never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.getsockname()[1]}")
    from skctl.storage import backends

    monkeypatch.setattr(backends, "GCS_ANSWER_TIMEOUT", 1.0)  # the default's behaviour, scaled down
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        server.close()


@pytest.mark.parametrize("argv", [
    lambda tmp: ["xray", "gs://bucket/t.sktrace", "--storage-option", "retries=0"],
    lambda tmp: ["convert", str(tmp / "t.sktrace"), "gs://bucket/t.msgpack", "--storage-option", "retries=0"],
], ids=["read", "write"])
def test_a_gcs_request_that_is_never_answered_ends(silent_gcs: None, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  argv: Callable[[Path], list[str]]) -> None:
    (tmp_path / "t.sktrace").write_bytes(codec.encode(synth.generate(events=3, objects=2)))
    assert main(argv(tmp_path)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gs://bucket" in err[0] and "internal error" not in err[0], err
