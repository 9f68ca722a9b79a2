"""`skctl pause NAME`: stop replay time of a running simulation (skctl.sim.pause)."""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_simulation_flags


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pause",
        parents=[parent],
        help=COMMANDS["pause"],
        description="Pause a running simulation: annotate its driver Job with simkube.io/paused-time. The driver stops replaying within a second and replay time stands still until `skctl resume NAME`; pods already running go on (docs/run.md, \"Pause and resume\").",
    )
    add_simulation_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    return set_pause(args, paused=True)


def set_pause(args: argparse.Namespace, paused: bool) -> int:
    """`skctl pause` and `skctl resume`: one change of the driver Job's pause annotation."""
    from skctl.sim import pause, runner

    kube = runner.connect(args.kubeconfig, args.context)
    try:
        (pause.pause if paused else pause.resume)(kube, args.name, args.driver_namespace)
    finally:
        kube.close()
    done = messages.PAUSE_DONE if paused else messages.RESUME_DONE
    print(done.format(name=args.name, namespace=args.driver_namespace))
    return 0
