"""Terminal output: rich consoles, the transfer progress bar and progress of counted work.

rich is imported lazily so commands that print nothing fancy start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from skctl.base.progress import Progress
from skctl.base.text import printable

PROGRESS_MIN_BYTES = 4 * 1024 * 1024


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1; `skctl xray t | head` is not a failure, and skctl.cli.main
            # treats a closed pipe the same way for every command.
            raise BrokenPipeError

    return _Console(stderr=stderr, highlight=False, soft_wrap=False)


def progress_enabled(total: int | None, enabled: bool | None = None, stream: Any = None) -> bool:
    """Whether a transfer of `total` bytes gets a progress bar.

    True/False force it (tests, a future --progress flag). Otherwise only on a terminal
    (a bar in a log file or a pipe is noise) and only for transfers of at least
    PROGRESS_MIN_BYTES, or of unknown size, so small traces stay quiet.
    """
    if enabled is not None:
        return enabled
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        tty = False
    return tty and (total is None or total >= PROGRESS_MIN_BYTES)


def report_written(line: str, destination: str) -> None:
    """Print the summary line of a command that wrote `destination`: to stdout, as usual,
    unless stdout is where the data went (`-o /dev/stdout`); then to stderr, so the line
    does not end up inside the trace."""
    import os

    from skctl import storage

    stream = sys.stdout
    if storage.is_local(destination):
        try:
            if os.path.samestat(os.stat(storage.local_path(destination)), os.fstat(sys.stdout.fileno())):
                stream = sys.stderr
        except (OSError, ValueError):
            pass
    print(printable(line), file=stream)  # the destination is the user's text


@contextmanager
def transfer_progress(description: str, total: int | None, enabled: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(nbytes)`; draws a transient rich bar on stderr when progress_enabled()."""
    if not progress_enabled(total, enabled):
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


PROGRESS_LINE_SECONDS = 5.0  # away from a terminal: one line this often while work goes on


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def work_progress(unit: str = "events", stream: Any = None, interval: float | None = None,
                  terminal: bool | None = None) -> Progress:
    """A `skctl.base.progress.Progress` for counted work (events, records, chunks, bytes), for a
    command to hand to the library in one call: `convert(..., progress=work_progress())`.

    Always on stderr, so it never mixes with data on stdout. On a terminal: a transient rich
    bar with the count, the percentage and the time left. Anywhere else (a log, CI, a
    pipe): one plain line every `interval` (PROGRESS_LINE_SECONDS) seconds while the work lasts, such as
    `converting: 120,000/300,000 events (40%)`; work that ends sooner prints nothing.
    `terminal` forces one form (tests).
    """

    @contextmanager
    def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        out = sys.stderr if stream is None else stream
        if terminal if terminal is not None else _is_terminal(out):
            with _work_bar(description, total, unit, out) as advance:
                yield advance
            return
        every = PROGRESS_LINE_SECONDS if interval is None else interval
        yield _LineProgress(description, total, unit, out, every).advance

    return progress


@contextmanager
def _work_bar(description: str, total: int | None, unit: str, stream: Any) -> Iterator[Callable[[int], None]]:
    from rich import progress as bars
    from rich.console import Console

    with bars.Progress(
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TextColumn(unit),
        bars.TaskProgressColumn(),
        bars.TimeRemainingColumn(),
        console=Console(file=stream, highlight=False),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class _LineProgress:
    """The plain form: a line at most every `interval` seconds, checked as work advances."""

    def __init__(self, description: str, total: int | None, unit: str, stream: Any, interval: float) -> None:
        import time

        self._clock = time.monotonic
        self._description, self._total, self._unit, self._stream = description, total, unit, stream
        self._interval = interval
        self._next = self._clock() + interval
        self.done = 0

    def advance(self, n: int) -> None:
        self.done += n
        if self._clock() >= self._next:
            self._next = self._clock() + self._interval
            print(progress_line(self._description, self.done, self._total, self._unit), file=self._stream, flush=True)


def progress_line(description: str, done: int, total: int | None, unit: str) -> str:
    """`converting: 120,000/300,000 events (40%)`, or `converting: 120,000 events` without a total."""
    if not total:
        return printable(f"{description}: {done:,} {unit}")
    return printable(f"{description}: {done:,}/{total:,} {unit} ({min(100, done * 100 // total)}%)")


def safe_text(text: object, style: str = "") -> Any:
    """A rich Text of `printable(text)`: never parsed as markup, so a `[bold]` in a name is shown as is."""
    from rich.text import Text

    return Text(printable(text), style=style)
