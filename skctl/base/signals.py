"""Signals: SIGTERM/SIGINT as a graceful stop for long-running commands (drive, sandbox), and
Ctrl-C that always ends a one-shot command with 130, unless its result is already in place;
SIGTERM and SIGHUP end a one-shot command the same way, with 143 and 129 (`command_scope`).

A pod is stopped with SIGTERM; a terminal with Ctrl-C. Either one calls `stop(name)` so
the command's own loop ends and its cleanup runs, instead of dying mid-way.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

DEFAULT_SIGNALS = ("SIGTERM", "SIGINT")


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) turned into an interrupt: the same clean-up on the way out as
    Ctrl-C (partial files removed, multipart uploads aborted), and the exit status of a
    terminated command, 143 (128 + 15), as `skctl drive`'s; 129 after SIGHUP."""

    exit_code = 143

    def __init__(self, exit_code: int = 143) -> None:
        super().__init__()
        self.exit_code = exit_code


# Signals that end a one-shot command as Ctrl-C does: `timeout`, CI cancellation and `kill`
# send SIGTERM, a closed terminal SIGHUP.
TERMINATING = ("SIGTERM", "SIGHUP")
EXIT_CODES = frozenset({130, 143, 129})  # Ctrl-C, SIGTERM, SIGHUP


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(128 + signum)


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


# --- Ctrl-C that a library swallowed, and Ctrl-C after the work is done -------------------

_swallowed = threading.local()


@contextmanager
def interrupts_kept() -> Iterator[None]:
    """Within the block, a KeyboardInterrupt that compiled code swallows is re-raised at the end.

    Python runs a signal handler at the next bytecode, which may be inside Python code that an
    extension calls back into: cbor2's encoder asks `isinstance(value, Mapping)` for every
    list, and PyO3 reports an exception from that check as "Exception ignored" and carries on.
    The interrupt would be lost and the encoded trace written anyway. The interpreter hands
    such exceptions to `sys.unraisablehook`; here that hook remembers a KeyboardInterrupt
    (instead of printing it) and the block raises it as soon as the library returns.
    """
    previous = sys.unraisablehook
    depth = getattr(_swallowed, "depth", 0)
    if depth == 0:
        _swallowed.hit = False

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            _swallowed.hit = True
            return
        previous(unraisable)

    sys.unraisablehook = hook
    _swallowed.depth = depth + 1
    try:
        yield
    finally:
        sys.unraisablehook = previous
        _swallowed.depth = depth
    if getattr(_swallowed, "hit", False):
        _swallowed.hit = False
        raise KeyboardInterrupt


# --- Ctrl-C inside compiled code that calls back into Python ---------------------------


class Pending(Exception):  # noqa: N818 - a signal, not a failure
    """Raised at a check point inside an `interrupts_deferred` block to unwind the library
    that called back; the block's end turns it into the real interrupt."""


_RAISING = ("SIGINT", *TERMINATING)
_deferred = threading.local()


@contextmanager
def interrupts_deferred() -> Iterator[Callable[[], None]]:
    """Within the block, Ctrl-C (and SIGTERM, SIGHUP where they interrupt) only sets a flag;
    the block yields `check()`, which raises `Pending` once the flag is set, and at its end the
    signal's own handler runs and raises the interrupt (KeyboardInterrupt, Terminated),
    whatever the block raised instead.

    For compiled libraries that call back into Python (cbor2 reads and writes through a
    file object every few KiB): an exception raised inside the callback comes out of the
    library wrapped as its own error ("error decoding unsigned integer", so a valid trace
    looked corrupt) or is swallowed. Here nothing is raised inside the library but
    `Pending`, from the callback's `check()`, and whatever the library makes of it is
    replaced by the interrupt. Off the main thread, or nested, `check` only looks at the
    outermost block's flag.
    """
    state = _deferred
    if threading.current_thread() is not threading.main_thread() or getattr(state, "active", False):
        yield _check_deferred
        return
    raising = (signal.default_int_handler, _terminate)
    previous: dict[int, Any] = {}
    for name in _RAISING:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in raising:
            previous[sig] = signal.getsignal(sig)

    def note(signum: int, _frame: FrameType | None) -> None:
        if state.pending is None:
            state.pending = signum

    state.active, state.pending = True, None
    for sig in previous:
        signal.signal(sig, note)
    try:
        yield _check_deferred
    finally:
        ours = {sig for sig in previous if signal.getsignal(sig) is note}  # unless the block changed it
        for sig in ours:
            signal.signal(sig, previous[sig])
        signum, state.active, state.pending = state.pending, False, None
        if signum is not None and signum in ours:
            try:
                previous[signum](signum, None)
            except BaseException as interrupt:
                raise interrupt from None


def _check_deferred() -> None:
    if getattr(_deferred, "pending", None) is not None:
        raise Pending


T = TypeVar("T")
WAIT_STEP = 0.05  # seconds between two looks at pending signals while a worker runs


