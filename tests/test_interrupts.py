"""Issue 12, class 1: Ctrl-C always wins, unless the result is already in place.

Each row delivers a real SIGINT to this process at one moment of `skctl convert`/`example`
(through a hook at that moment) and checks the exit status and the destination: an
interrupt before the rename ends with 130 and the old file untouched; once the new file
has replaced it, the command reports success.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import EXIT_INTERRUPTED
from skctl.cli import main as cli
from skctl.trace import codec, load, synth
from skctl.trace.model import Trace

OLD = b"the previous trace"

# Every test here delivers SIGINT to this process or to a child: they must pass in a suite
# started in the background or under nohup, where SIGINT is inherited ignored.
pytestmark = pytest.mark.usefixtures("interrupts_handled")


def _sigint() -> None:
    signal.raise_signal(signal.SIGINT)


class _Tripwire(list):  # type: ignore[type-arg]
    """A list that sends SIGINT the first time anyone asks for its class: cbor2 does, inside
    `isinstance(value, Mapping)`, a check whose exceptions it reports as "ignored"."""

    fired = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        if not _Tripwire.fired:
            _Tripwire.fired = True
            _sigint()
        return list


def _during_cbor_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Trace.to_document

    def to_document(self: Trace) -> dict[str, Any]:
        doc = original(self)
        doc["events"][len(doc["events"]) // 2]["applied_objs"][0]["spec"]["tripwire"] = _Tripwire([1, 2])
        return doc

    _Tripwire.fired = False
    monkeypatch.setattr(Trace, "to_document", to_document)


def _while_syncing_temp_file(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.fsync

    def fsync(fd: int) -> None:
        _sigint()
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _right_after_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        real(src, dst)
        _sigint()

    monkeypatch.setattr(os, "replace", replace)


def _while_reporting(monkeypatch: pytest.MonkeyPatch) -> None:
    from skctl.cli import output

    real = output.report_written

    def report(line: str, destination: str) -> None:
        _sigint()
        real(line, destination)

    monkeypatch.setattr(output, "report_written", report)


Hook = Callable[[pytest.MonkeyPatch], None]

# (moment, hook, expected exit status, destination replaced?)
CASES: list[tuple[str, Hook, int, bool]] = [
    ("during CBOR encoding, inside cbor2", _during_cbor_encoding, EXIT_INTERRUPTED, False),
    ("while the temporary file is synced", _while_syncing_temp_file, EXIT_INTERRUPTED, False),
    ("right after the rename", _right_after_rename, 0, True),
    ("while the summary line is printed", _while_reporting, 0, True),
]


@pytest.mark.parametrize("command", ["convert", "example"])
@pytest.mark.parametrize("moment, hook, status, replaced", CASES, ids=[c[0] for c in CASES])
def test_interrupt_at_each_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    command: str, moment: str, hook: Hook, status: int, replaced: bool,
) -> None:
    source = tmp_path / "in.sktrace"
    source.write_bytes(codec.encode(synth.generate(events=40, objects=8)))
    dest = tmp_path / "out.sktrace"
    dest.write_bytes(OLD)
    argv = ["convert", str(source), str(dest), "--to", "cbor"] if command == "convert" else ["example", "-o", str(dest)]
    handler_before = signal.getsignal(signal.SIGINT)
    hook(monkeypatch)

    code = cli.main(argv)

    err = capsys.readouterr().err
    assert code == status, err
    assert "Exception ignored" not in err and "Traceback" not in err
    assert ("interrupted" in err) == (status == EXIT_INTERRUPTED)
    if replaced:
        assert load.decode_any(dest.read_bytes())[0].events
    else:
        assert dest.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    assert signal.getsignal(signal.SIGINT) is handler_before  # the command leaves no handler behind


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_process_ends_whatever_waits_at_exit(sig: signal.Signals, status: int) -> None:
    """A library's clean-up at exit that never ends (as adlfs's did, closing a client whose
    retry was stalled) does not keep an interrupted skctl alive: the process entry point
    gives the interpreter's shutdown signals.EXIT_GRACE seconds, then ends with the status.
    The wait is a hang guard, not a timing assertion."""
    import sys

    from tests.helpers import signal_when

    program = (
        "import atexit, sys, time\n"
        "atexit.register(time.sleep, 3600)  # registered first: runs after skctl's own\n"
        "from skctl.cli.entry import main\n"
        "sys.argv = ['skctl', 'demo', '--seconds', '60']\n"
        "sys.exit(main())\n"
    )
    returncode, _, err = signal_when([sys.executable, "-c", program], "recording ", sig)
    assert returncode == status, err
    assert err.strip().splitlines() == ["skctl: interrupted"]


# --- issue 22, class 6: SIGTERM and SIGHUP end a command as Ctrl-C does ----------------------

COMMANDS = {
    "convert": lambda src, dest: ["convert", src, dest, "--to", "cbor"],
    "example": lambda src, dest: ["example", "-o", dest],
    "validate --fix": lambda src, dest: ["validate", src, "--fix", dest],
    "export": lambda src, dest: ["export", "--from", src, "-s", "0", "-t", "+1d", "-o", dest],
}


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigterm_and_sighup_while_writing_clean_up_as_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    command: str, sig: signal.Signals, status: int,
) -> None:
    source = tmp_path / "in.sktrace"
    source.write_bytes(codec.encode(synth.generate(events=40, objects=8)))
    dest = tmp_path / "out.sktrace"
    dest.write_bytes(OLD)
    handlers_before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    real = os.fsync

    def fsync(fd: int) -> None:
        signal.raise_signal(sig)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code = cli.main(COMMANDS[command](str(source), str(dest)))

    err = capsys.readouterr().err
    assert code == status, err
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert dest.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    assert {s: signal.getsignal(s) for s in handlers_before} == handlers_before


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_to_a_process_stuck_reading_exits_like_ctrl_c(tmp_path: Path, sig: signal.Signals, status: int) -> None:
    """A real process (as `timeout` or CI cancellation would stop it), stuck in xray."""
    import sys

    from tests.helpers import running, wait_for

    src = tmp_path / "big.sktrace"
    src.write_bytes(codec.encode(synth.generate(events=20, objects=4)))
    program = ("import sys, time\nfrom skctl.trace import load\nreal = load.decode_any\n"
               "def slow(*a, **k):\n    print('reading', flush=True)\n    time.sleep(3600)\n"
               "load.decode_any = slow\nfrom skctl.cli.entry import main\n"
               f"sys.argv = ['skctl', 'xray', {str(src)!r}]\nsys.exit(main())\n")
    with running([sys.executable, "-c", program]) as proc:
        assert proc.stdout is not None
        wait_for(lambda: proc.stdout.readline().startswith("reading"), "xray to start reading", timeout=60, process=proc)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.strip().splitlines() == ["skctl: interrupted"]


# --- issue 21: Ctrl-C during the decode and the encode of a big, valid trace -------------------

BIG_EVENTS = 20_000  # a body of ~11 MB: seconds of decoding, many reads and writes by cbor2
FORMATS = ["zlib", "lzma", "none", "msgpack"]


@pytest.fixture(scope="module")
def big_traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated trace in each encoding (a valid trace: Ctrl-C must not call it corrupt)."""
    from skctl.trace import simkube

    folder = tmp_path_factory.mktemp("big")
    trace = synth.generate(events=BIG_EVENTS, objects=400)
    paths = {}
    for fmt in FORMATS:
        paths[fmt] = folder / f"big-{fmt}.trace"
        paths[fmt].write_bytes(simkube.encode(trace) if fmt == "msgpack" else codec.encode(trace, fmt))
    return paths


