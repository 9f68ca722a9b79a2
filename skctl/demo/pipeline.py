"""`skctl demo` as a library: the whole loop on two in-process sandboxes, no cluster needed.

production sandbox + workload generator → tracer (`skctl trace`'s Tracer) → export over the
tracer's HTTP API (`skctl export`'s exporter) → trace file → xray report (`skctl xray`'s
activity.report) → driver manifests (`skctl run --dry-run`'s manifests) → replay
(`skctl drive`'s runner.drive) into the simulation sandbox → comparison.

Every step calls the library function its command calls; nothing is re-implemented here.
What the simulation received is observed on the simulation server itself (a store
observer), not taken from the driver's own bookkeeping: every version of every object's
spec, compared with the trace's versions as the driver's own rules turn them into virtual
twins, so a dropped apply or a missed update shows up as a mismatch (and any failure the
driver reports fails the demo too; skctl.demo.compare). Pod lifecycles are the trace's, shown but not compared:
the sandbox runs no pods. The UI is a `DemoView` whose methods the command overrides.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.demo.compare import Comparison, SimulationObserver, compare, recorded_tally, trace_lifecycles
from skctl.trace.model import Trace
from skctl.tracer import DEFAULT_CONFIG_YAML

if TYPE_CHECKING:
    from skctl.export import ExportResult
    from skctl.sandbox.scenario import WorkloadGenerator
    from skctl.sandbox.server import SandboxServer
    from skctl.sim.driver import DriveOptions, DriveResult, StepRecord
    from skctl.sim.runner import ReplayPlan
    from skctl.tracer.service import Tracer

DEFAULT_SECONDS = 20.0
MAX_SECONDS = 3600.0
DEFAULT_SPEED = 10.0
SIMULATION_NAME = "demo"
NAMESPACE = "shop"  # not in export's default excluded namespaces (which has "default")
WORKLOAD_RATE = 5.0  # workload actions per second in production
CATCH_UP_SECONDS = 15.0  # how long to wait for the tracer to have seen production's last write
BOOKMARK_INTERVAL = 0.2  # production's watch bookmarks: how the tracer's watches catch up when idle

# What --keep DIR holds. The marker says the directory is the demo's: a later run may replace
# these names (and only these) there; a non-empty directory without it is refused.
MARKER = ".skctl-demo"
TRACE_FILE = "demo.sktrace"
JOURNAL_DIR = "journal"
CONFIG_FILE = "tracer-config.yaml"
MANIFESTS_FILE = "manifests.yaml"
PRODUCTION_KUBECONFIG = "production.kubeconfig"
SIMULATION_KUBECONFIG = "simulation.kubeconfig"
DEMO_FILES = (TRACE_FILE, JOURNAL_DIR, CONFIG_FILE, MANIFESTS_FILE, PRODUCTION_KUBECONFIG, SIMULATION_KUBECONFIG)

# The tracer's default config plus the workload's custom resource (its tasks hold pod templates).
DEMO_CONFIG_YAML = DEFAULT_CONFIG_YAML + """\
  batch.volcano.sh/v1alpha1.Job:
    podSpecTemplatePaths:
      - /spec/tasks/*/template
    trackLifecycle: true
"""

@dataclass
class DemoOptions:
    seconds: float = DEFAULT_SECONDS
    speed: float = DEFAULT_SPEED
    keep: str | None = None  # directory for the files; None: a temporary one, removed at the end
    seed: int = 0
    rate: float = WORKLOAD_RATE
    namespace: str = NAMESPACE
    catch_up_seconds: float = CATCH_UP_SECONDS


class DemoMismatch(OperationalError):
    """The simulation did not receive what was recorded (exit 1); carries the comparison."""

    def __init__(self, comparison: Comparison) -> None:
        parts = [f"{r.section} {r.gvk}: recorded {r.recorded}, simulation {r.simulated}"
                 + (f", {r.differing} objects differ" if r.differing else "") for r in comparison.mismatches]
        if comparison.failures:
            parts.append(messages.DEMO_DRIVE_FAILURES.format(count=len(comparison.failures),
                                                             first=comparison.failures[0]))
        super().__init__(messages.DEMO_MISMATCH.format(rows="; ".join(parts)))
        self.comparison = comparison


# --- the UI's hooks -------------------------------------------------------------------


class DemoView:
    """What the demo reports as it goes; every method is a no-op here (tests, scripts)."""

    def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None: ...

    def recording(self, elapsed: float, seconds: float, status: dict[str, Any]) -> None: ...

    def recorded(self, status: dict[str, Any]) -> None: ...

    def exported(self, result: ExportResult, path: Path) -> None: ...

    def xray(self, report: dict[str, Any], url: str) -> None: ...

    def manifests(self, text: str, path: Path, kept: bool) -> None: ...

    def replay_started(self, plan: ReplayPlan, speed: float) -> None: ...

    def replay_step(self, record: StepRecord, total: int) -> None: ...

    def replay_done(self, result: DriveResult) -> None: ...

    def compared(self, comparison: Comparison) -> None: ...

    def close(self) -> None:
        """The run is over, however it ended (a live display stops here)."""


@dataclass
class DemoResult:
    comparison: Comparison
    workdir: Path
    kept: bool
    drive: DriveResult
    export: ExportResult


# --- the work directory ----------------------------------------------------------------


def prepare_workdir(keep: str | None) -> tuple[Path, bool]:
    """(directory, kept). Without --keep a fresh temporary directory (removed at the end).
    With it: a new or empty directory, or one an earlier demo made (its files are replaced,
    anything else in it is left alone); any other non-empty directory is refused."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="skctl-demo-")), False
    path = Path(keep).expanduser().absolute()
    try:
        if path.exists() and not path.is_dir():
            raise InputError(messages.DEMO_KEEP_NOT_DIR.format(path=path))
        if path.is_dir() and any(path.iterdir()):
            if not (path / MARKER).is_file():
                raise InputError(messages.DEMO_KEEP_NOT_EMPTY.format(path=path))
            for name in DEMO_FILES:
                old = path / name
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old)
                elif old.exists() or old.is_symlink():
                    old.unlink()
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("made by skctl demo: `skctl demo --keep` may replace its files here\n")
    except OSError as exc:
        raise InputError(messages.DEMO_KEEP_FAILED.format(path=path, detail=exc.strerror or exc)) from None
    return path, True


# --- the run ----------------------------------------------------------------------------


def run_demo(opts: DemoOptions, view: DemoView | None = None) -> DemoResult:
    """The whole loop (module docstring); raises DemoMismatch (exit 1) when the simulation
    did not receive what was recorded. The sandboxes, the workload and the tracer are stopped
    however it ends (Ctrl-C and SIGTERM included), and a temporary directory is removed; a
    failure while stopping them is logged, never reported instead of the error that ended the run."""
    view = view or DemoView()
    workdir, kept = prepare_workdir(opts.keep)
    with contextlib.ExitStack() as stack:  # what was started, stopped in reverse order
        if not kept:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.enter_context(_interrupt_on_sigterm())
        return _run(opts, view, workdir, kept, stack)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: ExitStack may swallow exceptions


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo as Ctrl-C does (everything is stopped on the way out), with the
    exit status of a terminated command, 143, as `skctl drive`'s."""
    from skctl.base.signals import Terminated, stop_on_signals

    def interrupt(_name: str) -> None:
        raise Terminated

    with stop_on_signals(interrupt, ("SIGTERM",)):
        yield


def _run(opts: DemoOptions, view: DemoView, workdir: Path, kept: bool, stack: contextlib.ExitStack) -> DemoResult:
    from skctl.base.errors import cleanup_step
    from skctl.sandbox import SandboxServer
    from skctl.sandbox.scenario import WorkloadGenerator

    # the production cluster has metrics-server: the trace records pod usage (docs/tracer.md, "Pod usage")
    production = SandboxServer(bookmark_interval=BOOKMARK_INTERVAL, metrics=True).start()
    stack.push(cleanup_step(production.stop, "stopping the production sandbox"))
    simulation = SandboxServer(bookmark_interval=BOOKMARK_INTERVAL).start()
    stack.push(cleanup_step(simulation.stop, "stopping the simulation sandbox"))
    production_kubeconfig = production.write_kubeconfig(workdir / PRODUCTION_KUBECONFIG)
    simulation_kubeconfig = simulation.write_kubeconfig(workdir / SIMULATION_KUBECONFIG)
    view.started(production.url, simulation.url, workdir, kept)

    generator = WorkloadGenerator(production.store, seed=opts.seed, namespace=opts.namespace)
    stack.push(cleanup_step(generator.stop, "stopping the workload"))
    trace_path = workdir / TRACE_FILE
    export_result = _record_and_export(opts, view, workdir, production_kubeconfig, generator, stack, trace_path)

    trace = _xray(trace_path, view)
    _manifests(opts, view, workdir, trace_path, kept)
    drive_opts, drive_result, observer = _replay(opts, view, trace, simulation, simulation_kubeconfig)
    comparison = compare(recorded_tally(trace, drive_opts), observer.result(), drive_result.failures,
                         trace_lifecycles(trace))
    view.compared(comparison)
    if not comparison.ok:
        raise DemoMismatch(comparison)
    return DemoResult(comparison, workdir, kept, drive_result, export_result)


def _write(path: Path, text: str) -> None:
    """A file of the demo's (tracer config, manifests): atomic, a failure is one clear line."""
    from skctl.storage.local import write_side_file

    write_side_file(path, text.encode(), messages.DEMO_WRITE_FAILED)


def _record_and_export(
    opts: DemoOptions,
    view: DemoView,
    workdir: Path,
    kubeconfig: Path,
    generator: WorkloadGenerator,
    stack: contextlib.ExitStack,
    trace_path: Path,
) -> ExportResult:
    """`skctl trace -c CONFIG --journal DIR --listen 127.0.0.1:0` for --seconds of workload,
    then `skctl export --tracer-address URL -s START -t END -o TRACE`."""
    from skctl import export as exporter
    from skctl.base.errors import cleanup_step
    from skctl.base.signals import command_scope
    from skctl.base.timeparse import parse_duration
    from skctl.kube.api import Kube
    from skctl.kube.client import connect
    from skctl.tracer import DEFAULT_RETENTION
    from skctl.tracer.config import load_config
    from skctl.tracer.service import Tracer, TracerOptions

    config_path = workdir / CONFIG_FILE
    _write(config_path, DEMO_CONFIG_YAML)
    options = TracerOptions(
        config=load_config(str(config_path), {}),
        journal_dir=workdir / JOURNAL_DIR,
        retention=parse_duration(DEFAULT_RETENTION),
        host="127.0.0.1",
        port=0,
    )
    kube = Kube(connect(str(kubeconfig), None), field_manager="skctl-tracer")
    tracer = Tracer(kube, options)
    start_ts = int(time.time())
    close_tracer = _once(tracer.close)
    stack.push(cleanup_step(close_tracer, "closing the tracer"))
    tracer.start()
    generator.start(opts.rate)
    began = time.monotonic()
    stop = threading.Event()
    timer = threading.Timer(opts.seconds, stop.set)
    timer.daemon = True
    timer.start()
    stack.callback(timer.cancel)
    tracer.run_until(stop, lambda status: view.recording(time.monotonic() - began, opts.seconds, status), tick=0.5)
    generator.stop()
    view.recorded(tracer.status())
    if not _catch_up(tracer, generator.store.resource_version, opts.catch_up_seconds):
        raise OperationalError(messages.DEMO_CATCH_UP.format(seconds=opts.catch_up_seconds))
    end_ts = int(time.time()) + 1  # exclusive: the last recorded second is in
    host, port = tracer.address
    # The trace is this step's result, not the demo's: once it is written a Ctrl-C is ignored
    # only until the export returns (skctl.base.signals.command_scope), then interrupts again.
    with command_scope():
        result = exporter.export(
            exporter.ExportRequest(
                start_ts=start_ts,
                end_ts=end_ts,
                filters=exporter.filters_from_flags(None, []),
                output=str(trace_path),
                tracer_address=f"http://{host}:{port}",
            )
        )
    close_tracer()
    view.exported(result, trace_path)
    if result.events == 0:
        raise OperationalError(messages.DEMO_NOTHING_RECORDED.format(seconds=f"{opts.seconds:g}"))
    return result


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """`action` until it has once run to the end (an explicit stop, then the exit stack's): an
    interrupted first run (Ctrl-C) is finished by the next call."""
    done: list[bool] = []

    def run() -> None:
        if not done:
            action()
            done.append(True)

    return run


def _catch_up(tracer: Tracer, resource_version: int, timeout: float) -> bool:
    """Wait until every watch of the tracer has seen production's last write (bookmarks
    move idle watches along); False if that took longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        states = tracer.recorder.states()
        seen = [_int(s.get("resource_version")) for s in states.values()]
        if seen and min(seen) >= resource_version:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _int(text: Any) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1


def _xray(trace_path: Path, view: DemoView) -> Trace:
    """`skctl xray TRACE --no-browse`: the summary and the activity timeline."""
    from skctl.trace import load
    from skctl.xray import activity

    url = str(trace_path)
    trace, fmt = load.decode_any(load.read_trace_bytes(url, {}), url)
    report = activity.report(trace, summary=True, events=False, key=None, width=None)
    report["format"] = fmt
    view.xray(report, url)
    return trace


def _manifests(opts: DemoOptions, view: DemoView, workdir: Path, trace_path: Path, kept: bool) -> None:
    """`skctl run demo --trace-path file:///…/demo.sktrace --speed X --dry-run`: the driver Job
    with the trace mounted read-only from the node (hostPath, type File)."""
    from skctl.sim import manifests

    run_opts = manifests.RunOptions(name=SIMULATION_NAME, trace_path=trace_path.as_uri(), speed=opts.speed)
    text = manifests.render(manifests.build_manifests(run_opts), "yaml")
    path = workdir / MANIFESTS_FILE
    _write(path, text)
    view.manifests(text, path, kept)


def _replay(
    opts: DemoOptions, view: DemoView, trace: Trace, simulation: SandboxServer, kubeconfig: Path
) -> tuple[DriveOptions, DriveResult, SimulationObserver]:
    """`skctl drive demo --trace-path TRACE --speed X` against the simulation sandbox, whose
    writes a SimulationObserver counts until the last event has been replayed."""
    from skctl.sandbox.scenario import install_volcano_crd
    from skctl.sim import runner
    from skctl.sim.driver import DriveOptions

    drive_opts = DriveOptions(name=SIMULATION_NAME, speed=opts.speed)
    plan = runner.plan_replay(trace, drive_opts)
    install_volcano_crd(simulation.store)  # the simulation cluster serves the custom resource too
    observer = SimulationObserver(SIMULATION_NAME, drive_opts.virtual_ns_prefix)
    simulation.store.observers.append(observer)
    last = plan.steps[-1].index
    view.replay_started(plan, opts.speed)

    def on_step(record: StepRecord) -> None:
        if record.index == last:
            observer.close()  # what follows is the driver's cleanup, not the replay
        view.replay_step(record, len(plan.steps))

    kube = runner.connect(str(kubeconfig), None)
    try:
        result = runner.drive(kube, trace, drive_opts, on_step)
    finally:
        kube.close()
    observer.close()
    if result.stopped_by:  # Ctrl-C or SIGTERM during the replay: the driver has cleaned up
        from skctl.base.signals import Terminated

        raise Terminated if result.stopped_by == "SIGTERM" else KeyboardInterrupt
    view.replay_done(result)
    return drive_opts, result, observer
