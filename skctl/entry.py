"""The process entry point (console script, `python -m skctl`, dist/skctl.pyz).

`skctl --version` is answered here, before `skctl.cli` loads argparse, the signal
handling and the command table: a version probe is the start-up that scripts and
health checks pay most often. Everything else goes to `skctl.cli.main`.
"""

import sys

from skctl import __version__, messages


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        print(messages.VERSION_LINE.format(version=__version__))
        return 0
    from skctl.cli import main as cli_main

    return cli_main()
