"""`skctl drive NAME`: replay a trace against this cluster (what the driver Job runs)."""

from __future__ import annotations

import argparse

from skctl import messages
from skctl.commands import COMMANDS
from skctl.commands.convert import add_storage_option_flag

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: command modules load on every start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

EXIT_CODES = {"SIGTERM": 128 + 15, "SIGINT": 130}
LAG_REPORT = 1.0  # seconds behind the trace worth a closing line


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.kube.client import add_cluster_flags

    p = sub.add_parser(
        "drive",
        parents=[parent],
        help=COMMANDS["drive"],
        description="Replay a trace: apply each event's objects (server-side apply, mutated to run on KWOK nodes) "
        "into virtual namespaces <prefix>-<original>, delete what the trace deletes, on the trace's time scale "
        "divided by --speed; then delete everything the simulation created. SIGTERM stops early and cleans up.",
    )
    p.add_argument("name", metavar="NAME", help="simulation name (labels every object and namespace it creates)")
    p.add_argument("--trace-path", default="file:///data/trace", metavar="URL", help="trace to replay (default: file:///data/trace)")
    p.add_argument("--speed", default="1", metavar="X", help="replay speed-up factor (default: 1)")
    p.add_argument("--duration", metavar="D", help="replay only this much trace time, e.g. 10m (default: all)")
    p.add_argument("--virtual-ns-prefix", default="virtual", metavar="P", help="virtual namespace prefix (default: virtual)")
    add_storage_option_flag(p)
    add_cluster_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.errors import OperationalError
    from skctl.sim import manifests, runner
    from skctl.sim.driver import DriveOptions, Driver, schedule
    from skctl.sim.timing import parse_duration, parse_speed
    from skctl.trace.load import read_trace

    manifests.validate_name(args.name)
    manifests.validate_label(args.virtual_ns_prefix, "--virtual-ns-prefix", max_len=40)
    opts = DriveOptions(
        name=args.name,
        speed=parse_speed(args.speed),
        duration=parse_duration(args.duration) if args.duration is not None else None,
        virtual_ns_prefix=args.virtual_ns_prefix,
    )
    trace = read_trace(args.trace_path, storage.parse_storage_options(args.storage_option))
    steps = schedule(trace, opts.speed, opts.duration)
    if not steps:
        raise OperationalError(messages.DRIVE_EMPTY_TRACE.format(url=args.trace_path))
    span = steps[-1].ts - steps[0].ts
    wall = (opts.duration if opts.duration is not None else span) / opts.speed
    print(
        messages.DRIVE_START.format(name=opts.name, events=len(steps), span=span, speed=args.speed, wall=wall), flush=True
    )
    kube = runner.connect(args.kubeconfig, args.context)
    driver = Driver(kube, trace, opts)
    restore = _install_signal_handlers(driver)
    try:
        result = driver.run()
    finally:
        restore()
        kube.close()
    if result.stopped_by:
        print(messages.DRIVE_STOPPED.format(name=opts.name, signal=result.stopped_by, events=result.events), flush=True)
        return EXIT_CODES.get(result.stopped_by, 1)
    if result.failures:
        raise OperationalError(
            messages.DRIVE_FAILURES.format(name=opts.name, count=len(result.failures), first=result.failures[0])
        )
    print(
        messages.DRIVE_DONE.format(
            name=opts.name, events=result.events, applied=result.applies, deleted=result.deletes
        ),
        flush=True,
    )
    if result.max_lateness > LAG_REPORT:
        print(messages.DRIVE_LAGGED.format(name=opts.name, lag=result.max_lateness), flush=True)
    return 0


def _install_signal_handlers(driver: Any) -> Callable[[], None]:
    """SIGTERM (pod deletion) and SIGINT stop the replay gracefully so cleanup runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        driver.stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
