"""The two kinds of failure skctl reports, and the exit codes they map to (SPEC section 7).

Library code raises these with a message that says what went wrong *and* what to do;
`skctl.cli` turns them into one line on stderr and the exit status. Anything else that
escapes is a bug and is reported as an internal error.
"""

EXIT_OK = 0
EXIT_OPERATIONAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class SkctlError(Exception):
    """Base class: carries the exit status the CLI should use."""

    exit_code = EXIT_OPERATIONAL


class InputError(SkctlError):
    """The user gave us something we cannot use: bad flag, URL, file, config, name."""

    exit_code = EXIT_USAGE


class OperationalError(SkctlError):
    """The input was fine but the world was not: unreachable cluster, storage failure."""

    exit_code = EXIT_OPERATIONAL
