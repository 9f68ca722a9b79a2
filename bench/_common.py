"""Helpers shared by the bench scripts: timing, peak memory, and how figures are printed.

Figures are printed as ratios against a baseline measured in the same run, because the
machines here are shared and noisy; absolute numbers are shown alongside for context.

When `BENCH_JSON` names a file, every `report()` also appends one JSON line to it (bench,
section, name, value, target, unit, detail, run), so `scripts/perf_report.py` can take the
median over several runs and write docs/performance.md without anything typed by hand.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "simkube"  # SimKube's reference traces, used in place
BENCH = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "bench"

_TARGET = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*$")
_section = ""


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


def meets(value: float, target: str) -> bool | None:
    """Whether `value` meets a target such as "<= 1.5", ">= 300" or "< 1.5"; None without one."""
    match = _TARGET.match(target or "")
    if match is None:
        return None
    op, bound = match.group(1), float(match.group(2))
    return {"<=": value <= bound, ">=": value >= bound, "<": value < bound, ">": value > bound}[op]


def fmt(value: float) -> str:
    """A figure with as many digits as its size deserves: 166,844 / 45.2 / 2.240 / 0.027."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def section(label: str) -> None:
    """Print a heading; figures reported after it are grouped under it (in the JSON too)."""
    global _section
    _section = label
    print(label, flush=True)


def report(name: str, value: float, target: str = "", unit: str = "", detail: str = "") -> None:
    """One figure per line: name, value, target, and the absolute numbers behind a ratio."""
    ok = meets(value, target)
    line = f"  {name:<58} {fmt(value) + unit:>12}"
    if target:
        line += f"   target {target}" + ("" if ok is None else "  ok" if ok else "  MISSED")
    if detail:
        line += f"   ({detail})"
    print(line, flush=True)
    path = os.environ.get("BENCH_JSON")
    if path:
        record = {"bench": BENCH, "section": _section, "name": name, "value": value, "target": target,
                  "unit": unit, "detail": detail, "run": int(os.environ.get("BENCH_RUN", "0"))}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
