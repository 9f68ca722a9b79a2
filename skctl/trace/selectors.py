"""kubectl-style label selectors, parsed once and matched against `metadata.labels`.

Used by `skctl export --excluded-labels` and by the tracer's export endpoint, so a
selector means the same thing wherever a window is cut. The grammar is Kubernetes'
(`k8s.io/apimachinery/pkg/labels`):

    selector    := requirement ("," requirement)*          # comma = AND
    requirement := key ("=" | "==" | "!=") value
                 | key ("in" | "notin") "(" value ("," value)* ")"
                 | key | "!" key                             # exists / does not exist

`a!=b` and `a notin (b)` also match objects that have no label `a`, as in Kubernetes.
The `>`/`<` operators Kubernetes accepts for node selectors are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Keys: optional DNS-subdomain prefix + "/" + a name of alphanumerics, '-', '_', '.'.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^(?:[a-z0-9](?:[a-z0-9.-]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^(?:{_NAME})?$")
_TOKEN_RE = re.compile(r"\s*(==|!=|=|\(|\)|,|!|[^\s=!(),]+)")

OPERATORS = ("=", "==", "!=", "in", "notin", "exists", "!")


class SelectorError(ValueError):
    """A selector that does not parse; the message says which part and why."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op == "=" or op == "in":
            return value in self.values
        return value not in self.values  # "!=" and "notin" match a missing label

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            (value,) = self.values
            return f"{self.key}{self.op}{value}"
        return f"{self.key} {self.op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """An AND of requirements; the empty selector matches every object."""

    requirements: tuple[Requirement, ...]
    text: str = ""

    def matches(self, labels: Mapping[str, Any] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse one selector string; raise SelectorError naming the offending part."""
    tokens = _tokenize(text)
    requirements: list[Requirement] = []
    pos = 0
    while pos < len(tokens):
        req, pos = _requirement(tokens, pos, text)
        requirements.append(req)
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise SelectorError(f"expected ',' before '{tokens[pos]}' in '{text}'")
            pos += 1
            if pos == len(tokens):
                raise SelectorError(f"trailing ',' in '{text}'")
    return Selector(tuple(requirements), text)


def selector_from_json(value: Any) -> Selector:
    """A selector string, or a Kubernetes LabelSelector object (matchLabels/matchExpressions).

    The object form is what SimKube's export API sends; accepting both keeps the tracer's
    HTTP API compatible with either client.
    """
    if isinstance(value, str):
        return parse_selector(value)
    if not isinstance(value, Mapping):
        raise SelectorError(f"a label selector must be a string or a LabelSelector object, not {value!r}")
    reqs: list[Requirement] = []
    for key, val in (value.get("matchLabels") or {}).items():
        reqs.append(_checked(Requirement(str(key), "=", frozenset([str(val)])), str(value)))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in value.get("matchExpressions") or ():
        op = ops.get(expr.get("operator"))
        if op is None:
            raise SelectorError(f"unknown matchExpressions operator {expr.get('operator')!r}")
        values = frozenset(str(v) for v in expr.get("values") or ())
        if op in ("in", "notin") and not values:
            raise SelectorError(f"operator {expr.get('operator')} needs values in {expr!r}")
        reqs.append(_checked(Requirement(str(expr.get("key", "")), op, values), str(value)))
    return Selector(tuple(reqs), str(value))


def to_label_selector(selector: Selector) -> dict[str, Any]:
    """A parsed selector as a Kubernetes LabelSelector object (what SimKube's API takes)."""
    match_labels: dict[str, str] = {}
    expressions = []
    ops = {"in": "In", "notin": "NotIn", "!=": "NotIn", "exists": "Exists", "!": "DoesNotExist"}
    for req in selector.requirements:
        if req.op == "=" and req.key not in match_labels:
            (match_labels[req.key],) = req.values
            continue
        op = "In" if req.op == "=" else ops[req.op]
        expr: dict[str, Any] = {"key": req.key, "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = sorted(req.values)
        expressions.append(expr)
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN_RE.match(stripped, pos)
        if not m:  # pragma: no cover - the token pattern matches any non-space character
            raise SelectorError(f"cannot parse '{text}' at position {pos}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _requirement(tokens: list[str], pos: int, text: str) -> tuple[Requirement, int]:
    tok = tokens[pos]
    if tok == "!":
        if pos + 1 >= len(tokens) or tokens[pos + 1] in ("=", "==", "!=", "!", "(", ")", ","):
            raise SelectorError(f"'!' must be followed by a label key in '{text}'")
        return _checked(Requirement(tokens[pos + 1], "!"), text), pos + 2
    if tok in ("=", "==", "!=", "(", ")", ","):
        raise SelectorError(f"expected a label key, found '{tok}' in '{text}'")
    key = tok
    pos += 1
    if pos == len(tokens) or tokens[pos] == ",":
        return _checked(Requirement(key, "exists"), text), pos
    op = tokens[pos]
    if op in ("=", "==", "!="):
        pos += 1
        value = ""
        if pos < len(tokens) and tokens[pos] not in (",", "(", ")", "=", "==", "!=", "!"):
            value = tokens[pos]
            pos += 1
        return _checked(Requirement(key, "!=" if op == "!=" else "=", frozenset([value])), text), pos
    if op in ("in", "notin"):
        pos += 1
        if pos >= len(tokens) or tokens[pos] != "(":
            raise SelectorError(f"expected '(' after '{key} {op}' in '{text}'")
        pos += 1
        values: list[str] = []
        while True:
            if pos >= len(tokens):
                raise SelectorError(f"missing ')' in '{text}'")
            tok = tokens[pos]
            if tok == ")":
                pos += 1
                break
            if tok == ",":
                pos += 1
                continue
            if tok in ("(", "=", "==", "!=", "!"):
                raise SelectorError(f"unexpected '{tok}' in the value list of '{key} {op}' in '{text}'")
            values.append(tok)
            pos += 1
        if not values:
            raise SelectorError(f"'{key} {op} ()' needs at least one value in '{text}'")
        return _checked(Requirement(key, op, frozenset(values)), text), pos
    raise SelectorError(f"unknown operator '{op}' after '{key}' in '{text}'; use =, ==, !=, in, notin")


def _checked(req: Requirement, text: str) -> Requirement:
    if not _KEY_RE.match(req.key):
        raise SelectorError(f"invalid label key '{req.key}' in '{text}'")
    for value in req.values:
        if not _VALUE_RE.match(value):
            raise SelectorError(f"invalid label value '{value}' for key '{req.key}' in '{text}'")
    return req
