"""A pod's effective resource requests, as the scheduler counts them.

The scheduler's rule (NodeResourcesFit): the larger of the sum over the app containers
(sidecars, i.e. restartable init containers, included) and the largest regular init
container plus the sidecars started before it, plus spec.overhead. Quantities are parsed
once per distinct string: a replay repeats a handful of them thousands of times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    """A Kubernetes quantity (`250m`, `1.5`, `512Mi`, `1e3`) as a Decimal; 0 if malformed."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        return Decimal(0)
    number, exponent, suffix = match.groups()
    try:
        return Decimal(number + (exponent or "")) * Decimal(_SUFFIX[suffix or ""])
    except InvalidOperation:
        return Decimal(0)


def millicores(text: Any) -> int:
    return int((quantity(str(text)) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def byte_count(text: Any) -> int:
    return int(quantity(str(text)).to_integral_value(rounding="ROUND_CEILING"))


def _requests(container: Mapping[str, Any]) -> tuple[int, int]:
    req = ((container.get("resources") or {}).get("requests")) or {}
    return millicores(req.get("cpu", 0)), byte_count(req.get("memory", 0))


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) the scheduler reserves for a pod with this spec."""
    cpu = mem = 0
    for c in spec.get("containers") or []:
        c_cpu, c_mem = _requests(c)
        cpu, mem = cpu + c_cpu, mem + c_mem
    side_cpu = side_mem = 0
    init_cpu = init_mem = 0
    for c in spec.get("initContainers") or []:
        c_cpu, c_mem = _requests(c)
        if c.get("restartPolicy") == "Always":  # a sidecar runs beside the app containers
            side_cpu, side_mem = side_cpu + c_cpu, side_mem + c_mem
            cpu, mem = cpu + c_cpu, mem + c_mem
        else:
            init_cpu, init_mem = max(init_cpu, side_cpu + c_cpu), max(init_mem, side_mem + c_mem)
    cpu, mem = max(cpu, init_cpu), max(mem, init_mem)
    overhead = spec.get("overhead") or {}
    return cpu + millicores(overhead.get("cpu", 0)), mem + byte_count(overhead.get("memory", 0))


def node_allocatable(node: Mapping[str, Any]) -> tuple[int, int, int]:
    """(millicores, bytes, pods) a node offers to pods."""
    alloc = ((node.get("status") or {}).get("allocatable")) or {}
    return millicores(alloc.get("cpu", 0)), byte_count(alloc.get("memory", 0)), int(quantity(str(alloc.get("pods", 0))))
