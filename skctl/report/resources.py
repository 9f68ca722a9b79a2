"""A pod's effective resource requests, as the scheduler counts them.

The scheduler's rule (NodeResourcesFit): the larger of the sum over the app containers
(sidecars, i.e. restartable init containers, included) and the largest regular init
container plus the sidecars started before it, plus spec.overhead. Quantities are read by skctl.kube.quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skctl.kube.quantity import byte_count, millicores, quantity

__all__ = ["byte_count", "millicores", "quantity"]  # the quantity rules live in skctl.kube.quantity


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
