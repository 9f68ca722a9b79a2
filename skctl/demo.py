"""`skctl demo` as a library: the whole loop on two in-process sandboxes, no cluster needed.

production sandbox + workload generator → tracer (`skctl trace`'s Tracer) → export over the
tracer's HTTP API (`skctl export`'s exporter) → trace file → xray report (`skctl xray`'s
activity.report) → driver manifests (`skctl run --dry-run`'s manifests) → replay
(`skctl drive`'s runner.drive) into the simulation sandbox → comparison.

Every step calls the library function its command calls; nothing is re-implemented here.
What the simulation received is observed on the simulation server itself (a store
observer), not taken from the driver's own bookkeeping, so a dropped or failed apply
shows up as a mismatch. The UI is a `DemoView` whose methods the command overrides.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skctl import messages
from skctl.errors import InputError, OperationalError
from skctl.sim import DEFAULT_VIRTUAL_NS_PREFIX, SIMULATION_LABEL, VIRTUAL_LABEL
from skctl.trace.model import Trace, gvk_of, ns_name
from skctl.tracer import DEFAULT_CONFIG_YAML

if TYPE_CHECKING:
    from skctl.exporter import ExportResult
    from skctl.sandbox.server import SandboxServer
    from skctl.sandbox.store import Event
    from skctl.sandbox.workload import WorkloadGenerator
    from skctl.sim.driver import DriveResult, StepRecord
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

OBJECTS, DELETES, LIFECYCLES = "objects", "deletes", "pod lifecycles"


def validate_seconds(text: str) -> float:
    """--seconds: a duration (`20`, `90s`, `2m`) from 1 s to MAX_SECONDS."""
    from skctl.timeparse import parse_duration

    try:
        value = parse_duration(text)
    except InputError:
        value = -1.0
    if not 1 <= value <= MAX_SECONDS:
        raise InputError(messages.DEMO_BAD_SECONDS.format(value=text, max=f"{MAX_SECONDS / 60:g}m"))
    return value


@dataclass
class DemoOptions:
    seconds: float = DEFAULT_SECONDS
    speed: float = DEFAULT_SPEED
    keep: str | None = None  # directory for the files; None: a temporary one, removed at the end
    seed: int = 0
    rate: float = WORKLOAD_RATE
    namespace: str = NAMESPACE


# --- the comparison ------------------------------------------------------------------


@dataclass
class Tally:
    """Counts on one side: objects (distinct ns/name) and deletes per GVK, lifecycles per owner GVK."""

    objects: dict[str, set[str]] = field(default_factory=dict)
    deletes: Counter[str] = field(default_factory=Counter)
    lifecycles: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Row:
    section: str  # OBJECTS, DELETES or LIFECYCLES
    gvk: str
    recorded: int
    simulated: int

    @property
    def matches(self) -> bool:
        return self.recorded == self.simulated


@dataclass
class Comparison:
    rows: list[Row]

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if not r.matches]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def total(self, section: str, side: str = "recorded") -> int:
        return sum(getattr(r, side) for r in self.rows if r.section == section)


def recorded_tally(trace: Trace) -> Tally:
    """What the trace holds: the objects the driver is asked to apply and delete, and the
    recorded pod lifecycles. Namespaces are left out: the driver makes virtual ones instead."""
    tally = Tally()
    for _ts, action, obj in trace.iter_objects():
        gvk = gvk_of(obj)
        if gvk == "v1.Namespace":
            continue
        if action == "applied":
            tally.objects.setdefault(gvk, set()).add(ns_name(obj))
        else:
            tally.deletes[gvk] += 1
    for (owner_gvk, _owner), by_hash in (trace.pod_lifecycles or {}).items():
        tally.lifecycles[owner_gvk] += sum(len(entries) for entries in by_hash.values())
    return tally


def compare(recorded: Tally, simulated: Tally) -> Comparison:
    """Row by row, recorded against simulated; a kind on either side gets a row."""
    rows = [Row(OBJECTS, gvk, len(recorded.objects.get(gvk, ())), len(simulated.objects.get(gvk, ())))
            for gvk in sorted(set(recorded.objects) | set(simulated.objects))]
    rows += [Row(DELETES, gvk, recorded.deletes[gvk], simulated.deletes[gvk])
             for gvk in sorted(set(recorded.deletes) | set(simulated.deletes))]
    rows += [Row(LIFECYCLES, gvk, recorded.lifecycles[gvk], simulated.lifecycles[gvk])
             for gvk in sorted(set(recorded.lifecycles) | set(simulated.lifecycles))]
    return Comparison(rows)


class SimulationObserver:
    """Counts, on the simulation server, the objects the replay created and deleted.

    A sandbox store observer (called for every write, in order): only objects labelled with
    the simulation's name count, keyed by their original namespace. `close()` ends the
    counting before the driver's cleanup deletes everything."""

    def __init__(self, name: str, ns_prefix: str = DEFAULT_VIRTUAL_NS_PREFIX) -> None:
        self.name = name
        self.ns_prefix = ns_prefix
        self.tally = Tally()
        self._open = True
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        obj = event.obj
        labels = (obj.get("metadata") or {}).get("labels") or {}
        gvk = gvk_of(obj)
        if labels.get(SIMULATION_LABEL) != self.name or labels.get(VIRTUAL_LABEL) != "true" or gvk == "v1.Namespace":
            return
        with self._lock:
            if not self._open:
                return
            if event.type == "ADDED":
                self.tally.objects.setdefault(gvk, set()).add(self._original_key(obj))
            elif event.type == "DELETED":
                self.tally.deletes[gvk] += 1

    def _original_key(self, obj: dict[str, Any]) -> str:
        from skctl.sim.pods import original_namespace

        meta = obj.get("metadata") or {}
        return f"{original_namespace(obj, self.ns_prefix)}/{meta.get('name')}" if meta.get("namespace") else meta.get("name", "")

    def close(self) -> None:
        with self._lock:
            self._open = False

    def result(self, trace: Trace) -> Tally:
        """The simulated side: objects and deletes seen, and the recorded lifecycles whose owner
        the simulation has (pods of that owner get them; without their owner they are lost)."""
        with self._lock:
            tally = Tally(dict(self.tally.objects), Counter(self.tally.deletes))
        for (owner_gvk, owner), by_hash in (trace.pod_lifecycles or {}).items():
            if owner in tally.objects.get(owner_gvk, ()):
                tally.lifecycles[owner_gvk] += sum(len(entries) for entries in by_hash.values())
        return tally


