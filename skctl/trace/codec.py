"""skctl's CBOR trace encoding (docs/trace-format.md).

Every file starts with the self-describe tag 55799 so its type can be sniffed. The
document is encoded with CBOR string references (tag 256/25), which removes most of the
repetition of keys, names and images, and by default the result is zlib-compressed
inside a small envelope that repeats the version, so an unknown version is reported
before any decompression. Readers accept every variant the writer can produce.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable
from typing import Any

from skctl import messages
from skctl.errors import InputError
from skctl.trace import COMPRESSIONS, DEFAULT_COMPRESSION, shape
from skctl.trace.model import SUPPORTED_VERSIONS, Trace, gc_paused

SELF_DESCRIBE = b"\xd9\xd9\xf7"  # tag 55799

_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda data: zlib.compress(data, 6),
    "lzma": lambda data: lzma.compress(data, preset=6),
}
_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {"zlib": zlib.decompress, "lzma": lzma.decompress}


def encode(trace: Trace, compression: str = DEFAULT_COMPRESSION) -> bytes:
    """Serialise a trace; `compression` is one of COMPRESSIONS."""
    import cbor2

    body = cbor2.dumps(trace.to_document(), string_referencing=True)
    if compression == "none":
        return SELF_DESCRIBE + body
    if compression not in _COMPRESS:
        raise InputError(messages.TRACE_BAD_COMPRESSION_CHOICE.format(name=compression, choices=", ".join(COMPRESSIONS)))
    envelope = {"version": trace.version, "compression": compression, "payload": _COMPRESS[compression](body)}
    return SELF_DESCRIBE + cbor2.dumps(envelope)


def is_cbor_trace(data: bytes) -> bool:
    return data.startswith(SELF_DESCRIBE)


def decode(data: bytes, url: str = "<trace>") -> Trace:
    """Decode any variant `encode` writes; every failure is an InputError naming `url`."""
    top = _loads(data, url)
    if isinstance(top, dict) and "compression" in top and "payload" in top:
        check_version(top.get("version"), url, "skctl")
        name = top["compression"]
        if not isinstance(name, str) or name not in _DECOMPRESS:
            raise InputError(messages.TRACE_UNKNOWN_COMPRESSION.format(url=url, name=name))
        try:
            body = _DECOMPRESS[name](top["payload"])
        except (zlib.error, lzma.LZMAError, TypeError) as exc:
            raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"{name}: {exc}")) from exc
        top = _loads(body, url)
    return from_document(top, url, "skctl")


def _loads(data: bytes, url: str) -> Any:
    import cbor2

    # cbor2 decodes the content of tag 55799 as an immutable value; we checked the tag, so
    # decode what follows it.
    if data.startswith(SELF_DESCRIBE):
        data = data[len(SELF_DESCRIBE):]
    try:
        with gc_paused():
            return cbor2.loads(data)
    except cbor2.CBORDecodeEOF as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail="unexpected end of data")) from exc
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=str(exc) or type(exc).__name__)) from exc


def check_version(version: Any, url: str, kind: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            messages.TRACE_UNKNOWN_VERSION.format(
                url=url, kind=kind, version=version, supported=", ".join(map(str, SUPPORTED_VERSIONS))
            )
        )


_REQUIRED = {"config": dict, "events": list, "index": dict, "pod_lifecycles": dict}


def from_document(doc: Any, url: str, kind: str) -> Trace:
    """Validate the logical document's shape and build a Trace (shared by all encodings)."""
    if not isinstance(doc, dict):
        raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail="top level is not a map"))
    check_version(doc.get("version"), url, kind)
    for key, typ in _REQUIRED.items():
        if not isinstance(doc.get(key), typ):
            raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail=f"'{key}' is missing or not a {typ.__name__}"))
    doc["pod_lifecycles"] = _lifecycle_keys(doc["pod_lifecycles"])
    issue = shape.problem(doc)
    if issue:
        raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail=issue))
    extra = {k: v for k, v in doc.items() if k not in _REQUIRED and k != "version"}
    return Trace(
        config=doc["config"],
        events=doc["events"],
        index=doc["index"],
        pod_lifecycles=doc["pod_lifecycles"],
        version=doc["version"],
        extra=extra,
    )


def _lifecycle_keys(lifecycles: dict[Any, Any]) -> dict[Any, Any]:
    # cbor2 decodes array map keys as tuples already; lists can only come from JSON-ish input.
    return {tuple(k) if isinstance(k, list) else k: v for k, v in lifecycles.items()}
