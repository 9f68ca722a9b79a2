"""The CLI shell and the error policy: one line on stderr, the documented exit status, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from skctl import __version__
from skctl.trace import codec, load, synth
from tests.helpers import interrupts_default, skctl

ROOT = Path(__file__).resolve().parent.parent


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "good.sktrace"
    path.write_bytes(codec.encode(synth.generate(events=50, objects=10)))
    return path


def test_version_flag_and_command() -> None:
    assert skctl("--version").stdout.strip() == f"skctl {__version__}"
    assert skctl("version").stdout.strip() == f"skctl {__version__}"


def test_help_lists_commands_without_importing_heavy_libraries() -> None:
    probe = (
        "import sys; from skctl.cli.main import build_parser; build_parser().format_help();"
        "heavy = [m for m in ('kubernetes', 'fsspec', 'rich', 'cbor2', 'requests', 'botocore', 'textual') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
    assert "convert" in skctl("--help").stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["bogus"], ["invalid choice"]),
        (["convert", "only-one-arg"], ["required"]),
        (["-v", "loud", "version"], ["invalid choice"]),
        (["convert", "a", "b", "--to", "yaml"], ["--to"]),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], words: list[str]) -> None:
    assert_one_line_error(skctl(*args), 2, *words)


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "truncated": (None, "truncated"),
    "corrupt": (None, "corrupt"),
    "not-a-trace": (b"apiVersion: v1\nkind: Pod\n", "not a trace"),
    "wrong-version": (codec.encode(synth.generate(events=3, objects=2).__class__(version=7)), "version 7"),
    "wrong-version-msgpack": (
        msgpack.packb({"version": 9, "config": {}, "events": [], "index": {}, "pod_lifecycles": {}}),
        "version 9",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["convert", "xray"])
def test_bad_trace_files(kind: str, command: str, tmp_path: Path, good_trace: Path) -> None:
    data, word = BAD_INPUTS[kind]
    good = good_trace.read_bytes()
    if kind == "truncated":
        data = good[: len(good) // 2]
    if kind == "corrupt":
        data = good[:20] + bytes(b ^ 0x5A for b in good[20:])
    src = _write(tmp_path, "in.sktrace", data)
    dest = tmp_path / "out.sktrace"
    args = ["convert", str(src), str(dest)] if command == "convert" else ["xray", str(src)]
    assert_one_line_error(skctl(*args), 2, word)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.sktrace"], "no partial files left behind"


@pytest.mark.parametrize(
    "url, word",
    [
        ("ftp://host/trace", "unsupported URL scheme 'ftp'"),
        ("s3://bucket-only", "malformed URL"),
        ("file://remotehost/x", "malformed URL"),
    ],
)
def test_bad_urls(url: str, word: str, good_trace: Path) -> None:
    assert_one_line_error(skctl("xray", url), 2, word)
    assert_one_line_error(skctl("convert", str(good_trace), url), 2, word)


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(skctl("xray", str(tmp_path / "nope.sktrace")), 2, "no file at")
    assert_one_line_error(skctl("convert", str(tmp_path / "nope"), str(tmp_path / "out")), 2, "no file at")
    assert not (tmp_path / "out").exists()


def test_unwritable_destinations_leave_nothing(tmp_path: Path, good_trace: Path) -> None:
    blocker = _write(tmp_path, "plain-file", b"keep me")
    assert_one_line_error(skctl("convert", str(good_trace), str(blocker / "sub" / "out")), 2, "could not write")
    assert blocker.read_bytes() == b"keep me"
    assert_one_line_error(skctl("convert", str(good_trace), str(tmp_path)), 2, "directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain-file"]


def test_failed_convert_does_not_clobber_existing_destination(tmp_path: Path) -> None:
    dest = _write(tmp_path, "existing.sktrace", b"precious")
    src = _write(tmp_path, "bad.sktrace", b"\xd9\xd9\xf7\xa1")
    assert_one_line_error(skctl("convert", str(src), str(dest)), 2, "truncated")
    assert dest.read_bytes() == b"precious"


def test_convert_overwrites_atomically_on_success(tmp_path: Path, good_trace: Path) -> None:
    dest = _write(tmp_path, "existing.msgpack", b"old")
    result = skctl("convert", str(good_trace), str(dest))
    assert result.returncode == 0, result.stderr
    assert "wrote msgpack trace" in result.stdout
    assert msgpack.unpackb(dest.read_bytes(), strict_map_key=False, use_list=False)["version"] == 2


def test_debug_verbosity_shows_the_traceback(tmp_path: Path) -> None:
    result = skctl("-v", "debug", "xray", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "no file at" in result.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # a writer that never writes: reading blocks until data comes, a command stuck mid-read
    writer = os.open(fifo, os.O_RDWR)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "skctl", "xray", str(fifo)], stderr=subprocess.PIPE, text=True, cwd=ROOT,
            preexec_fn=interrupts_default,  # even when this suite runs with SIGINT ignored (nohup)
        )
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(writer)
    assert proc.returncode == 130
    assert err.strip() == "skctl: interrupted"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["xray", "t"], "xray"),
        (["-v", "debug", "convert", "a", "b"], "convert"),
        (["--verbosity", "info", "run", "x"], "run"),
        (["--version"], None),
        (["bogus", "xray"], None),
        ([], None),
    ],
)
def test_requested_command(argv: list[str], expected: str | None) -> None:
    from skctl.cli.main import requested_command

    assert requested_command(argv) == expected


def test_only_the_requested_command_gets_its_full_parser() -> None:
    from skctl.cli.commands import ALIASES, COMMANDS
    from skctl.cli.main import build_parser

    parser = build_parser(["xray", "t"])
    sub = next(a for a in parser._actions if a.dest == "command")
    built = {name for name, p in sub.choices.items() if p.get_default("_run") is not None}
    assert built == {"xray"}
    assert set(sub.choices) == set(COMMANDS) | {a for aliases in ALIASES.values() for a in aliases}
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert all(p.get_default("_run") is not None for p in sub.choices.values())


def test_root_help_lists_every_command_with_its_help() -> None:
    from skctl.cli.commands import ALIASES, COMMANDS

    out = " ".join(skctl("--help").stdout.split())
    for name, help_text in COMMANDS.items():
        shown = f"{name} ({', '.join(ALIASES[name])})" if name in ALIASES else name
        assert f"{shown} {help_text}" in out
    assert "--json" in skctl("xray", "--help").stdout


def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path: Path, good_trace: Path) -> None:
    target = _write(tmp_path, "target.sktrace", b"old")
    link = tmp_path / "link.sktrace"
    link.symlink_to(target.name)
    assert skctl("convert", str(good_trace), str(link)).returncode == 0
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_bytes()[:1] != b"o" and len(target.read_bytes()) > 100


def test_writing_to_a_fifo_streams_into_it(tmp_path: Path, good_trace: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = skctl("convert", str(good_trace), str(fifo), "--to", "cbor")
    data, _ = reader.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert data.startswith(b"\xd9\xd9\xf7")
    assert fifo.is_fifo(), "the FIFO must not be replaced by a regular file"


@pytest.mark.parametrize("flags", [[], ["--json"]])
def test_a_closed_pipe_is_not_a_failure(flags: list[str], tmp_path: Path) -> None:
    trace = tmp_path / "t.sktrace"
    trace.write_bytes(codec.encode(synth.generate(events=50, objects=10)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "skctl", "xray", str(trace), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    proc.stdout.close()  # type: ignore[union-attr]  # the reader is gone before the first write
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"Exception ignored" not in err


def test_writing_to_stdout_keeps_the_summary_out_of_the_data(tmp_path: Path, good_trace: Path) -> None:
    out = tmp_path / "captured.sktrace"
    with out.open("wb") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "skctl", "convert", str(good_trace), "/dev/stdout", "--to", "cbor"],
            stdout=stdout, stderr=subprocess.PIPE, text=False, cwd=ROOT, timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert b"wrote cbor trace to /dev/stdout" in result.stderr
    assert load.decode_any(out.read_bytes())[0].to_document() == codec.decode(good_trace.read_bytes()).to_document()


def test_each_command_runs_with_the_settings_of_its_own_flags(tmp_path: Path) -> None:
    """--max-trace-size, --request-timeout and --exec-timeout become one settings object
    (skctl.base.settings); a flag not given means its default, whatever an earlier command
    in the same process said."""
    from skctl.base import settings
    from skctl.cli.main import build_parser, command_settings

    def parsed(argv: list[str]) -> settings.Settings:
        return command_settings(build_parser(argv).parse_args(argv))

    trace = str(tmp_path / "t.sktrace")
    assert parsed(["drive", "sim", "--trace-path", trace, "--max-trace-size", "2Mi", "--request-timeout", "30s", "--exec-timeout", "2m"]) == \
        settings.Settings(max_trace_bytes=2 * 1024**2, request_timeout=30.0, exec_timeout=120.0)
    assert parsed(["drive", "sim", "--trace-path", trace]) == settings.Settings()
    assert parsed(["xray", trace]) == settings.Settings()  # a command without the cluster flags
    with settings.using(request_timeout=5.0) as inside:
        assert settings.current() is inside and inside.request_timeout == 5.0 and inside.exec_timeout == 60.0
    assert settings.current() == settings.Settings()
