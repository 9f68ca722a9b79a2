"""`skctl convert IN OUT`: translate between skctl CBOR traces and SimKube msgpack traces."""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag, add_trace_size_flag


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.trace import (
        COMPRESSIONS,
        DEFAULT_COMPRESSION,
        DEFAULT_COMPRESSION_V3,
        DEFAULT_FORMAT_VERSION,
        FORMAT_VERSIONS,
        FORMATS,
    )

    p = sub.add_parser(
        "convert",
        parents=[parent],
        help=COMMANDS["convert"],
        description="Convert a trace between skctl's CBOR format (file format 2 or 3) and SimKube's msgpack "
        "format. The input format is sniffed from its content; by default the output is the other format "
        "(a CBOR input of one file format version converts to CBOR of the other when --format-version names it).",
    )
    p.add_argument("input", metavar="IN", help="trace path or URL (file://, s3://, gs://, az://, memory://)")
    p.add_argument("output", metavar="OUT", help="destination path or URL")
    p.add_argument("--to", choices=FORMATS, help="output format (default: the other one)")
    p.add_argument("--format-version", type=int, choices=FORMAT_VERSIONS,
                   help=f"skctl CBOR file format of CBOR output: 3 is chunked and streams, 2 is for skctl "
                   f"before 3 (default: {DEFAULT_FORMAT_VERSION})")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help=f"compression for CBOR output (default: {DEFAULT_COMPRESSION_V3} for format 3, {DEFAULT_COMPRESSION} for 2)",
    )
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.cli.output import report_written, transfer_progress, work_progress
    from skctl.trace import DEFAULT_FORMAT_VERSION, load
    from skctl.trace.model import gc_paused

    options = storage.parse_storage_options(args.storage_option)
    storage.check_destination(args.output, options)  # reject a bad destination before reading anything
    with gc_paused():
        raw = load.read_trace_bytes(args.input, options, transfer_progress)
        trace, fmt = load.decode_any(raw, args.input, work_progress())
        version_in = load.cbor_version(raw)
        del raw
        version = DEFAULT_FORMAT_VERSION if args.format_version is None else args.format_version
        if args.to:
            target = args.to
        elif fmt != "cbor" or (args.format_version is not None and args.format_version != version_in):
            target = "cbor"  # msgpack/JSON to CBOR, or CBOR of one file format version to the other
        else:
            target = "msgpack"
        data = load.encode_as(trace, target, args.compression, version, work_progress())
        storage.write_bytes(args.output, data, options, transfer_progress)
    report_written(
        messages.CONVERT_DONE.format(fmt=target, url=args.output, size=len(data), events=len(trace.events)),
        args.output,
    )
    return 0
