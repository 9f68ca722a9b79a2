"""SimKube v2 msgpack traces: read and write, losslessly.

SimKube (Rust, rmp-serde) writes the same logical document as skctl, with two quirks:
`pod_lifecycles` keys are 2-element arrays `[GVK, "ns/name"]`, and each lifecycle is a
serde externally-tagged enum: `"Empty"`, `{"Running": start}` or `{"Finished": [start, end]}`.
skctl's model holds lifecycles as `{"start_ts", "end_ts"}` maps; the mapping is one-to-one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.signals import stoppable
from skctl.trace.codec import from_document
from skctl.trace.model import Trace, gc_paused

SIMKUBE_VERSION = 2


def looks_like_msgpack_map(data: bytes) -> bool:
    """A SimKube trace is a msgpack map: fixmap (0x80-0x8f), map16 (0xde) or map32 (0xdf)."""
    return bool(data) and (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF))


def decode(data: bytes, url: str = "<trace>") -> Trace:
    import msgpack

    try:
        with gc_paused():
            doc = _unpack(data)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        detail = "unexpected end of data" if isinstance(exc, msgpack.OutOfData) else (str(exc) or type(exc).__name__)
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=detail)) from exc
    try:
        with gc_paused():
            doc = _lists(doc)
    except RecursionError:
        raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail="it nests too deep")) from None
    if isinstance(doc, dict) and isinstance(doc.get("pod_lifecycles"), dict):
        try:
            doc["pod_lifecycles"] = {
                tuple(owner): {int(h): [_from_tagged(lc) for lc in lcs] for h, lcs in pods.items()}
                for owner, pods in doc["pod_lifecycles"].items()
            }
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise InputError(messages.TRACE_BAD_SHAPE.format(url=url, detail=f"pod_lifecycles: {exc}")) from exc
    return from_document(doc, url, "SimKube msgpack")


_READ_SIZE = 1 << 20


def _unpack(data: bytes) -> Any:
    """`msgpack.unpackb(data)` with the same limits and errors, fed through a file object
    READ_SIZE bytes at a time, in a worker that Ctrl-C abandons (skctl.base.signals.stoppable):
    the interrupt takes effect at the next read instead of after one compiled call over the
    whole trace (seconds per 100 MB), and without freeing the half-read document first."""
    return stoppable(lambda check: _unpack_checked(data, check))


def _unpack_checked(data: bytes, check: Callable[[], None]) -> Any:
    import msgpack

    view = memoryview(data)
    pos = 0

    def read(size: int) -> bytes:
        nonlocal pos
        check()
        chunk = bytes(view[pos : pos + size])
        pos += len(chunk)
        return chunk

    reader = type("_Reader", (), {"read": staticmethod(read)})()
    # max_buffer_size = len(data): the string, array and map limits unpackb derives from it
    unpacker = msgpack.Unpacker(reader, read_size=min(_READ_SIZE, len(view)), max_buffer_size=len(view),
                                raw=False, strict_map_key=False, use_list=False)
    doc = unpacker.unpack()
    if unpacker.tell() != len(view):
        raise msgpack.ExtraData(doc, b"")
    return doc


def encode(trace: Trace) -> bytes:
    import msgpack

    doc = trace.to_document()
    doc["version"] = SIMKUBE_VERSION
    doc["pod_lifecycles"] = {
        tuple(owner): {h: [_to_tagged(lc) for lc in lcs] for h, lcs in pods.items()}
        for owner, pods in trace.pod_lifecycles.items()
    }
    # msgpack.packb(doc, use_bin_type=True), event by event: the same bytes, and a Ctrl-C
    # takes effect between two events instead of after one call over the whole trace
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    packer.pack_map_header(len(doc))
    for key, value in doc.items():
        packer.pack(key)
        if key == "events" and isinstance(value, list):
            packer.pack_array_header(len(value))
            for event in value:
                packer.pack(event)
        else:
            packer.pack(value)
    packed: bytes = packer.bytes()
    return packed


def _lists(value: Any) -> Any:
    """Tuples back to lists (msgpack needs use_list=False to read array map keys), keys kept."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if type(value) is tuple:  # not msgpack's ExtType, a tuple too: the shape check reports it
        return [_lists(v) for v in value]
    return value


def _from_tagged(lifecycle: Any) -> dict[str, int | None]:
    if lifecycle == "Empty":
        return {"start_ts": None, "end_ts": None}
    if isinstance(lifecycle, dict) and len(lifecycle) == 1:
        (tag, value), = lifecycle.items()
        if tag == "Running":
            return {"start_ts": int(value), "end_ts": None}
        if tag == "Finished":
            start, end = value
            return {"start_ts": int(start), "end_ts": int(end)}
    raise ValueError(f"unknown lifecycle value {lifecycle!r}")


def _to_tagged(lifecycle: dict[str, int | None]) -> Any:
    start, end = lifecycle.get("start_ts"), lifecycle.get("end_ts")
    if start is None:
        return "Empty"
    if end is None:
        return {"Running": start}
    return {"Finished": [start, end]}
