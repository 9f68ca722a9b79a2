"""Docs cannot drift from the code: the generated reference pages match the parsers, and
every `skctl ...` command in README.md and docs/ parses with the real parsers.

Commands in fenced code blocks are examples: each is parsed in full (flags, values and
their `type=` checks), exactly as `skctl` would parse it, without running it. Commands in
inline code (`skctl run NAME --trace-path URL`) are often synopses with placeholders, so
for them the command must exist and every flag named must be one of its flags.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from skctl.cli.commands import COMMANDS, command_of
from skctl.cli.main import attach_dash_values, build_parser
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SHELL_STOPS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "<"}
FENCE = re.compile(r"^\s*(```|~~~)")
# SimKube's own skctl commands that skctl does not have, named on the migration page.
SIMKUBE_ONLY: set[str] = set()
INLINE = re.compile(r"(?<!`)`(skctl [^`]+)`(?!`)")


def _gen_cli_docs():  # noqa: ANN202 - a script module, loaded by path
    return load_script("gen_cli_docs")


def test_reference_pages_match_the_parsers() -> None:
    gen = _gen_cli_docs()
    problems = gen.differences(gen.render_pages())
    assert problems == [], "run python3 scripts/gen_cli_docs.py: " + "; ".join(problems)


def test_a_changed_flag_makes_its_page_disagree(tmp_path: Path) -> None:
    gen = _gen_cli_docs()
    pages = gen.render_pages()
    for name, text in pages.items():
        (tmp_path / name).write_text(text)
    assert gen.differences(pages, tmp_path) == []
    page = tmp_path / "xray.md"
    page.write_text(page.read_text().replace("`--events`", "`--event-list`"))
    (tmp_path / "gone.md").write_text("# `skctl gone`\n")
    (tmp_path / "delete.md").unlink()
    assert sorted(gen.differences(pages, tmp_path)) == sorted(
        [f"{tmp_path}/xray.md disagrees with the parser", f"{tmp_path}/gone.md documents no command", f"{tmp_path}/delete.md is missing"]
    )


@dataclass(frozen=True)
class Example:
    where: str  # file:line
    argv: tuple[str, ...]  # after `skctl`
    inline: bool


def _skctl_argv(tokens: list[str]) -> list[str] | None:
    """The arguments after the skctl program in a shell command line, or None if it runs no skctl."""
    i = 0
    while i < len(tokens) and (tokens[i] == "$" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[i])):
        i += 1
    rest = tokens[i:]
    if rest[:1] == ["skctl"]:
        argv = rest[1:]
    elif len(rest) >= 2 and re.fullmatch(r"python3?(\.\d+)?|\.venv/bin/python", rest[0]) and rest[1].endswith("skctl.pyz"):
        argv = rest[2:]
    elif len(rest) >= 3 and re.fullmatch(r"python3?(\.\d+)?|\.venv/bin/python", rest[0]) and rest[1:3] == ["-m", "skctl"]:
        argv = rest[3:]
    else:
        return None
    for n, token in enumerate(argv):
        if token in SHELL_STOPS:
            return argv[:n]
    return argv


def extract_examples(path: Path) -> list[Example]:
    examples: list[Example] = []
    in_block = False
    pending = ""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            in_block, pending = not in_block, ""
            continue
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}"
        if in_block:
            text = pending + line
            if text.rstrip().endswith("\\"):
                pending = text.rstrip()[:-1] + " "
                continue
            pending = ""
            try:
                tokens = shlex.split(text, comments=True)
            except ValueError:
                continue
            argv = _skctl_argv(tokens)
            if argv:
                # a usage synopsis ([--flag X], A|B, ...) is checked like inline code
                synopsis = any(t.startswith("[") or "..." in t for t in argv)
                examples.append(Example(where, tuple(argv), inline=synopsis))
        else:
            for match in INLINE.finditer(line):
                try:
                    tokens = shlex.split(match.group(1).replace("\\|", "|"))
                except ValueError:
                    tokens = match.group(1).split()
                argv = _skctl_argv(tokens)
                if argv:
                    examples.append(Example(where, tuple(argv), inline=True))
    return examples


ALL_EXAMPLES = [example for path in DOCS for example in extract_examples(path)]


def test_the_docs_have_examples_of_every_command() -> None:
    named = {e.argv[0] for e in ALL_EXAMPLES if e.argv[0] in COMMANDS}
    assert named >= {"xray", "convert", "export", "run", "drive", "delete", "sandbox", "example"}
    assert sum(not e.inline for e in ALL_EXAMPLES) >= 10


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def _subparser(root: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (action,) = (a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _nested(parser: argparse.ArgumentParser, tokens: list[str]) -> list[argparse.ArgumentParser]:
    """The parser and the nested subcommand parsers the tokens walk into (`validate check`)."""
    chain = [parser]
    for token in tokens:
        sub = next((a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is not None and token in sub.choices:
            chain.append(sub.choices[token])
    return chain


def check_example(example: Example) -> str | None:
    """None if the example agrees with the parsers, else what is wrong."""
    argv = attach_dash_values(list(example.argv))
    if argv and argv[0] in ("-v", "--verbosity"):
        argv = argv[2:]
    if argv[:1] in (["--version"], ["--help"], ["-h"]):
        return None
    name = command_of(argv[0])
    if name is None:
        return f"no command {argv[0]!r}"
    module = importlib.import_module(f"skctl.cli.commands.{name}")
    root = build_parser([argv[0]])
    if example.inline:
        chain = _nested(_subparser(root, argv[0]), argv[1:])
        known = _option_strings(root).union(*(_option_strings(p) for p in chain))
        for token in argv[1:]:
            word = token.strip("[](){}.,")
            if not word.startswith("-") or re.fullmatch(r"-[\d.].*", word):
                continue
            for flag in word.split("/"):
                flag = flag.split("=")[0].split("|")[0]
                if flag.startswith("-") and flag not in known:
                    return f"no flag {flag} for skctl {name}"
        return None
    argv = getattr(module, "rewrite_argv", lambda a: a)(argv)  # as skctl.cli.main does
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            root.parse_args(argv)
        except SystemExit as exc:
            if exc.code not in (0, None):
                return err.getvalue().strip() or f"exit {exc.code}"
    return None


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda e: f"{e.where} skctl {' '.join(e.argv)}"[:120])
def test_doc_example_parses(example: Example) -> None:
    name = next((t for t in example.argv if not t.startswith("-") and t not in ("debug", "info", "warn", "error")), "")
    if name in SIMKUBE_ONLY and example.where.startswith("docs/simkube.md:"):
        pytest.skip(f"SimKube's skctl {name}, named on the migration page")
    problem = check_example(example)
    assert problem is None, f"{example.where}: `skctl {' '.join(example.argv)}`: {problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("```sh\nskctl xray t.sktrace --event-list\n```\n", "unrecognized arguments: --event-list"),
        ("```sh\nskctl run my-sim --speed fast\n```\n", "--speed"),
        ("```sh\nskctl frobnicate x\n```\n", "no command 'frobnicate'"),
        ("see `skctl export [--output-dir URL]` here\n", "no flag --output-dir for skctl export"),
        ("```sh\nAWS_REGION=x skctl export -s -1h -o s3://b/t \\\n  --from t.sktrace | tee log\n```\n", None),
    ],
)
def test_the_checker_catches_drift(tmp_path: Path, text: str, problem: str | None) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    (example,) = extract_examples(page)
    found = check_example(example)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
