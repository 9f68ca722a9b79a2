"""URL → bytes and back, through fsspec: one entry point for every backend.

Modules: `urls` (schemes, paths, options), `backends` (URL → filesystem, retries),
`local` (atomic local writes), `remote` (committed-or-discarded uploads), `stall` (an
upload that stops moving is dropped after `stall_timeout`), `errors` (backend exceptions
→ one-line errors). Progress is reported through a callback
(skctl.base.progress), never drawn here.

Supported: bare paths and file://, memory://, s3://, gs:// and gcs://, az:// and abfs://.
Credentials and endpoints come from each backend's standard environment variables, read by
the backend libraries themselves (AWS_* incl. AWS_ENDPOINT_URL by botocore,
STORAGE_EMULATOR_HOST / GOOGLE_APPLICATION_CREDENTIALS by gcsfs and google-auth,
AZURE_STORAGE_* by adlfs); `--storage-option key=value` overrides them. See docs/storage.md.

Writes are atomic: a local file is written next to its destination and renamed into
place; an object-store upload only becomes visible when it is committed, and a failed
or interrupted upload is discarded (multipart upload aborted, resumable upload cancelled,
staged blocks left uncommitted) instead of committed. Either way an existing destination
is never clobbered by a failed write.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress, no_progress
from skctl.storage.backends import SKCTL_OPTIONS, open_target, probe_bucket
from skctl.storage.errors import is_denied, is_moved, map_error
from skctl.storage.local import open_for_reading, write_local
from skctl.storage.remote import write_remote
from skctl.storage.urls import (
    SCHEMES,
    check_url,
    is_cloud_url,
    is_local,
    local_path,
    parse_storage_options,
    protocol_of,
    scheme_of,
)

__all__ = [
    "CHUNK", "SCHEMES", "SKCTL_OPTIONS", "Data", "Limit", "check_destination", "check_url", "exists", "is_cloud_url", "is_local", "local_path", "parse_storage_options",
    "protocol_of", "read_bytes", "scheme_of", "write_bytes",
]

CHUNK = 4 * 1024 * 1024

Data = bytes | bytearray | memoryview | Iterable[bytes]


def read_bytes(
    url: str,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
    limit: Limit | None = None,
) -> bytes:
    """The whole object at `url`. Missing files and bad URLs are InputErrors.

    With a `limit`, reading stops as soon as the object proves larger than its size or its
    first chunk fails its check: `/dev/zero`, a FIFO that never ends or a huge unrelated
    file is refused without being read whole.
    """
    target = open_target(url, options)
    try:
        if target.fs is None:
            with open_for_reading(target.path) as f:
                return _read_all(f, os.fstat(f.fileno()).st_size or None, url, progress, limit)
        with target.fs.open(target.path, "rb", **target.open_kwargs) as f:
            return _read_all(f, getattr(f, "size", None), url, progress, limit)
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001 - every backend raises its own kinds; map them once
        raise map_error(exc, url, writing=False) from exc


def write_bytes(url: str, data: Data, options: dict[str, Any] | None = None, progress: Progress = no_progress) -> None:
    """Write `data` to `url` atomically: all of it, or nothing and the old object untouched.

    `data` is bytes-like, or an iterable of byte chunks (streamed; if the iterable raises,
    the write is abandoned like any other failure, which is also how tests inject one).
    """
    target = open_target(url, options)
    total = memoryview(data).nbytes if isinstance(data, (bytes, bytearray, memoryview)) else None
    try:
        if target.fs is None:
            write_local(target.path, _chunks(data), total, url, progress)
        else:
            write_remote(target, _chunks(data), total, url, progress)
    except _SourceFailed as exc:
        raise exc.original from None
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise map_error(exc, url, writing=True) from exc


def check_destination(url: str, options: dict[str, Any] | None = None, remote: bool = True) -> None:
    """Refuse a destination that no write could succeed at, before any work is done (every
    writing command calls this before it reads its source): a bad URL or option; a local
    path that is a directory or lies under a file; with `remote`, a bucket or container the
    service says does not exist, or a service that cannot be reached or refuses the
    credentials (one request, bounded by backends.PROBE_TIMEOUT). Access denied on the bucket
    itself passes: credentials that may only write objects cannot look at the bucket; so does
    S3's 301, a bucket in another region (docs/storage.md)."""
    check_url(url)
    if url == "-":  # the Unix habit for stdout; writing a file named "-" would surprise
        raise InputError(messages.STORAGE_DASH)
    if is_local(url):
        path = local_path(url)
        if os.path.isdir(path) or path.endswith(os.sep):
            raise InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent) and parent != os.path.dirname(parent):
            parent = os.path.dirname(parent)  # the nearest existing ancestor (missing ones are created)
        if not os.path.isdir(parent):
            raise InputError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=f"{parent} is not a directory"))
        return
    target = open_target(url, options)
    if not remote or target.fs is None or "memory" in _protocols(target.fs):
        return
    try:
        probe_bucket(target)
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001
        if is_denied(exc) or is_moved(exc):  # the bucket is there; the write decides
            return
        raise map_error(exc, url, writing=True) from exc


def _protocols(fs: Any) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def exists(url: str, options: dict[str, Any] | None = None) -> bool:
    """Whether there is an object (or file) at `url`."""
    target = open_target(url, options)
    try:
        return os.path.exists(target.path) if target.fs is None else bool(target.fs.exists(target.path))
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise map_error(exc, url, writing=False) from exc


def _chunks(data: Data) -> Iterator[bytes | memoryview]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK):
            yield view[start : start + CHUNK]
        return
    source = iter(data)
    while True:
        try:
            chunk = next(source)
        except StopIteration:
            return
        except Exception as exc:  # the caller's failure, not storage's: hand it back as is
            raise _SourceFailed(exc) from exc
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise _SourceFailed(TypeError(f"write_bytes chunks must be bytes, not {type(chunk).__name__}"))
        yield chunk


class _SourceFailed(Exception):
    """The data iterable passed to write_bytes raised `original` (the write was abandoned)."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


@dataclass(frozen=True)
class Limit:
    """Bounds for one read: at most `max_bytes`; `check_head(first chunk, url)` raises if the
    object is plainly not what the caller wants; `too_large(url, max_bytes)` builds the error."""

    max_bytes: int
    too_large: Callable[[str, int], Exception]
    check_head: Callable[[bytes, str], None] | None = None


def _read_all(f: Any, size: int | None, url: str, progress: Progress, limit: Limit | None = None) -> bytes:
    if limit is not None and size is not None and size > limit.max_bytes:
        raise limit.too_large(url, limit.max_bytes)
    chunks: list[bytes] = []
    read = 0
    with progress(f"reading {url}", size) as advance:
        while chunk := f.read(CHUNK):
            if limit is not None:
                if not chunks and limit.check_head is not None:
                    limit.check_head(chunk, url)
                read += len(chunk)
                if read > limit.max_bytes:
                    raise limit.too_large(url, limit.max_bytes)
            chunks.append(chunk)
            advance(len(chunk))
    return b"".join(chunks)
