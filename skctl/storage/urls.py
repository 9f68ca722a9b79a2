"""URLs → what to open: the supported schemes, local paths, bucket/key splits, and the
`--storage-option key=value` pairs. Pure string work: nothing here touches a backend."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError

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
BACKEND_PACKAGE = {"s3": "s3fs", "gcs": "gcsfs", "abfs": "adlfs"}
# The object stores: what a tracer can write an export to itself (`--tracer-writes`,
# SimKube's cloud export_path). file:// is the caller's disk, memory:// one process's.
CLOUD_PROTOCOLS = ("s3", "gcs", "abfs")


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
        except RecursionError:
            raise InputError(messages.STORAGE_OPTION_TOO_DEEP.format(key=key.strip()[:100])) from None
    return options


def scheme_of(url: str) -> str:
    """The lower-cased scheme of a URL; '' for a bare path."""
    if "://" not in url:
        return ""
    return url.split("://", 1)[0].lower()


def protocol_of(url: str) -> str:
    """The fsspec protocol for a URL, or an InputError for anything we don't support."""
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        raise InputError(messages.STORAGE_UNKNOWN_SCHEME.format(scheme=scheme, url=url))
    return SCHEMES[scheme]


def is_local(url: str) -> bool:
    """True for bare paths and file:// URLs (the only ones a driver pod can mount)."""
    return protocol_of(url) == "file"


def is_cloud_url(url: str | None) -> bool:
    """True for an object-store URL (s3://, gs://, az:// and their aliases); False for a
    path, file://, memory://, an unknown scheme or no URL at all."""
    if not url:
        return False
    try:
        return protocol_of(url) in CLOUD_PROTOCOLS
    except InputError:
        return False


def local_path(url: str) -> str:
    """The filesystem path of a bare path or file:// URL (file://localhost/x is allowed)."""
    if scheme_of(url) == "":
        return url
    rest = url.split("://", 1)[1]
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost"):
        raise InputError(
            messages.STORAGE_BAD_URL.format(url=url, detail="file:// URLs take an absolute path, e.g. file:///data/trace")
        )
    return slash + path


_AZURE_CONTAINER_RE = re.compile(r"(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]")


def split_remote(url: str, protocol: str) -> tuple[str, str]:
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
    if protocol == "abfs" and "@" not in bucket and not _AZURE_CONTAINER_RE.fullmatch(bucket) and bucket != "$root":
        # the service would answer 400 after a round trip (exit 1); S3's and GCS's SDKs
        # refuse a bad bucket name before sending, so all three are bad input alike
        raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail=(
            f"'{bucket}' is not an Azure container name (3-63 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit)")))
    return bucket, key


def check_url(url: str) -> str:
    """Validate a whole trace URL the way every reader and writer will use it, and return
    its fsspec protocol: one check for all commands (scheme, file:// host, bucket and
    object name), so a URL one command accepts is never refused by the next."""
    protocol = protocol_of(url)
    if protocol == "file":
        if not local_path(url):
            raise InputError(messages.STORAGE_BAD_URL.format(url=url, detail="empty path"))
    else:
        split_remote(url, protocol)
    return protocol
