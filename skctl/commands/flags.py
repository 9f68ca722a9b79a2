"""Flags shared by several commands, defined once (verbosity is the root's: skctl.cli)."""

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


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """`--kubeconfig` and `--context`, shared by every command that talks to a cluster."""
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context to use (default: the current context)")


LIFECYCLE_FLAGS = (
    ("--image-pull-delay", "simulated image pull before a pod starts"),
    ("--image-pull-jitter", "random extra image-pull time, up to this"),
    ("--pod-startup-delay", "simulated start-up before a pod is Running and ready"),
    ("--pod-startup-jitter", "random extra start-up time, up to this"),
)


def add_lifecycle_flags(parser: argparse.ArgumentParser) -> None:
    """SimKube's lifecycle flags (run and drive): KWOK create/ready delays on every simulated pod."""
    from skctl import argtypes

    group = parser.add_argument_group("pod lifecycle (KWOK stages, milliseconds)")
    for flag, what in LIFECYCLE_FLAGS:
        group.add_argument(flag, type=argtypes.millis, default=0, metavar="MS", help=f"{what} (default: 0)")


def lifecycle_values(args: argparse.Namespace) -> dict[str, int]:
    """{flag: milliseconds} of the lifecycle flags, as skctl.sim.timing.lifecycle_delays takes them."""
    return {flag: getattr(args, flag[2:].replace("-", "_")) for flag, _what in LIFECYCLE_FLAGS}
