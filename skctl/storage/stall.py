"""A stall watchdog for uploads: a connection that stops taking data is dropped.

The object-store clients bound connecting and waiting for an answer, but not sending:
aiohttp (under s3fs/aiobotocore and gcsfs) has no write timeout, and a service that
accepts a connection and then stops reading leaves a part upload waiting forever; a
connection closed with unsent data then also holds the process at exit (adlfs's clean-up).
All three backends run their requests on fsspec's event loop, so one watchdog covers them:
while an upload runs, a coroutine on that loop looks at every socket transport's unsent
bytes, and aborts a transport whose unsent data has not moved for `seconds` (no progress,
whatever the speed: a slow link that moves at all is never cut). The abort fails the
request like a reset would; the backend's retries apply, then the caller reports the stall.
The patience is per upload: once one connection has stalled, a retry's connection that
takes no data between two checks (a second apart at most) is dropped too, so a dead
service costs `seconds` once, not once per attempt of every retry layer.

The loop is shared by every filesystem in the process (the tracer runs concurrent exports
on it), so a watchdog only judges its own upload's connections: the upload runs with a
context variable naming its watch, asyncio copies the context into the tasks fsspec starts
for it, and a connection holding unsent data has a pending writer callback that carries the
context of the task that wrote. A connection whose writer names another watch is left to
that one (neither dropped for another upload's stall, nor by another upload's stricter
timeout or failure); one whose writer carries no watch is judged by every watchdog.
Unsent data that sits in the kernel alone has no writer: its connection is judged only by
the watch that last wrote on it, or failing that the one whose task opened it (the reader
callback keeps that task's context), never by a guess: a healthy upload that pauses with
its last bytes in the kernel must not be cut by another upload's stall.

An upload that ends with an exception (Ctrl-C included) is abandoned: the tasks it started
on the loop, told apart by a task factory that records the watch of the starting context,
are cancelled, so no backend retry outlives it and holds the process at exit.

The transports are found through the selector event loop's table of them (`loop._transports`,
in every CPython since 3.4) and their writers through its selector: the one place skctl
reads asyncio internals. On a loop without the table the watchdog does nothing and says so
at debug level.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("skctl.storage")

DEFAULT_STALL_TIMEOUT = 60.0  # seconds an upload connection may take no data before it is dropped
_CURRENT: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("skctl_stall_watch", default=None)


@dataclass
class Watch:
    """What a watchdog saw: how many connections it dropped."""

    seconds: float
    stalled: int = 0
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _tasks: weakref.WeakSet[asyncio.Task[Any]] = field(default_factory=weakref.WeakSet, repr=False)


@contextlib.contextmanager
def stall_watchdog(loop: Any, seconds: float) -> Iterator[Watch]:
    """Watch the socket transports of `loop` (an fsspec filesystem's loop) while the block runs.

    On leaving the block with an exception the upload is abandoned: its tasks still on the
    loop are cancelled (fsspec's `sync` leaves them running when Ctrl-C reaches the caller,
    and a backend's retry would open a new connection that stalls again and holds the exit),
    then connections still holding unsent data are aborted at once (closing them gracefully
    would wait for the peer to read it: forever, for a peer that stopped reading)."""
    watch = Watch(seconds)
    transports = getattr(loop, "_transports", None)
    if loop is None or transports is None or not loop.is_running():
        log.debug("no stall watchdog: the backend has no running selector event loop")
        yield watch
        return
    token = _CURRENT.set(watch)  # the upload's tasks inherit it: how its connections are told apart
    try:
        future = _start(loop, watch)
        failed = False
        try:
            yield watch
        except BaseException:
            failed = True
            raise
        finally:
            _stop(loop, watch, future, abandon=failed)
    finally:
        _CURRENT.reset(token)


def _start(loop: Any, watch: Watch) -> concurrent.futures.Future[None] | None:
    started = concurrent.futures.Future()  # type: concurrent.futures.Future[None]

    async def run() -> None:
        _tag_tasks(loop)
        watch._stop = asyncio.Event()
        started.set_result(None)
        await _watch(loop, watch)

    future = asyncio.run_coroutine_threadsafe(run(), loop)
    try:
        started.result(5)
    except concurrent.futures.TimeoutError:
        log.debug("the stall watchdog did not start; the backend's loop is busy")
        future.cancel()
        return None
    return future


def _stop(loop: Any, watch: Watch, future: concurrent.futures.Future[None] | None, abandon: bool) -> None:
    if future is None or watch._stop is None:
        return
    loop.call_soon_threadsafe(watch._stop.set)
    with contextlib.suppress(Exception):
        future.result(5)
    if abandon:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_abandon(loop, watch), loop).result(5)


def _tag_tasks(loop: Any) -> None:
    """Have every task started on `loop` remember the watch of the context that started it
    (the upload's, through `run_coroutine_threadsafe` and the backends' own gathers), so
    an abandoned upload's tasks can be told from another upload's. A task factory is the
    public hook for it; one the loop already has is kept and called."""
    previous = loop.get_task_factory()
    if getattr(previous, "_skctl_tags_watches", False):
        return

    def factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        watch = context.get(_CURRENT) if context is not None else _CURRENT.get()
        if watch is not None and isinstance(task, asyncio.Task):
            watch._tasks.add(task)
        return task

    factory._skctl_tags_watches = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


async def _abandon(loop: Any, watch: Watch) -> None:
    """Cancel the upload's tasks, let them unwind, then drop what they left unsent."""
    me = asyncio.current_task()
    for task in list(watch._tasks):
        if task is not me and not task.done():
            task.cancel()
    for _ in range(3):  # a cancelled request closes its connection on its way out
        await asyncio.sleep(0)
    await _abort_unsent(loop, watch)


async def _watch(loop: Any, watch: Watch) -> None:
    assert watch._stop is not None
    interval = min(1.0, watch.seconds / 4)
    seen: dict[int, tuple[int, float]] = {}  # id(transport) -> (unsent bytes, since when)
    writers: dict[int, Any] = {}  # id(transport) -> the watch that last wrote on it
    while True:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(watch._stop.wait(), interval)
        if watch._stop.is_set():
            return
        now = loop.time()
        current: dict[int, tuple[int, float]] = {}
        live: dict[int, Any] = {}
        for transport in list(loop._transports.values()):
            unsent = _unsent(transport)
            if not unsent:
                continue
            writer = _callback_watch(loop, transport, _WRITER)
            live[id(transport)] = writer if writer is not _UNKNOWN else writers.get(id(transport), _UNKNOWN)
            if not _judged_by(loop, transport, watch, writer, live[id(transport)]):
                continue
            before = seen.get(id(transport))
            if before is None or before[0] != unsent:  # data moved: progress
                current[id(transport)] = (unsent, now)
            elif watch.stalled or now - before[1] >= watch.seconds:  # a retry after a stall: one poll
                log.debug("no data taken for %gs on %s; dropping the connection", watch.seconds, _peer(transport))
                watch.stalled += 1
                transport.abort()
            else:
                current[id(transport)] = before
        seen, writers = current, live


async def _abort_unsent(loop: Any, watch: Watch) -> None:
    """Only a transport's own buffer matters here: close() waits for it, while what the
    kernel holds does not hold the exit (and a connection whose data is all in the kernel
    names no owner: it may be a healthy upload's beside this one)."""
    for transport in list(loop._transports.values()):
        if _buffered(transport) and _judged_by(loop, transport, watch, _callback_watch(loop, transport, _WRITER)):
            log.debug("dropping %s with unsent data of an abandoned upload", _peer(transport))
            transport.abort()


_READER, _WRITER = 0, 1  # the selector key's data: (reader callback, writer callback)
_UNKNOWN: Any = object()  # no such callback, or it cannot be read


def _callback_watch(loop: Any, transport: Any, which: int) -> Any:
    """The watch named by the context of `transport`'s pending reader or writer callback:
    the writer's is the task that wrote the unsent data, the reader's the task that opened
    the connection (the transport registers it from that task's context). `_UNKNOWN` when
    there is no such callback or it cannot be read (closed, not a selector transport)."""
    try:
        fd = transport.get_extra_info("socket").fileno()
        handle = loop._selector.get_key(fd).data[which]
        return _UNKNOWN if handle is None else handle._context.get(_CURRENT)
    except Exception:  # noqa: BLE001 - closed, not a selector transport, another loop: don't know
        return _UNKNOWN


def _judged_by(loop: Any, transport: Any, watch: Watch, writer: Any, last_writer: Any = _UNKNOWN) -> bool:
    """Whether `watch` may drop `transport`. Data in the transport's buffer has a writer:
    it is judged by that writer's watch, or by every watch when the writer names none or
    cannot be read. Data in the kernel alone is judged only by the watch known to own the
    connection: the last writer seen, else the task that opened it."""
    if writer is not _UNKNOWN or _buffered(transport):
        return writer is _UNKNOWN or writer is None or writer is watch
    owner = last_writer if last_writer is not _UNKNOWN else _callback_watch(loop, transport, _READER)
    return owner is watch


def _unsent(transport: Any) -> int:
    """Bytes the connection has not delivered yet: the transport's buffer plus, on Linux,
    the kernel's send queue (TIOCOUTQ: unsent and unacknowledged), so a slow link shows
    progress with every acknowledgement, not only when megabytes of kernel buffer free up.
    The kernel's queue counts alone too: a body small enough to leave the transport's buffer
    at once (a last block) sits there when the peer stops reading, and the request then
    waits for an answer that never comes."""
    return _buffered(transport) + _kernel_queue(transport)


def _buffered(transport: Any) -> int:
    try:
        return int(transport.get_write_buffer_size())  # a closing one too: close() waits for it
    except Exception:  # noqa: BLE001 - a transport being torn down
        return 0


def _kernel_queue(transport: Any) -> int:
    try:
        import fcntl
        import struct
        import termios

        sock = transport.get_extra_info("socket")
        out = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return int(struct.unpack("i", out)[0])
    except Exception:  # noqa: BLE001 - not Linux, not a socket, or closed: the transport's buffer alone
        return 0


def _peer(transport: Any) -> str:
    with contextlib.suppress(Exception):
        host, port = transport.get_extra_info("peername")[:2]
        return f"{host}:{port}"
    return "a connection"
