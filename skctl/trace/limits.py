"""How big a trace may be: the bounds that stop broken or hostile input before it eats the machine.

A trace is read whole into memory and its compressed payload is expanded in memory, so both
sizes are bounded (docs/trace-format.md, "Limits"). The defaults fit every real trace with
room to spare: a 1M-event trace is about 0.6 GB of CBOR before compression, and skctl's
zlib and lzma compression shrink real traces 10-100×. A compressed payload may expand at
most MAX_EXPANSION× (zlib itself cannot exceed about 1,030×; only a crafted lzma stream
does), and never past the size cap. `--max-trace-size` replaces both bounds with one
explicit number, for the rare trace that needs more.
"""

from __future__ import annotations

from skctl.base import settings

DEFAULT_MAX_TRACE_BYTES = 2 * 1024**3  # read or decompressed
MAX_EXPANSION = 1000  # decompressed bytes per compressed byte, unless --max-trace-size is given
EXPANSION_FLOOR = 64 * 1024**2  # small payloads may always expand this far



def max_input_bytes() -> int:
    """The most bytes read from a trace file, tracer response or URL."""
    override = settings.current().max_trace_bytes
    return override if override is not None else DEFAULT_MAX_TRACE_BYTES


def max_decompressed_bytes(compressed: int) -> int:
    """The most bytes a payload of `compressed` bytes may expand to."""
    override = settings.current().max_trace_bytes
    if override is not None:
        return override
    return min(DEFAULT_MAX_TRACE_BYTES, max(EXPANSION_FLOOR, MAX_EXPANSION * compressed))


def explicit() -> bool:
    """Whether --max-trace-size set the bound (skctl.base.settings)."""
    return settings.current().max_trace_bytes is not None


def parse_size(text: str) -> int:
    """A byte count written as a Kubernetes quantity (`8Gi`, `500M`, `1073741824`), at least 1 KiB."""
    from kubernetes.utils.quantity import parse_quantity

    from skctl.base import messages
    from skctl.base.errors import InputError

    try:
        value = parse_quantity(text.strip())
    except (ValueError, ArithmeticError):
        raise InputError(messages.BAD_SIZE.format(value=text)) from None
    if not value.is_finite() or not 1024 <= value <= 2**53:
        raise InputError(messages.BAD_SIZE.format(value=text))
    return int(value)
