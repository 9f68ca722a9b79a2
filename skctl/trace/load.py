"""Format sniffing: one entry point that turns bytes (or a URL) into a Trace, whatever the encoding."""

from __future__ import annotations

import json
from typing import Any

from skctl import messages
from skctl.errors import InputError
from skctl.progress import Progress, no_progress
from skctl.trace import DEFAULT_COMPRESSION, codec, simkube
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


def decode_any(data: bytes, url: str = "<trace>") -> tuple[Trace, str]:
    """Decode and say which format it was in."""
    if not data:
        raise InputError(messages.TRACE_EMPTY.format(url=url))
    fmt = sniff(data)
    if fmt == "cbor":
        return codec.decode(data, url), fmt
    if fmt == "msgpack":
        return simkube.decode(data, url), fmt
    if fmt == "json":
        try:
            doc: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url)) from None
        if isinstance(doc, dict) and isinstance(doc.get("pod_lifecycles"), dict):
            doc["pod_lifecycles"] = {_json_owner_key(k): v for k, v in doc["pod_lifecycles"].items()}
        return codec.from_document(doc, url, "JSON"), fmt
    raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url))


def encode_as(trace: Trace, fmt: str, compression: str = DEFAULT_COMPRESSION) -> bytes:
    if fmt == "msgpack":
        return simkube.encode(trace)
    return codec.encode(trace, compression)


def read_trace(url: str, storage_options: dict[str, Any] | None = None, progress: Progress = no_progress) -> Trace:
    """Fetch a trace by URL through the storage module and decode it."""
    from skctl import storage

    return decode_any(storage.read_bytes(url, storage_options, progress), url)[0]


def _json_owner_key(key: str) -> tuple[str, str]:
    try:
        gvk, owner = json.loads(key)
        return gvk, owner
    except (ValueError, TypeError):
        gvk, _, owner = key.partition("|")
        return gvk, owner
