"""The process-wide settings the CLI takes from flags and the library reads deep down.

One frozen object, set once per command by `skctl.cli.main` (from `--max-trace-size`,
`--request-timeout`, `--exec-timeout`; every other field back to its default) and read
where it applies: `skctl.trace.limits` (how big a trace may be), `skctl.kube.api` (the
most one API call may take) and `skctl.kube.client` (the most an exec credential plugin may
take). kopf's `OperatorSettings` is the model, but not passed down: the readers sit under
every trace decoder and every API call, so threading one more argument through them all
would touch most signatures for three numbers the whole process shares anyway
(docs/development.md, "Conventions").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

# The most one API call may take, all attempts and waits included (`--request-timeout`,
# docs/run.md): a server that accepts connections but never answers fails in this time,
# not after read timeout x client retries x skctl retries.
DEFAULT_REQUEST_TIMEOUT = 60.0
# The most an exec credential plugin may take to answer (`--exec-timeout`, docs/run.md).
# The client itself would wait forever; skctl.kube.exec_guard enforces this.
DEFAULT_EXEC_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """What one skctl command runs with; the defaults are what no flag means."""

    # --max-trace-size: one explicit bound for read and decompressed trace bytes; None keeps
    # skctl.trace.limits' default size cap and expansion ratio
    max_trace_bytes: int | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds, --request-timeout
    exec_timeout: float = DEFAULT_EXEC_TIMEOUT  # seconds, --exec-timeout


_current = Settings()


def current() -> Settings:
    """The settings in force."""
    return _current


def configure(settings: Settings | None = None) -> None:
    """Put `settings` in force (None: every default)."""
    global _current
    _current = settings if settings is not None else Settings()


@contextmanager
def using(**changes: Any) -> Iterator[Settings]:
    """The settings in force with `changes` for the block, then back as they were."""
    before = _current
    configure(replace(before, **changes))
    try:
        yield _current
    finally:
        configure(before)
