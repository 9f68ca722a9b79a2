"""Helpers shared by the bench scripts: timing, peak memory, and how figures are printed.

Figures are printed as ratios against a baseline measured in the same run, because the
machines here are shared and noisy; absolute numbers are shown alongside for context.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "simkube"


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Smallest wall time of `repeat` runs: the least noisy estimate on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def medians(fns: dict[str, Callable[[], object]], repeat: int = 9) -> dict[str, float]:
    """Median wall time of each function over `repeat` rounds, the functions interleaved in
    each round so that load arriving mid-measurement affects them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, value: float, target: str = "", unit: str = "", detail: str = "") -> None:
    """One figure per line: name, value, target, and the absolute numbers behind a ratio."""
    ok = ""
    if target:
        op, bound = target[:2].strip(), float(target[2:].strip())
        ok = "  ok" if (value <= bound if op == "<=" else value >= bound) else "  MISSED"
    shown = f"{value:.3f}{unit}" if isinstance(value, float) else f"{value}{unit}"
    line = f"  {name:<58} {shown:>12}"
    if target:
        line += f"   target {target}{ok}"
    if detail:
        line += f"   ({detail})"
    print(line, flush=True)
