"""Remote writes: an upload that becomes visible only when committed, or is discarded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress
from skctl.base.signals import work_committed
from skctl.storage.backends import Target
from skctl.storage.stall import stall_watchdog

log = logging.getLogger("skctl.storage")
DISCARD_TIMEOUT = 5.0  # seconds to wait for an abandoned upload to be cleaned up


def write_remote(target: Target, chunks: Iterator[bytes | memoryview], total: int | None, url: str, progress: Progress) -> None:
    fs = target.fs
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "memory" in protocols:  # in-process and committed in one step: already atomic
        data = b"".join(bytes(c) for c in chunks)
        work_committed()
        fs.pipe_file(target.path, data)
        return
    with stall_watchdog(getattr(fs, "loop", None), target.stall_timeout) as watch:
        f = fs.open(target.path, "wb", **target.open_kwargs)
        try:
            with progress(f"writing {url}", total) as advance:
                for chunk in chunks:
                    f.write(chunk)
                    advance(len(chunk))
            f.close()  # the commit: one-shot PUT, complete multipart, final chunk, block list
            work_committed()
        except BaseException as exc:
            _discard(f)
            if watch.stalled and isinstance(exc, Exception) and not isinstance(exc, InputError):
                raise OperationalError(messages.STORAGE_STALLED.format(url=url, seconds=watch.seconds)) from exc
            raise


def _discard(f: Any) -> None:
    """Abandon an upload instead of committing it.

    s3fs aborts the multipart upload, gcsfs cancels the resumable upload; adlfs has nothing
    to undo (staged blocks stay uncommitted and invisible, and the service drops them).
    The clean-up is best effort and bounded (DISCARD_TIMEOUT): after Ctrl-C nobody wants to
    wait for a backend's retries, and an abandoned upload is invisible either way. The file
    is then marked closed: fsspec files close() in __del__, and close() would commit.
    """

    def run() -> None:
        try:
            f.discard()
        except Exception as exc:  # noqa: BLE001 - cleaning up after a failure; report the failure
            log.debug("discarding the upload to %s failed: %s", getattr(f, "path", "?"), exc)

    worker = threading.Thread(target=run, name="skctl-discard", daemon=True)
    worker.start()
    try:
        worker.join(DISCARD_TIMEOUT)
        if worker.is_alive():
            log.debug("gave up waiting for the upload to %s to be discarded", getattr(f, "path", "?"))
    finally:
        f.buffer = None
        f.closed = True
