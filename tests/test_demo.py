"""`skctl demo`: the whole loop on two in-process sandboxes, its comparison, --keep and exits.

The demo is run for real (sandboxes, workload, tracer, export over HTTP, drive): once through
the library, once as a subprocess, once with a fault injected on the simulation side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from skctl import cli
from skctl.demo import (
    DELETES,
    LIFECYCLES,
    MARKER,
    OBJECTS,
    DemoMismatch,
    DemoOptions,
    DemoView,
    Row,
    Tally,
    compare,
    prepare_workdir,
    run_demo,
)
from skctl.errors import EXIT_OPERATIONAL, EXIT_USAGE, InputError
from skctl.trace import activity
from skctl.trace.load import read_trace

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_KINDS = {"apps/v1.Deployment", "batch/v1.CronJob", "v1.Pod", "batch.volcano.sh/v1alpha1.Job"}


class Recorder(DemoView):
    """Keeps what the demo reported, for the assertions."""

    def __init__(self) -> None:
        self.simulation_url = ""
        self.steps: list[Any] = []
        self.manifest_text = ""
        self.report: dict[str, Any] = {}

    def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None:
        self.simulation_url = simulation_url

    def xray(self, report: dict[str, Any], url: str) -> None:
        self.report = report

    def manifests(self, text: str, path: Path) -> None:
        self.manifest_text = text

    def replay_step(self, record: Any, total: int) -> None:
        self.steps.append((record, total))


def test_demo_replays_what_it_recorded_and_keeps_its_files(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    view = Recorder()
    result = run_demo(DemoOptions(seconds=5, speed=20, keep=str(keep)), view)

    rows = {(r.section, r.gvk): r for r in result.comparison.rows}
    assert result.comparison.ok and result.drive.failures == []
    assert {gvk for section, gvk in rows if section == OBJECTS} == WORKLOAD_KINDS
    # the recorded side agrees with xray's own count of the kept trace file
    trace = read_trace(str(keep / "demo.sktrace"))
    summary = activity.report(trace, summary=True, events=False, key=None, width=None)
    for gvk in WORKLOAD_KINDS:
        assert rows[(OBJECTS, gvk)].recorded == summary["objects"][gvk]["objects"] > 0
        assert rows[(OBJECTS, gvk)].simulated == rows[(OBJECTS, gvk)].recorded
    assert view.report["events"] == len(trace.events)
    assert result.comparison.total(LIFECYCLES) == sum(len(v) for by_hash in trace.pod_lifecycles.values() for v in by_hash.values()) > 0
    # every event was replayed and shown
    assert [record.index for record, _ in view.steps] == list(range(len(trace.events)))
    # the manifests mount the trace from the node, as `skctl run --dry-run` prints them
    trace_path = str(keep / "demo.sktrace")
    assert f"path: {trace_path}\n          type: File" in view.manifest_text
    assert f"mountPath: {trace_path}\n          readOnly: true" in view.manifest_text
    assert (keep / "manifests.yaml").read_text() == view.manifest_text
    assert sorted(p.name for p in keep.iterdir()) == sorted(
        [MARKER, "demo.sktrace", "journal", "manifests.yaml", "production.kubeconfig", "simulation.kubeconfig",
         "tracer-config.yaml"]
    )


def test_demo_command_end_to_end() -> None:
    proc = subprocess.run([sys.executable, "-m", "skctl", "demo", "--seconds", "5", "--speed", "20"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "recording and simulation match:" in out
    assert "DIFFERS" not in out
    # the comparison table has a row per workload kind: recorded == simulation, marked ok
    table = out.split("6. recorded in production vs applied in the simulation", 1)[1]
    for gvk in WORKLOAD_KINDS:
        line = next(line for line in table.splitlines() if f" {gvk} " in line)
        recorded, simulated, mark = line.split()[-3:]
        assert recorded == simulated and mark == "ok" and int(recorded) > 0
    # not a terminal: a plain line per replayed event, and the temporary directory is gone
    assert "event 1/" in out
    workdir = next(line.split()[1] for line in out.splitlines() if line.startswith("files "))
    assert not Path(workdir).exists()


def test_a_simulation_that_misses_an_object_fails_the_demo() -> None:
    class DropVcjob(Recorder):
        def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None:
            # vcjob-1 is the workload's first object (seed 0) and is applied once: every
            # attempt of its server-side apply (the first and the client's 3 retries) fails
            fault = {"action": "fail", "count": 4, "status": 500, "pathContains": "/jobs/vcjob-1", "method": "PATCH"}
            request = urllib.request.Request(f"{simulation_url}/sandbox/faults", json.dumps(fault).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert json.load(resp) == {"ok": True}

    with pytest.raises(DemoMismatch) as caught:
        run_demo(DemoOptions(seconds=3, speed=20), DropVcjob())
    comparison = caught.value.comparison
    row = next(r for r in comparison.rows if (r.section, r.gvk) == (OBJECTS, "batch.volcano.sh/v1alpha1.Job"))
    assert row.simulated == row.recorded - 1
    assert caught.value.exit_code == EXIT_OPERATIONAL
    assert "\n" not in str(caught.value)
    assert f"objects batch.volcano.sh/v1alpha1.Job: recorded {row.recorded}, simulation {row.simulated}" in str(caught.value)


def test_compare_finds_every_difference() -> None:
    recorded = Tally({"apps/v1.Deployment": {"shop/web-1", "shop/web-2"}, "v1.Pod": {"shop/bare-1"}})
    recorded.deletes["v1.Pod"] = 1
    recorded.lifecycles["apps/v1.Deployment"] = 4
    simulated = Tally({"apps/v1.Deployment": {"shop/web-1"}, "v1.Pod": {"shop/bare-1"}, "batch/v1.Job": {"shop/x"}})
    simulated.lifecycles["apps/v1.Deployment"] = 4
    comparison = compare(recorded, simulated)
    assert comparison.rows == [
        Row(OBJECTS, "apps/v1.Deployment", 2, 1),
        Row(OBJECTS, "batch/v1.Job", 0, 1),
        Row(OBJECTS, "v1.Pod", 1, 1),
        Row(DELETES, "v1.Pod", 1, 0),
        Row(LIFECYCLES, "apps/v1.Deployment", 4, 4),
    ]
    assert not comparison.ok
    assert [r.gvk for r in comparison.mismatches] == ["apps/v1.Deployment", "batch/v1.Job", "v1.Pod"]
    assert compare(recorded, recorded).ok
    message = str(DemoMismatch(comparison))
    assert "objects apps/v1.Deployment: recorded 2, simulation 1" in message
    assert "deletes v1.Pod: recorded 1, simulation 0" in message


def test_keep_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and was not made by skctl demo"):
        prepare_workdir(str(mine))
    assert [p.name for p in mine.iterdir()] == ["todo.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is not a directory"):
        prepare_workdir(str(a_file))
    assert a_file.read_text() == "x"


def test_keep_reuses_its_own_directory_and_leaves_other_files(tmp_path: Path) -> None:
    path, kept = prepare_workdir(str(tmp_path / "new" / "dir"))
    assert kept and path.is_dir() and (path / MARKER).is_file()
    (path / "demo.sktrace").write_text("old trace")
    (path / "journal").mkdir()
    (path / "journal" / "segment").write_text("old journal")
    (path / "my-notes.txt").write_text("mine")
    again, _ = prepare_workdir(str(path))
    assert again == path
    assert sorted(p.name for p in path.iterdir()) == sorted([MARKER, "my-notes.txt"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_workdir(str(empty))[0] == empty


def test_temporary_directory_is_used_without_keep() -> None:
    path, kept = prepare_workdir(None)
    try:
        assert not kept and path.is_dir() and not any(path.iterdir())
    finally:
        path.rmdir()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--seconds", "0"], "--seconds must be a duration from 1s to 60m, not '0'"),
        (["demo", "--seconds", "2h"], "--seconds must be a duration from 1s to 60m, not '2h'"),
        (["demo", "--seconds", "soon"], "--seconds must be a duration from 1s to 60m, not 'soon'"),
        (["demo", "--speed", "0"], "--speed must be a number"),
        (["demo", "--speed", "nan"], "--speed must be a number"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_ctrl_c_stops_everything_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skctl", "demo", "--seconds", "60", "--keep", str(tmp_path / "k")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it is recording
        if line.startswith("recording "):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert "6. recorded" not in out
    assert (tmp_path / "k" / "journal").is_dir()  # --keep keeps what was recorded until then
