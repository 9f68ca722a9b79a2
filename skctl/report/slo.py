"""SLO gates: `--slo EXPR`, a small comparison grammar, parsed here and never eval'd.

    gate     := side OP side                 OP: <= >= < > == !=
    side     := factor | factor '*' factor   (at most one product, e.g. 1.1*baseline.x)
    factor   := NUMBER [UNIT] | [baseline. | candidate.] METRIC
    UNIT     := a duration unit (ms, s, m, h, ...: seconds) or % (a share: 99% = 0.99)

At least one side names a metric (skctl.report.measure.METRICS). `baseline.` and
`candidate.` only make sense for `report diff`; there a bare metric is the candidate's.
A malformed gate is an InputError (exit 2) raised before anything runs.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.report.measure import METRICS, SECONDS, SHARES

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<op><=|>=|==|!=|<|>)|(?P<star>\*)"
    r"|(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?P<unit>%|[a-zµμ]+)?"
    r"|(?P<ref>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))"
)
RUNS = ("baseline", "candidate")


@dataclass(frozen=True)
class Factor:
    number: float | None = None
    run: str = "candidate"
    metric: str = ""

    def value(self, runs: Mapping[str, Mapping[str, float | int | None]]) -> float | None:
        if self.metric:
            value = (runs.get(self.run) or {}).get(self.metric)
            return None if value is None else float(value)
        return self.number

    def text(self, qualified: bool = False) -> str:
        if not self.metric:
            return f"{self.number:g}"
        return f"{self.run}.{self.metric}" if qualified else self.metric


@dataclass(frozen=True)
class Gate:
    text: str
    left: tuple[Factor, ...]
    op: str
    right: tuple[Factor, ...]

    def metrics(self) -> list[Factor]:
        return [f for f in (*self.left, *self.right) if f.metric]


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    passed: bool
    detail: str  # "pod_startup_p99 = 7.2s, needs <= 5s", or why there is no value


def _number(num: str, unit: str | None, text: str) -> float:
    from skctl.base.timeparse import duration_seconds

    value = float(num)
    if not math.isfinite(value):
        raise InputError(messages.SLO_BAD_EXPRESSION.format(expr=text, at=num))
    if unit is None:
        return value
    if unit == "%":
        return value / 100
    seconds = duration_seconds(num + unit)
    if seconds is None or math.isinf(seconds):
        raise InputError(messages.SLO_BAD_UNIT.format(expr=text, unit=unit))
    return seconds


def parse(text: str, diff: bool = False) -> Gate:
    """A Gate from `text`; InputError with one line saying what is wrong."""
    tokens: list[tuple[str, str, str | None]] = []
    pos = 0
    stripped = text.strip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            raise InputError(messages.SLO_BAD_EXPRESSION.format(expr=text, at=stripped[pos:pos + 12] or "end"))
        kind = match.lastgroup if match.lastgroup != "unit" else "num"
        if match.group("num") is not None:
            tokens.append(("num", match.group("num"), match.group("unit")))
        else:
            tokens.append((str(kind), match.group(str(kind)), None))
        pos = match.end()
    ops = [i for i, t in enumerate(tokens) if t[0] == "op"]
    if len(ops) != 1:
        raise InputError(messages.SLO_NEEDS_ONE_OPERATOR.format(expr=text, ops=", ".join(OPERATORS)))
    i = ops[0]
    left = _side(tokens[:i], text, diff)
    right = _side(tokens[i + 1:], text, diff)
    gate = Gate(text=text.strip(), left=left, op=tokens[i][1], right=right)
    if not gate.metrics():
        raise InputError(messages.SLO_NO_METRIC.format(expr=text))
    return gate


def _side(tokens: Sequence[tuple[str, str, str | None]], text: str, diff: bool) -> tuple[Factor, ...]:
    if len(tokens) == 1:
        return (_factor(tokens[0], text, diff),)
    if len(tokens) == 3 and tokens[1][0] == "star":
        factors = (_factor(tokens[0], text, diff), _factor(tokens[2], text, diff))
        if all(f.metric for f in factors):
            raise InputError(messages.SLO_BAD_EXPRESSION.format(expr=text, at="*"))
        return factors
    at = tokens[1][1] if len(tokens) > 1 else "end"
    raise InputError(messages.SLO_BAD_EXPRESSION.format(expr=text, at=at))


def _factor(token: tuple[str, str, str | None], text: str, diff: bool) -> Factor:
    kind, value, unit = token
    if kind == "num":
        return Factor(number=_number(value, unit, text))
    if kind != "ref":
        raise InputError(messages.SLO_BAD_EXPRESSION.format(expr=text, at=value))
    run, _, metric = value.rpartition(".")
    if run and run not in RUNS:
        raise InputError(messages.SLO_BAD_RUN.format(expr=text, run=run))
    if run and not diff:
        raise InputError(messages.SLO_RUN_OUTSIDE_DIFF.format(expr=text, run=run))
    if metric not in METRICS:
        raise InputError(messages.SLO_UNKNOWN_METRIC.format(expr=text, metric=metric, metrics=", ".join(METRICS)))
    return Factor(run=run or "candidate", metric=metric)


def parse_all(texts: Sequence[str], diff: bool = False) -> list[Gate]:
    return [parse(t, diff) for t in texts]


def show(metric: str, value: float | None) -> str:
    """A metric's value as people read it: 1.25s, 99.5%, 12."""
    if value is None:
        return "none"
    if metric in SECONDS:
        return f"{value * 1000:.0f}ms" if 0 < abs(value) < 1 else f"{value:.3g}s"
    if metric in SHARES:
        return f"{value * 100:.4g}%"
    return f"{value:g}"


def _side_value(side: tuple[Factor, ...], runs: Mapping[str, Mapping[str, float | int | None]]) -> float | None:
    product = 1.0
    for f in side:
        v = f.value(runs)
        if v is None:
            return None
        product *= v
    return product


def evaluate(gate: Gate, runs: Mapping[str, Mapping[str, float | int | None]]) -> GateResult:
    """Evaluate against the runs' metrics ({"candidate": ..., "baseline": ...}); a gate
    whose metric has no value (no pod ever ran, say) fails: CI must not pass on no data."""
    left, right = _side_value(gate.left, runs), _side_value(gate.right, runs)
    qualified = "baseline" in runs
    shown = "; ".join(f"{f.text(qualified)} = {show(f.metric, f.value(runs))}" for f in gate.metrics())
    if left is None or right is None:
        return GateResult(gate, False, f"{shown}: no value to compare")
    return GateResult(gate, OPERATORS[gate.op](left, right), shown)
