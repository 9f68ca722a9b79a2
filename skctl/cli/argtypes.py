"""argparse `type=` functions: each checks (and converts) one kind of flag value.

Commands declare `type=argtypes.duration` and the like instead of validating in `run`, so
a bad value is argparse's one-line usage error (exit 2) naming the flag, and the rule
itself stays in its library home (timeparse, kube.names, sim.timing). Like httpie's
`argtypes`. Everything heavy is imported when a value is checked, not at start-up.
"""

from __future__ import annotations

import argparse
import math

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.numbers import parse_float, parse_int

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: command modules load on every start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

MAX_PORT = 65535


def _checked(check: Callable[[str], T], text: str) -> T:
    """`check(text)`, its InputError turned into argparse's usage error (same message)."""
    try:
        return check(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def duration(text: str) -> float:
    """Positive seconds: `90s`, `1h30m`, `500ms`, `1w`, or a bare number (skctl.base.timeparse)."""
    from skctl.base.timeparse import parse_duration

    return _checked(parse_duration, text)


def usage_interval(text: str) -> float:
    """How often the tracer samples pod usage: a duration of at least 1s (skctl.trace.tracked)."""
    from skctl.trace.tracked import parse_usage_interval

    return _checked(parse_usage_interval, text)


def duration_text(text: str) -> str:
    """A valid duration, kept as typed (for flags passed on to the driver's command line)."""
    duration(text)
    return text


def speed(text: str) -> float:
    """A finite speed-up factor greater than 0."""
    from skctl.sim.timing import parse_speed

    return _checked(parse_speed, text)


def demo_seconds(text: str) -> float:
    """`skctl demo --seconds`: a duration (`20`, `90s`, `2m`) from 1 s to skctl.demo.pipeline.MAX_SECONDS."""
    from skctl.base.timeparse import parse_duration
    from skctl.demo.pipeline import MAX_SECONDS

    try:
        value = parse_duration(text)
    except InputError:
        value = -1.0
    if not 1 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(messages.DEMO_BAD_SECONDS.format(value=text, max=f"{MAX_SECONDS / 60:g}m"))
    return value


def demo_keep(text: str) -> str:
    """`skctl demo --keep DIR`: a directory name; an empty one (`--keep ''`, an unset
    variable) is refused rather than taken as the current directory (what the directory
    holds is checked when the demo starts)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(messages.DEMO_KEEP_EMPTY)
    return text


def speed_text(text: str) -> str:
    """A valid speed, kept as typed."""
    speed(text)
    return text


def simulation_name(text: str) -> str:
    """A simulation name: a DNS-1123 label (it names the driver Job and labels namespaces)."""
    from skctl.sim.manifests import validate_name

    return _checked(validate_name, text)


def repetitions(text: str) -> int:
    """How many times to replay: 1 to 2^31-1 (a Job's completions)."""
    from skctl.sim.manifests import validate_repetitions

    return _checked(validate_repetitions, text)


def virtual_ns_prefix(text: str) -> str:
    """A prefix P for virtual namespaces P-<original>: a DNS label short enough to leave room."""
    from skctl.sim import MAX_VIRTUAL_NS_PREFIX
    from skctl.sim.manifests import validate_label

    _checked(lambda value: validate_label(value, "--virtual-ns-prefix", max_len=MAX_VIRTUAL_NS_PREFIX), text)
    return text


def namespace(text: str) -> str:
    """A Kubernetes namespace name: a DNS-1123 label (skctl.sim.manifests.validate_label)."""
    from skctl.sim.manifests import validate_label

    _checked(lambda value: validate_label(value, "namespace"), text)
    return text


def port(text: str) -> int:
    """A TCP port, 0 (pick a free one) to 65535."""
    try:
        value = parse_int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(messages.BAD_PORT.format(value=text, max=MAX_PORT))
    return value


def listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` to listen on (`[::1]:7777` for IPv6; port 0 picks a free one)."""
    host, sep, port_text = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]") and len(host) > 2
    if bracketed:
        host = host[1:-1]
    if (not sep or not host or "[" in host or "]" in host or not (port_text.isascii() and port_text.isdigit())
            or int(port_text) > MAX_PORT):
        raise argparse.ArgumentTypeError(messages.TRACE_BAD_LISTEN.format(value=text))
    return host, int(port_text)


def journal_dir(text: str) -> str:
    """`skctl trace --journal`: a local directory, as a path or file:// URL (returned as a path).
    An object-storage URL or an empty value is refused: it used to become a relative
    directory named `s3:/bucket/key` (or the default journal)."""
    from skctl.storage.urls import is_local, local_path

    try:
        path = local_path(text) if is_local(text) else ""
    except InputError:  # an unknown scheme, file://host/...
        path = ""
    if not path.strip():
        raise argparse.ArgumentTypeError(messages.TRACE_JOURNAL_NOT_LOCAL.format(value=text))
    return path


def positive_float(text: str) -> float:
    """A finite number greater than 0 (rates, timeouts)."""
    try:
        value = parse_float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(messages.BAD_POSITIVE_NUMBER.format(value=text))
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (counts)."""
    try:
        value = parse_int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(messages.BAD_POSITIVE_INT.format(value=text))
    return value


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


def millis(text: str) -> int:
    """A whole number of milliseconds, 0 to 2**32-1 (SimKube's u32 lifecycle delay flags)."""
    from skctl.sim.timing import parse_millis

    return _checked(parse_millis, text)


def trace_size(text: str) -> int:
    """A byte count such as `4Gi` (skctl.trace.limits.parse_size)."""
    from skctl.trace.limits import parse_size

    return _checked(parse_size, text)


def unix_seconds(text: str) -> int:
    """Whole unix seconds a trace can hold (skctl.base.timeparse.parse_unix_seconds)."""
    from skctl.base.timeparse import parse_unix_seconds

    return _checked(parse_unix_seconds, text)


def slo_gate(text: str) -> object:
    """An `--slo` gate of one report (skctl.report.slo), parsed before anything runs."""
    from skctl.report.slo import parse

    return _checked(parse, text)


def slo_diff_gate(text: str) -> object:
    """An `--slo` gate of `report diff`: may name `baseline.` and `candidate.` metrics."""
    from skctl.report.slo import parse

    return _checked(lambda t: parse(t, diff=True), text)


def transform_program(text: str) -> object:
    """`--transform FILE` / `--program FILE`: the SimKube transform program (SKEL) in a local file, parsed."""
    from skctl.trace import skel

    return _checked(skel.read_program, text)


def hook_files(text: str) -> object:
    """`--hooks FILE[:FILE...]`: SimKube hook files, read, checked and merged ('' for none)."""
    from skctl.sim import hooks

    return _checked(hooks.load_files, text)
