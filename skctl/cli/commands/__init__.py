"""One module per subcommand. Each exposes `build_parser(subparsers, parent)` and `run(args)`.

Modules here import only the standard library and skctl's light modules at import time;
heavy libraries (kubernetes, fsspec backends, rich) are imported inside `run` so that
`skctl --version` and `--help` stay fast.
"""

# Name → the one-line help `skctl --help` shows. Order is the order shown there.
COMMANDS = {
    "version": "print the skctl version",
    "convert": "convert a trace between skctl CBOR and SimKube msgpack",
    "xray": "show what a trace contains and what happened in it",
    "example": "write an example trace (no cluster needed)",
    "trace": "record a live cluster: watch it, journal the changes, serve exports over HTTP",
    "export": "export a time window of a recording as a trace file",
    "sandbox": "run a loopback Kubernetes API server for tests and demos",
    "run": "launch a simulation: apply the driver Job that replays a trace",
    "drive": "replay a trace against the cluster (the driver Job runs this)",
    "pause": "pause a running simulation: its replay time stands still",
    "resume": "resume a paused simulation",
    "delete": "delete a simulation: its driver Job and virtual namespaces",
    "report": "show a simulation report (drive --report) or compare two; SLO gates for CI",
    "transform": "rewrite a trace with a SimKube transform program (SKEL: delete, modify, remove)",
    "validate": "check a trace against SimKube's validation rules; --fix writes a corrected trace",
    "demo": "record, export and replay on two loopback API servers: the whole loop, no cluster needed",
    "completions": "print a shell completion script (bash, zsh or fish)",
}

# SimKube's command aliases (its skctl's visible aliases), so its users' habits work here.
ALIASES: dict[str, list[str]] = {
    "export": ["ex", "exp", "x"],
    "run": ["r"],
    "delete": ["d", "del", "rm"],
    "validate": ["val"],
    "transform": ["trans"],
}


def command_of(token: str) -> str | None:
    """The command a token names, by name or alias."""
    if token in COMMANDS:
        return token
    return next((name for name, aliases in ALIASES.items() if token in aliases), None)
