"""`skctl export`: cut a time window out of a recording, filter it, write it to any storage."""

from __future__ import annotations

import argparse
import sys

from skctl.base import messages
from skctl.cli import argtypes
from skctl.cli.commands import ALIASES, COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag, add_trace_size_flag
from skctl.trace import (
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    DEFAULT_COMPRESSION_V3,
    DEFAULT_EXCLUDED_NAMESPACES,
    DEFAULT_FORMAT,
    DEFAULT_FORMAT_VERSION,
    DEFAULT_OUTPUT,
    DEFAULT_TRACER_ADDRESS,
    DEFAULT_TRACER_TIMEOUT,
    FORMAT_VERSIONS,
    FORMATS,
)

# Flags whose values may start with '-' (relative times): skctl.cli.main attaches them, `-s -1h`.
DASH_VALUE_FLAGS = ("-s", "--start-time", "-t", "--end-time")


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        aliases=ALIASES["export"],
        parents=[parent],
        help=COMMANDS["export"],
        description="Cut the window [start, end) out of a running tracer's recording (or out of a trace "
        "file with --from), drop excluded namespaces, labels and owned objects, and write the trace to a "
        "path or URL (file://, s3://, gs://, az://, memory://). Objects alive at the start are flattened "
        "into one starting event. See docs/export.md.",
    )
    p.add_argument(
        "-s",
        "--start-time",
        default="-30m",
        metavar="TIME",
        help="window start (default: -30m, relative to the end time); " + messages.EXPORT_TIME_FORMS,
    )
    p.add_argument("-t", "--end-time", default="now", metavar="TIME", help="window end, exclusive (default: now)")
    p.add_argument(
        "--excluded-namespaces",
        action="append",
        metavar="LIST",
        help="comma-separated namespaces to leave out (repeatable; '' excludes none; default: "
        f"{','.join(DEFAULT_EXCLUDED_NAMESPACES)})",
    )
    p.add_argument(
        "--excluded-labels",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="leave out objects matching this label selector, e.g. 'app=web,tier in (db,cache)'; "
        "repeat for OR",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from", dest="source", metavar="URL", help="cut the window from this trace file instead of a tracer")
    source.add_argument(
        "--tracer-address",
        metavar="URL",
        help=f"the running tracer to export from (default: {DEFAULT_TRACER_ADDRESS})",
    )
    p.add_argument(
        "-o", "--output", "--output-path", dest="output", default=DEFAULT_OUTPUT, metavar="URL",
        help=f"destination (default: {DEFAULT_OUTPUT})",
    )
    p.add_argument("--format", choices=FORMATS, default=DEFAULT_FORMAT,
                   help=f"cbor (skctl) or msgpack (SimKube) (default: {DEFAULT_FORMAT})")
    p.add_argument("--format-version", type=int, choices=FORMAT_VERSIONS, default=DEFAULT_FORMAT_VERSION,
                   help=f"skctl CBOR file format: 3 is chunked and streams, 2 is for skctl before 3 "
                   f"(default: {DEFAULT_FORMAT_VERSION}; docs/trace-format.md)")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help=f"compression of a CBOR trace (default: {DEFAULT_COMPRESSION_V3} for format 3, "
        f"{DEFAULT_COMPRESSION} for format 2)",
    )
    p.add_argument(
        "--tracer-timeout",
        type=argtypes.duration,
        default=DEFAULT_TRACER_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the tracer's answer, in seconds or as a duration such as 5m "
        f"(default: {DEFAULT_TRACER_TIMEOUT:g})",
    )
    p.add_argument(
        "--tracer-writes",
        action="store_true",
        help="ask the tracer to write a cloud --output (s3://, gs://, az://) itself with its own credentials, "
        "as SimKube's tracer does, then check the object exists",
    )
    p.add_argument(
        "--transform",
        type=argtypes.transform_program,
        metavar="FILE",
        help="rewrite every recorded object with this SimKube transform program (SKEL: delete, modify, remove) "
        "before the window is cut; sent to the tracer in its export request, applied locally with --from "
        "(docs/export.md, \"Transforms\")",
    )
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    return p


def run(args: argparse.Namespace) -> int:

    from skctl import export as exporter
    from skctl import storage
    from skctl.base import timeparse
    from skctl.cli.output import report_written, transfer_progress, work_progress

    start_ts, end_ts = timeparse.resolve_window(args.start_time, args.end_time)
    filters = exporter.filters_from_flags(args.excluded_namespaces, args.excluded_labels)
    request = exporter.ExportRequest(
        start_ts=start_ts,
        end_ts=end_ts,
        filters=filters,
        output=args.output,
        source_url=args.source,
        tracer_address=DEFAULT_TRACER_ADDRESS if args.tracer_address is None else args.tracer_address,
        storage_options=storage.parse_storage_options(args.storage_option),
        fmt=args.format,
        version=args.format_version,
        compression=args.compression,
        tracer_timeout=args.tracer_timeout,
        tracer_writes=args.tracer_writes,
        progress=transfer_progress,
        work=work_progress(),
        transform=args.transform,
    )
    result = exporter.export(request)
    if result.start_moved:  # a start before the recording (`-s 0`): not an error, but say so
        print(
            messages.EXPORT_START_MOVED.format(
                first=timeparse.iso(result.start_ts),
                first_ts=result.start_ts,
                start=timeparse.iso(request.start_ts),
                start_ts=request.start_ts,
            ),
            file=sys.stderr,
        )
    report_written(
        messages.EXPORT_DONE.format(
            events=result.events,
            objects=result.objects,
            owners=result.owners,
            start=timeparse.iso(result.start_ts),
            end=timeparse.iso(result.end_ts),
            url=result.destination,
            size=result.size,
            fmt=result.fmt,
        ),
        result.destination,
    )
    return 0
