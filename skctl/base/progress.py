"""The progress callback that long transfers take, in the spirit of fsspec's `Callback`.

Storage and the exporter report bytes through a `Progress` they are given; only the
command layer picks one that draws (`skctl.cli.output.transfer_progress`), so the library
never imports terminal output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Advance = Callable[[int], None]
# progress(description, total bytes or None) -> a context that yields advance(nbytes)
Progress = Callable[[str, "int | None"], AbstractContextManager[Advance]]


def _ignore(nbytes: int) -> None:
    """Advance that draws nothing."""


@contextmanager
def no_progress(description: str, total: int | None) -> Iterator[Advance]:
    """The default: count nothing, draw nothing."""
    yield _ignore
