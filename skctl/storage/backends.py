"""URL → an fsspec filesystem for the backend, with skctl's own options applied.

`retries` and `block_size` are skctl options for every backend (SKCTL_OPTIONS); every other
option goes to the backend's constructor. Retries are set through each library's own
knobs: botocore's retry config and s3fs's `retries`; the Azure SDK's `retry_total` on the
service client adlfs uses; gcsfs, which has no option for it, gets its request method
re-wrapped with gcsfs's own `retry_request` (the one place skctl reaches into a backend).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.timeparse import MAX_DURATION, MIN_DURATION, in_duration_range
from skctl.storage.errors import map_error, no_credentials, short
from skctl.storage.stall import DEFAULT_STALL_TIMEOUT
from skctl.storage.urls import BACKEND_PACKAGE, local_path, protocol_of, scheme_of, split_remote

log = logging.getLogger("skctl.storage")

# Options skctl understands itself, for every backend (the rest go to the fsspec backend).
#   retries     how many times to retry a failed request (each backend's default otherwise)
#   block_size  upload part / read block size in bytes
#   stall_timeout  seconds an upload connection may take no data before it is dropped (skctl.storage.stall)
SKCTL_OPTIONS = ("retries", "block_size", "stall_timeout")
# More retries than this is a command that never ends against an unreachable service (each
# attempt waits up to a backoff of 15-32 s); 99999999999999999999 is a typo, not a wish.
MAX_RETRIES = 100
USER_AGENT = "skctl"


@dataclass
class Target:
    """A resolved URL: the fsspec filesystem (None for local files) and the path in it."""

    fs: Any
    path: str
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    stall_timeout: float = DEFAULT_STALL_TIMEOUT


def open_target(url: str, options: dict[str, Any] | None) -> Target:
    """The filesystem and path for `url`; bad URLs and options are InputErrors."""
    protocol = protocol_of(url)
    opts = dict(options or {})
    retries = _int_option(opts.pop("retries", None), "retries", url, maximum=MAX_RETRIES)
    block_size = _int_option(opts.pop("block_size", None), "block_size", url, minimum=1)
    stall_timeout = _seconds_option(opts.pop("stall_timeout", None), "stall_timeout", url)
    open_kwargs = {"block_size": block_size} if block_size else {}
    for name, value in opts.items():  # config_kwargs, client_kwargs, s3_additional_kwargs, ...
        if name.endswith("kwargs") and not isinstance(value, dict):
            detail = f"{name} must be a JSON object, e.g. {name}='{{\"key\": \"value\"}}'"
            raise InputError(messages.STORAGE_BAD_OPTIONS.format(url=url, detail=detail))
    if protocol == "file":
        path = local_path(url)
        if not path:
            raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail="empty path"))
        return Target(None, path, stall_timeout=stall_timeout)
    bucket, key = split_remote(url, protocol)
    path = f"{bucket}/{key}" if bucket else key
    try:
        if protocol == "s3":
            fs = _s3(opts, retries)
        elif protocol == "gcs":
            fs = _gcs(opts, retries, url)
        elif protocol == "abfs":
            fs = _azure(opts, retries, url)
        else:
            import fsspec

            fs = fsspec.filesystem(protocol, **opts)
    except ImportError as exc:
        scheme = scheme_of(url)
        raise InputError(
            messages.STORAGE_MISSING_BACKEND.format(scheme=scheme, package=BACKEND_PACKAGE.get(protocol, protocol))
        ) from exc
    except (InputError, OperationalError):
        raise
    except TypeError as exc:  # an option the backend does not take
        raise InputError(messages.STORAGE_BAD_OPTIONS.format(url=url, detail=short(exc))) from exc
    except Exception as exc:  # noqa: BLE001 - every backend raises its own kinds; map them once
        raise map_error(exc, url, writing=False) from exc
    _quiet_backend_tracebacks()
    return Target(fs, path, open_kwargs, stall_timeout)


PROBE_TIMEOUT = 30.0  # seconds the destination check waits for its answer, retries included


class ProbeTimeout(ConnectionError):
    """The destination check got no answer within PROBE_TIMEOUT. Not a TimeoutError:
    fsspec's sync() would replace that with a bare FSTimeoutError, losing the message."""


