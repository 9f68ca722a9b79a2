"""`skctl resume NAME`: let replay time of a paused simulation run again (skctl.sim.pause)."""

from __future__ import annotations

import argparse

from skctl import argtypes, messages
from skctl.commands import COMMANDS
from skctl.commands.flags import add_cluster_flags
from skctl.sim import DEFAULT_DRIVER_NAMESPACE


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "resume",
        parents=[parent],
        help=COMMANDS["resume"],
        description="Resume a paused simulation: remove the pause annotation from its driver Job; the replay goes on where it stopped, every later event moved by the time spent paused.",
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
        pause.resume(kube, args.name, args.driver_namespace)
    finally:
        kube.close()
    print(messages.RESUME_DONE.format(name=args.name, namespace=args.driver_namespace))
    return 0
