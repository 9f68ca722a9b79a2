"""Trace format version 3: a header, independently compressed chunks of events, the other
sections, and a time index at the end (docs/trace-format.md, "Version 3").

Why chunks: a week of a big cluster is tens of millions of events. Version 2 is one CBOR
document, so reading any of it means decoding all of it. Here every chunk of up to
CHUNK_EVENTS events is its own string-referenced CBOR array, compressed alone, and a small
index at the end says where each chunk lies and which times it covers: a window decodes only
the chunks it overlaps, copies whole chunks it keeps as they are, and a writer emits chunks as
it goes, never holding more than one.

Layout (every part is a CBOR data item, so the file is a CBOR sequence, RFC 8742):

    d9 d9 f7                                  self-describe tag, as in version 2
    {"version": 3, "compression": NAME}      header, "version" first
    bstr ...                                  one per chunk: compressed 256([event, ...])
    bstr                                      the tail: compressed 256([[event, ...], {section: value}])
    {"events": N, "chunks": [[first_ts, last_ts, offset, length, count], ...],
     "sections": [offset, length]}            the index (offset/length of each bstr's content)
    44 'SKT3' 1b <u64 big-endian>             footer: the index's offset (fixed 14 bytes)

Sections are every top-level key other than `version` and `events` (config, index,
pod_lifecycles, cluster, usage, ...), carried generically: a new section needs no change here.
They travel in the tail with the last chunk's events (possibly none), compressed together:
the sections name the objects the events hold, and a small trace is then one compressed
block, as small as version 2 made it. When the tail holds events, the last index entry
points at the tail (same offset and length as "sections").
"""

from __future__ import annotations

import gc
import lzma
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Progress, no_progress
from skctl.base.signals import interrupts_kept
from skctl.trace import codec, shape
from skctl.trace.codec import from_document, loads_one
from skctl.trace.model import FORMAT_VERSION as LOGICAL_VERSION
from skctl.trace.model import Trace, gc_paused

VERSION = 3
SELF_DESCRIBE = b"\xd9\xd9\xf7"
FOOTER_MAGIC = b"\x44SKT3"  # a 4-byte CBOR byte string, "SKT3"
FOOTER_SIZE = len(FOOTER_MAGIC) + 9  # + a CBOR uint64 (0x1b and 8 bytes)
CHUNK_EVENTS = 4096  # events per chunk: ~30 s of a busy cluster, a few MB of CBOR before compression
CHUNK_MENTIONS = 16384  # ...or fewer, when the events carry many objects
MAX_HEADER_BYTES = 4096
MAX_INDEX_BYTES = 64 * 1024**2  # 10M events are ~2,500 entries: a few tens of KB
DEFAULT_COMPRESSION = "lzma"  # raw LZMA2, preset 1: half zlib's size at zlib's speed (docs/performance.md)
COMPRESSIONS = ("lzma", "zlib", "none")

# Raw LZMA2 with a 1 MiB window. Blocks under SMALL_BLOCK bytes (a small trace is one block)
# are compressed with preset 6, which saves ~4 % there at a cost that stays small because the
# block is; bigger blocks with preset 1, as fast as zlib level 6 and half its size.
_LZMA_WINDOW = 1 << 20
SMALL_BLOCK = 1 << 20


def _compress(name: str, data: bytes) -> bytes:
    if name == "lzma":
        preset = 6 if len(data) < SMALL_BLOCK else 1
        filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": _LZMA_WINDOW}]
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
    if name == "zlib":
        return zlib.compress(data, 6)
    return data


def _decompressor(name: str) -> Any:
    if name == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": _LZMA_WINDOW}])
    return zlib.decompressobj()


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk's entry in the index: its times, where its bytes are, how many events."""

    first_ts: int
    last_ts: int
    offset: int
    length: int
    count: int

    def row(self) -> list[int]:
        return [self.first_ts, self.last_ts, self.offset, self.length, self.count]


def is_v3(head: bytes) -> bool:
    """Whether bytes starting a file (at least 13) are a version-3 header: map, "version", 3."""
    body = head[len(SELF_DESCRIBE):]
    return head.startswith(SELF_DESCRIBE) and len(body) >= 10 and 0xA1 <= body[0] <= 0xB7 and body[1:9] == b"gversion" \
        and body[9] == VERSION


