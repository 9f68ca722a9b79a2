"""Flags shared by several commands, defined once (verbosity is the root's: skctl.cli.main)."""

from __future__ import annotations

import argparse


def add_storage_option_flag(parser: argparse.ArgumentParser) -> None:
    """`--storage-option key=value`, shared by every command that reads or writes URLs."""
    parser.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec storage option for the backend (repeatable), e.g. anon=true",
    )


def add_trace_size_flag(parser: argparse.ArgumentParser) -> None:
    """`--max-trace-size`, for every command that reads a trace (skctl.trace.limits)."""
    from skctl.cli import argtypes

    parser.add_argument(
        "--max-trace-size",
        type=argtypes.trace_size,
        metavar="SIZE",
        help="largest trace to read, as read and once decompressed, e.g. 8Gi (default: 2Gi, and a compressed "
        "trace may expand at most 1000x; see docs/trace-format.md)",
    )


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """`--kubeconfig` and `--context`, shared by every command that talks to a cluster."""
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context to use (default: the current context)")
    from skctl.cli import argtypes

    parser.add_argument(
        "--request-timeout",
        type=argtypes.duration,
        metavar="D",
        help="the most one Kubernetes API call may take, retries included, e.g. 30s, 2m (default: 60s)",
    )
    parser.add_argument(
        "--exec-timeout",
        type=argtypes.duration,
        metavar="D",
        help="the most the kubeconfig user's exec credential plugin may take to answer, e.g. 2m (default: 60s)",
    )


LIFECYCLE_FLAGS = (
    ("--image-pull-delay", "simulated image pull before a pod starts"),
    ("--image-pull-jitter", "random extra image-pull time, up to this"),
    ("--pod-startup-delay", "simulated start-up before a pod is Running and ready"),
    ("--pod-startup-jitter", "random extra start-up time, up to this"),
)


def add_lifecycle_flags(parser: argparse.ArgumentParser) -> None:
    """SimKube's lifecycle flags (run and drive): KWOK create/ready delays on every simulated pod."""
    from skctl.cli import argtypes

    group = parser.add_argument_group("pod lifecycle (KWOK stages, milliseconds)")
    for flag, what in LIFECYCLE_FLAGS:
        group.add_argument(flag, type=argtypes.millis, default=0, metavar="MS", help=f"{what} (default: 0)")


def lifecycle_values(args: argparse.Namespace) -> dict[str, int]:
    """{flag: milliseconds} of the lifecycle flags, as skctl.sim.timing.lifecycle_delays takes them."""
    return {flag: getattr(args, flag[2:].replace("-", "_")) for flag, _what in LIFECYCLE_FLAGS}


def add_simkube_run_flags(parser: argparse.ArgumentParser) -> None:
    """SimKube's simulation options (run and drive): start paused, hooks, bare-pod rescheduling."""
    from skctl.cli import argtypes

    group = parser.add_argument_group("SimKube simulation options")
    group.add_argument("--start-paused", action="store_true",
                       help="start paused: nothing is replayed until `skctl resume NAME` (docs/run.md, \"Pause\")")
    group.add_argument("--hooks", type=argtypes.hook_files, default={}, metavar="FILE[:FILE]",
                       help="SimKube hook files, merged in order: commands run before/after the simulation and "
                       "each repetition, in the driver (default: none; docs/run.md, \"Hooks\")")
    group.add_argument("--reschedule-interrupted-bare-pods", action="store_true",
                       help="recreate a bare pod deleted while Running before its recorded end, as NAME-clone-N")


# SimKube's run flags for its admission webhook and metrics stack: accepted, no effect here.
SIMKUBE_ONLY_RUN_FLAGS = (
    ("--driver-port", "PORT", "SimKube driver's admission webhook port"),
    ("--disable-metrics", None, "SimKube: do not start Prometheus"),
    ("--metrics-namespace", "NS", "SimKube: namespace of the monitoring stack"),
    ("--metrics-service-account", "SA", "SimKube: service account with monitoring permissions"),
    ("--metrics-pod-monitor-namespaces", "A,B", "SimKube: namespaces of pod monitor configs"),
    ("--metrics-pod-monitor-names", "A,B", "SimKube: pod monitor config names"),
    ("--metrics-service-monitor-namespaces", "A,B", "SimKube: namespaces of service monitor configs"),
    ("--metrics-service-monitor-names", "A,B", "SimKube: service monitor config names"),
    ("--prometheus-shards", "N", "SimKube: Prometheus shards"),
    ("--remote-write-endpoint", "URL", "SimKube: Prometheus remote write address"),
)


def add_simkube_only_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "SimKube webhook and metrics options (accepted so SimKube command lines run; skctl needs neither)")
    for flag, metavar, what in SIMKUBE_ONLY_RUN_FLAGS:
        if metavar is None:
            group.add_argument(flag, action="store_true", help=f"{what}; no effect")
        else:
            group.add_argument(flag, metavar=metavar, help=f"{what}; no effect")


def simkube_only_given(args: argparse.Namespace) -> list[str]:
    """The SimKube-only flags this command line gave (for the one note on stderr)."""
    return [flag for flag, _m, _w in SIMKUBE_ONLY_RUN_FLAGS if getattr(args, flag[2:].replace("-", "_"), None)]


def add_simulation_flags(parser: argparse.ArgumentParser) -> None:
    """NAME and `--driver-namespace`: the driver Job of an existing simulation (delete,
    pause, resume), plus the cluster flags."""
    from skctl.cli import argtypes
    from skctl.sim import DEFAULT_DRIVER_NAMESPACE

    parser.add_argument("name", metavar="NAME", type=argtypes.simulation_name, help="simulation name")
    parser.add_argument("--driver-namespace", type=argtypes.namespace, default=DEFAULT_DRIVER_NAMESPACE, metavar="NS",
                        help=f"namespace of the driver Job (default: {DEFAULT_DRIVER_NAMESPACE})")
    add_cluster_flags(parser)


def virtual_ns_prefix(text: str) -> str:
    """A prefix P for virtual namespaces P-<original>: a DNS label short enough to leave room."""
    from skctl.cli import argtypes
    from skctl.sim import MAX_VIRTUAL_NS_PREFIX
    from skctl.sim.manifests import validate_label

    argtypes.checked(lambda value: validate_label(value, "--virtual-ns-prefix", max_len=MAX_VIRTUAL_NS_PREFIX), text)
    return text
