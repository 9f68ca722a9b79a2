"""Trace transforms in SimKube's expression language (SKEL): parse a program, apply it per event.

A program is a list of commands, each ended by `;`, `#` comments to the end of the line:

    delete(SELECTOR);               drop every object the selector matches
    modify([SELECTOR,] PATH = VALUE);   set a field (created when absent)
    remove([SELECTOR,] PATH);       remove a field (array elements too)

A selector is `*` or conditions joined by `&&`: `@t OP TIME` (the event's time: unix seconds,
or `10m`/`30s`/`2h` after the trace's start), `PATH OP VALUE` (== and != compare JSON values;
skctl also orders numbers and strings with < <= > >=, where SimKube stops), `exists(PATH)`,
`!exists(PATH)`, and `$x := PATH | TEST`, which binds `$x` to every element of PATH for which
TEST (written with `$x`) holds, for later conditions and for the target. Paths are dotted field
names, `"quoted.keys/with-slashes"`, and array indices `[3]` or `[*]` (every element).

Semantics follow SimKube's sk-skel (docs/export.md, "Transforms"): every command runs on
every object of every event, in order; a `PATH OP VALUE` test holds when some element the
path reaches holds it (a missing field never does, except for `!exists`); an event left
with no objects is dropped. The grammar is lark's; evaluation is plain Python on the
trace's JSON dicts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.trace.model import Trace

GRAMMAR = r"""
start: (command ";")*
?command: delete_cmd | modify_cmd | remove_cmd
delete_cmd: "delete" "(" selector ")"
modify_cmd: "modify" "(" [selector ","] PATH "=" rhs ")"
remove_cmd: "remove" "(" [selector ","] PATH ")"

selector: ALL | condition ("&&" condition)*
ALL: "*"
?condition: "@t" COMPARATOR TIME   -> time_cond
          | test
          | PATH ":=" PATH "|" test -> var_cond
?test: PATH COMPARATOR rhs         -> compare
     | EXISTS "(" PATH ")"         -> exists
     | NOT_EXISTS "(" PATH ")"     -> not_exists
?rhs: STRING | PATH

COMPARATOR: "==" | "!=" | "<=" | ">=" | "<" | ">"
TIME: /[0-9]+[hms]?/
STRING.3: /"[^"]*"/
EXISTS.2: /exists(?=\s*\()/
NOT_EXISTS.2: /!exists(?=\s*\()/
_PART: /[A-Za-z0-9_-]+/ | /"[A-Za-z0-9_.\/-]+"/
PATH: (/\$[A-Za-z_][A-Za-z0-9_]*/ | _PART) ("." _PART | /\[([0-9]+|\*)\]/)*

COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\r\n]+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)
_PATH_TOKEN = re.compile(r'\$[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9_-]+|"[^"]*"|\[([0-9]+|\*)\]|\.')
_VAR = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")
UNITS = {"s": 1, "m": 60, "h": 3600}
WILDCARD = "*"


class TransformError(InputError):
    """A program that does not parse, or that cannot be applied to an object."""


# --- the program: what parsing makes ------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """A field path: tokens (keys, array indices as str, `*`), led by a variable or not."""

    var: str | None
    tokens: tuple[str, ...]
    text: str

    def pointer(self) -> str:
        """As a JSON pointer (RFC 6901), the variable kept as its own token: `/$x/name`."""
        parts = ([self.var] if self.var else []) + [_escape(t) for t in self.tokens]
        return "/" + "/".join(parts) if parts else ""


@dataclass(frozen=True)
class TimeCond:
    op: str
    ts: int
    relative: bool = False  # `ts` seconds after the start the program is applied with


@dataclass(frozen=True)
class FieldCond:
    """`lhs op rhs`, `exists(lhs)` (op "exists") or `!exists(lhs)` (op "!exists"); with `var`,
    the condition of `var := bound | ...`."""

    lhs: Path
    op: str
    rhs: Any = None  # a JSON value, or a Path
    var: str | None = None
    bound: Path | None = None


@dataclass(frozen=True)
class Command:
    action: str  # delete | modify | remove
    conditions: tuple[TimeCond | FieldCond, ...] | None  # None: every object (`*` or no selector)
    target: Path | None = None
    value: Any = None  # modify's right-hand side: a JSON value or a Path
    text: str = ""