class DemoMismatch(OperationalError):
    """The simulation did not receive what was recorded (exit 1); carries the comparison."""

    def __init__(self, comparison: Comparison) -> None:
        rows = "; ".join(f"{r.section} {r.gvk}: recorded {r.recorded}, simulation {r.simulated}"
                         for r in comparison.mismatches)
        super().__init__(messages.DEMO_MISMATCH.format(rows=rows))
        self.comparison = comparison


# --- the UI's hooks -------------------------------------------------------------------


class DemoView:
    """What the demo reports as it goes; every method is a no-op here (tests, scripts)."""

    def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None: ...

    def recording(self, elapsed: float, seconds: float, status: dict[str, Any]) -> None: ...

    def recorded(self, status: dict[str, Any], caught_up: bool) -> None: ...

    def exported(self, result: ExportResult, path: Path) -> None: ...

    def xray(self, report: dict[str, Any], url: str) -> None: ...

    def manifests(self, text: str, path: Path) -> None: ...

    def replay_started(self, plan: ReplayPlan, speed: float) -> None: ...

    def replay_step(self, record: StepRecord, total: int) -> None: ...

    def replay_done(self, result: DriveResult) -> None: ...

    def compared(self, comparison: Comparison) -> None: ...


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
    however it ends (Ctrl-C and SIGTERM included), and a temporary directory is removed."""
    view = view or DemoView()
    workdir, kept = prepare_workdir(opts.keep)
    try:
        with _interrupt_on_sigterm():
            return _run(opts, view, workdir, kept)
    finally:
        if not kept:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo as Ctrl-C does: everything is stopped on the way out."""
    from skctl.signals import stop_on_signals

    def interrupt(_name: str) -> None:
        raise KeyboardInterrupt

    with stop_on_signals(interrupt, ("SIGTERM",)):
        yield


