"""`skctl xray TRACE`: show what a trace contains and what happened in it.

Views (logic in skctl.xray.summary and skctl.xray.activity; rendering here):
the summary and an activity timeline (default), `--events` (every object mention),
`--object NS/NAME` (one object's versions as diffs), `--json` (all of it for scripts),
and on a terminal the interactive browser (skctl.xray.browser, Textual).
"""

from __future__ import annotations

import argparse

from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag, add_trace_size_flag

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: command modules load on every start-up
if TYPE_CHECKING:
    from typing import Any


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "xray",
        parents=[parent],
        help=COMMANDS["xray"],
        description="Show what a trace (skctl CBOR or SimKube msgpack) contains and what happened in it: "
        "time range, objects per kind, namespaces, pod-lifecycle owners, the events that fail validation "
        "(skctl validate) and an activity timeline; "
        "every event with --events; one object's history as diffs with --object. On a terminal, "
        "with no other view asked for, an interactive browser opens (--no-browse for the printed view).",
    )
    p.add_argument("trace", metavar="PATH_OR_URL", help="trace path or URL")
    p.add_argument("--json", action="store_true", help="print as JSON (summary and timeline, plus the --events and --object data when asked)")
    p.add_argument("--events", action="store_true", help="list every event's applied and deleted objects by name")
    p.add_argument("--object", metavar="NS/NAME", help="show one object's history: a unified diff of its YAML between versions")
    p.add_argument("--bucket", metavar="DURATION", type=argtypes.duration,
                   help="timeline bucket width, e.g. 30s or 5m (default: the smallest of 1s, 2s, 5s, ... 1d giving at most 30 buckets)")
    p.add_argument("--browse", action=argparse.BooleanOptionalAction, default=None,
                   help="open the interactive browser (default: on a terminal when no other view is asked for)")
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from skctl import storage
    from skctl.base import messages
    from skctl.base.errors import InputError
    from skctl.cli.output import transfer_progress, work_progress
    from skctl.trace import load
    from skctl.trace.model import gc_paused
    from skctl.xray import activity

    key = activity.parse_object_key(args.object) if args.object is not None else None
    other_view = args.json or args.events or key is not None
    browse = args.browse
    if browse is None:
        browse = not other_view and sys.stdin.isatty() and sys.stdout.isatty()
    elif browse and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError(messages.XRAY_TUI_NEEDS_TTY)
    width = max(1, int(args.bucket)) if args.bucket else None

    if not (args.events or browse) and (key is None or not args.json):
        # The summary, or one object's history, of a version-3 file: streamed chunk by chunk.
        from skctl import export as exporter
        from skctl.trace import format3

        opened = exporter.open_trace_source(args.trace, storage.parse_storage_options(args.storage_option))
        if opened is not None:
            source, close = opened
            try:
                with gc_paused():
                    reader = format3.Reader(source, args.trace)
                    if key is not None:
                        histories = activity.streamed_object_history(reader, key, work_progress())
                    else:
                        doc = activity.streamed_report(reader, width, work_progress())
            finally:
                close()
            if key is not None:
                render_history(histories)
                return 0
            doc["format"] = "cbor"
            if args.json:
                print(json.dumps(doc, indent=2))
            else:
                render(doc, args.trace)
            return 0

    with gc_paused():
        raw = load.read_trace_bytes(args.trace, storage.parse_storage_options(args.storage_option), transfer_progress)
        trace, fmt = load.decode_any(raw, args.trace, work_progress())
        del raw
        if not browse:
            summary = args.json or not (args.events or key is not None)
            doc = activity.report(trace, summary=summary, events=args.events, key=key, width=width,
                                  progress=work_progress())
            del trace  # freed now, by reference counting, before the collector is back on
    if browse:  # outside gc_paused: a browser session is long-lived
        from skctl.trace import validate
        from skctl.xray.browser import XrayApp  # Textual is imported only when the browser runs

        XrayApp(trace, args.trace, activity.marks_from_findings(validate.check(trace)[0])).run()
        return 0
    if summary:
        doc["format"] = fmt
    if args.json:
        for history in doc.get("history", ()):  # scripts get the JSON patches, not the text diffs
            history["versions"] = [{k: v for k, v in version.items() if k != "diff"} for version in history["versions"]]
        print(json.dumps(doc, indent=2))
    elif summary:
        render(doc, args.trace)
    else:
        if "event_list" in doc:
            render_events(doc["event_list"])
        if "history" in doc:
            render_history(doc["history"])
    return 0


XRAY_MAX_FAILING = 50


def render(summary: dict[str, Any], url: str) -> None:
    from rich.table import Table

    from skctl.cli.output import console, safe_text

    out = console()
    out.print(safe_text(url, "bold") + f"  ({summary['format']}, format version {summary['version']})")
    if summary["events"]:
        out.print(f"time range  {summary['start']} → {summary['end']}  ({summary['duration_seconds']} s)")
    out.print(f"events      {summary['events']}  (applied {summary['applied']}, deleted {summary['deleted']})")
    out.print(safe_text(f"tracked     {', '.join(summary['tracked_objects']) or '-'}"))
    render_starting_state(summary.get("starting_state"), out)

    objects = Table(title="objects per kind", title_justify="left")
    for column in ("GVK", "objects", "applied", "deleted"):
        objects.add_column(column, justify="left" if column == "GVK" else "right")
    for gvk, row in summary["objects"].items():
        objects.add_row(safe_text(gvk), str(row["objects"]), str(row["applied"]), str(row["deleted"]))
    out.print(objects)

    namespaces = Table(title="namespaces", title_justify="left")
    namespaces.add_column("namespace")
    namespaces.add_column("object mentions", justify="right")
    for ns, count in summary["namespaces"].items():
        namespaces.add_row(safe_text(ns), str(count))
    out.print(namespaces)

    owners = Table(title="pod lifecycle owners", title_justify="left")
    for column in ("owner GVK", "owner", "pod specs", "lifecycles", "running"):
        owners.add_column(column, justify="right" if column in ("pod specs", "lifecycles", "running") else "left")
    for row in summary["pod_lifecycle_owners"]:
        owners.add_row(safe_text(row["gvk"]), safe_text(row["owner"]), str(row["pod_specs"]), str(row["lifecycles"]), str(row["running"]))
    out.print(owners)
    render_usage(summary.get("usage") or [], out)
    render_validation(summary["validation"], out)
    render_timeline(summary["timeline"], out)