def header_version(head: bytes) -> int | None:
    """The version a file's header names when it starts with a map whose first key is
    "version" and an unsigned integer below 24 (every skctl writer puts it there), else None."""
    body = head[len(SELF_DESCRIBE):]
    if head.startswith(SELF_DESCRIBE) and len(body) >= 10 and 0xA1 <= body[0] <= 0xB7 and body[1:9] == b"gversion" \
            and body[9] < 0x18:
        return body[9]
    return None


# --- sources: random access to the bytes of a file, an object or a buffer -------------------


class Source:
    """Random access to a trace's bytes: a buffer, or an open seekable file."""

    def __init__(self, data: bytes | None = None, stream: IO[bytes] | None = None, size: int | None = None) -> None:
        self._data = memoryview(data) if data is not None else None
        self._stream = stream
        self.size = len(data) if data is not None else int(size or 0)

    def read_at(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return bytes(self._data[offset : offset + length])
        assert self._stream is not None
        fileno = getattr(self._stream, "fileno", None)
        if fileno is not None:
            try:
                return _pread_all(fileno(), offset, length)
            except (OSError, ValueError, AttributeError):
                pass
        self._stream.seek(offset)
        parts, left = [], length
        while left > 0:
            part = self._stream.read(left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)


def _pread_all(fd: int, offset: int, length: int) -> bytes:
    parts, left = [], length
    while left > 0:
        part = os.pread(fd, left, offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        left -= len(part)
    return b"".join(parts)


# --- reading ---------------------------------------------------------------------------------


class Reader:
    """A version-3 trace opened for reading: header, footer and index are read and checked at
    once; sections and chunks are decoded when asked for, each bounded on its own."""

    def __init__(self, source: Source, url: str = "<trace>") -> None:
        self.source = source
        self.url = url
        head = source.read_at(0, MAX_HEADER_BYTES)
        header, self.header_end = _first_item(head, url, "header")
        if not isinstance(header, dict) or header.get("version") != VERSION:
            raise self._corrupt("the version-3 header is not a map with version 3")
        name = header.get("compression")
        if not isinstance(name, str):  # a version-2 document with version 3 in it, or damage
            raise self._corrupt("the version-3 header names no compression")
        if name not in COMPRESSIONS:
            raise InputError(messages.TRACE_UNKNOWN_COMPRESSION.format(url=url, name=name))
        self.compression = name
        if source.size < self.header_end + FOOTER_SIZE:
            raise self._corrupt("the file ends before its index (truncated)")
        footer = source.read_at(source.size - FOOTER_SIZE, FOOTER_SIZE)
        if not footer.startswith(FOOTER_MAGIC) or footer[len(FOOTER_MAGIC)] != 0x1B:
            raise self._corrupt("no version-3 footer at the end (truncated)")
        (index_at,) = struct.unpack(">Q", footer[len(FOOTER_MAGIC) + 1 :])
        index_end = source.size - FOOTER_SIZE
        if not self.header_end <= index_at < index_end or index_end - index_at > MAX_INDEX_BYTES:
            raise self._corrupt("the footer points outside the file")
        index = _loads(source.read_at(index_at, index_end - index_at), url, "index")
        self.chunks, self.events, self._sections_at = self._check_index(index, index_at)
        self._sections: dict[str, Any] | None = None
        self._config: Any = None
        self._tail_events: list[Any] | None = None

    def _corrupt(self, detail: str) -> InputError:
        return InputError(messages.TRACE_CORRUPT.format(url=self.url, detail=detail))

    def _check_index(self, index: Any, index_at: int) -> tuple[list[ChunkInfo], int, tuple[int, int]]:
        if not isinstance(index, dict) or not isinstance(index.get("chunks"), list):
            raise self._corrupt("the index is not a map with a chunk list")
        total, rows, sections = index.get("events"), index["chunks"], index.get("sections")
        chunks, end, last_ts, counted = [], self.header_end, shape.TS_MIN, 0
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 5 and all(type(v) is int for v in row)):
                raise self._corrupt(f"index entry {i} is not five integers")
            info = ChunkInfo(*row)
            if not (last_ts <= info.first_ts <= info.last_ts <= shape.TS_MAX):
                raise self._corrupt(f"index entry {i} has times out of order or out of range")
            if not (end < info.offset and info.length > 0 and info.offset + info.length <= index_at and info.count > 0):
                raise self._corrupt(f"index entry {i} points outside the file or overlaps another chunk")
            chunks.append(info)
            end, last_ts, counted = info.offset + info.length, info.last_ts, counted + info.count
        if not (isinstance(sections, list) and len(sections) == 2 and all(type(v) is int for v in sections)):
            raise self._corrupt("the index does not say where the sections are")
        at, length = sections
        self._tail_chunk = bool(chunks) and (at, length) == (chunks[-1].offset, chunks[-1].length)
        if not self._tail_chunk and not (end < at and length > 0 and at + length <= index_at):
            raise self._corrupt("the sections lie outside the file or overlap a chunk")
        if total != counted:
            raise self._corrupt(f"the index counts {total!r} events but its chunks hold {counted}")
        return chunks, counted, (at, length)

    def sections(self) -> dict[str, Any]:
        """Every top-level key but `version` and `events`, checked as version 2 checks them."""
        if self._sections is None:
            at, length = self._sections_at
            tail = self._payload(self.source.read_at(at, length), "the tail")
            if not (isinstance(tail, list) and len(tail) == 2 and isinstance(tail[0], list) and isinstance(tail[1], dict)):
                raise self._corrupt("the tail is not a list of events and a map of sections")
            events, doc = tail
            if bool(events) != self._tail_chunk:
                raise self._corrupt("the tail's events disagree with the index")
            self._tail_events = events
            trace = from_document({**doc, "version": LOGICAL_VERSION, "events": []}, self.url, "skctl")
            self._sections = {"config": trace.config, "index": trace.index,
                              "pod_lifecycles": trace.pod_lifecycles, **trace.extra}
        return self._sections

    def copyable(self, i: int) -> bool:
        """Whether chunk `i` is stored alone (not in the tail), so its bytes can be copied."""
        return not (self._tail_chunk and i == len(self.chunks) - 1)

    def raw_chunk(self, i: int) -> bytes:
        """Chunk `i`'s compressed bytes, as stored (for copying into another file)."""
        info = self.chunks[i]
        data = self.source.read_at(info.offset, info.length)
        if len(data) != info.length:
            raise self._corrupt(f"chunk {i} is cut short")
        return data

    def tracer_config(self) -> Any:
        """The trace's tracer config, parsed (the sections' check already refused a bad one)."""
        if self._config is None:
            from skctl.trace.tracked import parse_config

            self._config = parse_config(self.sections()["config"], "in the trace", strict=False)
        return self._config

    def chunk_events(self, i: int, deep: bool = True) -> list[dict[str, Any]]:
        """Chunk `i` decoded and checked: events in time order, within the index's times.

        `deep=False` checks only the structure the export window reads
        (shape.events_problem): for chunks it only folds into the state at its start."""
        info = self.chunks[i]
        if self.copyable(i):
            events = self._payload(self.raw_chunk(i), f"chunk {i}")
        else:
            self.sections()
            events, self._tail_events = self._tail_events, None
            if events is None:  # read twice: decode the tail again
                self._sections = None
                self.sections()
                events, self._tail_events = self._tail_events, None
        if not isinstance(events, list) or len(events) != info.count:
            raise self._corrupt(f"chunk {i} does not hold the {info.count} events the index says")
        issue = shape.events_problem(events, self.tracer_config(), deep)
        if issue:
            raise InputError(messages.TRACE_BAD_SHAPE.format(url=self.url, detail=f"chunk {i}: {issue}"))
        if events[0]["ts"] != info.first_ts or events[-1]["ts"] != info.last_ts:
            raise self._corrupt(f"chunk {i}'s events are not at the times the index says")
        # Trace data has no reference cycles (the shape check's pointer walk used to leave one
        # per object): a paused collector (model.gc_paused) keeps nothing. Collect the youngest
        # generation now and then anyway, so a cycle made by some later code cannot pile up
        # over a stream of ten million events: every 16th chunk, ~1/16 of the walking cost.
        if i % 16 == 15:
            gc.collect(0)
        return events

    def _payload(self, data: bytes, what: str) -> Any:
        if self.compression == "none":
            return _loads(data, self.url, what)
        return _loads(_expand(self.compression, data, self.url, what), self.url, what)

    def chunks_overlapping(self, start_ts: int | None, end_ts: int | None) -> list[int]:
        """The chunks that can hold events in [start_ts, end_ts) (None: unbounded)."""
        return [
            i for i, c in enumerate(self.chunks)
            if (start_ts is None or c.last_ts >= start_ts) and (end_ts is None or c.first_ts < end_ts)
        ]

    def iter_chunks(self, progress: Progress = no_progress, which: Iterable[int] | None = None,
                    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(chunk number, its events), in order; `progress` advances by events."""
        numbers = list(range(len(self.chunks)) if which is None else which)
        with progress(f"reading {self.url}", sum(self.chunks[i].count for i in numbers)) as advance:
            for i in numbers:
                events = self.chunk_events(i)
                yield i, events
                advance(len(events))

    def time_range(self) -> tuple[int, int] | None:
        return (self.chunks[0].first_ts, self.chunks[-1].last_ts) if self.chunks else None

    def read_all(self, progress: Progress = no_progress) -> Trace:
        """The whole trace in memory (what version 2 always does)."""
        events: list[dict[str, Any]] = []
        for _i, chunk in self.iter_chunks(progress):
            events.extend(chunk)
        sections = self.sections()
        return Trace(config=sections["config"], events=events, index=sections["index"],
                     pod_lifecycles=sections["pod_lifecycles"], version=LOGICAL_VERSION,
                     extra={k: v for k, v in sections.items() if k not in ("config", "index", "pod_lifecycles")})


def _expand(name: str, payload: bytes, url: str, what: str) -> bytearray:
    """Decompress one chunk or the tail, bounded and checked like a whole version-2 payload."""
    return codec.expand(_decompressor(name), name, payload, url, what)


def _loads(data: bytes | bytearray, url: str, what: str) -> Any:
    try:
        return loads_one(data, url)
    except InputError as exc:
        raise InputError(str(exc).replace(f"{url} is corrupt or truncated (", f"{url} is corrupt or truncated ({what}: ", 1)) from None


def _first_item(head: bytes, url: str, what: str) -> tuple[Any, int]:
    """The first CBOR item after the self-describe tag, and where it ends."""
    import io

    import cbor2

    stream = io.BytesIO(head[len(SELF_DESCRIBE):])
    try:
        with interrupts_kept():
            item = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InputError(messages.TRACE_CORRUPT.format(url=url, detail=f"{what}: {exc or type(exc).__name__}")) from exc
    return item, len(SELF_DESCRIBE) + stream.tell()


# --- writing ---------------------------------------------------------------------------------


def _bstr_head(length: int) -> bytes:
    if length < 24:
        return bytes([0x40 | length])
    for code, fmt, bound in ((24, ">B", 1 << 8), (25, ">H", 1 << 16), (26, ">I", 1 << 32), (27, ">Q", 1 << 64)):
        if length < bound:
            return bytes([0x40 | code]) + struct.pack(fmt, length)
    raise ValueError("a chunk of more than 2**64 bytes")  # pragma: no cover


class Writer:
    """Writes a version-3 trace piece by piece to `write` (a file's write, or a list's append):
    the header at once, each chunk as it is added, sections and index at `finish`."""

    def __init__(self, write: Callable[[bytes], Any], compression: str = DEFAULT_COMPRESSION) -> None:
        import cbor2

        if compression not in COMPRESSIONS:
            raise InputError(messages.TRACE_BAD_COMPRESSION_CHOICE.format(name=compression, choices=", ".join(COMPRESSIONS)))
        self._write = write
        self.compression = compression
        self.chunks: list[ChunkInfo] = []
        self.offset = 0
        self._pending: list[dict[str, Any]] = []  # events not yet written: the tail's, at the end
        self._put(SELF_DESCRIBE + cbor2.dumps({"version": VERSION, "compression": compression}))

    def _put(self, data: bytes) -> None:
        self._write(data)
        self.offset += len(data)

    def _put_bstr(self, payload: bytes) -> tuple[int, int]:
        self._put(_bstr_head(len(payload)))
        at = self.offset
        self._put(payload)
        return at, len(payload)

    def add_events(self, events: list[dict[str, Any]], flush: bool = False) -> None:
        """Encode `events` (in time order) as chunks; the last part waits for more events (or
        the tail) unless `flush`, which ends a chunk here."""
        self._pending.extend(events)
        parts = list(split_chunks(self._pending))
        self._pending = [] if flush or not parts else parts.pop()
        for part in parts:
            self._add(encode_chunk(part, self.compression), part)

    def _add(self, payload: bytes, part: list[dict[str, Any]]) -> None:
        self._put_chunk(payload, part[0]["ts"], part[-1]["ts"], len(part))

    def add_raw(self, payload: bytes, first_ts: int, last_ts: int, count: int) -> None:
        """A chunk already compressed with this writer's compression (copied from another file)."""
        self.add_events([], flush=True)
        self._put_chunk(payload, first_ts, last_ts, count)

    def _put_chunk(self, payload: bytes, first_ts: int, last_ts: int, count: int) -> None:
        at, length = self._put_bstr(payload)
        self.chunks.append(ChunkInfo(first_ts, last_ts, at, length, count))

    def finish(self, sections: dict[str, Any]) -> int:
        """Write the sections, the index and the footer; the file's size."""
        import cbor2

        tail, self._pending = self._pending, []
        with interrupts_kept():
            body = cbor2.dumps([tail, sections], string_referencing=True)
        at, length = self._put_bstr(_compress(self.compression, body))
        if tail:
            self.chunks.append(ChunkInfo(tail[0]["ts"], tail[-1]["ts"], at, length, len(tail)))
        index_at = self.offset
        self._put(cbor2.dumps({"events": sum(c.count for c in self.chunks), "chunks": [c.row() for c in self.chunks],
                               "sections": [at, length]}))
        self._put(FOOTER_MAGIC + b"\x1b" + struct.pack(">Q", index_at))
        return self.offset


def split_chunks(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive runs of at most CHUNK_EVENTS events and (but at least one event) CHUNK_MENTIONS objects."""
    start, mentions = 0, 0
    for i, event in enumerate(events):
        n = len(event.get("applied_objs") or ()) + len(event.get("deleted_objs") or ())
        if i > start and (i - start >= CHUNK_EVENTS or mentions + n > CHUNK_MENTIONS):
            yield events[start:i]
            start, mentions = i, 0
        mentions += n
    if start < len(events):
        yield events[start:]


def encode_chunk(events: list[dict[str, Any]], compression: str) -> bytes:
    import cbor2

    with interrupts_kept():
        body = cbor2.dumps(events, string_referencing=True)
    return _compress(compression, body)


def sections_of(trace: Trace) -> dict[str, Any]:
    doc = trace.to_document()
    return {k: v for k, v in doc.items() if k not in ("version", "events")}


def encode(trace: Trace, compression: str = DEFAULT_COMPRESSION, progress: Progress = no_progress) -> bytes:
    """`trace` as a version-3 file; `progress` advances by events, a chunk at a time."""
    parts: list[bytes] = []
    with gc_paused(), progress("encoding", len(trace.events)) as advance:
        writer = Writer(parts.append, compression)
        parts_left = list(split_chunks(trace.events))
        for n, part in enumerate(parts_left):
            writer.add_events(part, flush=n < len(parts_left) - 1)  # the last part travels in the tail
            advance(len(part))
        writer.finish(sections_of(trace))
    return b"".join(parts)


def decode(data: bytes, url: str = "<trace>", progress: Progress = no_progress) -> Trace:
    with gc_paused():
        return Reader(Source(data), url).read_all(progress)
