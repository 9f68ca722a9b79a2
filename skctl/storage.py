"""URL → bytes and back, through fsspec: one entry point for every backend.

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

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from skctl import messages
from skctl.errors import InputError, OperationalError

log = logging.getLogger(__name__)

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
DISCARD_TIMEOUT = 5.0  # seconds to wait for an abandoned upload to be cleaned up

# Options skctl understands itself, for every backend (the rest go to the fsspec backend).
#   retries     how many times to retry a failed request (each backend's default otherwise)
#   block_size  upload part / read block size in bytes
SKCTL_OPTIONS = ("retries", "block_size")

Data = bytes | bytearray | memoryview | Iterable[bytes]


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
    """True for bare paths and file:// URLs (the only ones a driver pod can mount)."""
    return protocol_of(url) == "file"


def local_path(url: str) -> str:
    """The filesystem path of a bare path or file:// URL (file://localhost/x is allowed)."""
    if _scheme(url) == "":
        return url
    rest = url.split("://", 1)[1]
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost"):
        raise InputError(
            messages.STORAGE_BAD_URL.format(url=url, detail="file:// URLs take an absolute path, e.g. file:///data/trace")
        )
    return slash + path


def read_bytes(url: str, options: dict[str, Any] | None = None, progress: bool | None = None) -> bytes:
    """The whole object at `url`. Missing files and bad URLs are InputErrors."""
    target = _open_target(url, options)
    try:
        if target.fs is None:
            with open(target.path, "rb") as f:
                return _read_all(f, os.fstat(f.fileno()).st_size, url, progress)
        with target.fs.open(target.path, "rb", **target.open_kwargs) as f:
            return _read_all(f, getattr(f, "size", None), url, progress)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every backend raises its own kinds; map them once
        raise _map_error(exc, url, writing=False) from None


def write_bytes(url: str, data: Data, options: dict[str, Any] | None = None, progress: bool | None = None) -> None:
    """Write `data` to `url` atomically: all of it, or nothing and the old object untouched.

    `data` is bytes-like, or an iterable of byte chunks (streamed; if the iterable raises,
    the write is abandoned like any other failure, which is also how tests inject one).
    """
    target = _open_target(url, options)
    total = memoryview(data).nbytes if isinstance(data, (bytes, bytearray, memoryview)) else None
    try:
        if target.fs is None:
            _write_local(target.path, _chunks(data), total, url, progress)
        else:
            _write_remote(target, _chunks(data), total, url, progress)
    except _SourceFailed as exc:
        raise exc.original from None
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise _map_error(exc, url, writing=True) from None


def exists(url: str, options: dict[str, Any] | None = None) -> bool:
    """Whether there is an object (or file) at `url`."""
    target = _open_target(url, options)
    try:
        return os.path.exists(target.path) if target.fs is None else bool(target.fs.exists(target.path))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _map_error(exc, url, writing=False) from None


# --- URL → filesystem --------------------------------------------------------------------


class _Target:
    """A resolved URL: the fsspec filesystem (None for local files) and the path in it."""

    def __init__(self, fs: Any, path: str, open_kwargs: dict[str, Any]) -> None:
        self.fs = fs
        self.path = path
        self.open_kwargs = open_kwargs


def _scheme(url: str) -> str:
    if "://" not in url:
        return ""
    return url.split("://", 1)[0].lower()


def _split_remote(url: str, protocol: str) -> tuple[str, str]:
    """(bucket, key) of an object-store URL; no urlsplit, so '?' and '#' stay in keys."""
    scheme, rest = url.split("://", 1)
    bucket, _, key = rest.partition("/")
    if protocol == "memory":  # no buckets: memory://name is fine
        if not rest.strip("/") or rest.endswith("/"):
            raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail="expected memory://NAME"))
        return "", rest
    if not bucket:
        raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail=f"no bucket; expected {scheme}://BUCKET/OBJECT"))
    if not key.strip("/"):
        raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail=f"no object name; expected {scheme}://{bucket}/OBJECT"))
    if key.endswith("/"):
        raise InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    return bucket, key


def _open_target(url: str, options: dict[str, Any] | None) -> _Target:
    protocol = protocol_of(url)
    opts = dict(options or {})
    retries = _int_option(opts.pop("retries", None), "retries", url)
    block_size = _int_option(opts.pop("block_size", None), "block_size", url, minimum=1)
    open_kwargs = {"block_size": block_size} if block_size else {}
    if protocol == "file":
        path = local_path(url)
        if not path:
            raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail="empty path"))
        return _Target(None, path, {})
    bucket, key = _split_remote(url, protocol)
    path = f"{bucket}/{key}" if bucket else key
    try:
        if protocol == "s3":
            fs = _s3(opts, retries)
        elif protocol == "gcs":
            fs = _gcs(opts, retries, url)
        elif protocol == "abfs":
            fs = _azure(opts, retries)
        else:
            import fsspec

            fs = fsspec.filesystem(protocol, **opts)
    except ImportError:
        scheme = _scheme(url)
        raise InputError(
            messages.STORAGE_MISSING_BACKEND.format(scheme=scheme, package=_BACKEND_PACKAGE.get(protocol, protocol))
        ) from None
    except (InputError, OperationalError):
        raise
    except TypeError as exc:  # an option the backend does not take
        raise InputError(messages.STORAGE_BAD_OPTIONS.format(url=url, detail=_short(exc))) from None
    except Exception as exc:  # noqa: BLE001 - e.g. adlfs without an account name
        raise _map_error(exc, url, writing=False) from None
    _quiet_backend_tracebacks()
    return _Target(fs, path, open_kwargs)