def render_starting_state(state: dict[str, Any] | None, out: Any) -> None:
    """The node inventory at the trace's start, in a few lines (skctl.trace.cluster.inventory)."""
    from skctl.cli.output import safe_text

    if state is None:
        out.print("nodes       - (no starting state recorded)")
        return
    out.print(f"nodes       {state['nodes']} at the start, {state['node_changes']} node changes later")
    for row in state["node_shapes"]:
        out.print(safe_text(f"  {row['nodes']:>4} × {row['shape']}"))
    if state["other_shapes"]:
        out.print(f"  and {state['other_shapes']} other shapes")
    if state["priority_classes"]:
        out.print(safe_text(f"priority    {', '.join(state['priority_classes'])}"))


def render_usage(rows: list[dict[str, Any]], out: Any) -> None:
    """Recorded pod usage per owner (skctl.trace.usage.summary), or one line saying there is none."""
    from rich.table import Table

    from skctl.cli.output import safe_text
    from skctl.kube.quantity import cpu_text, memory_text

    if not rows:
        out.print("usage       - (no pod usage recorded)")
        return
    table = Table(title="pod usage per owner", title_justify="left")
    for column in ("owner", "pods", "samples", "CPU peak", "median", "memory peak", "median"):
        table.add_column(column, justify="left" if column == "owner" else "right")
    for row in rows:
        gvk, name = row["owner"]
        table.add_row(safe_text(f"{gvk.rpartition('.')[2]} {name}"), str(row["pods"]), str(row["samples"]),
                      cpu_text(row["cpu_peak_m"]), cpu_text(row["cpu_median_m"]),
                      memory_text(row["mem_peak_bytes"]), memory_text(row["mem_median_bytes"]))
    out.print(table)


def render_validation(validation: dict[str, Any], out: Any) -> None:
    """The events that fail SimKube's validation rules (skctl validate), at most XRAY_MAX_FAILING."""
    from rich.table import Table

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


TIMELINE_BAR = 30


def render_timeline(timeline: dict[str, Any], out: Any) -> None:
    """One row per bucket: its start, a bar scaled to the busiest bucket, and per kind
    `+applied -deleted`."""
    from rich.table import Table

    from skctl.cli.output import safe_text

    if not timeline["buckets"]:
        return
    table = Table(title=f"activity (buckets of {timeline['bucket_seconds']} s; +applied -deleted)", title_justify="left")
    table.add_column("from")
    table.add_column("activity")
    kinds = timeline["kinds"]
    short = [gvk.rpartition(".")[2] or gvk for gvk in kinds]
    for gvk, kind in zip(kinds, short, strict=True):  # the Kind alone unless two groups share it
        table.add_column(safe_text(kind if short.count(kind) == 1 else gvk), justify="right")
    busiest = max(b["total"] for b in timeline["buckets"]) or 1
    for bucket in timeline["buckets"]:
        bar = "█" * (-(-bucket["total"] * TIMELINE_BAR // busiest)) if bucket["total"] else "·"
        cells = []
        for gvk in kinds:
            a, d = bucket["applied"].get(gvk, 0), bucket["deleted"].get(gvk, 0)
            cells.append(" ".join(p for p in (f"+{a}" if a else "", f"-{d}" if d else "") if p))
        table.add_row(bucket["start"], bar, *cells)
    out.print(table)


def render_events(rows: list[dict[str, Any]]) -> None:
    """One aligned line per object mention (never wrapped, so it greps and pipes)."""
    from rich.text import Text  # cells are made safe one by one: Text never parses markup

    from skctl.base.text import printable
    from skctl.cli.output import console

    out = console()
    header = ["event", "time", "+s", "action", "GVK", "object"] + (["marks"] if any(r["marks"] for r in rows) else [])
    table = [header] + [
        [str(r["event"]), r["time"], str(r["offset_seconds"]), r["action"], printable(r["gvk"]), printable(r["object"])]
        + ([", ".join(map(printable, r["marks"])) or "-"] if len(header) == 7 else [])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {0, 2}
    for n, row in enumerate(table):
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out.print(Text("  ".join(cells).rstrip(), style="bold" if n == 0 else ""), soft_wrap=True)


def render_history(histories: list[dict[str, Any]]) -> None:
    """Plain unified diffs (colour only on a terminal), one per version, oldest first."""
    from skctl.cli.output import console, safe_text
    from skctl.xray.activity import version_label

    out = console()
    for history in histories:
        versions = history["versions"]
        out.print(safe_text(f"# {history['gvk']} {history['object']}: {len(versions)} versions", "bold"), soft_wrap=True)
        for version in versions:
            if not version["diff"]:
                out.print(safe_text(f"= {version_label(history['object'], version)}: no change"), soft_wrap=True)
            for line in version["diff"]:
                style = "cyan" if line.startswith("@@") else ""
                if line[:1] == "+" and not line.startswith("+++"):
                    style = "green"
                elif line[:1] == "-" and not line.startswith("---"):
                    style = "red"
                out.print(safe_text(line, style), soft_wrap=True)
