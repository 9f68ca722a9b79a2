"""Kubernetes label selectors: the one parser and matcher in skctl.

Used by `skctl export --excluded-labels`, the tracer's export endpoint and the sandbox's
`?labelSelector=`, so a selector means the same thing everywhere, and the same thing it
means to an API server. The grammar and its corner cases are those of
`k8s.io/apimachinery/pkg/labels` (tests/test_selectors.py runs Kubernetes' own cases):

    selector    := "" | requirement ("," requirement)*          # comma = AND
    requirement := key ("=" | "==" | "!=") [value]
                 | key ("in" | "notin") "(" [value] ("," [value])* ")"
                 | key (">" | "<") integer
                 | key | "!" key                                 # exists / does not exist

- `a in ()` is `a in ("")`; empty entries in a list are the empty value (`(a,,b)`).
- `a!=b` and `a notin (b)` also match objects without the label `a`; `a>1`/`a<1` never do,
  nor do labels whose value is not an integer.
- Keys are qualified names (`[dns-subdomain/]name`), values label values
  (skctl.kube.names); `a in (x y)`, `a,,b` and a leading or trailing ',' are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skctl.kube.names import label_value_error, qualified_name_error

_SPECIAL = "=!(),<>"
_WHITESPACE = " \t\r\n"
_END = ""  # the end-of-string token
_INT64 = (-(2**63), 2**63 - 1)
_EQUALITY_OPS = ("=", "==", "!=", ">", "<")
_MATCH_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


class SelectorError(ValueError):
    """A selector that does not parse; the message says which part and why."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in (">", "<"):
            have = _int64(labels.get(self.key))
            (want,) = (_int64(v) for v in self.values)
            if have is None or want is None:
                return False
            return have > want if op == ">" else have < want
        value = labels.get(self.key)
        if op == "=" or op == "in":
            return value in self.values
        return value not in self.values  # "!=" and "notin" match a missing label

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        (value,) = self.values
        return f"{self.key}{self.op}{value}"


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
    return Selector(tuple(_Parser(text).selector()), text)


def selector_from_json(value: Any) -> Selector:
    """A selector string, or a Kubernetes LabelSelector object (matchLabels/matchExpressions).

    The object form is what SimKube's export API sends; accepting both keeps the tracer's
    HTTP API compatible with either client.
    """
    if isinstance(value, str):
        return parse_selector(value)
    if not isinstance(value, Mapping):
        raise SelectorError(f"a label selector must be a string or a LabelSelector object, not {value!r}")
    text = str(value)
    reqs: list[Requirement] = []
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise SelectorError(f"matchLabels must be a map of strings to strings in {text}")
    for key, val in labels.items():
        reqs.append(requirement(str(key), "=", [val], text))
    exprs = value.get("matchExpressions") or ()
    if not isinstance(exprs, (list, tuple)) or not all(isinstance(e, Mapping) for e in exprs):
        raise SelectorError(f"matchExpressions must be a list of {{key, operator, values}} objects in {text}")
    for expr in exprs:
        operator = expr.get("operator")
        op = _MATCH_EXPRESSION_OPS.get(operator) if isinstance(operator, str) else None
        if op is None:
            raise SelectorError(f"unknown matchExpressions operator {expr.get('operator')!r}")
        raw_values = expr.get("values") or ()
        if not isinstance(raw_values, (list, tuple)) or not all(isinstance(v, str) for v in raw_values):
            raise SelectorError(f"matchExpressions values must be a list of strings in {text}")
        values = list(raw_values)
        reqs.append(requirement(str(expr.get("key", "")), op, values, text))
    return Selector(tuple(reqs), text)


def selector_string(value: Any) -> str:
    """A LabelSelector object (or selector string) as the string a real server writes for it,
    e.g. in a Scale's status.selector: apimachinery's LabelSelectorAsSelector(...).String(),
    requirements sorted by key, matchExpressions included (`app=web,tier in (a,b),!canary`).
    Raises SelectorError when it is not a valid selector."""
    selector = selector_from_json(value)
    return ",".join(str(r) for r in sorted(selector.requirements, key=lambda r: r.key))


def to_label_selector(selector: Selector) -> dict[str, Any]:
    """A parsed selector as a Kubernetes LabelSelector object (what SimKube's API takes)."""
    match_labels: dict[str, str] = {}
    expressions = []
    ops = {op: name for name, op in _MATCH_EXPRESSION_OPS.items()}
    ops["!="] = "NotIn"
    for req in selector.requirements:
        if req.op == "=" and req.key not in match_labels:
            (match_labels[req.key],) = req.values
            continue
        op = "In" if req.op == "=" else ops.get(req.op)
        if op is None:  # `>`/`<`: a LabelSelector object has no such operator
            raise SelectorError(f"'{req}' cannot be sent as a LabelSelector object (no {req.op} operator)")
        expr: dict[str, Any] = {"key": req.key, "operator": op}
        if req.values:
            expr["values"] = sorted(req.values)
        expressions.append(expr)
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


