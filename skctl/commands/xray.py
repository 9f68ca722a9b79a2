"""`skctl xray TRACE`: show what a trace contains (rich tables, or --json for scripts)."""

from __future__ import annotations

import argparse

from skctl.commands import COMMANDS
from skctl.commands.flags import add_storage_option_flag

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: command modules load on every start-up
if TYPE_CHECKING:
    from typing import Any


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "xray",
        parents=[parent],
        help=COMMANDS["xray"],
        description="Summarise a trace (skctl CBOR or SimKube msgpack): time range, events, objects per kind, "
        "namespaces and pod-lifecycle owners, and the events that fail validation (skctl validate).",
    )
    p.add_argument("trace", metavar="PATH_OR_URL", help="trace path or URL")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_storage_option_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from skctl import storage
    from skctl.output import transfer_progress
    from skctl.trace import load
    from skctl.trace.model import gc_paused
    from skctl.trace.summary import summarize

    with gc_paused():
        trace, fmt = load.decode_any(storage.read_bytes(args.trace, storage.parse_storage_options(args.storage_option), transfer_progress), args.trace)
        summary = summarize(trace)
        del trace  # freed now, by reference counting, before the collector is back on
    summary["format"] = fmt
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        render(summary, args.trace)
    return 0


XRAY_MAX_FAILING = 50


def render(summary: dict[str, Any], url: str) -> None:
    from rich.table import Table

    from skctl.output import console

    out = console()
    out.print(f"[bold]{url}[/bold]  ({summary['format']}, format version {summary['version']})")
    if summary["events"]:
        out.print(f"time range  {summary['start']} → {summary['end']}  ({summary['duration_seconds']} s)")
    out.print(f"events      {summary['events']}  (applied {summary['applied']}, deleted {summary['deleted']})")
    out.print(f"tracked     {', '.join(summary['tracked_objects']) or '-'}")

    objects = Table(title="objects per kind", title_justify="left")
    for column in ("GVK", "objects", "applied", "deleted"):
        objects.add_column(column, justify="left" if column == "GVK" else "right")
    for gvk, row in summary["objects"].items():
        objects.add_row(gvk, str(row["objects"]), str(row["applied"]), str(row["deleted"]))
    out.print(objects)

    namespaces = Table(title="namespaces", title_justify="left")
    namespaces.add_column("namespace")
    namespaces.add_column("object mentions", justify="right")
    for ns, count in summary["namespaces"].items():
        namespaces.add_row(ns, str(count))
    out.print(namespaces)

    owners = Table(title="pod lifecycle owners", title_justify="left")
    for column in ("owner GVK", "owner", "pod specs", "lifecycles", "running"):
        owners.add_column(column, justify="right" if column in ("pod specs", "lifecycles", "running") else "left")
    for row in summary["pod_lifecycle_owners"]:
        owners.add_row(row["gvk"], row["owner"], str(row["pod_specs"]), str(row["lifecycles"]), str(row["running"]))
    out.print(owners)

    validation = summary["validation"]
    if not validation["events"]:
        out.print("validation  no findings")
        return
    failing = Table(title="events failing validation (skctl validate check for details)", title_justify="left")
    for column in ("event", "time", "codes"):
        failing.add_column(column, justify="right" if column == "event" else "left")
    shown = validation["events"][:XRAY_MAX_FAILING]
    for row in shown:
        failing.add_row(str(row["event"]), row["time"], ", ".join(row["codes"]))
    out.print(failing)
    more = len(validation["events"]) - len(shown)
    totals = ", ".join(f"{code}: {n}" for code, n in validation["counts"].items())
    out.print(f"validation  {totals}" + (f"  ({more} more failing events not shown)" if more > 0 else ""))
