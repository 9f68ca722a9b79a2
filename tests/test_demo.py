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
import threading
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import EXIT_OPERATIONAL, EXIT_USAGE, InputError, OperationalError
from skctl.cli import main as cli
from skctl.demo.compare import DELETES, OBJECTS, OUTSIDE, VERSIONS, Row, SimulationObserver, Tally, compare
from skctl.demo.pipeline import MARKER, DemoMismatch, DemoOptions, DemoView, prepare_workdir, run_demo
from skctl.trace.load import read_trace
from skctl.xray import activity
from tests.helpers import signal_when, skctl, wait_for

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_KINDS = {"apps/v1.Deployment", "batch/v1.CronJob", "v1.Pod", "batch.volcano.sh/v1alpha1.Job"}


class Recorder(DemoView):
    """Keeps what the demo reported, for the assertions."""

    def __init__(self) -> None:
        self.simulation_url = ""
        self.steps: list[Any] = []
        self.manifest_text = ""
        self.report: dict[str, Any] = {}
        self.workdir: Path | None = None

    def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None:
        self.simulation_url = simulation_url
        self.production_url = production_url
        self.workdir = workdir

    def xray(self, report: dict[str, Any], url: str) -> None:
        self.report = report

    def manifests(self, text: str, path: Path, kept: bool) -> None:
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
    for gvk in WORKLOAD_KINDS:  # every version of every object arrived, in order
        assert rows[(VERSIONS, gvk)].matches and rows[(VERSIONS, gvk)].recorded >= rows[(OBJECTS, gvk)].recorded
    # the pod lifecycles are the trace's, shown but not compared (no KWOK in the sandbox)
    assert sum(result.comparison.lifecycles.values()) == sum(
        len(v) for by_hash in trace.pod_lifecycles.values() for v in by_hash.values()) > 0
    assert "pod lifecycles" not in {section for section, _ in rows}
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
    proc = skctl("demo", "--seconds", "5", "--speed", "20", timeout=120)
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
    # the manifests mount a trace in the temporary directory: said so above them
    manifests = out.split("4. what skctl run --dry-run would apply", 1)[1]
    assert manifests.splitlines()[1].startswith("(without --keep the trace these manifests mount is in the temporary")
    # one count is of changes, the other of one-second trace events
    assert "recorded " in out and " changes of objects (" in out and "fewer events than changes" in out
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


def test_a_missed_update_fails_the_demo() -> None:
    """An object applied once and then never updated: the object counts agree, the versions
    do not, and the driver's failed applies fail the demo too."""

    class FailUpdates(Recorder):
        target = ""

        def replay_started(self, plan: Any, speed: float) -> None:
            applies = Counter(o["metadata"]["name"] for step in plan.steps for o in step.applied
                              if o["kind"] == "Deployment")
            self.target = next(name for name, n in applies.most_common() if n > 1)

        def replay_step(self, record: Any, total: int) -> None:
            if self.target and any(gvk == "apps/v1.Deployment" and name == self.target
                                   for gvk, _ns, name in record.applied):
                fault = {"action": "fail", "count": 1000, "status": 500,
                         "pathContains": f"/deployments/{self.target}", "method": "PATCH"}
                request = urllib.request.Request(f"{self.simulation_url}/sandbox/faults", json.dumps(fault).encode(),
                                                 method="POST")
                with urllib.request.urlopen(request, timeout=10) as resp:
                    assert json.load(resp) == {"ok": True}
                self.target = ""

    with pytest.raises(DemoMismatch) as caught:
        run_demo(DemoOptions(seconds=4, speed=20), FailUpdates())
    comparison = caught.value.comparison
    rows = {(r.section, r.gvk): r for r in comparison.rows}
    assert rows[(OBJECTS, "apps/v1.Deployment")].matches
    versions = rows[(VERSIONS, "apps/v1.Deployment")]
    assert not versions.matches and versions.differing == 1 and versions.simulated < versions.recorded
    assert comparison.failures and not comparison.ok
    assert "versions apps/v1.Deployment" in str(caught.value)
    assert "applies or deletes of the replay failed" in str(caught.value)


