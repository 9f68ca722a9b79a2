"""`skctl export --from ...` end to end through skctl.cli.main."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec, load, simkube
from skctl.trace.model import Trace, new_event


def dep(name: str, ns: str = "shop", labels: dict | None = None, replicas: int = 1) -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": replicas}}


def pod(name: str, owner: str, ns: str = "shop") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u"}],
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


T0 = 1_750_000_000


def sample_trace() -> Trace:
    return Trace(
        config={"trackedObjects": {"apps/v1.Deployment": {"trackLifecycle": True}}},
        events=[
            new_event(T0, [dep("web"), dep("api", labels={"team": "x"}), dep("dns", ns="kube-system")]),
            new_event(T0 + 100, [dep("gone")]),
            new_event(T0 + 200, [], [dep("gone")]),
            new_event(T0 + 1000, [dep("web", replicas=3), pod("web-1", "web")]),
            new_event(T0 + 1500, [dep("late")]),
            new_event(T0 + 2000, [dep("after")]),
        ],
        index={"apps/v1.Deployment": {"shop/web": 11}},
        pod_lifecycles={
            ("apps/v1.Deployment", "shop/web"): {5: [{"start_ts": T0 + 10, "end_ts": T0 + 50},
                                                     {"start_ts": T0 + 600, "end_ts": None}]},
            ("apps/v1.Deployment", "shop/gone"): {6: [{"start_ts": T0 + 100, "end_ts": T0 + 200}]},
        },
    )


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.sktrace"
    path.write_bytes(codec.encode(sample_trace()))
    return path


def xray(capsys: pytest.CaptureFixture, path: str) -> dict:
    capsys.readouterr()
    assert main(["xray", "--json", path]) == 0
    return json.loads(capsys.readouterr().out)


def test_export_from_file_to_file(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sub" / "out.sktrace"
    code = main(["export", "--from", str(trace_file), "-s", str(T0 + 500), "-t", str(T0 + 2000), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("exported 3 events, 3 objects, 1 pod-lifecycle owners")
    assert str(out) in captured.out and "cbor" in captured.out
    summary = xray(capsys, str(out))
    assert summary["format"] == "cbor"
    assert summary["start_ts"] == T0 + 500 and summary["end_ts"] == T0 + 1500
    assert summary["objects"] == {"apps/v1.Deployment": {"objects": 3, "applied": 4, "deleted": 0}}
    assert "kube-system" not in summary["namespaces"]
    trace = load.read_trace(str(out))
    assert trace.index["apps/v1.Deployment"]["shop/web"] == 11
    assert [e["ts"] for e in trace.events] == [T0 + 500, T0 + 1000, T0 + 1500]
    assert trace.pod_lifecycles == {("apps/v1.Deployment", "shop/web"): {5: [{"start_ts": T0 + 600, "end_ts": None}]}}


def test_a_start_before_the_recording_starts_at_its_first_event(trace_file: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """`-s 0` (or any start before the recording began) is not an error: the window starts at
    the recording's first event, one line on stderr says so, and the summary shows that start."""
    from skctl.base.timeparse import iso

    out = tmp_path / "out.sktrace"
    capsys.readouterr()
    assert main(["export", "--from", str(trace_file), "-s", "0", "-t", str(T0 + 2000), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    note = captured.err.strip().splitlines()
    assert len(note) == 1 and iso(T0) in note[0] and iso(0) in note[0] and "first event" in note[0]
    assert f"[{iso(T0)}, {iso(T0 + 2000)})" in captured.out
    assert load.read_trace(str(out)).events[0]["ts"] == T0
    # a start inside the recording is taken as given, silently
    assert main(["export", "--from", str(trace_file), "-s", str(T0 + 1), "-t", str(T0 + 2000), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    assert load.read_trace(str(out)).events[0]["ts"] == T0 + 1


def test_relative_start_uses_the_end_and_filters_apply(trace_file: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.sktrace"
    code = main([
        "export", "--from", f"file://{trace_file}", "-t", str(T0 + 1200), "-s", "-20m",
        "--excluded-labels", "team in (x)", "--excluded-namespaces", "", "-o", f"file://{out}",
    ])
    assert code == 0, capsys.readouterr().err
    trace = load.read_trace(str(out))
    assert trace.events[0]["ts"] == T0
    names = {o["metadata"]["name"] for e in trace.events for o in e["applied_objs"]}
    assert names == {"web", "dns", "gone"}


def test_msgpack_output_and_compression(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.msgpack"
    assert main(["export", "--from", str(trace_file), "-s", str(T0), "-t", str(T0 + 1), "--format", "msgpack",
                 "-o", str(out)]) == 0
    data = out.read_bytes()
    assert simkube.looks_like_msgpack_map(data)
    assert load.decode_any(data)[1] == "msgpack"
    out2 = tmp_path / "out.lzma"
    assert main(["export", "--from", str(trace_file), "-s", str(T0), "-t", str(T0 + 1), "--compression", "lzma",
                 "-o", str(out2)]) == 0
    assert len(load.read_trace(str(out2)).events) == 2  # the empty start event + the one at T0


def test_export_from_a_simkube_trace(reference_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cron.sktrace"
    source = str(reference_dir / "cronjob.sktrace")
    code = main(["export", "--from", source, "-s", "1743286800", "-t", "1743287100",
                 "--excluded-namespaces", "", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    trace = load.read_trace(str(out))
    assert trace.index == {"batch/v1.CronJob": {"default/hello-simkube": 17156035354639895998}}
    assert sum(len(lcs) for lcs in trace.pod_lifecycles[("batch/v1.CronJob", "default/hello-simkube")].values()) == 3


def test_to_memory_url(trace_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--from", str(trace_file), "-s", str(T0), "-t", str(T0 + 10),
                 "-o", "memory://exports/test.sktrace"]) == 0
    assert xray(capsys, "memory://exports/test.sktrace")["events"] == 2


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("skctl: error:") or "error:" in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["-s", "last tuesday"], "--start-time: cannot understand 'last tuesday'"),
        (["-t", "soon"], "--end-time: cannot understand 'soon'"),
        (["-s", "-30"], "--start-time"),
        (["-t", "-2h", "-s", "-0s"], "export window is empty"),  # dash values reach their flags
        (["-s", str(T0 + 10), "-t", str(T0 + 10)], "export window is empty"),
        (["-s", str(T0 + 20), "-t", str(T0 + 10)], "export window is empty"),
        (["-s", "+5m"], "export window is empty"),
        (["--excluded-labels", "a in x"], "--excluded-labels: bad label selector 'a in x'"),
        (["--excluded-labels", "a=b=c"], "--excluded-labels"),
        (["--excluded-labels", "a=b", "--excluded-labels", "!"], "'!'"),
        (["--excluded-namespaces", "Bad_NS"], "--excluded-namespaces: 'Bad_NS'"),
        (["-o", "ftp://x/y"], "unsupported URL scheme 'ftp'"),
        (["--storage-option", "novalue"], "--storage-option"),
        (["--tracer-timeout", "0", "--tracer-address", "http://127.0.0.1:1"], "--tracer-timeout"),
        # 1e300 was an OverflowError deep in the socket layer ("internal error")
        (["--tracer-timeout", "1e300", "--tracer-address", "http://127.0.0.1:1"], "--tracer-timeout: duration '1e300' is out of range"),
        (["--tracer-address", "ftp://host"], "--tracer-address"),
        # a host label past 63 characters was urllib3's LocationParseError ("internal error")
        (["--tracer-address", "http://" + "a" * 64 + ":7777"], "--tracer-address"),
        (["--tracer-address", "http://a..b:7777"], "--tracer-address"),
        # a name past NAME_MAX was an OSError from the journal check ("internal error")
        (["--from", "a" * 300], "could not read"),
    ],
)
def test_input_errors_are_one_line_exit_2(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                          flags: list[str], needle: str) -> None:
    args = ["export", *flags]
    if "--tracer-address" not in flags and "--from" not in flags:
        args += ["--from", str(trace_file)]
    if "-o" not in flags:
        args += ["-o", str(tmp_path / "out.sktrace")]
    assert main(args) == 2
    assert needle in one_error_line(capsys)
    assert not (tmp_path / "out.sktrace").exists()


def test_missing_source_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--from", str(tmp_path / "nope.sktrace"), "-o", str(tmp_path / "o")]) == 2
    assert "no file at" in one_error_line(capsys)


def test_from_and_tracer_address_are_exclusive(trace_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--from", str(trace_file), "--tracer-address", "http://x"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def _partials(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".skctl-partial")]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_write_leaves_no_partial_and_keeps_existing_file(
    trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
) -> None:
    out_dir = tmp_path / "dest"
    out_dir.mkdir()
    existing = out_dir / "out.sktrace"
    existing.write_bytes(b"precious")
    fresh = out_dir / "fresh.sktrace"

    def broken_fsync(fd: int) -> None:
        raise failure

    monkeypatch.setattr(os, "fsync", broken_fsync)
    for dest in (existing, fresh):
        code = main(["export", "--from", str(trace_file), "-s", str(T0), "-t", str(T0 + 10), "-o", str(dest)])
        if isinstance(failure, KeyboardInterrupt):
            assert code == 130
            assert "interrupted" in capsys.readouterr().err
        else:
            assert code == 1
            line = one_error_line(capsys)
            assert "could not write" in line and "No space left" in line
    assert existing.read_bytes() == b"precious"
    assert not fresh.exists()
    assert _partials(out_dir) == []


def test_destination_is_a_directory(trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--from", str(trace_file), "-s", str(T0), "-t", str(T0 + 10), "-o", str(tmp_path)]) == 2
    assert "is a directory" in one_error_line(capsys)


def test_help_lists_the_flags(capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--start-time", "--end-time", "--excluded-namespaces", "--excluded-labels", "--from",
                 "--tracer-address", "--output", "--storage-option", "--compression", "--format"):
        assert flag in out