def _int_option(value: Any, name: str, url: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(
            messages.STORAGE_BAD_OPTIONS.format(url=url, detail=f"{name} must be an integer >= {minimum}, not {value!r}")
        )
    return value


def _s3(opts: dict[str, Any], retries: int | None) -> Any:
    """s3fs. botocore reads AWS_ENDPOINT_URL(_S3), AWS_ACCESS_KEY_ID/..., AWS_DEFAULT_REGION,
    AWS_MAX_ATTEMPTS and AWS_RETRY_MODE itself, so nothing is copied from the environment."""
    import s3fs

    if retries is not None:
        # botocore retries each request; bound it (s3fs's own retry loop is bounded below).
        config = dict(opts.get("config_kwargs") or {})
        config["retries"] = {"max_attempts": retries + 1, "mode": "standard"}
        opts["config_kwargs"] = config
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
    if retries is not None:
        fs.retries = retries + 1  # a class attribute in s3fs, not a constructor argument
    return fs


_GCS_CLASSES: dict[tuple[type, int | None], type] = {}


def _gcs(opts: dict[str, Any], retries: int | None, url: str) -> Any:
    """gcsfs. It reads STORAGE_EMULATOR_HOST itself; against an emulator we use anonymous
    access and the plain (non-zonal) client, whose bucket-type probe would go to Google."""
    import fsspec

    endpoint = opts.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST", "")
    emulator = endpoint not in ("", "default")
    if opts.get("endpoint_url") and "://" not in opts["endpoint_url"]:
        opts["endpoint_url"] = f"http://{opts['endpoint_url']}"
    if emulator:
        from gcsfs.core import GCSFileSystem as base

        opts.setdefault("token", "anon")
    else:
        base = fsspec.get_filesystem_class("gcs")
        creds = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if "token" not in opts and creds and not os.path.isfile(creds):
            # google-auth would fail and gcsfs would silently fall back to anonymous access.
            raise _no_credentials(url, f"GOOGLE_APPLICATION_CREDENTIALS names {creds}, which does not exist")
    return _gcs_class(base, retries)(skip_instance_cache=True, **opts)


def _gcs_class(base: type, retries: int | None) -> type:
    """gcsfs fixes its retry count (6, with up to 32 s backoff) when the class is defined;
    to honour `retries`, re-wrap its one request method in a subclass."""
    if retries is None:
        return base
    key = (base, retries)
    if key not in _GCS_CLASSES:
        from gcsfs.retry import retry_request

        request = getattr(base._request, "__wrapped__", None)
        if request is None:  # a gcsfs we don't know: keep its own retries
            log.debug("gcsfs has no wrapped _request; ignoring retries=%s", retries)
            return base
        _GCS_CLASSES[key] = type(
            f"Skctl{base.__name__}", (base,), {"_request": retry_request(retries=retries + 1)(request)}
        )
    return _GCS_CLASSES[key]


_AZURE_ACCOUNT_OPTIONS = ("account_name", "account_key", "sas_token", "credential", "anon", "account_host", "client_id")


def _azure(opts: dict[str, Any], retries: int | None) -> Any:
    """adlfs. It reads AZURE_STORAGE_CONNECTION_STRING, _ACCOUNT_NAME, _ACCOUNT_KEY, _SAS_TOKEN
    (and service-principal variables) itself, preferring a connection string."""
    import adlfs

    fs = adlfs.AzureBlobFileSystem(skip_instance_cache=True, **opts)
    if "connection_string" not in opts and fs.connection_string and any(k in opts for k in _AZURE_ACCOUNT_OPTIONS):
        # adlfs always falls back to AZURE_STORAGE_CONNECTION_STRING and then prefers it;
        # account options given on the command line must win over the environment.
        fs.connection_string = None
        fs.do_connect()
    if retries is not None:
        # adlfs has no retry option; rebuild its service client with the SDK's retry_total.
        from azure.storage.blob.aio import BlobServiceClient

        old = fs.service_client
        fs.service_client = BlobServiceClient(
            account_url=old.url, credential=old.credential, retry_total=retries, user_agent="skctl"
        )
    return fs


# --- reading and writing --------------------------------------------------------------------


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


def _read_all(f: Any, size: int | None, url: str, progress: bool | None) -> bytes:
    from skctl.output import transfer_progress

    chunks = []
    with transfer_progress(f"reading {url}", size, enabled=progress) as advance:
        while chunk := f.read(CHUNK):
            chunks.append(chunk)
            advance(len(chunk))
    return b"".join(chunks)


def _write_local(path: str, chunks: Iterator[Any], total: int | None, url: str, progress: bool | None) -> None:
    """Write a temporary file beside `path`, fsync it, rename it over `path`; on any
    failure (or Ctrl-C) remove the temporary file, so `path` is old or new, never partial.

    A symlink is followed (the file it points to is replaced, the link stays). A FIFO or
    device (`-o /dev/stdout`) cannot be replaced by renaming, so it is written in place.
    """
    from skctl.output import transfer_progress

    if os.path.isdir(path) or path.endswith(os.sep):
        raise InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    if os.path.exists(path) and not os.path.isfile(path):  # both follow symlinks, as open() does
        with open(path, "wb") as stream, transfer_progress(f"writing {url}", total, enabled=progress) as advance:
            for chunk in chunks:
                stream.write(chunk)
                advance(len(chunk))
        return
    path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".skctl-partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f, transfer_progress(f"writing {url}", total, enabled=progress) as advance:
            for chunk in chunks:
                f.write(chunk)
                advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_remote(target: _Target, chunks: Iterator[Any], total: int | None, url: str, progress: bool | None) -> None:
    from skctl.output import transfer_progress

    fs = target.fs
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "memory" in protocols:  # in-process and committed in one step: already atomic
        data = b"".join(bytes(c) for c in chunks)
        fs.pipe_file(target.path, data)
        return
    f = fs.open(target.path, "wb", **target.open_kwargs)
    try:
        with transfer_progress(f"writing {url}", total, enabled=progress) as advance:
            for chunk in chunks:
                f.write(chunk)
                advance(len(chunk))
        f.close()  # the commit: one-shot PUT, complete multipart, final chunk, block list
    except BaseException:
        _discard(f)
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


# --- errors ----------------------------------------------------------------------------------

_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "DefaultCredentialsError",
                   "CredentialUnavailableError")
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ClientConnectionError",
                "ServerDisconnectedError", "ServiceRequestError", "ServiceRequestTimeoutError", "ConnectionError",
                "ConnectionRefusedError", "ProxyConnectionError", "ReadTimeoutError", "FSTimeoutError")
