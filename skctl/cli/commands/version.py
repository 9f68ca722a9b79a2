"""`skctl version`: print the version (same as `skctl --version`)."""

from __future__ import annotations

import argparse

from skctl import __version__
from skctl.base import messages
from skctl.cli.commands import COMMANDS


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return sub.add_parser("version", parents=[parent], help=COMMANDS["version"])


def run(args: argparse.Namespace) -> int:
    print(messages.VERSION_LINE.format(version=__version__))
    return 0
