"""argparse `type=` functions: each checks (and converts) one kind of flag value.

Commands declare `type=argtypes.duration` and the like instead of validating in `run`, so
a bad value is argparse's one-line usage error (exit 2) naming the flag, and the rule
itself stays in its library home (timeparse, kube.names, sim.timing). Like httpie's
`argtypes`. Everything heavy is imported when a value is checked, not at start-up.
The types here are shared by several commands; a type only one command uses (`demo
--seconds`, `example --events`, `trace --listen`, ...) lives in that command's module,
and one a few sibling commands share with their flag in skctl.cli.commands.flags.
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


def checked(check: Callable[[str], T], text: str) -> T:
    """`check(text)`, its InputError turned into argparse's usage error (same message)."""
    try:
        return check(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def duration(text: str) -> float:
    """Positive seconds: `90s`, `1h30m`, `500ms`, `1w`, or a bare number (skctl.base.timeparse)."""
    from skctl.base.timeparse import parse_duration

    return checked(parse_duration, text)


def usage_interval(text: str) -> float:
    """How often the tracer samples pod usage: a duration of at least 1s (skctl.trace.tracked)."""
    from skctl.trace.tracked import parse_usage_interval

    return checked(parse_usage_interval, text)


def duration_text(text: str) -> str:
    """A valid duration, kept as typed (for flags passed on to the driver's command line)."""
    duration(text)
    return text


def speed(text: str) -> float:
    """A finite speed-up factor greater than 0."""
    from skctl.sim.timing import parse_speed

    return checked(parse_speed, text)


def speed_text(text: str) -> str:
    """A valid speed, kept as typed."""
    speed(text)
    return text


def simulation_name(text: str) -> str:
    """A simulation name: a DNS-1123 label (it names the driver Job and labels namespaces)."""
    from skctl.sim.manifests import validate_name

    return checked(validate_name, text)


def namespace(text: str) -> str:
    """A Kubernetes namespace name: a DNS-1123 label (skctl.sim.manifests.validate_label)."""
    from skctl.sim.manifests import validate_label

    checked(lambda value: validate_label(value, "namespace"), text)
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


def millis(text: str) -> int:
    """A whole number of milliseconds, 0 to 2**32-1 (SimKube's u32 lifecycle delay flags)."""
    from skctl.sim.timing import parse_millis

    return checked(parse_millis, text)


def trace_size(text: str) -> int:
    """A byte count such as `4Gi` (skctl.trace.limits.parse_size)."""
    from skctl.trace.limits import parse_size

    return checked(parse_size, text)


def unix_seconds(text: str) -> int:
    """Whole unix seconds a trace can hold (skctl.base.timeparse.parse_unix_seconds)."""
    from skctl.base.timeparse import parse_unix_seconds

    return checked(parse_unix_seconds, text)


def transform_program(text: str) -> object:
    """`--transform FILE` / `--program FILE`: the SimKube transform program (SKEL) in a local file, parsed."""
    from skctl.trace import skel

    return checked(skel.read_program, text)


def hook_files(text: str) -> object:
    """`--hooks FILE[:FILE...]`: SimKube hook files, read, checked and merged ('' for none)."""
    from skctl.sim import hooks

    return checked(hooks.load_files, text)