def test_compare_finds_every_difference() -> None:
    recorded, simulated = Tally(), Tally()
    for tally in (recorded, simulated):
        tally.applied("v1.Pod", "shop/bare-1", 1)
        tally.applied("apps/v1.Deployment", "shop/web-1", 10)
    recorded.applied("apps/v1.Deployment", "shop/web-1", 11)  # an update the simulation missed
    recorded.applied("apps/v1.Deployment", "shop/web-1", 11)  # the same spec again: not a version
    simulated.applied("apps/v1.Deployment", "shop/web-1", 12)  # ... and one it got instead
    recorded.applied("apps/v1.Deployment", "shop/web-2", 20)
    simulated.applied("batch/v1.Job", "shop/x", 30)
    recorded.deleted("v1.Pod", "shop/bare-1")
    recorded.applied("v1.Pod", "shop/bare-1", 1)  # recreated alike: a new version after a delete
    simulated.applied("v1.Pod", "shop/bare-1", 1)
    comparison = compare(recorded, simulated)
    assert comparison.rows == [
        Row(OBJECTS, "apps/v1.Deployment", 2, 1, 1),
        Row(OBJECTS, "batch/v1.Job", 0, 1, 1),
        Row(OBJECTS, "v1.Pod", 1, 1, 0),
        Row(VERSIONS, "apps/v1.Deployment", 3, 2, 2),
        Row(VERSIONS, "batch/v1.Job", 0, 1, 1),
        Row(VERSIONS, "v1.Pod", 2, 1, 1),
        Row(DELETES, "v1.Pod", 1, 0),
    ]
    assert [(r.section, r.gvk) for r in comparison.mismatches] == [
        (OBJECTS, "apps/v1.Deployment"), (OBJECTS, "batch/v1.Job"), (VERSIONS, "apps/v1.Deployment"),
        (VERSIONS, "batch/v1.Job"), (VERSIONS, "v1.Pod"), (DELETES, "v1.Pod")]
    assert compare(recorded, recorded).ok
    assert not compare(recorded, recorded, failures=["apply of x failed"]).ok
    # the same number of objects, but not the same ones
    other = Tally()
    other.applied("v1.Pod", "shop/bare-2", 1)
    one = Tally()
    one.applied("v1.Pod", "shop/bare-1", 1)
    assert compare(one, other).rows[0] == Row(OBJECTS, "v1.Pod", 1, 1, 2)
    message = str(DemoMismatch(comparison))
    assert "objects apps/v1.Deployment: recorded 2, simulation 1, 1 objects differ" in message
    assert "deletes v1.Pod: recorded 1, simulation 0" in message


