"""`skctl convert IN OUT`: translate between skctl CBOR traces and SimKube msgpack traces."""

from __future__ import annotations

import argparse

from skctl import messages
from skctl.commands import COMMANDS
from skctl.commands.flags import add_storage_option_flag, add_trace_size_flag


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.trace import COMPRESSIONS, DEFAULT_COMPRESSION, FORMATS

    p = sub.add_parser(
        "convert",
        parents=[parent],
        help=COMMANDS["convert"],
        description="Convert a trace between skctl's CBOR format and SimKube's msgpack format. "
        "The input format is sniffed from its content; by default the output is the other format.",
    )
    p.add_argument("input", metavar="IN", help="trace path or URL (file://, s3://, gs://, az://, memory://)")
    p.add_argument("output", metavar="OUT", help="destination path or URL")
    p.add_argument("--to", choices=FORMATS, help="output format (default: the other one)")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=DEFAULT_COMPRESSION,
        help=f"compression for CBOR output (default: {DEFAULT_COMPRESSION})",
    )
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.output import report_written, transfer_progress
    from skctl.trace import load
    from skctl.trace.model import gc_paused

    options = storage.parse_storage_options(args.storage_option)
    storage.check_destination(args.output, options)  # reject a bad destination before reading anything
    with gc_paused():
        trace, fmt = load.decode_any(load.read_trace_bytes(args.input, options, transfer_progress), args.input)
        target = args.to or ("cbor" if fmt != "cbor" else "msgpack")
        data = load.encode_as(trace, target, args.compression)
        storage.write_bytes(args.output, data, options, transfer_progress)
    report_written(
        messages.CONVERT_DONE.format(fmt=target, url=args.output, size=len(data), events=len(trace.events)),
        args.output,
    )
    return 0