def _announcing(module: str, function: str, line: str, argv: list[str]) -> list[str]:
    """A `python -c` command line that runs skctl with `module.function` printing `line`
    on stdout before it starts: the moment the test sends its signal."""
    program = (
        "import sys\n"
        f"import {module} as target\n"
        f"real = target.{function}\n"
        "def announced(*args, **kwargs):\n"
        f"    print({line!r}, flush=True)\n"
        "    return real(*args, **kwargs)\n"
        f"target.{function} = announced\n"
        "from skctl.cli.entry import main\n"
        f"sys.argv = ['skctl', *{argv!r}]\n"
        "sys.exit(main())\n"
    )
    return [sys.executable, "-c", program]


DECODING = {
    "xray": lambda src, dest: ["xray", "--json", src],
    "convert": lambda src, dest: ["convert", src, dest, "--to", "cbor"],
    "export": lambda src, dest: ["export", "--from", src, "-s", "0", "-t", "+1000d", "-o", dest],
}


@pytest.mark.parametrize("command", list(DECODING))
@pytest.mark.parametrize("fmt", FORMATS)
def test_ctrl_c_while_decoding_a_valid_trace_is_an_interrupt(
    tmp_path: Path, big_traces: dict[str, Path], fmt: str, command: str,
) -> None:
    """A real SIGINT from outside while the source is being decoded (cbor2 reading through a
    file object, zlib/lzma expanding, msgpack unpacking): 130 and one line, never "corrupt";
    the source and the destination untouched."""
    from tests.helpers import signal_when

    source = big_traces[fmt]
    before = source.read_bytes()
    dest = tmp_path / "out.sktrace"
    dest.write_bytes(OLD)
    argv = _announcing("skctl.trace.load", "decode_any", "decoding", DECODING[command](str(source), str(dest)))

    status, _out, err = signal_when(argv, "decoding", signal.SIGINT)

    assert status == EXIT_INTERRUPTED, err
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert dest.read_bytes() == OLD and source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sktrace"]  # no partial file left


