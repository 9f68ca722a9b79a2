"""Issue 12, classes 2 and 4: decompression bombs, trailing garbage and unbounded input.

Every row is a real `skctl xray`/`export` run in this process: it must end with exit 2 and
one line saying what is wrong, after reading and expanding only a bounded amount.
"""

from __future__ import annotations

import http.server
import lzma
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import cbor2
import msgpack
import pytest

from skctl.base import settings
from skctl.cli.main import main
from skctl.trace import codec, limits, synth
from skctl.trace.codec import SELF_DESCRIBE
from tests.fixtures.fifos import fed_fifo

MiB = 1024 * 1024


def _envelope(compression: str, payload: bytes) -> bytes:
    return SELF_DESCRIBE + cbor2.dumps({"version": 2, "compression": compression, "payload": payload})


def _doc_bytes(**extra: object) -> bytes:
    doc = synth.generate(events=5, objects=3).to_document()
    doc.update(extra)
    return cbor2.dumps(doc, string_referencing=True)


def _lzma_bomb() -> bytes:
    # A valid trace document padded with 80 MiB of one byte: lzma shrinks it to ~12 KB,
    # an expansion of thousands, which no real trace has.
    return _envelope("lzma", lzma.compress(_doc_bytes(pad="a" * (80 * MiB)), preset=1))


def _second_lzma_stream() -> bytes:
    return _envelope("lzma", lzma.compress(_doc_bytes()) + lzma.compress(b"\xa0"))


def _good() -> bytes:
    return codec.encode(synth.generate(events=5, objects=3))


# (name, file content, extra flags, words the one error line must contain)
BOMBS: list[tuple[str, Callable[[], bytes], tuple[str, ...], tuple[str, ...]]] = [
    ("lzma expanding thousands of times", _lzma_bomb, (), ("expands past 64 MiB", "--max-trace-size")),
    ("zlib over an explicit --max-trace-size", lambda: _envelope("zlib", zlib.compress(_doc_bytes(pad="a" * (2 * MiB)))),
     ("--max-trace-size", "1Mi"), ("expands past --max-trace-size (1 MiB)",)),
    ("garbage after an uncompressed document", lambda: codec.encode(synth.generate(events=5, objects=3), "none") + b"\0junk",
     (), ("trailing data after the CBOR document",)),
    ("garbage after the compressed envelope", lambda: _good() + b"junk", (), ("trailing data after the CBOR document",)),
    ("garbage inside the payload, after the document", lambda: _envelope("zlib", zlib.compress(_doc_bytes() + b"junk")),
     (), ("trailing data after the CBOR document",)),
    ("garbage after the zlib stream", lambda: _envelope("zlib", zlib.compress(_doc_bytes()) + b"junk"),
     (), ("4 bytes of trailing data after the zlib stream",)),
    ("a second lzma stream", _second_lzma_stream, (), ("trailing data after the lzma stream",)),
    ("a truncated zlib stream", lambda: _envelope("zlib", zlib.compress(_doc_bytes())[:-9]), (), ("zlib stream is truncated",)),
    ("msgpack with garbage after it",
     lambda: msgpack.packb(synth.generate(events=3, objects=2).to_document() | {"pod_lifecycles": {}}) + b"junk",
     (), ("corrupt",)),
]


def run_xray(path: Path, *flags: str) -> int:
    try:
        return main(["xray", str(path), *flags])
    finally:
        settings.configure()


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("name, content, flags, words", BOMBS, ids=[b[0] for b in BOMBS])
def test_bombs_and_trailing_garbage_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    name: str, content: Callable[[], bytes], flags: tuple[str, ...], words: tuple[str, ...],
) -> None:
    path = tmp_path / "t.sktrace"
    path.write_bytes(content())
    assert run_xray(path, *flags) == 2
    line = one_error_line(capsys)
    for word in words:
        assert word in line, line


def test_the_override_lets_a_highly_compressible_trace_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.sktrace"
    path.write_bytes(_lzma_bomb())
    assert run_xray(path, "--max-trace-size", "200Mi") == 0, capsys.readouterr().err