@dataclass
class Program:
    """Parsed commands; relative `@t` times are resolved against `start_ts` when applied."""

    commands: list[Command]
    source: str = ""
    origin: str = "the transform"  # where the text came from (a file name), for messages

    def apply_trace(self, trace: Trace, start_ts: int | None = None) -> Trace:
        """A new trace with every event transformed; `start_ts` anchors relative times
        (default: the trace's first event). Index and lifecycles are kept as they are."""
        base = start_ts if start_ts is not None else (trace.events[0]["ts"] if trace.events else 0)
        events = list(self.apply_events(trace.events, base))
        return Trace(
            version=trace.version,
            config=trace.config,
            events=events,
            index=trace.index,
            pod_lifecycles=trace.pod_lifecycles,
            extra=trace.extra,
        )

    def apply_events(self, events: Iterable[dict[str, Any]], start_ts: int) -> Iterator[dict[str, Any]]:
        """Each event transformed, in order; events left with no objects are dropped."""
        for event in events:
            out = self.apply_event(event, start_ts)
            if out["applied_objs"] or out["deleted_objs"]:
                yield out

    def apply_event(self, event: Mapping[str, Any], start_ts: int) -> dict[str, Any]:
        ts = int(event["ts"])
        out = dict(event)
        for key in ("applied_objs", "deleted_objs"):
            objs = [copy.deepcopy(o) for o in event.get(key) or ()]
            for cmd in self.commands:
                objs = [o for o in (_run(cmd, o, ts, start_ts) for o in objs) if o is not None]
            out[key] = objs
        return out


def parse(source: str, origin: str = "the transform") -> Program:
    """The program in `source`; TransformError with the line and column of a syntax error."""
    try:
        tree = _PARSER.parse(source)
    except UnexpectedInput as exc:
        raise TransformError(_syntax_error(exc, source, origin)) from None
    except LarkError as exc:  # pragma: no cover - lark's other errors are grammar bugs
        raise TransformError(messages.SKEL_IN.format(origin=origin, detail=exc)) from None
    try:
        commands = _Build(source).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, TransformError):
            raise TransformError(messages.SKEL_IN.format(origin=origin, detail=exc.orig_exc)) from None
        raise
    return Program(commands, source, origin)


def _syntax_error(exc: UnexpectedInput, source: str, origin: str) -> str:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedEOF) or not isinstance(line, int) or line < 1 or (
        token is not None and token.type == "$END"
    ):
        return messages.SKEL_UNFINISHED.format(origin=origin)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream if isinstance(exc.pos_in_stream, int) else -1
        char = source[pos] if 0 <= pos < len(source) else "?"
        return messages.SKEL_SYNTAX.format(origin=origin, line=line, column=column, what=repr(char))
    return messages.SKEL_SYNTAX.format(origin=origin, line=line, column=column, what=repr(str(token)))


