"""`skctl drive NAME`: replay a trace against this cluster (what the driver Job runs)."""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import (
    add_cluster_flags,
    add_lifecycle_flags,
    add_simkube_run_flags,
    add_storage_option_flag,
    add_trace_size_flag,
    lifecycle_values,
    virtual_ns_prefix,
)
from skctl.sim import (
    DEFAULT_DRIVER_NAMESPACE,
    DEFAULT_NODES,
    DEFAULT_SPEED,
    DEFAULT_TRACE_PATH,
    DEFAULT_VIRTUAL_NS_PREFIX,
    NODES_SOURCES,
)

# The exit status when a signal stopped the replay: 128 + the signal number, as a shell reports it.
EXIT_CODES = {"SIGTERM": 128 + 15, "SIGINT": 130}
LAG_REPORT = 1.0  # seconds behind the trace worth a closing line


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "drive",
        parents=[parent],
        help=COMMANDS["drive"],
        description="Replay a trace: apply each event's objects (server-side apply, mutated to run on KWOK nodes) "
        "into virtual namespaces <prefix>-<original>, delete what the trace deletes, on the trace's time scale "
        "divided by --speed; then delete everything the simulation created. SIGTERM stops early and cleans up.",
    )
    p.add_argument("name", metavar="NAME", type=argtypes.simulation_name,
                   help="simulation name (labels every object and namespace it creates)")
    p.add_argument("--trace-path", default=DEFAULT_TRACE_PATH, metavar="URL",
                   help=f"trace to replay (default: {DEFAULT_TRACE_PATH})")
    p.add_argument("--speed", type=argtypes.speed, default=DEFAULT_SPEED, metavar="X",
                   help="replay speed-up factor (default: %(default)g)")
    p.add_argument("--duration", type=argtypes.duration, metavar="D",
                   help="replay only this much trace time, e.g. 10m (default: all)")
    p.add_argument("--virtual-ns-prefix", type=virtual_ns_prefix, default=DEFAULT_VIRTUAL_NS_PREFIX,
                   metavar="P", help=f"virtual namespace prefix (default: {DEFAULT_VIRTUAL_NS_PREFIX})")
    p.add_argument("--nodes", choices=NODES_SOURCES, default=DEFAULT_NODES,
                   help="where the simulation's nodes come from: the cluster's own (an autoscaler, hand-made KWOK "
                   "nodes), or KWOK nodes shaped like the trace's recorded ones, named P-<recorded name> "
                   f"(default: {DEFAULT_NODES})")
    p.add_argument("--report", metavar="DEST",
                   help="measure the replay and write report.json and report.html under DEST, a directory or "
                   "storage URL (docs/report.md); a stopped replay still writes what was seen, marked incomplete")
    from skctl.cli.commands.report import add_gate_flags

    p.add_argument("--driver-namespace", type=argtypes.namespace, default=DEFAULT_DRIVER_NAMESPACE, metavar="NS",
                   help="namespace of the driver Job NAME, whose annotation pauses and resumes this replay "
                   f"(`skctl pause NAME`, `skctl resume NAME`); without that Job the replay cannot be paused (default: "
                   f"{DEFAULT_DRIVER_NAMESPACE})")
    add_gate_flags(p)
    add_simkube_run_flags(p)
    add_lifecycle_flags(p)
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    add_cluster_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.base.errors import InputError, OperationalError
    from skctl.cli.output import transfer_progress
    from skctl.sim import runner
    from skctl.sim.driver import DriveOptions
    from skctl.sim.timing import format_number, lifecycle_delays
    from skctl.trace.load import read_trace

    options = storage.parse_storage_options(args.storage_option)
    if (args.slo or args.junit) and not args.report:
        raise InputError(messages.DRIVE_SLO_WITHOUT_REPORT)
    if args.report:
        from skctl.report import document

        document.check_destination(args.report, options)
    if args.junit:
        storage.check_destination(args.junit, options)
    opts = DriveOptions(
        name=args.name, speed=args.speed, duration=args.duration, virtual_ns_prefix=args.virtual_ns_prefix,
        delays=lifecycle_delays(lifecycle_values(args)), nodes=args.nodes,
        driver_namespace=args.driver_namespace, start_paused=args.start_paused,
        reschedule_bare_pods=args.reschedule_interrupted_bare_pods,
    )
    from skctl.sim import hooks as sim_hooks

    hooks = args.hooks or sim_hooks.from_env()
    trace = read_trace(args.trace_path, options, transfer_progress)
    plan = runner.plan_replay(trace, opts)
    if not plan.steps:
        raise OperationalError(messages.DRIVE_EMPTY_TRACE.format(url=args.trace_path))
    print(
        messages.DRIVE_START.format(
            name=opts.name, events=len(plan.steps), span=plan.span, speed=format_number(opts.speed), wall=plan.wall
        ),
        flush=True,
    )
    kube = runner.connect(args.kubeconfig, args.context)
    session = None
    try:
        hook_run = sim_hooks.prepare(
            kube, hooks, opts.name, args.driver_namespace,
            driver={"namespace": args.driver_namespace, "tracePath": args.trace_path,
                    "virtualNsPrefix": opts.virtual_ns_prefix},
            speed=opts.speed, duration=opts.duration, rescheduleInterruptedBarePods=opts.reschedule_bare_pods)
        hook_run.before()
        if args.report:
            from skctl.report.session import ReportSession

            session = ReportSession(trace, name=opts.name, trace_url=args.trace_path, speed=opts.speed,
                                    duration=opts.duration, ns_prefix=opts.virtual_ns_prefix)
            session.start(kube)
            print(messages.REPORT_RECORDER_STARTED.format(name=opts.name, namespaces=len(session.recorder.namespaces)),
                  flush=True)
        try:
            result = runner.drive(kube, trace, opts, on_step=session.on_step if session else None)
        except BaseException as exc:
            if session is not None:  # what was seen until the failure, marked incomplete
                _write_report(session.finish(None, error=str(exc) or type(exc).__name__), args.report, options)
            raise
    finally:
        kube.close()
    results = []
    if session is not None:
        from skctl.report import gates

        doc = session.finish(result)
        _write_report(doc, args.report, options)
        results = gates.evaluate_all(args.slo, {"candidate": doc["metrics"]})
    if not result.stopped_by:
        hook_run.after()
    if result.stopped_by:
        print(messages.DRIVE_STOPPED.format(name=opts.name, signal=result.stopped_by, events=result.events), flush=True)
        return EXIT_CODES.get(result.stopped_by, 1)
    if result.failures:
        raise OperationalError(
            messages.DRIVE_FAILURES.format(name=opts.name, count=len(result.failures), first=result.failures[0])
        )
    if result.nodes_created:
        print(messages.DRIVE_NODES_CREATED.format(name=opts.name, nodes=result.nodes_created), flush=True)
    print(
        messages.DRIVE_DONE.format(
            name=opts.name, events=result.events, applied=result.applies, deleted=result.deletes
        ),
        flush=True,
    )
    if result.max_lateness > LAG_REPORT:
        print(messages.DRIVE_LAGGED.format(name=opts.name, lag=result.max_lateness), flush=True)
    if session is not None:
        from skctl.cli.commands.report import finish_gates

        return finish_gates(results, args.junit, options)
    return 0


def _write_report(doc: dict, dest: str, options: dict) -> None:
    from skctl.report import document, summary

    json_url, html_url = document.write(doc, dest, options)
    print("\n".join(summary.report_lines(doc)), flush=True)
    from skctl.base.text import printable

    print(printable(messages.REPORT_WRITTEN.format(json=json_url, html=html_url)), flush=True)
