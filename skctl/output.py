"""Terminal output: rich consoles and the transfer progress bar.

rich is imported lazily so commands that print nothing fancy start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PROGRESS_MIN_BYTES = 4 * 1024 * 1024


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


@contextmanager
def transfer_progress(description: str, total: int | None, enabled: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(nbytes)`. The bar shows only for transfers over a few MB on a TTY.

    `enabled=None` decides automatically; True/False force it (tests, --no-progress).
    """
    if enabled is None:
        enabled = sys.stderr.isatty() and (total is None or total >= PROGRESS_MIN_BYTES)
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
