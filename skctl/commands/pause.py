"""`skctl pause NAME`: stop replay time of a running simulation (skctl.sim.pause)."""

from __future__ import annotations

import argparse

from skctl import argtypes, messages
from skctl.commands import COMMANDS
from skctl.commands.flags import add_cluster_flags
from skctl.sim import DEFAULT_DRIVER_NAMESPACE


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pause",
        parents=[parent],
        help=COMMANDS["pause"],
        description="Pause a running simulation: annotate its driver Job with simkube.io/paused-time. The driver stops replaying within a second and replay time stands still until `skctl resume NAME`; pods already running go on (docs/run.md, \"Pause and resume\").",
    )
    p.add_argument("name", metavar="NAME", type=argtypes.simulation_name, help="simulation name")
    p.add_argument("--driver-namespace", type=argtypes.namespace, default=DEFAULT_DRIVER_NAMESPACE, metavar="NS",
                   help=f"namespace of the driver Job (default: {DEFAULT_DRIVER_NAMESPACE})")
    add_cluster_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl.sim import pause, runner

    kube = runner.connect(args.kubeconfig, args.context)
    try:
        pause.pause(kube, args.name, args.driver_namespace)
    finally:
        kube.close()
    print(messages.PAUSE_DONE.format(name=args.name, namespace=args.driver_namespace))
    return 0
