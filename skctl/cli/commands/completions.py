"""`skctl completions SHELL`: print a completion script for bash, zsh or fish."""

from __future__ import annotations

import argparse

from skctl.cli.commands import COMMANDS


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "completions",
        parents=[parent],
        help=COMMANDS["completions"],
        description="Print a completion script for the shell: `source <(skctl completions bash)`, "
        "`skctl completions zsh > ~/.zfunc/_skctl`, `skctl completions fish > ~/.config/fish/completions/skctl.fish`.",
    )
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete for")
    p.add_argument("-o", "--stdout", action="store_true",
                   help="print to standard output (SimKube's flag; skctl always prints there)")
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from skctl.cli import completions
    from skctl.cli import main as cli

    sys.stdout.write(completions.render(cli.build_parser(None), args.shell))
    return 0