# --- class 4: input that never ends, or is far too big -------------------------------------


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[Callable[[bytes], Path]]:
    """A FIFO fed forever with `head` and then zeros, until the reader goes away."""
    with ExitStack() as stack:

        def start(head: bytes) -> Path:
            def feed(fifo: BinaryIO) -> None:
                fifo.write(head)
                while True:
                    fifo.write(bytes(MiB))

            return stack.enter_context(fed_fifo(tmp_path / "endless", feed))

        yield start


def test_dev_zero_is_refused_after_the_first_chunk(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_xray(Path("/dev/zero")) == 2
    assert "not a trace file" in one_error_line(capsys)


@pytest.mark.parametrize(
    "head, words",
    [
        (SELF_DESCRIBE, ("larger than --max-trace-size (1 MiB)",)),  # looks like CBOR, never ends
        (b"\x85\xa7version", ("larger than --max-trace-size (1 MiB)",)),  # looks like msgpack
        (b"\x85\x00\x00", ("not a trace file",)),  # a msgpack map without string keys
        (b"{ \x00", ("not a trace file",)),  # not JSON either
    ],
    ids=["cbor head", "msgpack head", "msgpack-like garbage", "json-like garbage"],
)
def test_an_endless_stream_stops_at_the_bound(
    endless_fifo: Callable[[bytes], Path], capsys: pytest.CaptureFixture[str], head: bytes, words: tuple[str, ...],
) -> None:
    assert run_xray(endless_fifo(head), "--max-trace-size", "1Mi") == 2
    line = one_error_line(capsys)
    for word in words:
        assert word in line, line


def test_a_file_larger_than_the_bound_is_refused_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.sktrace"
    with open(path, "wb") as f:
        f.write(SELF_DESCRIBE)
        f.truncate(limits.DEFAULT_MAX_TRACE_BYTES + 1)  # sparse: costs no disk
    assert run_xray(path) == 2
    assert "larger than 2 GiB" in one_error_line(capsys)


class _EndlessTracer(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/cbor")
        self.end_headers()
        try:
            self.wfile.write(SELF_DESCRIBE)
            while True:
                self.wfile.write(bytes(MiB))
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_a_tracer_that_streams_forever_is_cut_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessTracer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = tmp_path / "out.sktrace"
        code = main(["export", "--tracer-address", f"http://127.0.0.1:{server.server_port}", "-s", "100", "-t", "200",
                     "-o", str(out), "--max-trace-size", "2Mi"])
    finally:
        settings.configure()
        server.shutdown()
        server.server_close()
    assert code == 2
    assert "larger than --max-trace-size (2 MiB)" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("text", ["abc", "-1", "0.5", "100", "1e400", "NaN"])
def test_bad_sizes_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    assert main(["xray", str(tmp_path / "x"), f"--max-trace-size={text}"]) == 2
    assert "is not a size" in one_error_line(capsys)


@pytest.mark.parametrize("flag", ["--events", "--objects"])
@pytest.mark.parametrize("text", [str(2**64), "99999999999999999999", "1000001"])
def test_example_counts_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, text: str) -> None:
    # Unbounded, --events 2**64 generated events until the machine gave out.
    if flag == "--objects" and text == "1000001":
        text = str(synth.MAX_OBJECTS + 1)
    assert main(["example", "-o", str(tmp_path / "t"), flag, text]) == 2
    assert f"argument {flag}: '{text}' must be a whole number from 1 to" in one_error_line(capsys)
    assert not (tmp_path / "t").exists()


def test_example_start_ts_leaves_room_for_its_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --start-ts near 9999-12-31 wrote a trace every other command refused as invalid.
    out = tmp_path / "t"
    assert main(["example", "-o", str(out), "--start-ts", "253402300799"]) == 2
    message = one_error_line(capsys)
    assert "--start-ts 253402300799 leaves no room for 200 events" in message
    assert not out.exists()
    latest = message.rsplit(" ", 1)[1]
    assert main(["example", "-o", str(out), "--start-ts", latest]) == 0
    capsys.readouterr()
    assert main(["xray", str(out), "--json"]) == 0
