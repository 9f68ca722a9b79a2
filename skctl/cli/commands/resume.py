"""`skctl resume NAME`: let replay time of a paused simulation run again (skctl.sim.pause)."""

from __future__ import annotations

import argparse

from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_simulation_flags
from skctl.cli.commands.pause import set_pause


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "resume",
        parents=[parent],
        help=COMMANDS["resume"],
        description="Resume a paused simulation: remove the pause annotation from its driver Job; the replay goes on where it stopped, every later event moved by the time spent paused.",
    )
    add_simulation_flags(p)
    return p


def run(args: argparse.Namespace) -> int:
    return set_pause(args, paused=False)
