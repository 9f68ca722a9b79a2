"""URL → bytes and back, through fsspec: one entry point for every backend.

Supported: bare paths and file://, memory://, s3://, gs:// and gcs://, az:// and abfs://.
Credentials and endpoints come from each backend's standard environment variables
(AWS_*, STORAGE_EMULATOR_HOST / GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*), and
`--storage-option key=value` overrides them.

Writes are atomic: a local file is written next to its destination and renamed into
place; an object store upload only becomes visible when it is committed, and a failed
or interrupted upload is discarded instead of committed. Either way an existing
destination is never clobbered by a failed write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from skctl import messages
from skctl.errors import InputError, OperationalError

# URL scheme → fsspec protocol. Everything goes through fsspec; this table only says
# which schemes we promise to support (and test).
SCHEMES = {
    "": "file",
    "file": "file",
    "memory": "memory",
    "s3": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "abfs",
    "abfs": "abfs",
}
_BACKEND_PACKAGE = {"s3": "s3fs", "gcs": "gcsfs", "abfs": "adlfs"}
CHUNK = 4 * 1024 * 1024
PROGRESS_THRESHOLD = 8 * 1024 * 1024


def parse_storage_options(pairs: Iterable[str] | None) -> dict[str, Any]:
    """`key=value` pairs from the CLI; values that parse as JSON (true, 3, {...}) are decoded."""
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(messages.STORAGE_BAD_OPTION.format(option=pair))
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def protocol_of(url: str) -> str:
    """The fsspec protocol for a URL, or an InputError for anything we don't support."""
    scheme = _scheme(url)
    if scheme not in SCHEMES:
        raise InputError(messages.STORAGE_UNKNOWN_SCHEME.format(scheme=scheme, url=url))
    return SCHEMES[scheme]


def is_local(url: str) -> bool:
    return protocol_of(url) == "file"


def local_path(url: str) -> str:
    """The filesystem path of a bare path or file:// URL (file://localhost/x is allowed)."""
    if _scheme(url) == "":
        return url
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InputError(
            messages.STORAGE_BAD_URL.format(url=url, detail="file:// URLs take an absolute path, e.g. file:///data/trace")
        )
    return parts.path


def _scheme(url: str) -> str:
    if "://" not in url:
        return ""
    return url.split("://", 1)[0].lower()


def _filesystem(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    protocol = protocol_of(url)
    if protocol == "file":
        path = local_path(url)
        if not path:
            raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail="empty path"))
        return None, path
    parts = urlsplit(url)
    if not parts.netloc or parts.path.strip("/") == "":
        raise InputError(
            messages.STORAGE_BAD_URL.format(url=url, detail=f"expected {parts.scheme}://BUCKET/OBJECT")
        )
    import fsspec

    kwargs = _env_options(protocol)
    kwargs.update(options or {})
    try:
        fs = fsspec.filesystem(protocol, **kwargs)
    except ImportError:
        raise InputError(
            messages.STORAGE_MISSING_BACKEND.format(scheme=parts.scheme, package=_BACKEND_PACKAGE.get(protocol, protocol))
        ) from None
    except ValueError as exc:  # e.g. adlfs without an account name
        raise InputError(messages.STORAGE_NO_CREDENTIALS.format(url=url, detail=_short(exc))) from None
    return fs, f"{parts.netloc}{parts.path}"


def _env_options(protocol: str) -> dict[str, Any]:
    """Standard environment variables the backend libraries do not all read by themselves."""
    env = os.environ
    if protocol == "s3" and env.get("AWS_ENDPOINT_URL"):
        return {"client_kwargs": {"endpoint_url": env["AWS_ENDPOINT_URL"]}}
    if protocol == "gcs" and env.get("STORAGE_EMULATOR_HOST"):
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        return {"endpoint_url": env["STORAGE_EMULATOR_HOST"], "token": "anon"}
    if protocol == "abfs":
        if env.get("AZURE_STORAGE_CONNECTION_STRING"):
            return {"connection_string": env["AZURE_STORAGE_CONNECTION_STRING"]}
        if env.get("AZURE_STORAGE_ACCOUNT_NAME"):
            opts = {"account_name": env["AZURE_STORAGE_ACCOUNT_NAME"]}
            if env.get("AZURE_STORAGE_ACCOUNT_KEY"):
                opts["account_key"] = env["AZURE_STORAGE_ACCOUNT_KEY"]
            return opts
    return {}


