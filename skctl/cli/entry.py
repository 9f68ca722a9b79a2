"""The process entry point (console script, `python -m skctl`, dist/skctl.pyz).

`skctl --version` is answered here, before `skctl.cli.main` loads argparse, the signal
handling and the command table: a version probe is the start-up that scripts and
health checks pay most often. Everything else goes to `skctl.cli.main`; after an
interrupted command the process runs its atexit handlers (for at most
`signals.EXIT_GRACE` seconds) and ends without freeing what the command left behind.
"""

import sys

from skctl import __version__
from skctl.base import messages


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        print(messages.VERSION_LINE.format(version=__version__))
        return 0
    from skctl.base.signals import EXIT_CODES, bound_the_exit, exit_now
    from skctl.cli.main import main as cli_main

    code = cli_main()
    if code in EXIT_CODES:  # Ctrl-C (and SIGTERM, SIGHUP) always wins, at exit too
        bound_the_exit(code)
        exit_now(code)
    return code
