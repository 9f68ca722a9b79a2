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

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Progress, no_progress
from skctl.base.signals import interrupts_deferred, interrupts_kept, stoppable
from skctl.base.text import byte_size
from skctl.trace import COMPRESSIONS, DEFAULT_COMPRESSION, limits, shape, steps
from skctl.trace.model import SUPPORTED_VERSIONS, Trace, gc_paused

SELF_DESCRIBE = b"\xd9\xd9\xf7"  # tag 55799

def encode(trace: Trace, compression: str = DEFAULT_COMPRESSION, progress: Progress = no_progress) -> bytes:
    """Serialise a trace; `compression` is one of COMPRESSIONS. `progress` is told the bytes
    encoded (total unknown), then the bytes compressed."""
    import cbor2

    if compression != "none" and compression not in steps.COMPRESSORS:
        raise InputError(messages.TRACE_BAD_COMPRESSION_CHOICE.format(name=compression, choices=", ".join(COMPRESSIONS)))
    document = trace.to_document()
    # Ctrl-C stops the encoder at its next write (skctl.base.signals.interrupts_deferred), instead
    # of being swallowed by cbor2 or waiting for the whole document
    with progress("encoding", None) as advance, interrupts_kept(), interrupts_deferred() as check:
        writer = steps.Writer(check, advance)
        cbor2.dump(document, writer, string_referencing=True)  # type: ignore[arg-type]
    del document
    body = writer.data
    if compression == "none":
        return SELF_DESCRIBE + body
    with progress("compressing", len(body)) as advance:
        payload = steps.compress(compression, body, advance)
    envelope = {"version": trace.version, "compression": compression, "payload": payload}
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


def _decompress(name: str, payload: Any, url: str) -> bytearray:
    """Expand the version-2 envelope's payload (see `expand`)."""
    if not isinstance(payload, bytes):
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"the {name} payload is not a byte string"))
    return expand(_DECOMPRESSORS[name](), name, payload, url)


def expand(decompressor: Any, name: str, payload: bytes, url: str, what: str = "") -> bytearray:
    """Expand one compressed stream (a version-2 payload, a version-3 chunk or tail: `what`
    names it in messages), at most to the limit (skctl.trace.limits): a crafted stream can
    expand thousands of times, and exactly one complete stream is allowed."""
    prefix = f"{what}: " if what else ""
    limit = limits.max_decompressed_bytes(len(payload))
    try:
        body, unused = steps.expand(decompressor, payload, limit)  # in steps: Ctrl-C is not held up
    except (zlib.error, lzma.LZMAError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"{prefix}{name}: {exc}")) from exc
    if len(body) > limit:
        template = messages.TRACE_BOMB_SET if limits.explicit() else messages.TRACE_BOMB
        raise InputError(template.format(url=url, size=len(payload), limit=byte_size(limit)))
    if not decompressor.eof:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"{prefix}the {name} stream is truncated"))
    if unused:
        detail = f"{prefix}{unused} bytes of trailing data after the {name} stream"
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=detail))
    return body


def _loads(data: bytes | bytearray, url: str) -> Any:
    """One CBOR document, with nothing after it (cbor2.loads would ignore trailing bytes)."""
    import cbor2

    # cbor2 decodes the content of tag 55799 as an immutable value; we checked the tag, so
    # decode what follows it.
    start = len(SELF_DESCRIBE) if data.startswith(SELF_DESCRIBE) else 0
    view = memoryview(data)[start:]
    try:
        # in a worker that Ctrl-C abandons (skctl.base.signals.stoppable): raised inside cbor2's
        # read, the interrupt came out as a decode error, and a valid trace looked corrupt
        with gc_paused():
            doc, trailing = stoppable(lambda check: _decode_one(view, check))
    except cbor2.CBORDecodeEOF as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail="unexpected end of data")) from exc
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=str(exc) or type(exc).__name__)) from exc
    if trailing:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail="trailing data after the CBOR document"))
    return doc


def _decode_one(view: memoryview, check: Callable[[], None]) -> tuple[Any, bool]:
    """The document in `view`, and whether anything follows it; `check` on every read."""
    import cbor2

    decoder = cbor2.CBORDecoder(_Reader(view, check), read_size=_READ_SIZE)  # type: ignore[arg-type]
    return decoder.decode(), _trailing(decoder)

loads_one = _loads  # for version 3 (skctl.trace.format3), which reads many documents

_READ_SIZE = 1 << 20


class _Reader:
    """A read-only file over a buffer, without io.BytesIO's copy of a possibly huge body."""

    def __init__(self, view: memoryview, check: Callable[[], None] = lambda: None) -> None:
        self._view = view
        self._pos = 0
        self._check = check

    def read(self, size: int = -1) -> bytes:
        self._check()
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