def read_bytes(url: str, options: dict[str, Any] | None = None, progress: bool | None = None) -> bytes:
    """The whole object at `url`. Missing files and bad URLs are InputErrors."""
    fs, path = _filesystem(url, options)
    try:
        if fs is None:
            with open(path, "rb") as f:
                return _read_all(f, os.fstat(f.fileno()).st_size, url, progress)
        with fs.open(path, "rb") as f:
            return _read_all(f, getattr(f, "size", None), url, progress)
    except Exception as exc:  # noqa: BLE001 - every backend raises its own kinds; map them once
        raise _map_error(exc, url, writing=False) from None


def write_bytes(url: str, data: bytes, options: dict[str, Any] | None = None, progress: bool | None = None) -> None:
    """Write `data` to `url` atomically: all of it, or nothing and the old object untouched."""
    fs, path = _filesystem(url, options)
    try:
        if fs is None:
            _write_local(path, data, url, progress)
        else:
            _write_remote(fs, path, data, url, progress)
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise _map_error(exc, url, writing=True) from None


def exists(url: str, options: dict[str, Any] | None = None) -> bool:
    fs, path = _filesystem(url, options)
    try:
        return os.path.exists(path) if fs is None else bool(fs.exists(path))
    except Exception as exc:  # noqa: BLE001
        raise _map_error(exc, url, writing=False) from None


def _read_all(f: Any, size: int | None, url: str, progress: bool | None) -> bytes:
    from skctl.output import transfer_progress

    chunks = []
    with transfer_progress(f"reading {url}", size, enabled=progress) as advance:
        while chunk := f.read(CHUNK):
            chunks.append(chunk)
            advance(len(chunk))
    return b"".join(chunks)


def _write_local(path: str, data: bytes, url: str, progress: bool | None) -> None:
    from skctl.output import transfer_progress

    if os.path.isdir(path) or path.endswith(os.sep):
        raise InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".skctl-partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f, transfer_progress(f"writing {url}", len(data), enabled=progress) as advance:
            for start in range(0, len(data), CHUNK):
                f.write(data[start : start + CHUNK])
                advance(min(CHUNK, len(data) - start))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_remote(fs: Any, path: str, data: bytes, url: str, progress: bool | None) -> None:
    from skctl.output import transfer_progress

    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "memory" in protocols:  # in-process and committed in one step: already atomic
        fs.pipe_file(path, data)
        return
    f = fs.open(path, "wb")
    try:
        with transfer_progress(f"writing {url}", len(data), enabled=progress) as advance:
            for start in range(0, len(data), CHUNK):
                f.write(data[start : start + CHUNK])
                advance(min(CHUNK, len(data) - start))
    except BaseException:
        # Abort instead of close: close() would commit what was written so far.
        f.discard() if hasattr(f, "discard") else None
        raise
    f.close()


def _map_error(exc: BaseException, url: str, writing: bool) -> Exception:
    if isinstance(exc, (InputError, OperationalError)):
        return exc
    name = type(exc).__name__
    detail = _short(exc)
    if "Credential" in name or "credentials" in detail.lower() and "no" in detail.lower():
        return InputError(messages.STORAGE_NO_CREDENTIALS.format(url=url, detail=detail))
    if isinstance(exc, IsADirectoryError):
        return InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    if isinstance(exc, FileNotFoundError) and not writing:
        return InputError(messages.STORAGE_NOT_FOUND.format(url=url))
    if isinstance(exc, (PermissionError, NotADirectoryError, FileNotFoundError)):
        if writing:
            return InputError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=detail))
        return InputError(messages.STORAGE_PERMISSION.format(url=url, detail=detail))
    if writing:
        return OperationalError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=detail))
    return OperationalError(messages.STORAGE_READ_FAILED.format(url=url, detail=detail))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