@pytest.mark.parametrize(("command", "to"), [("convert", "cbor"), ("convert", "msgpack"), ("export", "cbor")])
def test_ctrl_c_while_encoding_leaves_the_destination(
    tmp_path: Path, big_traces: dict[str, Path], command: str, to: str,
) -> None:
    """A real SIGINT while the result is being encoded (cbor2 writing, zlib compressing, msgpack
    packing): 130, one line, the old destination untouched and no partial file."""
    from tests.helpers import signal_when

    dest = tmp_path / "out.sktrace"
    dest.write_bytes(OLD)
    source = str(big_traces["none"])
    args = (["convert", source, str(dest), "--to", to] if command == "convert"
            else ["export", "--from", source, "-s", "0", "-t", "+1000d", "-o", str(dest)])
    argv = _announcing("skctl.trace.load", "encode_as", "encoding", args)

    status, _out, err = signal_when(argv, "encoding", signal.SIGINT)

    assert status == EXIT_INTERRUPTED, err
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert dest.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sktrace"]


@pytest.mark.parametrize("fmt", ["zlib", "lzma", "none"])
def test_ctrl_c_inside_cbor2s_read_is_an_interrupt_not_corruption(
    tmp_path: Path, big_traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], fmt: str,
) -> None:
    """The exact moment of the old bug, in process: SIGINT delivered while cbor2 is inside a
    read of the decoder's file object, whose exception cbor2 used to turn into a decode
    error ("is corrupt or truncated", exit 2)."""
    reads = {"n": 0}
    real = codec._Reader.read

    def read(self: Any, size: int = -1) -> bytes:
        reads["n"] += 1
        if reads["n"] == 2:
            _sigint()
        return real(self, size)

    monkeypatch.setattr(codec._Reader, "read", read)
    dest = tmp_path / "out.sktrace"
    dest.write_bytes(OLD)

    code = cli.main(["convert", str(big_traces[fmt]), str(dest), "--to", "msgpack"])

    err = capsys.readouterr().err
    assert code == EXIT_INTERRUPTED, err
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert reads["n"] >= 2 and dest.read_bytes() == OLD


def test_an_interrupted_decode_leaves_its_worker_parked_until_released(
    big_traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After Ctrl-C the decoding worker neither unwinds (freeing the half-built document
    would hold up the exit) nor keeps running; released, it ends."""
    import threading

    from skctl.base.signals import release_parked

    reads = {"n": 0}
    real = codec._Reader.read

    def read(self: Any, size: int = -1) -> bytes:
        reads["n"] += 1
        if reads["n"] == 2:
            _sigint()
        return real(self, size)

    monkeypatch.setattr(codec._Reader, "read", read)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        codec.decode(big_traces["none"].read_bytes())
    workers = [t for t in threading.enumerate() if t not in before and t.name == "skctl-stoppable"]
    assert len(workers) == 1 and workers[0].is_alive()
    release_parked()
    workers[0].join(60)  # a hang guard
    assert not workers[0].is_alive()


def test_decoding_off_the_main_thread_needs_no_worker(big_traces: dict[str, Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = big_traces["zlib"].read_bytes()
    with ThreadPoolExecutor(1) as pool:
        trace = pool.submit(codec.decode, data).result()
    assert len(trace.events) == BIG_EVENTS
