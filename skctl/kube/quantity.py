"""Kubernetes resource quantities (`250m`, `1.5`, `512Mi`, `1e3`, `12345n`): one home for
reading them (the report's requests, the tracer's PodMetrics) and for writing the usage
annotations the driver sets on simulated pods.

Quantities are parsed once per distinct string: a replay repeats a handful of them
thousands of times.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

_SUFFIX: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


@lru_cache(maxsize=4096)
def quantity(text: str) -> Decimal:
    """A Kubernetes quantity as a Decimal; 0 if malformed."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        return Decimal(0)
    number, exponent, suffix = match.groups()
    try:
        return Decimal(number + (exponent or "")) * Decimal(_SUFFIX[suffix or ""])
    except InvalidOperation:
        return Decimal(0)


def millicores(text: Any) -> int:
    """CPU in millicores, rounded up (metrics-server reports nanocores: `12345678n` is 13m)."""
    return int((quantity(str(text)) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def byte_count(text: Any) -> int:
    """Memory in bytes, rounded up."""
    return int(quantity(str(text)).to_integral_value(rounding="ROUND_CEILING"))


def cpu_text(millis: int) -> str:
    """Millicores as a quantity: `250m`."""
    return f"{int(millis)}m"


def memory_text(n: int) -> str:
    """Bytes as the shortest exact binary quantity: `128Mi`, `1536Ki`, `1000`."""
    n = int(n)
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)