def test_the_observer_keys_by_where_the_object_landed() -> None:
    from skctl.sandbox.store import Event

    observer = SimulationObserver("demo", "virtual")
    labels = {"simkube.io/simulation": "demo", "simkube.io/virtual": "true"}

    def event(ns: str, annotations: dict[str, str]) -> Event:
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns, "labels": labels,
               "annotations": annotations}, "spec": {}}
        return Event(1, "ADDED", ("", "v1", "pods"), ns, obj, b"", None, b"", 0.0)  # type: ignore[arg-type]

    observer(event("virtual-shop", {}))
    # the driver's annotation does not move an object that landed outside a virtual namespace
    observer(event("shop", {"static.simkube.io/original-namespace": "other"}))
    assert sorted(observer.result().versions["v1.Pod"]) == ["shop/p", f"shop/p {OUTSIDE}"]


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
        (["demo", "--keep", ""], "--keep needs a directory name"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_everything(tmp_path: Path, sig: signal.Signals, status: int) -> None:
    """Ctrl-C exits 130; SIGTERM 143, as `skctl drive` (docs/getting-started.md)."""
    argv = [sys.executable, "-m", "skctl", "demo", "--seconds", "60", "--keep", str(tmp_path / "k")]
    returncode, out, err = signal_when(argv, "recording ", sig)
    assert returncode == status
    assert err.strip().splitlines() == ["skctl: interrupted"]
    assert "6. recorded" not in out
    assert (tmp_path / "k" / "journal").is_dir()  # --keep keeps what was recorded until then


class InterruptAt(Recorder):
    """Ctrl-C (a real SIGINT to this process) at one step of the demo."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def interrupt(self, step: str) -> None:
        if step == self.step:
            signal.raise_signal(signal.SIGINT)

    def exported(self, result: Any, path: Path) -> None:
        self.interrupt("exported")

    def replay_done(self, result: Any) -> None:
        self.interrupt("replayed")


@pytest.mark.parametrize("step", ["exported", "replayed"])
@pytest.mark.usefixtures("interrupts_handled")
def test_ctrl_c_after_the_export_or_the_replay_interrupts(step: str) -> None:
    """Writing the trace commits the export, not the demo: Ctrl-C still interrupts the rest
    (as the CLI runs it, in a command scope), and nothing is left running or on disk."""
    from skctl.base.signals import command_scope

    before = set(threading.enumerate())
    view = InterruptAt(step)
    with command_scope(), pytest.raises(KeyboardInterrupt):
        run_demo(DemoOptions(seconds=2, speed=50), view)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert view.workdir is not None and not view.workdir.exists()
    # the threads stopped; some were told to and end on their own: wait for them, bounded
    wait_for(lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
             "the demo's threads to end", timeout=30)


def test_a_tracer_that_does_not_catch_up_fails_the_demo() -> None:
    """When the tracer cannot see production's last writes, the comparison would be
    meaningless: the demo fails with one line instead of comparing."""

    class CutTheTracerOff(Recorder):
        cut = False

        def recording(self, elapsed: float, seconds: float, status: dict[str, Any]) -> None:
            if self.cut:
                return
            self.cut = True
            # every GET fails (no new watch, no re-list), then the open watches are dropped
            for fault in ({"action": "fail", "count": 100000, "status": 503, "method": "GET"},
                          {"action": "drop-watches"}):
                request = urllib.request.Request(f"{self.production_url}/sandbox/faults", json.dumps(fault).encode(),
                                                 method="POST")
                with urllib.request.urlopen(request, timeout=10) as resp:
                    assert json.load(resp)["ok"] is True

    view = CutTheTracerOff()
    with pytest.raises(OperationalError, match="the tracer had not caught up with production") as caught:
        run_demo(DemoOptions(seconds=2, speed=50, catch_up_seconds=1), view)
    assert "\n" not in str(caught.value) and caught.value.exit_code == EXIT_OPERATIONAL


def test_clean_up_failures_never_replace_the_error() -> None:
    from contextlib import ExitStack

    from skctl.base.errors import cleanup_step

    def fails() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OperationalError, match="the real error"), ExitStack() as stack:
        stack.push(cleanup_step(fails, "closing"))
        raise OperationalError("the real error")
    with pytest.raises(OSError, match="No space"), ExitStack() as stack:  # nothing else failed: its own error
        stack.push(cleanup_step(fails, "closing"))


def test_an_interrupted_stop_is_run_again() -> None:
    from skctl.demo.pipeline import _once

    calls: list[int] = []

    def stop() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    once = _once(stop)
    with pytest.raises(KeyboardInterrupt):
        once()
    once()
    once()
    assert len(calls) == 2


@pytest.mark.parametrize(("limit", "message"), [
    (150, "could not write the kubeconfig {k}/production.kubeconfig: File too large; choose a writable path"),
    (400, "could not write {k}/tracer-config.yaml: File too large; free some space or choose another --keep"),
])
def test_a_full_disk_is_one_line_not_an_internal_error(tmp_path: Path, limit: int, message: str) -> None:
    """Files larger than RLIMIT_FSIZE fail to write (EFBIG), as on a full disk: the demo's
    own files (the kubeconfigs, the tracer config) fail with one line and exit 1, not an
    internal error, and leave no partial file."""
    import resource

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "skctl", "demo", "--seconds", "2", "--keep", str(tmp_path / "k")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, preexec_fn=small_files,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == EXIT_OPERATIONAL, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == ["skctl: error: " + message.format(k=tmp_path / "k")], proc.stderr
    assert not [p.name for p in (tmp_path / "k").iterdir() if p.name.endswith(("partial", ".yaml"))]  # no partial file
