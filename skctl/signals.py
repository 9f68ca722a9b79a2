"""Turning SIGTERM/SIGINT into a graceful stop, for long-running commands (drive, sandbox).

A pod is stopped with SIGTERM; a terminal with Ctrl-C. Either one calls `stop(name)` so
the command's own loop ends and its cleanup runs, instead of dying mid-way.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

DEFAULT_SIGNALS = ("SIGTERM", "SIGINT")


@contextmanager
def stop_on_signals(stop: Callable[[str], None], names: tuple[str, ...] = DEFAULT_SIGNALS) -> Iterator[None]:
    """Within the block, each of the named signals calls `stop(signal name)`; the previous
    handlers come back afterwards. Off the main thread (where Python cannot install signal
    handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.Signals[name] for name in names)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
