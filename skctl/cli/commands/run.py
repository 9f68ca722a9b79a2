"""`skctl run NAME`: launch a simulation (driver namespace, RBAC and the driver Job)."""

from __future__ import annotations

import argparse
import sys

from skctl.base.logs import DEFAULT_DRIVER_VERBOSITY, VERBOSITY_LEVELS
from skctl.cli import argtypes
from skctl.cli.commands import ALIASES, COMMANDS
from skctl.cli.commands.flags import (
    add_cluster_flags,
    add_lifecycle_flags,
    add_simkube_only_flags,
    add_simkube_run_flags,
    add_storage_option_flag,
    lifecycle_values,
    simkube_only_given,
    virtual_ns_prefix,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from skctl.sim.manifests import RunOptions


def repetitions(text: str) -> int:
    """How many times to replay: 1 to 2^31-1 (a Job's completions)."""
    from skctl.sim.manifests import validate_repetitions

    return argtypes.checked(validate_repetitions, text)


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl import sim as m  # constants only: building the parser must stay cheap

    p = sub.add_parser(
        "run",
        aliases=ALIASES["run"],
        parents=[parent],
        help=COMMANDS["run"],
        description="Create or update (server-side apply, idempotent) the driver namespace, its ServiceAccount "
        "and RBAC, and a batch/v1 Job whose pod runs `skctl drive NAME`, which replays the trace against this "
        "cluster's KWOK nodes. A file:// trace path is a path on the node: the Job mounts it read-only.",
    )
    p.add_argument("name", metavar="NAME", type=argtypes.simulation_name, help="simulation name (a DNS-1123 label); also the driver Job's name")
    p.add_argument(
        "-f",
        "--trace-path",
        default=m.DEFAULT_TRACE_PATH,
        metavar="URL",
        help=f"trace URL as the driver sees it: file:///abs/node/path, s3://, gs://, az:// (default: {m.DEFAULT_TRACE_PATH})",
    )
    p.add_argument("-D", "--duration", type=argtypes.duration_text, metavar="D", help="replay only this much trace time, e.g. 10m, 1h30m (default: all)")
    p.add_argument("-s", "--speed", type=argtypes.speed_text, default=m.DEFAULT_SPEED, metavar="X",
                   help="replay speed-up factor (default: %(default)g)")
    p.add_argument(
        "-N", "--repetitions", type=repetitions, default=1, metavar="N", help="run the whole replay N times, one after another (default: 1)"
    )
    p.add_argument(
        "-I",
        "--driver-image",
        metavar="IMG",
        help=f"driver container image (default: {m.DEFAULT_PYZ_IMAGE} running the zipapp; "
        f"{m.DEFAULT_SKCTL_IMAGE} with --skctl-pyz none)",
    )
    p.add_argument("--driver-namespace", type=argtypes.namespace, default=m.DEFAULT_DRIVER_NAMESPACE, metavar="NS", help=f"namespace of the driver Job (default: {m.DEFAULT_DRIVER_NAMESPACE})")
    p.add_argument(
        "--driver-secrets",
        default="",
        metavar="A,B",
        help="secrets exposed to the driver as environment variables (envFrom), e.g. cloud credentials",
    )
    p.add_argument(
        "--skip-local-volume-mount",
        action="store_true",
        help="do not mount a file:// trace path from the node (the image already has it)",
    )
    p.add_argument(
        "--virtual-ns-prefix",
        type=virtual_ns_prefix,
        default=m.DEFAULT_VIRTUAL_NS_PREFIX,
        metavar="P",
        help=f"virtual namespaces are named P-<original> (default: {m.DEFAULT_VIRTUAL_NS_PREFIX})"
    )
    p.add_argument("--nodes", choices=m.NODES_SOURCES, default=m.DEFAULT_NODES,
                   help="the driver's --nodes: the cluster's own nodes, or KWOK nodes shaped like the trace's "
                   f"recorded ones (default: {m.DEFAULT_NODES})")
    p.add_argument("--driver-verbosity", default=DEFAULT_DRIVER_VERBOSITY, choices=VERBOSITY_LEVELS,
                   help=f"driver log level (default: {DEFAULT_DRIVER_VERBOSITY})")
    p.add_argument(
        "--skctl-pyz",
        default=m.DEFAULT_PYZ,
        metavar="URL|none",
        help=f"node path of skctl.pyz, run with python3 in a stock image (default: {m.DEFAULT_PYZ}); "
        "'none' runs the skctl installed in --driver-image",
    )
    p.add_argument("--dry-run", action="store_true", help="print the manifests instead of applying them")
    p.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="--dry-run format (default: yaml)")
    p.add_argument("--wait", action="store_true", help="follow the driver Job to completion; exit 1 if it fails")
    p.add_argument(
        "--schedule-timeout",
        type=argtypes.duration,
        default=m.DEFAULT_SCHEDULE_TIMEOUT,
        metavar="D",
        help="with --wait: give up (exit 1) when the driver pod has been unschedulable this long, e.g. 10m "
        f"(default: {m.DEFAULT_SCHEDULE_TIMEOUT:g}s)",
    )
    p.add_argument(
        "--wait-timeout",
        type=argtypes.duration,
        default=m.DEFAULT_WAIT_TIMEOUT,
        metavar="D",
        help="with --wait: stop following the driver Job (exit 1; the Job keeps running) after this long, e.g. 6h "
        f"(default: {m.DEFAULT_WAIT_TIMEOUT:g}s)",
    )
    p.add_argument("--report", metavar="URL",
                   help="the driver measures the replay and writes report.json and report.html under URL, e.g. "
                   "s3://bucket/reports/NAME (a URL the driver pod can write; see docs/report.md)")
    add_simkube_run_flags(p)
    add_lifecycle_flags(p)
    add_simkube_only_flags(p)
    add_storage_option_flag(p)
    add_cluster_flags(p)
    return p


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """The parsed flags as RunOptions; validation happens in skctl.sim.manifests."""
    from skctl.sim.manifests import RunOptions

    pyz = args.skctl_pyz
    return RunOptions(
        name=args.name,
        trace_path=args.trace_path,
        duration=args.duration,
        speed=args.speed,
        repetitions=args.repetitions,
        driver_image=args.driver_image,
        driver_namespace=args.driver_namespace,
        driver_secrets=[s.strip() for s in args.driver_secrets.split(",") if s.strip()],
        skip_local_volume_mount=args.skip_local_volume_mount,
        virtual_ns_prefix=args.virtual_ns_prefix,
        driver_verbosity=args.driver_verbosity,
        skctl_pyz=None if pyz is None or pyz.strip().lower() in ("", "none") else pyz,
        storage_options=list(args.storage_option),
        lifecycle=lifecycle_values(args),  # type: ignore[arg-type]
        nodes=args.nodes,
        report=args.report,
        start_paused=args.start_paused,
        hooks=args.hooks,
        reschedule_bare_pods=args.reschedule_interrupted_bare_pods,
    )


def run(args: argparse.Namespace) -> int:
    from skctl.base import messages
    from skctl.sim import manifests

    ignored = simkube_only_given(args)
    if ignored:
        print(messages.RUN_SIMKUBE_ONLY_FLAGS.format(flags=", ".join(ignored)), file=sys.stderr)
    opts = options_from_args(args)
    objects = manifests.build_manifests(opts)
    if args.dry_run:
        sys.stdout.write(manifests.render(objects, args.output))
        return 0
    from skctl.sim import runner

    kube = runner.connect(args.kubeconfig, args.context)
    try:
        runner.apply_simulation(kube, opts, objects, out=sys.stdout)
        if args.wait:
            return runner.wait_for_job(kube, opts, out=sys.stdout, schedule_timeout=args.schedule_timeout,
                                       timeout=args.wait_timeout)
    finally:
        kube.close()
    return 0
