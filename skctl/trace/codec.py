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
from skctl.signals import interrupts_kept
from skctl.trace import COMPRESSIONS, DEFAULT_COMPRESSION, limits, shape
from skctl.trace.model import SUPPORTED_VERSIONS, Trace, gc_paused

SELF_DESCRIBE = b"\xd9\xd9\xf7"  # tag 55799

_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda data: zlib.compress(data, 6),
    "lzma": lambda data: lzma.compress(data, preset=6),
}

def encode(trace: Trace, compression: str = DEFAULT_COMPRESSION) -> bytes:
    """Serialise a trace; `compression` is one of COMPRESSIONS."""
    import cbor2

    with interrupts_kept():  # cbor2 swallows a Ctrl-C that lands in its isinstance checks
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
        if not isinstance(name, str) or name not in _DECOMPRESSORS:
            raise InputError(messages.TRACE_UNKNOWN_COMPRESSION.format(url=url, name=name))
        body = _decompress(name, top["payload"], url)
        top = _loads(body, url)
    return from_document(top, url, "skctl")


_DECOMPRESSORS: dict[str, Callable[[], Any]] = {"zlib": zlib.decompressobj, "lzma": lzma.LZMADecompressor}


def _decompress(name: str, payload: Any, url: str) -> bytes:
    """Expand a compressed payload, at most to the limit (skctl.trace.limits): a crafted
    stream can expand thousands of times, and exactly one complete stream is allowed."""
    if not isinstance(payload, bytes):
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"the {name} payload is not a byte string"))
    limit = limits.max_decompressed_bytes(len(payload))
    decompressor = _DECOMPRESSORS[name]()
    try:
        body: bytes = decompressor.decompress(payload, limit + 1)
    except (zlib.error, lzma.LZMAError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"{name}: {exc}")) from exc
    if len(body) > limit:
        template = messages.TRACE_BOMB_SET if limits.explicit() else messages.TRACE_BOMB
        raise InputError(template.format(url=url, size=len(payload), limit=limits.human(limit)))
    if not decompressor.eof:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"the {name} stream is truncated"))
    if decompressor.unused_data:
        detail = f"{len(decompressor.unused_data)} bytes of trailing data after the {name} stream"
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=detail))
    return body


def _loads(data: bytes, url: str) -> Any:
    """One CBOR document, with nothing after it (cbor2.loads would ignore trailing bytes)."""
    import cbor2

    # cbor2 decodes the content of tag 55799 as an immutable value; we checked the tag, so
    # decode what follows it.
    start = len(SELF_DESCRIBE) if data.startswith(SELF_DESCRIBE) else 0
    stream = _Reader(memoryview(data)[start:])
    try:
        with gc_paused(), interrupts_kept():
            decoder = cbor2.CBORDecoder(stream, read_size=_READ_SIZE)  # type: ignore[arg-type]
            doc = decoder.decode()
            trailing = _trailing(decoder)
    except cbor2.CBORDecodeEOF as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail="unexpected end of data")) from exc
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=str(exc) or type(exc).__name__)) from exc
    if trailing:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail="trailing data after the CBOR document"))
    return doc


loads_one = _loads  # for version 3 (skctl.trace.format3), which reads many documents

_READ_SIZE = 1 << 20


class _Reader:
    """A read-only file over a buffer, without io.BytesIO's copy of a possibly huge body."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = end
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._view))[whence]
        self._pos = max(0, min(len(self._view), base + offset))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # tells cbor2 to read in _READ_SIZE blocks, not byte by byte


def _trailing(decoder: Any) -> bool:
    """Whether anything follows the document the decoder just read."""
    import cbor2

    try:
        decoder.read(1)
    except cbor2.CBORDecodeEOF:
        return False
    return True


def check_version(version: Any, url: str, kind: str) -> None:
    """The version must be one of ours, and an integer: 2.0, "2" and true are not version 2."""
    if type(version) is not int:
        raise InputError(
            messages.TRACE_BAD_VERSION.format(
                url=url, version=version, kind=type(version).__name__, supported=", ".join(map(str, SUPPORTED_VERSIONS))
            )
        )
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
    if not doc.keys() & {"version", *_REQUIRED}:  # {} or an unrelated map: not a broken trace, no trace at all
        raise InputError(messages.TRACE_NOT_A_TRACE.format(url=url))
    check_version(doc.get("version"), url, kind)
    for key, typ in _REQUIRED.items():
        if not isinstance(doc.get(key), typ):
            raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail=f"'{key}' is missing or not a {typ.__name__}"))
    doc["pod_lifecycles"] = _lifecycle_keys(doc["pod_lifecycles"])
    issue = shape.problem(doc, check_strings=kind == "JSON")
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
