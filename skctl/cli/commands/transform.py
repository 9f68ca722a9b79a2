"""`skctl transform IN OUT --program FILE`: rewrite a trace with a SimKube transform program (SKEL).

SimKube's form works too: `skctl transform IN PROGRAM [-o OUT]`, writing `IN.<local time>` when
no output is given, as SimKube's skctl does.
"""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.cli.commands import ALIASES, COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag, add_trace_size_flag


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "transform",
        aliases=ALIASES["transform"],
        parents=[parent],
        help=COMMANDS["transform"],
        description="Apply a program in SimKube's transform language (SKEL: delete, modify, remove) to every "
        "object of every event of a trace and write the result in the input's format; events left empty are "
        "dropped, relative times (@t >= 10m) count from the trace's first event. See docs/export.md, "
        "\"Transforms\".",
    )
    p.add_argument("input", metavar="IN", help="trace path or URL (file://, s3://, gs://, az://, memory://)")
    p.add_argument("second", metavar="OUT|PROGRAM",
                   help="with --program: the destination; without it (SimKube's form): the program file")
    from skctl.cli import argtypes

    p.add_argument("--program", type=argtypes.transform_program, metavar="FILE",
                   help="the transform program (a local SKEL file)")
    p.add_argument("-o", "--output", metavar="URL",
                   help="destination in SimKube's form (default: IN.<YYYYmmddHHMMSS>, local time)")
    add_storage_option_flag(p)
    add_trace_size_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.base.errors import InputError
    from skctl.cli.output import report_written, transfer_progress
    from skctl.trace import load, skel
    from skctl.trace.model import gc_paused

    if args.program is not None:
        if args.output is not None:
            raise InputError(messages.TRANSFORM_BOTH_OUTPUTS)
        program, output = args.program, args.second
    else:
        import time

        program = skel.read_program(args.second)
        output = args.output or f"{args.input}.{time.strftime('%Y%m%d%H%M%S')}"
    options = storage.parse_storage_options(args.storage_option)
    storage.check_destination(output, options)  # reject a bad destination before reading anything
    with gc_paused():
        trace, fmt = load.decode_any(load.read_trace_bytes(args.input, options, transfer_progress), args.input)
        out = program.apply_trace(trace)
        data = load.encode_as(out, fmt)
        storage.write_bytes(output, data, options, transfer_progress)
    report_written(
        messages.TRANSFORM_DONE.format(
            events_in=len(trace.events), events=len(out.events),
            objects=sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in out.events),
            program=program.origin, url=output,
        ),
        output,
    )
    return 0
