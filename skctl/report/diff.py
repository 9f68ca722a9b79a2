"""Two reports side by side: every metric's change and a verdict (`skctl report diff`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skctl.report.measure import DIRECTION, METRICS, SHARES

# A change within this share of the baseline (or below NOISE_ABS) is "same": replays on a
# shared machine never repeat to the millisecond. Shares (fidelity, utilisation: 0..1) are
# "same" within NOISE_POINTS, half a percentage point, whatever their size.
NOISE_SHARE = 0.05
NOISE_ABS = 1e-3
NOISE_POINTS = 0.005


def verdict(metric: str, baseline: float | None, candidate: float | None) -> str:
    """better, worse, same, changed (a metric with no better direction) or n/a."""
    if baseline is None or candidate is None:
        return "same" if baseline is None and candidate is None else "n/a"
    change = candidate - baseline
    noise = NOISE_POINTS if metric in SHARES else max(NOISE_ABS, abs(baseline) * NOISE_SHARE)
    if abs(change) <= noise:
        return "same"
    direction = DIRECTION.get(metric, 0)
    if direction == 0:
        return "changed"
    return "better" if change * direction > 0 else "worse"


def compare(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: baseline, candidate, change, relative change, verdict."""
    rows = []
    b_metrics, c_metrics = baseline.get("metrics") or {}, candidate.get("metrics") or {}
    for metric in METRICS:
        b, c = b_metrics.get(metric), c_metrics.get(metric)
        change = None if b is None or c is None else round(c - b, 6)
        relative = None if change is None or not b else round(change / abs(b), 4)
        rows.append({"metric": metric, "baseline": b, "candidate": c, "change": change, "relative": relative,
                     "verdict": verdict(metric, b, c)})
    return rows