def requirement(key: str, op: str, values: list[str], text: str) -> Requirement:
    """A checked requirement (Kubernetes' NewRequirement): key, value count and values."""
    problem = qualified_name_error(key)
    if problem:
        raise SelectorError(f"invalid label key '{key}' in '{text}': {problem}")
    if op in ("in", "notin") and not values:
        raise SelectorError(f"'{key} {op}' needs at least one value in '{text}'")
    if op in ("exists", "!") and values:
        raise SelectorError(f"'{key}' exists/does-not-exist takes no values in '{text}'")
    if op in _EQUALITY_OPS and len(values) != 1:
        raise SelectorError(f"'{key}{op}' takes exactly one value in '{text}'")
    if op in (">", "<") and _int64(values[0]) is None:
        raise SelectorError(f"'{key}{op}{values[0]}' needs an integer value in '{text}'")
    for value in values:
        problem = label_value_error(value)
        if problem:
            raise SelectorError(f"invalid label value '{value}' for key '{key}' in '{text}': {problem}")
    return Requirement(key, "=" if op == "==" else op, frozenset(values))


def _int64(value: Any) -> int | None:
    """Go's strconv.ParseInt(value, 10, 64), or None."""
    if not isinstance(value, str):
        return None
    digits = value[1:] if value[:1] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    number = int(value)
    return number if _INT64[0] <= number <= _INT64[1] else None


def _lex(text: str) -> list[str]:
    """Tokens: the special symbols ('==' and '!=' longest first) and identifiers between them."""
    tokens: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch in _WHITESPACE:
            pos += 1
        elif ch in _SPECIAL:
            width = 2 if text[pos : pos + 2] in ("==", "!=") else 1
            tokens.append(text[pos : pos + width])
            pos += width
        else:
            start = pos
            while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            tokens.append(text[start:pos])
    return tokens


def _is_identifier(token: str) -> bool:
    return token != _END and token[0] not in _SPECIAL


class _Parser:
    """Recursive descent over the tokens, with apimachinery's rules and error points."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else _END

    def take(self) -> str:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, found: str, expected: str) -> SelectorError:
        shown = found if found != _END else "end of string"
        return SelectorError(f"found '{shown}', expected {expected} in '{self.text}'")

    def selector(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        if self.peek() == _END:
            return reqs
        while True:
            token = self.peek()
            if not (_is_identifier(token) or token == "!"):
                raise self.fail(token, "a label key or '!'")
            reqs.append(self.requirement())
            token = self.take()
            if token == _END:
                return reqs
            if token != ",":
                raise self.fail(token, "',' or the end")
            if not (_is_identifier(self.peek()) or self.peek() == "!"):
                raise self.fail(self.peek(), "a label key after ','")

    def requirement(self) -> Requirement:
        token = self.take()
        op = None
        if token == "!":
            op = "!"
            token = self.take()
        if not _is_identifier(token):
            raise self.fail(token, "a label key")
        key = token
        if self.peek() in (_END, ","):
            op = op or "exists"
        if op is not None:  # "!key" is complete even when more follows: the caller rejects it
            return requirement(key, op, [], self.text)
        op = self.take()
        if op not in ("in", "notin", *_EQUALITY_OPS):
            raise self.fail(op, "one of =, ==, !=, in, notin, >, <")
        values = self.value_list() if op in ("in", "notin") else [self.exact_value()]
        return requirement(key, op, values, self.text)

    def exact_value(self) -> str:
        if self.peek() in (_END, ","):
            return ""
        token = self.take()
        if not _is_identifier(token):
            raise self.fail(token, "a value")
        return token

    def value_list(self) -> list[str]:
        token = self.take()
        if token != "(":
            raise self.fail(token, "'('")
        values: list[str] = []
        expect_value = True  # at the start and after each ','
        while True:
            token = self.take()
            if token == ")":
                if expect_value:
                    values.append("")  # "()" and "(a,)" hold the empty value
                return values
            if token == ",":
                if expect_value:
                    values.append("")  # "(,a)" and "(a,,b)" too
                expect_value = True
            elif _is_identifier(token) and expect_value:
                values.append(token)
                expect_value = False
            else:
                raise self.fail(token, "',' or ')'" if not expect_value else "a value, ',' or ')'")