_DENIED = ("ClientAuthenticationError",)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _map_error(exc: BaseException, url: str, writing: bool) -> Exception:
    """One backend exception → InputError (the user can fix it) or OperationalError."""
    if isinstance(exc, (InputError, OperationalError)):
        return exc
    chain = list(_chain(exc))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    detail = _short(exc)
    if "must provide either a connection_string or account_name" in detail.lower():
        return _no_credentials(url, "no storage account configured")
    if names & set(_NO_CREDENTIALS):
        return _no_credentials(url, detail)
    if isinstance(exc, TypeError) and "unexpected keyword argument" in detail:
        return InputError(messages.STORAGE_BAD_OPTIONS.format(url=url, detail=detail))
    denied = any(isinstance(e, PermissionError) or _http_status(e) in (401, 403) for e in chain)
    if denied or names & set(_DENIED):
        return InputError(messages.STORAGE_PERMISSION.format(url=url, detail=detail))
    if isinstance(exc, IsADirectoryError):
        return InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    if names & set(_UNREACHABLE):
        return OperationalError(messages.STORAGE_UNREACHABLE.format(url=url, detail=detail))
    missing = any(isinstance(e, FileNotFoundError) for e in chain) or "ResourceNotFoundError" in names
    if missing and not writing:
        return InputError(messages.STORAGE_NOT_FOUND.format(url=url))
    if missing and _scheme(url) not in ("", "file"):  # writing: the bucket is missing
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        return InputError(messages.STORAGE_NO_BUCKET.format(url=url, bucket=bucket))
    if missing or isinstance(exc, (NotADirectoryError, FileExistsError)):  # e.g. a parent "directory" is a file
        return InputError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=detail))
    if writing:
        return OperationalError(messages.STORAGE_WRITE_FAILED.format(url=url, detail=detail))
    return OperationalError(messages.STORAGE_READ_FAILED.format(url=url, detail=detail))


_CREDENTIAL_HINTS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (or STORAGE_EMULATOR_HOST)",
    "abfs": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY "
    "or AZURE_STORAGE_SAS_TOKEN",
}


def _no_credentials(url: str, detail: str) -> InputError:
    hint = _CREDENTIAL_HINTS.get(SCHEMES.get(_scheme(url), ""), "the backend's standard environment variables")
    return InputError(messages.STORAGE_NO_CREDENTIALS.format(url=url, detail=detail, hint=hint))


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (azure: status_code, gcsfs: code), if any."""
    for attr in ("status_code", "code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _short(exc: BaseException) -> str:
    """The first line of an exception, whitespace collapsed: SDK errors are multi-line dumps."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    first = " ".join(first.split()) or type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


class _NoTracebacks(logging.Filter):
    """Drop backend log records that carry a traceback (gcsfs logs one at ERROR when it
    gives up retrying): skctl reports the same failure as one line. Kept at -v debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.exc_info or logging.getLogger().isEnabledFor(logging.DEBUG)


_FILTER = _NoTracebacks()


def _quiet_backend_tracebacks() -> None:
    for name in ("gcsfs", "s3fs", "adlfs", "azure", "aiobotocore", "botocore", "fsspec"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
