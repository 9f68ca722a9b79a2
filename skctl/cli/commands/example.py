"""`skctl example -o URL`: write a realistic example trace, to try every command without a cluster."""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.base.numbers import parse_int
from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag


def example_events(text: str) -> int:
    """`skctl example --events`: 1 to skctl.trace.synth.MAX_EVENTS (more would run for hours)."""
    from skctl.trace.synth import MAX_EVENTS

    return _count(text, MAX_EVENTS)


def example_objects(text: str) -> int:
    """`skctl example --objects`: 1 to skctl.trace.synth.MAX_OBJECTS."""
    from skctl.trace.synth import MAX_OBJECTS

    return _count(text, MAX_OBJECTS)


def _count(text: str, most: int) -> int:
    """A whole number from 1 to `most`."""
    try:
        value = parse_int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(messages.BAD_COUNT.format(value=text, max=most))
    return value


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.trace import COMPRESSIONS, DEFAULT_COMPRESSION

    p = sub.add_parser(
        "example",
        parents=[parent],
        help=COMMANDS["example"],
        description="Write a generated but realistic trace: Deployments being scaled and re-imaged, CronJobs and "
        "bare Pods with pod lifecycles, in a few namespaces. Deterministic for a given --seed.",
    )
    p.add_argument("-o", "--output", default="example.sktrace", help="destination path or URL (default: %(default)s)")
    p.add_argument("--events", type=example_events, default=200, help="number of events (default: %(default)s)")
    p.add_argument("--objects", type=example_objects, default=24, help="live objects at most (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    p.add_argument("--start-ts", type=argtypes.unix_seconds, default=None, help="unix time of the first event (default: fixed)")
    p.add_argument("--compression", choices=COMPRESSIONS, default=DEFAULT_COMPRESSION)
    add_storage_option_flag(p)
    return p


def run(args: argparse.Namespace) -> int:
    from skctl import storage
    from skctl.base import messages
    from skctl.cli.output import report_written, transfer_progress, work_progress
    from skctl.trace import codec, synth

    options = storage.parse_storage_options(args.storage_option)
    storage.check_destination(args.output, options)
    start = args.start_ts if args.start_ts is not None else synth.EXAMPLE_START_TS
    trace = synth.generate(events=args.events, objects=args.objects, seed=args.seed, start_ts=start,
                           progress=work_progress("events"))
    data = codec.encode(trace, args.compression, progress=work_progress("bytes"))
    storage.write_bytes(args.output, data, options, transfer_progress)
    report_written(
        messages.CONVERT_DONE.format(fmt="cbor", url=args.output, size=len(data), events=len(trace.events)),
        args.output,
    )
    return 0
