"""The two kinds of failure skctl reports, and the exit codes they map to (SPEC section 7).

Library code raises these with a message that says what went wrong *and* what to do;
`skctl.cli.main` turns them into one line on stderr and the exit status. Anything else that
escapes is a bug and is reported as an internal error.
"""

import logging
from collections.abc import Callable

EXIT_OK = 0
EXIT_OPERATIONAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15, as a shell reports it


class SkctlError(Exception):
    """Base class: carries the exit status the CLI should use."""

    exit_code = EXIT_OPERATIONAL


class InputError(SkctlError):
    """The user gave us something we cannot use: bad flag, URL, file, config, name."""

    exit_code = EXIT_USAGE


class OperationalError(SkctlError):
    """The input was fine but the world was not: unreachable cluster, storage failure."""

    exit_code = EXIT_OPERATIONAL


def cleanup_step(action: Callable[[], object], what: str) -> Callable[..., bool]:
    """An ExitStack exit callback (`stack.push(cleanup_step(...))`) that runs `action` on the
    way out. When the block ends normally its failure is raised as usual; while another
    exception is on its way out, a failure of the clean-up is only logged, so the error the
    user sees is the one that happened first (a full disk, not the close that followed it)."""

    def exit_(exc_type: type[BaseException] | None, _exc: BaseException | None, _tb: object) -> bool:
        if exc_type is None:
            action()
            return False
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - the in-flight error is the one to report
            logging.getLogger("skctl").warning("%s failed too: %s", what, exc)
        return False

    return exit_
