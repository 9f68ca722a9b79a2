"""Running gates over reports and writing their results (the commands only print)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skctl.report.junit import junit_xml
from skctl.report.slo import Gate, GateResult, evaluate


def evaluate_all(gates: Sequence[Gate], runs: Mapping[str, Mapping[str, Any]]) -> list[GateResult]:
    return [evaluate(g, runs) for g in gates]


def as_json(results: Sequence[GateResult]) -> list[dict[str, Any]]:
    return [{"gate": r.gate.text, "passed": r.passed, "detail": r.detail} for r in results]


def write_junit(results: Sequence[GateResult], url: str, options: dict[str, Any] | None = None) -> None:
    from skctl import storage

    storage.write_bytes(url, junit_xml(results), options)
