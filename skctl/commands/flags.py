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