def probe_bucket(target: Target) -> None:
    """Ask the service whether the bucket or container of `target` exists (one cheap request:
    S3 HeadBucket, GCS buckets.get, Azure Get Container Properties). A missing one raises
    the backend's not-found error; every other failure of the request propagates as raised,
    for the caller to map (skctl.storage.check_destination). The whole check, the backend's
    retries included, is bounded by PROBE_TIMEOUT: a service that accepts the connection and
    never answers would otherwise hold it for the read timeout times every retry (botocore
    60 s x 50 attempts by default), before any work has started. Running out is a
    ProbeTimeout (an unreachable service)."""
    import asyncio

    from fsspec.asyn import sync

    fs = target.fs
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    bucket = target.path.split("/", 1)[0]

    async def ask() -> None:
        if "s3" in protocols:
            await fs._call_s3("head_bucket", Bucket=bucket)
        elif "gcs" in protocols or "gs" in protocols:
            await fs._call("GET", "b/{}", bucket, json_out=True)
        elif "abfs" in protocols or "az" in protocols:
            async with fs.service_client.get_container_client(bucket) as container:
                await container.get_container_properties()

    async def bounded() -> None:
        try:
            await asyncio.wait_for(ask(), PROBE_TIMEOUT)
        except asyncio.TimeoutError:
            raise ProbeTimeout(f"no answer to the bucket check within {PROBE_TIMEOUT:g}s") from None

    sync(fs.loop, bounded)


def _int_option(value: Any, name: str, url: str, minimum: int = 0, maximum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or maximum is not None and value > maximum:
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise InputError(
            messages.STORAGE_BAD_OPTIONS.format(url=url, detail=f"{name} must be an integer {bound}, not {value!r}")
        )
    return value


def _seconds_option(value: Any, name: str, url: str) -> float:
    if value is None:
        return DEFAULT_STALL_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not in_duration_range(value):
        raise InputError(messages.STORAGE_BAD_OPTIONS.format(
            url=url, detail=f"{name} must be a number of seconds from {MIN_DURATION:g} to {MAX_DURATION:.0f}, not {value!r}"))
    return float(value)


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


GCS_CONNECT_TIMEOUT = 30.0  # seconds to connect to the GCS endpoint
GCS_ANSWER_TIMEOUT = 60.0  # seconds a GCS request may wait for a byte of its answer (per try)


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
            raise no_credentials(url, f"GOOGLE_APPLICATION_CREDENTIALS names {creds}, which does not exist")
        if "token" not in opts and creds:
            _check_key_file(creds, url)
    if "requests_timeout" not in opts:
        # gcsfs sets no timeout on its requests by default: a request the service never
        # answers would wait for ever (the stall watchdog sees a fully sent request).
        import aiohttp

        opts["requests_timeout"] = aiohttp.ClientTimeout(sock_connect=GCS_CONNECT_TIMEOUT,
                                                         sock_read=GCS_ANSWER_TIMEOUT)
    return _gcs_class(base, retries)(skip_instance_cache=True, **opts)


def _check_key_file(path: str, url: str) -> None:
    """A credentials file google-auth cannot read makes gcsfs fall back to anonymous access
    silently; refuse it instead, saying why."""
    import json

    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise no_credentials(url, f"GOOGLE_APPLICATION_CREDENTIALS file {path} is not readable JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise no_credentials(url, f"GOOGLE_APPLICATION_CREDENTIALS file {path} is not a credentials file (no 'type')")


def _gcs_class(base: type, retries: int | None) -> type:
    """gcsfs fixes its retry count (6, with up to 32 s backoff) when the class is defined;
    to honour `retries`, re-wrap its one request method in a subclass."""
    if retries is None:
        return base
    key = (base, retries)
    if key not in _GCS_CLASSES:
        from gcsfs.retry import retry_request

        request = getattr(getattr(base, "_request", None), "__wrapped__", None)
        if request is None:  # a gcsfs we don't know: keep its own retries
            log.debug("gcsfs has no wrapped _request; ignoring retries=%s", retries)
            return base
        _GCS_CLASSES[key] = type(
            f"Skctl{base.__name__}", (base,), {"_request": retry_request(retries=retries + 1)(request)}
        )
    return _GCS_CLASSES[key]


_AZURE_ACCOUNT_OPTIONS = ("account_name", "account_key", "sas_token", "credential", "anon", "account_host", "client_id")


def _azure(opts: dict[str, Any], retries: int | None, url: str) -> Any:
    """adlfs. It reads AZURE_STORAGE_CONNECTION_STRING, _ACCOUNT_NAME, _ACCOUNT_KEY, _SAS_TOKEN
    (and service-principal variables) itself, preferring a connection string."""
    import adlfs

    try:
        fs = adlfs.AzureBlobFileSystem(skip_instance_cache=True, **opts)
    except ValueError as exc:  # adlfs: neither a connection string nor an account name
        raise no_credentials(url, "no storage account configured") from exc
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
            account_url=old.url, credential=old.credential, retry_total=retries, user_agent=USER_AGENT
        )
    return fs


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
