"""`skctl delete NAME`: remove a simulation's driver Job and its virtual namespaces."""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.cli.commands import ALIASES, COMMANDS
from skctl.cli.commands.flags import add_simulation_flags


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:

    p = sub.add_parser(
        "delete",
        aliases=ALIASES["delete"],
        parents=[parent],
        help=COMMANDS["delete"],
        description="Delete the simulation's driver Job (propagation Background, so its pods go too) and every "
        "namespace labelled with the simulation. The driver namespace, ServiceAccount and RBAC are shared by "
        "all simulations and stay.",
    )
    add_simulation_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl.sim import runner

    kube = runner.connect(args.kubeconfig, args.context)
    try:
        deleted, terminating = runner.delete_simulation(kube, args.name, args.driver_namespace)
    finally:
        kube.close()
    if deleted:
        print(messages.DELETE_DONE.format(name=args.name, what=", ".join(deleted)))
    if terminating:
        print(messages.DELETE_TERMINATING.format(name=args.name, namespaces=", ".join(terminating)))
    return 0
