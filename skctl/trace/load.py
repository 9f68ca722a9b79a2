"""Format sniffing: one entry point that turns bytes (or a URL) into a Trace, whatever the encoding."""

from __future__ import annotations

import json
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Progress, no_progress
from skctl.base.text import byte_size
from skctl.trace import codec, default_compression, format3, limits, simkube
from skctl.trace.model import Trace


def sniff(data: bytes) -> str | None:
    """'cbor' (skctl), 'msgpack' (SimKube), 'json' (SimKube's JSON rendering) or None."""
    if codec.is_cbor_trace(data):
        return "cbor"
    if simkube.looks_like_msgpack_map(data):
        return "msgpack"
    if data.lstrip()[:1] == b"{":
        return "json"
    return None


def decode_any(data: bytes, url: str = "<trace>", progress: Progress = no_progress) -> tuple[Trace, str]:
    """Decode and say which format it was in. `progress` advances by events for version 3
    (chunk by chunk); the other formats are one document, decoded in one step."""
    if not data:
        raise InputError(messages.TRACE_EMPTY.format(url=url))
    fmt = sniff(data)
    if fmt == "cbor" and format3.is_v3(data[:16]):
        return format3.decode(data, url, progress), fmt
    version = format3.header_version(data[:16]) if fmt == "cbor" else None
    if version is not None and version > format3.VERSION:  # a later skctl's file format
        codec.check_version(version, url, "skctl")
    if fmt == "cbor":
        return codec.decode(data, url), fmt
    if fmt == "msgpack":
        return simkube.decode(data, url), fmt
    if fmt == "json":
        try:
            doc: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url)) from None
        except RecursionError:
            raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail="it nests too deep")) from None
        if isinstance(doc, dict) and isinstance(doc.get("pod_lifecycles"), dict):
            doc["pod_lifecycles"] = {_json_owner_key(k): v for k, v in doc["pod_lifecycles"].items()}
        return codec.from_document(doc, url, "JSON"), fmt
    raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url))


def encode_as(trace: Trace, fmt: str, compression: str | None = None, version: int = 2,
              progress: Progress = no_progress) -> bytes:
    """`trace` in `fmt` ("cbor" or "msgpack"); CBOR as file format `version` (2 or 3), with
    `compression` or that version's default. `progress` advances by events for version 3."""
    if fmt == "msgpack":
        return simkube.encode(trace)
    if version == format3.VERSION:
        return format3.encode(trace, compression or default_compression(version), progress)
    return codec.encode(trace, compression or default_compression(version))


def cbor_version(data: bytes) -> int | None:
    """The skctl CBOR file format version of `data` (2 or 3), None for other formats."""
    if not codec.is_cbor_trace(data):
        return None
    return format3.VERSION if format3.is_v3(data[:16]) else 2


def read_trace(url: str, storage_options: dict[str, Any] | None = None, progress: Progress = no_progress) -> Trace:
    """Fetch a trace by URL through the storage module and decode it."""
    return decode_any(read_trace_bytes(url, storage_options, progress), url)[0]


def read_trace_bytes(url: str, storage_options: dict[str, Any] | None = None, progress: Progress = no_progress) -> bytes:
    """The bytes of the trace at `url`, read only as far as they can still be a trace:
    at most skctl.trace.limits.max_input_bytes(), and not past a first chunk that no
    trace format starts with."""
    from skctl import storage

    limit = storage.Limit(limits.max_input_bytes(), too_large, check_head)
    return storage.read_bytes(url, storage_options, progress, limit)


def too_large(url: str, max_bytes: int) -> InputError:
    if limits.explicit():
        return InputError(messages.TRACE_TOO_LARGE_SET.format(url=url, limit=byte_size(max_bytes)))
    return InputError(messages.TRACE_TOO_LARGE.format(url=url, limit=byte_size(max_bytes)))


def check_head(head: bytes, url: str) -> None:
    """Raise unless `head` (the first bytes of a file) can begin a trace in some format."""
    if not plausible_head(head):
        raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url))


def plausible_head(head: bytes) -> bool:
    """Whether a file starting with `head` may be a trace; True when `head` is too short to tell."""
    if not head:
        return True
    if len(head) < len(codec.SELF_DESCRIBE) and codec.SELF_DESCRIBE.startswith(head):
        return True
    fmt = sniff(head)
    if fmt == "cbor":
        return True
    if fmt == "msgpack":
        # A SimKube trace is a map with string keys ("version" first): the byte after the
        # map header starts a string (fixstr, str8/16/32), unless the map is empty.
        key_at = 1 if head[0] <= 0x8F else (3 if head[0] == 0xDE else 5)
        if head[0] == 0x80 or len(head) <= key_at:
            return True
        return 0xA0 <= head[key_at] <= 0xBF or head[key_at] in (0xD9, 0xDA, 0xDB)
    if fmt == "json":
        rest = head.lstrip()[1:].lstrip()
        return not rest or rest[:1] in (b'"', b"}")
    return not head.strip()  # only whitespace so far: JSON may follow


def _json_owner_key(key: str) -> tuple[str, str] | str:
    """A JSON lifecycle key ('["apps/v1.Deployment", "ns/name"]' or 'gvk|ns/name') as the
    (GVK, owner) pair; anything else stays the string it was, which the shape check
    refuses (a pair of lists or maps would not even be a valid map key)."""
    try:
        gvk, owner = json.loads(key)
    except (ValueError, TypeError, RecursionError):
        gvk, _, owner = key.partition("|")
    if isinstance(gvk, str) and isinstance(owner, str):
        return gvk, owner
    return key
