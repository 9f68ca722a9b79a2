"""The `skctl` entry point: build the parsers, dispatch, apply the error policy.

This module only parses and dispatches. Each subcommand lives in `skctl.cli.commands.<name>`
and exposes `build_parser(subparsers)` and `run(args) -> int | None`. The error policy
of SPEC section 7 is applied here, once: one line on stderr, exit 2 for input errors,
1 for operational failures, 130 for Ctrl-C, a traceback only at `-v debug`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from skctl import __version__
from skctl.base import messages, settings
from skctl.base.errors import EXIT_INTERRUPTED, EXIT_OPERATIONAL, EXIT_USAGE, SkctlError
from skctl.base.logs import DEFAULT_VERBOSITY, VERBOSITY_LEVELS, configure_logging
from skctl.base.signals import command_scope, leave_for_exit
from skctl.base.text import safe_line
from skctl.cli.commands import ALIASES, COMMANDS, command_of


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to look), never the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse echoes unknown arguments and bad values as typed: one line, escaped
        self.exit(EXIT_USAGE, messages.USAGE_ERROR.format(prog=self.prog, message=safe_line(message)) + "\n")


def _verbosity_parent(default: str | None) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v",
        "--verbosity",
        choices=VERBOSITY_LEVELS,
        default=default if default is not None else argparse.SUPPRESS,
        help=f"log level (default: {DEFAULT_VERBOSITY}); 'debug' also shows tracebacks",
    )
    return parent


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The root parser. Only the command named in `argv` gets its full parser.

    Building every subcommand's arguments costs more than the rest of start-up, so the
    other commands are one-line stubs: enough for `skctl --help` and for argparse's
    "invalid choice" message. With `argv=None` every command is built in full.
    """
    parser = OneLineParser(
        prog="skctl",
        description=messages.CLI_DESCRIPTION,
        parents=[_verbosity_parent(DEFAULT_VERBOSITY)],
    )
    parser.add_argument("-V", "--version", action="version", version=messages.VERSION_LINE.format(version=__version__))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub_parent = _verbosity_parent(None)
    wanted = requested_command(argv) if argv is not None else None
    for name, help_text in COMMANDS.items():
        if argv is not None and name != wanted:
            sub.add_parser(name, help=help_text, aliases=ALIASES.get(name, []))
            continue
        module = importlib.import_module(f"skctl.cli.commands.{name}")
        cmd_parser = module.build_parser(sub, sub_parent)
        cmd_parser.set_defaults(_run=module.run)
    return parser


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv (skipping the root's own options), if any."""
    tokens = iter(argv)
    for token in tokens:
        if token in ("-v", "--verbosity"):
            next(tokens, None)
        elif not token.startswith("-"):
            return command_of(token)
    return None


def attach_dash_values(argv: list[str]) -> list[str]:
    """`-s -1h30m` → `-s=-1h30m` for the flags a command lists in `DASH_VALUE_FLAGS`.

    argparse reads a token that starts with '-' as an option unless it is a plain negative
    number; relative times such as -1h30m are values, so they are attached to their flag.
    """
    name = requested_command(argv)
    flags = getattr(importlib.import_module(f"skctl.cli.commands.{name}"), "DASH_VALUE_FLAGS", ()) if name else ()
    if not flags:
        return argv
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            out.append(token)
            out.extend(tokens)
            break
        if token in flags:
            value = next(tokens, None)
            if value is not None and value[:1] == "-" and value[1:2] in tuple("0123456789."):
                out.append(f"{token}={value}")
                continue
            out.append(token)
            if value is not None:
                out.append(value)
            continue
        out.append(token)
    return out


def command_settings(args: argparse.Namespace) -> settings.Settings:
    """The process-wide settings (skctl.base.settings) from this command's flags; a flag not
    given, or not taken by the command, means its default."""
    defaults = settings.Settings()
    request_timeout = getattr(args, "request_timeout", None)
    exec_timeout = getattr(args, "exec_timeout", None)
    return settings.Settings(
        max_trace_bytes=getattr(args, "max_trace_size", None),
        request_timeout=defaults.request_timeout if request_timeout is None else request_timeout,
        exec_timeout=defaults.exec_timeout if exec_timeout is None else exec_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = attach_dash_values(sys.argv[1:] if argv is None else list(argv))
    wanted = requested_command(argv)
    if wanted is not None:  # a command may reshape its own arguments (e.g. a default action)
        argv = getattr(importlib.import_module(f"skctl.cli.commands.{wanted}"), "rewrite_argv", lambda a: a)(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error, already printed (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    configure_logging(args.verbosity)
    settings.configure(command_settings(args))
    debug = args.verbosity == "debug"
    try:
        with command_scope():
            return int(args._run(args) or 0)
    except KeyboardInterrupt as exc:  # Ctrl-C; skctl.base.signals.Terminated (SIGTERM) carries 143
        leave_for_exit(exc)  # the interrupted work's data is dropped with the process, not now
        print(messages.INTERRUPTED, file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_INTERRUPTED))
    except SkctlError as exc:
        if debug:
            _print_traceback()
        print(messages.ERROR_LINE.format(message=safe_line(str(exc))), file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `skctl xray t | head`: the reader went away; not our failure. Point stdout at
        # /dev/null so the interpreter's final flush does not complain about it either.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence of the error policy
        if debug:
            _print_traceback()
        detail = safe_line(f"{type(exc).__name__}: {exc}")
        template = messages.MISSING_MODULE if isinstance(exc, ImportError) else messages.INTERNAL_ERROR
        print(template.format(detail=detail), file=sys.stderr)
        return EXIT_OPERATIONAL


def _print_traceback() -> None:
    import traceback

    traceback.print_exc()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