class _Build(Transformer[Token, list[Command]]):
    """Tree → Commands, with SimKube's checks on variables (defined once, defined before use,
    a test's left side naming only its own variable)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def start(self, commands: list[Command]) -> list[Command]:
        return list(commands)

    def delete_cmd(self, items: list[Any]) -> Command:
        conditions = items[0]
        _check_vars(conditions, [])
        return Command("delete", conditions, text="delete")

    def modify_cmd(self, items: list[Any]) -> Command:
        conditions, target, value = items
        target_path = _path(target)
        value = _rhs(value)
        _check_vars(conditions, [target_path] + ([value] if isinstance(value, Path) else []))
        return Command("modify", conditions, target_path, value, text=f"modify {target_path.text}")

    def remove_cmd(self, items: list[Any]) -> Command:
        conditions, target = items
        target_path = _path(target)
        _check_vars(conditions, [target_path])
        return Command("remove", conditions, target_path, text=f"remove {target_path.text}")

    def selector(self, items: list[Any]) -> tuple[TimeCond | FieldCond, ...] | None:
        if len(items) == 1 and isinstance(items[0], Token) and items[0].type == "ALL":
            return None
        return tuple(items)

    def time_cond(self, items: list[Token]) -> TimeCond:
        op, time = str(items[0]), str(items[1])
        if time[-1] in UNITS:  # relative: resolved against the start when applied
            return TimeCond(op, int(time[:-1]) * UNITS[time[-1]], relative=True)
        return TimeCond(op, int(time))

    def compare(self, items: list[Any]) -> FieldCond:
        return FieldCond(_path(items[0]), str(items[1]), _rhs(items[2]))

    def exists(self, items: list[Token]) -> FieldCond:
        return FieldCond(_path(items[1]), "exists")

    def not_exists(self, items: list[Token]) -> FieldCond:
        return FieldCond(_path(items[1]), "!exists")

    def var_cond(self, items: list[Any]) -> FieldCond:
        name, bound, test = str(items[0]), _path(items[1]), items[2]
        if not _VAR.match(name):
            raise TransformError(messages.SKEL_BAD_VARIABLE.format(name=name))
        return FieldCond(test.lhs, test.op, test.rhs, var=name, bound=bound)


def _path(token: Any) -> Path:
    text = str(token)
    var = None
    tokens: list[str] = []
    for match in _PATH_TOKEN.finditer(text):
        part = match.group(0)
        if part == ".":
            continue
        if part.startswith("$"):
            var = part
        elif part.startswith("["):
            tokens.append(part[1:-1])
        elif part.startswith('"'):
            tokens.append(part[1:-1])
        else:
            tokens.append(part)
    return Path(var, tuple(tokens), text)


def _rhs(item: Any) -> Any:
    """A right-hand side: a quoted string, a whole number, true/false (any case), or a path."""
    text = str(item)
    if isinstance(item, Token) and item.type == "STRING":
        return text[1:-1]
    if text.isdigit():
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _path(item)


def _check_vars(conditions: tuple[TimeCond | FieldCond, ...] | None, uses: list[Path]) -> None:
    defined: list[str] = []
    for cond in conditions or ():
        if not isinstance(cond, FieldCond):
            continue
        if cond.var is not None:
            if cond.var in defined:
                raise TransformError(messages.SKEL_VAR_TWICE.format(var=cond.var))
            defined.append(cond.var)
            if cond.bound is not None and cond.bound.var is not None:
                raise TransformError(messages.SKEL_BOUND_VAR.format(var=cond.var, path=cond.bound.text))
        if cond.lhs.var != cond.var:  # a plain test names no variable; a binding's test names its own
            raise TransformError(messages.SKEL_VAR_LHS.format(var=cond.lhs.var, path=cond.lhs.text))
        if isinstance(cond.rhs, Path) and cond.rhs.var is not None and cond.rhs.var not in defined:
            raise TransformError(messages.SKEL_VAR_UNDEFINED.format(var=cond.rhs.var))
    for use in uses:
        if use.var is not None and use.var not in defined:
            raise TransformError(messages.SKEL_VAR_UNDEFINED.format(var=use.var))


# --- evaluation ------------------------------------------------------------------------------

Pointer = tuple[str, ...]


@dataclass
class _Context:
    obj: Any  # the object as the command found it (read-only)
    bindings: dict[str, list[tuple[Pointer, Any]]] = field(default_factory=dict)


def _run(cmd: Command, obj: dict[str, Any], ts: int, start_ts: int) -> dict[str, Any] | None:
    ctx = _Context(copy.deepcopy(obj))
    try:
        if cmd.conditions is not None and not all(_holds(c, ctx, ts, start_ts) for c in cmd.conditions):
            return obj
        if cmd.action == "delete":
            return None
        assert cmd.target is not None
        targets = _reify(cmd.target, ctx)
        if cmd.action == "modify":
            values = _values(cmd.value, ctx)
            if len(values) != 1:
                raise TransformError(messages.SKEL_MANY_VALUES.format(values=values))
            for ptr in targets:
                _set(obj, ptr, copy.deepcopy(values[0]))
        else:
            _remove_all(obj, targets)
    except TransformError as exc:
        found = obj.get("metadata")
        meta: dict[str, Any] = found if isinstance(found, dict) else {}
        name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
        raise TransformError(messages.SKEL_APPLY_FAILED.format(
            command=cmd.text, kind=obj.get("kind", "object"), name=name, ts=ts, detail=exc)) from None
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}  # every trace object has metadata, even after `remove(metadata)`
    return obj


def _holds(cond: TimeCond | FieldCond, ctx: _Context, ts: int, start_ts: int) -> bool:
    if isinstance(cond, TimeCond):
        when = start_ts + cond.ts if cond.relative else cond.ts
        return _order(ts, cond.op, when)
    lhs = cond.lhs.tokens if cond.bound is None else cond.bound.tokens + cond.lhs.tokens
    found = False
    captured: list[tuple[Pointer, Any]] = []
    for ptr, value in _matches(ctx.obj, lhs):
        if cond.op in ("exists", "!exists") or _compare(value, cond.op, cond.rhs, ctx):
            found = True
            if cond.var is not None:
                assert cond.bound is not None
                prefix = ptr[: len(cond.bound.tokens)]  # the element the variable stands for
                if all(p != prefix for p, _v in captured):
                    captured.append((prefix, _resolve(ctx.obj, prefix)))
    if cond.op == "!exists":
        return not found
    if found and cond.var is not None:
        ctx.bindings[cond.var] = captured
    return found


def _compare(value: Any, op: str, rhs: Any, ctx: _Context) -> bool:
    candidates = _values(rhs, ctx)
    if op == "==":
        return any(_same(value, c) for c in candidates)
    if op == "!=":
        return not any(_same(value, c) for c in candidates)
    return any(_order(value, op, c) for c in candidates if _comparable(value, c))


def _values(rhs: Any, ctx: _Context) -> list[Any]:
    """A right-hand side's candidate values: the value itself, the field a path names in the
    object, or that field in every element a variable is bound to."""
    if not isinstance(rhs, Path):
        return [rhs]
    if rhs.var is None:
        found = _resolve(ctx.obj, rhs.tokens, _MISSING)
        return [] if found is _MISSING else [found]
    out = []
    for _ptr, bound in ctx.bindings.get(rhs.var, []):
        found = _resolve(bound, rhs.tokens, _MISSING)
        if found is not _MISSING:
            out.append(found)
    return out


def _reify(target: Path, ctx: _Context) -> list[Pointer]:
    if target.var is None:
        return [target.tokens]
    return [prefix + target.tokens for prefix, _v in ctx.bindings.get(target.var, [])]


_MISSING = object()


def _resolve(doc: Any, tokens: Iterable[str], default: Any = None) -> Any:
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return default
    return doc


def _matches(doc: Any, tokens: Pointer, at: Pointer = ()) -> Iterator[tuple[Pointer, Any]]:
    """Every (concrete pointer, value) the tokens reach; `*` is every element of an array."""
    if not tokens:
        yield at, doc
        return
    head, rest = tokens[0], tokens[1:]
    if head == WILDCARD:
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                yield from _matches(item, rest, at + (str(i),))
        return
    found = _resolve(doc, (head,), _MISSING)
    if found is not _MISSING:
        yield from _matches(found, rest, at + (head,))


def _parents(doc: Any, tokens: Pointer, create: bool) -> Iterator[Any]:
    """The containers the path's last token lives in (wildcards expanded); with `create`,
    missing objects on the way are made (SimKube's add creates parents)."""
    if not tokens:
        yield doc
        return
    head, rest = tokens[0], tokens[1:]
    if head == WILDCARD:
        if isinstance(doc, list):
            for item in doc:
                yield from _parents(item, rest, create)
        return
    found = _resolve(doc, (head,), _MISSING)
    if found is _MISSING:
        if not (create and isinstance(doc, dict)):
            return
        doc[head] = found = {}
    yield from _parents(found, rest, create)


def _set(obj: dict[str, Any], ptr: Pointer, value: Any) -> None:
    if not ptr:
        raise TransformError(messages.SKEL_WHOLE_OBJECT)
    for parent in _parents(obj, ptr[:-1], create=True):
        key = ptr[-1]
        if isinstance(parent, dict):
            parent[key] = copy.deepcopy(value)
        elif isinstance(parent, list) and key == "-":
            parent.append(copy.deepcopy(value))
        elif isinstance(parent, list) and key.isdigit() and int(key) <= len(parent):
            if int(key) < len(parent):
                parent[int(key)] = copy.deepcopy(value)
            else:
                parent.append(copy.deepcopy(value))
        else:
            raise TransformError(messages.SKEL_CANNOT_SET.format(path=_show(ptr)))


def _remove_all(obj: dict[str, Any], pointers: list[Pointer]) -> None:
    """Remove every pointer; array elements go last, highest index first, so the indices of
    one array's later elements stay valid (SimKube shifts them the same way)."""
    elements: list[tuple[Pointer, int]] = []
    for ptr in pointers:
        if not ptr:
            continue
        key = ptr[-1]
        if key.isdigit():
            elements.append((ptr[:-1], int(key)))
            continue
        for parent in _parents(obj, ptr[:-1], create=False):
            if key == WILDCARD and isinstance(parent, list):
                parent.clear()
            elif isinstance(parent, dict):
                parent.pop(key, None)
    for parent_ptr, index in sorted(elements, key=lambda e: (e[0], -e[1])):
        for parent in _parents(obj, parent_ptr, create=False):
            if isinstance(parent, list) and index < len(parent):
                del parent[index]
            elif isinstance(parent, dict):
                parent.pop(str(index), None)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))


def _order(a: Any, op: str, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _show(ptr: Pointer) -> str:
    return "/" + "/".join(_escape(t) for t in ptr)


def read_program(path: str) -> Program:
    """Parse the program in the local file `path` (InputError when it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except FileNotFoundError:
        raise TransformError(messages.SKEL_NO_FILE.format(path=path)) from None
    except IsADirectoryError:
        raise TransformError(messages.SKEL_IS_DIR.format(path=path)) from None
    except UnicodeDecodeError:
        raise TransformError(messages.SKEL_NOT_TEXT.format(path=path)) from None
    except OSError as exc:
        raise TransformError(messages.SKEL_READ_FAILED.format(path=path, detail=exc.strerror or exc)) from None
    return parse(source, origin=path)
