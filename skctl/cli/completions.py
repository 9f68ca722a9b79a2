"""Shell completion scripts generated from the argparse tree (SimKube's `skctl completions`).

Completes command names (and their aliases) and each command's flags; values that are
a fixed set (`--format cbor|msgpack`, `-v debug`) complete too. Generated, so a new flag
is completed without touching this module.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[tuple[list[str], str, list[str]]]:
    """(option strings, help, fixed choices) of each optional argument."""
    found = []
    for action in parser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:
            choices = [str(c) for c in action.choices] if action.choices else []
            found.append((list(action.option_strings), (action.help or "").split(";")[0].strip(), choices))
    return found


def _model(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """Command words, flags per command ("" = the root) and choices per "command flag"."""
    commands = _subparsers(parser)
    flags: dict[str, list[str]] = {}
    choices: dict[str, list[str]] = {}
    for name, sub in [("", parser), *commands.items()]:
        flags[name] = []
        for opts, _help, values in _options(sub):
            flags[name].extend(opts)
            for opt in opts:
                if values:
                    choices[f"{name} {opt}"] = values
    return list(commands), flags, choices


def render(parser: argparse.ArgumentParser, shell: str, prog: str = "skctl") -> str:
    """The completion script for `shell` (one of SHELLS)."""
    if shell == "fish":
        return _fish(parser, prog)
    script = _bash(parser, prog)
    if shell == "zsh":
        return "#compdef " + prog + "\nautoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def _bash(parser: argparse.ArgumentParser, prog: str) -> str:
    commands, flags, choices = _model(parser)
    fn = "_" + prog.replace("-", "_") + "_complete"
    lines = [
        f"# bash completion for {prog}: source this file, or put it in your bash-completion directory",
        f"{fn}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        "            -*) ;;",
        '            *) cmd="${COMP_WORDS[i]}"; break ;;',
        "        esac",
        "    done",
        '    case "$cmd $prev" in',
    ]
    for key, values in sorted(choices.items()):
        lines.append(f'        "{key}") COMPREPLY=($(compgen -W "{" ".join(values)}" -- "$cur")); return ;;')
    lines += ["    esac", '    case "$cmd" in']
    lines.append(f'        "") COMPREPLY=($(compgen -W "{" ".join(commands + flags[""])}" -- "$cur")) ;;')
    for name in commands:
        lines.append(f'        {name}) COMPREPLY=($(compgen -W "{" ".join(flags[name])}" -- "$cur")) ;;')
    lines += ["    esac", "}", f"complete -o default -F {fn} {prog}", ""]
    return "\n".join(lines)


def _fish(parser: argparse.ArgumentParser, prog: str) -> str:
    commands = _subparsers(parser)
    helps = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
    words = " ".join(commands)
    lines = [f"# fish completion for {prog}: save as ~/.config/fish/completions/{prog}.fish", f"complete -c {prog} -f"]
    for name in commands:
        lines.append(f"complete -c {prog} -n 'not __fish_seen_subcommand_from {words}' -a {name} -d {_quote(helps.get(name, ''))}")
    for name, sub in [("", parser), *commands.items()]:
        cond = f"__fish_seen_subcommand_from {name}" if name else f"not __fish_seen_subcommand_from {words}"
        for opts, help_text, values in _options(sub):
            parts = []
            for opt in opts:
                parts.append(f"-l {opt[2:]}" if opt.startswith("--") else f"-s {opt[1:]}" if len(opt) == 2 else f"-o {opt[1:]}")
            extra = f" -x -a {_quote(' '.join(values))}" if values else ""
            lines.append(f"complete -c {prog} -n '{cond}' {' '.join(parts)}{extra} -d {_quote(help_text)}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
