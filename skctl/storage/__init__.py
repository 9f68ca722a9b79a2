"""URL → bytes and back, through fsspec: one entry point for every backend.

Modules: `urls` (schemes, paths, options), `backends` (URL → filesystem, retries),
`local` (atomic local writes), `remote` (committed-or-discarded uploads), `errors`
(backend exceptions → one-line errors). Progress is reported through a callback
(skctl.progress), never drawn here.

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
from collections.abc import Iterable, Iterator
from typing import Any

from skctl.errors import InputError, OperationalError
from skctl.progress import Progress, no_progress
from skctl.storage.backends import SKCTL_OPTIONS, open_target
from skctl.storage.errors import map_error
from skctl.storage.local import write_local
from skctl.storage.remote import write_remote
from skctl.storage.urls import SCHEMES, is_local, local_path, parse_storage_options, protocol_of, scheme_of

__all__ = [
    "CHUNK", "SCHEMES", "SKCTL_OPTIONS", "Data", "exists", "is_local", "local_path", "parse_storage_options",
    "protocol_of", "read_bytes", "scheme_of", "write_bytes",
]

CHUNK = 4 * 1024 * 1024

Data = bytes | bytearray | memoryview | Iterable[bytes]


def read_bytes(url: str, options: dict[str, Any] | None = None, progress: Progress = no_progress) -> bytes:
    """The whole object at `url`. Missing files and bad URLs are InputErrors."""
    target = open_target(url, options)
    try:
        if target.fs is None:
            with open(target.path, "rb") as f:
                return _read_all(f, os.fstat(f.fileno()).st_size, url, progress)
        with target.fs.open(target.path, "rb", **target.open_kwargs) as f:
            return _read_all(f, getattr(f, "size", None), url, progress)
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


def _read_all(f: Any, size: int | None, url: str, progress: Progress) -> bytes:
    chunks = []
    with progress(f"reading {url}", size) as advance:
        while chunk := f.read(CHUNK):
            chunks.append(chunk)
            advance(len(chunk))
    return b"".join(chunks)
