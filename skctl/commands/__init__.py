"""One module per subcommand. Each exposes `build_parser(subparsers, parent)` and `run(args)`.

Modules here import only the standard library and skctl's light modules at import time;
heavy libraries (kubernetes, fsspec backends, rich) are imported inside `run` so that
`skctl --version` and `--help` stay fast.
"""

# Order is the order shown in `skctl --help`.
COMMANDS = [
    "version",
    "convert",
    "xray",
    "example",
    "export",
    "sandbox",
    "run",
    "drive",
    "delete",
]