def _run(opts: DemoOptions, view: DemoView, workdir: Path, kept: bool) -> DemoResult:
    from skctl.sandbox import SandboxServer
    from skctl.sandbox.workload import WorkloadGenerator

    stack = contextlib.ExitStack()  # what was started, stopped in reverse order however the run ends
    try:
        production = SandboxServer(bookmark_interval=BOOKMARK_INTERVAL).start()
        stack.callback(production.stop)
        simulation = SandboxServer(bookmark_interval=BOOKMARK_INTERVAL).start()
        stack.callback(simulation.stop)
        production_kubeconfig = production.write_kubeconfig(workdir / PRODUCTION_KUBECONFIG)
        simulation_kubeconfig = simulation.write_kubeconfig(workdir / SIMULATION_KUBECONFIG)
        view.started(production.url, simulation.url, workdir, kept)

        generator = WorkloadGenerator(production.store, seed=opts.seed, namespace=opts.namespace)
        stack.callback(generator.stop)
        trace_path = workdir / TRACE_FILE
        export_result = _record_and_export(opts, view, workdir, production_kubeconfig, generator, stack, trace_path)

        trace = _xray(trace_path, view)
        _manifests(opts, view, workdir, trace_path)
        drive_result, observer = _replay(opts, view, trace, simulation, simulation_kubeconfig)
        comparison = compare(recorded_tally(trace), observer.result(trace))
        view.compared(comparison)
        if not comparison.ok:
            raise DemoMismatch(comparison)
        return DemoResult(comparison, workdir, kept, drive_result, export_result)
    finally:
        stack.close()


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
    from skctl import exporter
    from skctl.kube.api import Kube
    from skctl.kube.client import connect
    from skctl.timeparse import parse_duration
    from skctl.trace.config import load_config
    from skctl.tracer import DEFAULT_RETENTION
    from skctl.tracer.service import Tracer, TracerOptions

    config_path = workdir / CONFIG_FILE
    config_path.write_text(DEMO_CONFIG_YAML)
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
    stack.callback(close_tracer)
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
    caught_up = _catch_up(tracer, generator.store.resource_version)
    view.recorded(tracer.status(), caught_up)
    end_ts = int(time.time()) + 1  # exclusive: the last recorded second is in
    host, port = tracer.address
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
    """`action` that runs only the first time it is called (an explicit stop, then the exit stack's)."""
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def _catch_up(tracer: Tracer, resource_version: int, timeout: float = CATCH_UP_SECONDS) -> bool:
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
    from skctl.trace import activity, load

    url = str(trace_path)
    trace, fmt = load.decode_any(load.read_trace_bytes(url, {}), url)
    report = activity.report(trace, summary=True, events=False, key=None, width=None)
    report["format"] = fmt
    view.xray(report, url)
    return trace


def _manifests(opts: DemoOptions, view: DemoView, workdir: Path, trace_path: Path) -> None:
    """`skctl run demo --trace-path file:///…/demo.sktrace --speed X --dry-run`: the driver Job
    with the trace mounted read-only from the node (hostPath, type File)."""
    from skctl.sim import manifests
    from skctl.sim.timing import format_number

    run_opts = manifests.RunOptions(name=SIMULATION_NAME, trace_path=trace_path.as_uri(), speed=format_number(opts.speed))  # type: ignore[arg-type]
    text = manifests.render(manifests.build_manifests(run_opts), "yaml")
    path = workdir / MANIFESTS_FILE
    path.write_text(text)
    view.manifests(text, path)


def _replay(
    opts: DemoOptions, view: DemoView, trace: Trace, simulation: SandboxServer, kubeconfig: Path
) -> tuple[DriveResult, SimulationObserver]:
    """`skctl drive demo --trace-path TRACE --speed X` against the simulation sandbox, whose
    writes a SimulationObserver counts until the last event has been replayed."""
    from skctl.sandbox.workload import install_volcano_crd
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
    if result.stopped_by:
        raise KeyboardInterrupt  # Ctrl-C or SIGTERM during the replay: the driver has cleaned up
    view.replay_done(result)
    return result, observer