def stoppable(work: Callable[[Callable[[], None]], T]) -> T:
    """`work(check)`, run in a worker thread while this (main) thread waits for it.

    For a compiled decoder that builds one big document and calls back into Python as it
    reads (`check` goes into that callback). Ctrl-C reaches the waiting main thread at
    once (within one read of the worker, which then hands over the interpreter lock), and
    raises there; the worker, at its next `check`, parks for good instead of unwinding.
    Unwinding would have the decoder free the half-built document object by object while
    holding the lock: about a second per 100,000 events decoded, and the process could not
    exit before. The parked worker is a daemon and keeps that memory until the process
    ends, which an interrupted command does next (`exit_now`); a process that lives on
    (tests, library use) lets it finish with `release_parked`. Off the main thread this
    runs `work` inline, with a `check` that does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return work(_never)
    stop, done, parked = threading.Event(), threading.Event(), threading.Event()
    outcome: list[Any] = []

    def check() -> None:
        if stop.is_set():
            parked.wait()  # set by release_parked only: otherwise this thread ends with the process
            raise Pending

    def run() -> None:
        try:
            outcome.append((True, work(check)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as is
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="skctl-stoppable", daemon=True).start()
    try:
        # in short waits: a signal that the kernel hands to the worker thread wakes nobody, and
        # only this thread runs Python's signal handlers
        while not done.wait(WAIT_STEP):
            pass
    except BaseException:
        _parked.append(parked)
        stop.set()
        raise
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _never() -> None:
    """A `check` that never stops anything."""


_parked: list[threading.Event] = []


def release_parked() -> None:
    """Let the workers that `stoppable` parked after an interrupt unwind (and free what they
    hold), for a process that goes on after the interrupt: tests, library use."""
    while _parked:
        _parked.pop().set()


_scope = threading.local()


@contextmanager
def command_scope() -> Iterator[None]:
    """The lifetime of one CLI command: what `work_committed` changes is undone at its end.

    Scopes nest: a command that runs another's work as one step of its own (`skctl demo`
    exports a trace, then replays it) wraps that step in a scope, so the step's commit lasts
    only until the step ends and a Ctrl-C after it interrupts the command again."""
    outer = getattr(_scope, "active", False)
    _scope.active = threading.current_thread() is threading.main_thread()
    watched = [signal.SIGINT, *(getattr(signal, name) for name in TERMINATING if hasattr(signal, name))]
    previous = {sig: signal.getsignal(sig) for sig in watched}
    if _scope.active and not outer:  # the outermost scope: SIGTERM and SIGHUP interrupt like Ctrl-C
        for sig in watched[1:]:
            if previous[sig] in (signal.SIG_DFL, None):
                signal.signal(sig, _terminate)
    try:
        yield
    finally:
        if _scope.active:
            for sig, handler in previous.items():
                if signal.getsignal(sig) is not handler and handler is not None:
                    signal.signal(sig, handler)
        _scope.active = outer


def work_committed() -> None:
    """The command's result is now in place (the destination was renamed over, the upload
    committed): a Ctrl-C from here on must not report failure, so it is ignored for the rest
    of the command. Outside a CLI command (library use, tests) this does nothing."""
    if getattr(_scope, "active", False):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name in TERMINATING:
            if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is _terminate:
                signal.signal(getattr(signal, name), signal.SIG_IGN)


# --- an interrupted process ends, whatever a library's clean-up at exit waits for ------

EXIT_GRACE = 10.0  # seconds the interpreter's own shutdown may take after an interrupt


_left_for_exit: list[BaseException] = []


def leave_for_exit(interrupt: BaseException) -> None:
    """Keep an interrupt (and through its traceback, the interrupted work's data) alive until
    the process ends, instead of freeing it as the command returns: freeing a million
    half-decoded events one by one takes seconds, and `exit_now` skips it. Only the latest
    is kept."""
    _left_for_exit[:] = [interrupt]


def exit_now(code: int) -> None:
    """End an interrupted process now with `code`: standard streams flushed, atexit handlers
    run (bounded by `bound_the_exit`), but no interpreter shutdown, whose freeing of every
    object the interrupted work left behind is time the user waits for nothing."""
    import atexit
    import os

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    _flush_standard_streams()
    os._exit(code)


def _flush_standard_streams() -> None:
    """What os._exit skips: the last lines still buffered on stdout and stderr."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream: nothing more to say
            pass


def bound_the_exit(code: int, grace: float = EXIT_GRACE) -> None:
    """Make sure the process ends within `grace` seconds, with `code`, once this returns.

    For the process entry point only, after an interrupted command: the command's own
    clean-up is done, but at exit libraries still close their clients (fsspec's filesystems
    through finalizers that wait on their event loop without a timeout), and one waiting on
    a peer that stopped answering would keep a Ctrl-C'd process alive. A daemon thread gives
    the normal shutdown `grace` seconds, then flushes the standard streams and ends the
    process. Started now rather than from an atexit hook, where newer Pythons refuse threads."""
    import os
    import time

    def expire() -> None:
        time.sleep(grace)
        _flush_standard_streams()
        os._exit(code)

    threading.Thread(target=expire, name="skctl-exit-guard", daemon=True).start()
