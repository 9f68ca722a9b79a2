"""Long compiled calls cut into bounded steps, so that Ctrl-C takes effect at once.

Python runs a signal handler only between bytecodes: one `zlib.compress` of a 500 MB
trace body, or one `cbor2.dumps` of a million events, holds a Ctrl-C for many seconds
(issue 21: ~11 s during a big `export --from`). Here the same work is done in steps of
at most a few MiB, with Python code between them, and the output is byte for byte what
the one-shot call writes. Used by skctl.trace.codec (and any other trace writer).
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable
from typing import Any, Protocol

IN_STEP = 1 << 20  # input bytes given to one (de)compression call
OUT_STEP = 8 << 20  # output bytes one decompression call may produce

COMPRESSORS: dict[str, Callable[[], Any]] = {
    # the one-shot calls' settings: zlib.compress(data, 6), lzma.compress(data, preset=6)
    "zlib": lambda: zlib.compressobj(6),
    "lzma": lambda: lzma.LZMACompressor(preset=6),
}


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: Any, max_length: int = ..., /) -> bytes: ...


def compress(name: str, data: bytes | bytearray | memoryview, advance: Callable[[int], None] = lambda n: None) -> bytes:
    """`data` compressed with COMPRESSORS[name], IN_STEP bytes per call (each reported to
    `advance`); the same bytes as the one-shot zlib.compress/lzma.compress (deflate and xz
    do not depend on how their input is fed)."""
    compressor = COMPRESSORS[name]()
    view = memoryview(data)
    parts = []
    for i in range(0, len(view), IN_STEP):
        parts.append(compressor.compress(view[i : i + IN_STEP]))
        advance(len(view[i : i + IN_STEP]))
    parts.append(compressor.flush())
    return b"".join(parts)


def expand(decompressor: _Decompressor, payload: bytes, limit: int) -> tuple[bytearray, int]:
    """Decompress `payload` in steps, stopping at the end of the stream or once the output
    exceeds `limit` bytes. Returns the output (longer than `limit` when the stream expands
    further) and how many payload bytes follow the end of the stream, as the one-shot
    `decompress(payload, limit + 1)` with `unused_data` would tell."""
    view = memoryview(payload)
    out = bytearray()  # grows in place: no second copy of a body of hundreds of MB
    pos = 0
    while not decompressor.eof and len(out) <= limit:
        if getattr(decompressor, "needs_input", True) is False:  # lzma holds more output for b""
            data: Any = b""
        elif tail := getattr(decompressor, "unconsumed_tail", b""):  # zlib hands back what it held
            data = tail
        elif pos < len(view):
            data, pos = view[pos : pos + IN_STEP], pos + IN_STEP
        else:
            break
        out += decompressor.decompress(data, min(OUT_STEP, limit + 1 - len(out)))
    unused = len(decompressor.unused_data) + max(0, len(view) - pos) if decompressor.eof else 0
    return out, unused


class Writer:
    """A write-only file that collects what an encoder writes into one bytearray, and
    calls `check` (skctl.base.signals.interrupts_deferred's) on every write: cbor2 writes
    every few KiB, which makes its encoder stoppable. `advance` is told the bytes written."""

    def __init__(self, check: Callable[[], None], advance: Callable[[int], None] = lambda n: None) -> None:
        self.data = bytearray()
        self._check = check
        self._advance = advance

    def write(self, chunk: bytes) -> int:
        self._check()
        self.data += chunk
        self._advance(len(chunk))
        return len(chunk)

    def writable(self) -> bool:
        return True
