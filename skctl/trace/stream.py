"""The export window over a version-3 trace, chunk by chunk, never holding the decoded trace.

`StreamingExport` runs the rules of skctl.trace.window (through its Cutter) over the chunks
a window needs: chunks after the window's end are never read; chunks before its start are
decoded only to fold the state at the start; a chunk inside the window that the filters leave
whole is copied as stored, without re-encoding; the rest are re-encoded one at a time into a
spool file. Rule 4 (objects owned by exported objects drop) needs every key of the window, so
each chunk is emitted with the decisions known when it is read and the rare chunks whose
decisions change by the end are cut again from the source. `chunks()` then yields the output
file's bytes piece by piece for skctl.storage's atomic write.

Memory: the state at the start (one object per live key), each exported key's latest state
(for the index), one decoded chunk, and the sections; never the events.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Progress, no_progress
from skctl.kube.keys import Key
from skctl.trace import format3, shape
from skctl.trace.model import Trace
from skctl.trace.window import Cutter, ExportFilters


@dataclass
class _Entry:
    source: int  # the input chunk it was cut from
    offset: int  # in the spool; -1: not spooled (the last entry, kept decoded)
    length: int
    first_ts: int
    last_ts: int
    count: int


class StreamingExport:
    """One export window of a version-3 trace (see the module doc); `run()` reads, then
    `chunks()` yields the output file. `events`, `objects`, `owners`, `size` describe it."""

    def __init__(
        self,
        reader: format3.Reader,
        start_ts: int,
        end_ts: int,
        filters: ExportFilters | None = None,
        compression: str | None = None,
        transform: Any = None,
        progress: Progress = no_progress,
    ) -> None:
        self.reader = reader
        self.requested_start = start_ts
        self.end_ts = end_ts
        self.compression = compression or format3.DEFAULT_COMPRESSION
        self.transform = transform
        self.progress = progress
        sections = reader.sections()
        self.sections_trace = Trace(
            config=sections["config"], index=sections["index"], pod_lifecycles=sections["pod_lifecycles"],
            extra={k: v for k, v in sections.items() if k not in ("config", "index", "pod_lifecycles")},
        )
        first_ts = reader.chunks[0].first_ts if reader.chunks else None
        if transform is not None and reader.chunks:  # a transform may drop the first event: find the real first
            first_ts = None
        self._first_ts = first_ts
        self.cutter: Cutter | None = None
        self.filters = filters
        self._entries: list[_Entry] = []
        self._last_events: list[dict[str, Any]] = []
        self._spool: IO[bytes] | None = None
        self._hist: dict[Key, list[tuple[int, bool]]] = {}
        self.exported: set[Key] = set()
        self._folded_unchecked = False  # some chunk got only the structural check (see _chunk)
        self.copied = 0  # chunks copied without re-encoding (for tests and the bench)
        self.events = self.size = self.objects = self.owners = 0
        self.start_ts = start_ts

    def _chunk(self, i: int) -> list[dict[str, Any]]:
        # A chunk wholly before the window is only folded into the state at its start: it
        # gets the structural check the fold needs; the objects of that state that are
        # written out get the full check in `run` (what reaches the output is always checked).
        deep = self.transform is not None or self.reader.chunks[i].last_ts >= self.requested_start
        if not deep:
            self._folded_unchecked = True
        events = self.reader.chunk_events(i, deep)
        if self.transform is not None:
            events = list(self.transform.apply_events(events, self.requested_start))
        return events

    def run(self) -> None:
        """Read the chunks the window needs, spooling the output chunks."""
        self._spool = tempfile.TemporaryFile(prefix="skctl-export-")
        which = self.reader.chunks_overlapping(None, self.end_ts)
        copy_ok = self.transform is None and self.compression == self.reader.compression
        with self.progress("cutting the window", sum(self.reader.chunks[i].count for i in which)) as advance:
            for i in which:
                events = self._chunk(i)
                if self.cutter is None:
                    if self.transform is not None and events:
                        self._first_ts = events[0]["ts"]
                    if events or self.transform is None:
                        self.cutter = Cutter(self.sections_trace, self.requested_start, self.end_ts, self.filters,
                                             self._first_ts)
                if self.cutter is not None:
                    self._take(i, events, copy_ok)
                advance(self.reader.chunks[i].count)
                if self.cutter is not None and self.cutter.done:
                    break
        if self.cutter is None:
            self.cutter = Cutter(self.sections_trace, self.requested_start, self.end_ts, self.filters, None)
        self.start_ts = self.cutter.start_ts
        self.exported = self.cutter.resolve()
        if self._folded_unchecked:
            start = self.cutter.start_event(self.exported)
            issue = shape.events_problem([start], self.reader.tracer_config())
            if issue:
                detail = f"in the state at the window's start, from chunks before it: {issue}"
                raise InputError(messages.TRACE_BAD_SHAPE.format(url=self.reader.url, detail=detail))

    def _take(self, i: int, events: list[dict[str, Any]], copy_ok: bool) -> None:
        cutter = self.cutter
        assert cutter is not None
        items = cutter.feed(events)
        if not items:
            return
        keys = {key for _e, applied, deleted, _u in items for key, _obj in (*applied, *deleted)}
        decided = cutter.decide(keys)
        n = len(self._entries)
        for key in keys:
            decision = key in decided
            hist = self._hist.get(key)
            if hist is None:
                self._hist[key] = [(n, decision)]
            elif hist[-1][1] != decision:
                hist.append((n, decision))
        out = cutter.emit(items, decided)
        if not out:
            return
        self._spool_last()
        whole = copy_ok and len(out) == len(events) and all(o is e for o, e in zip(out, events, strict=True)) \
            and self.reader.copyable(i)
        self._entries.append(_Entry(i, -2 if whole else -1, 0, out[0]["ts"], out[-1]["ts"], len(out)))
        self._last_events = out

    def _spool_last(self) -> None:
        """Write the previous entry to the spool: copied as stored, or encoded."""
        if not self._entries:
            return
        entry = self._entries[-1]
        assert self._spool is not None
        if entry.offset == -2:
            payload = self.reader.raw_chunk(entry.source)
            self.copied += 1
        else:
            payload = format3.encode_chunk(self._last_events, self.compression)
        entry.offset, entry.length = self._spool.tell(), len(payload)
        self._spool.write(payload)
        self._last_events = []

    def _dirty(self) -> set[int]:
        """Entries emitted with a decision that `resolve` changed: they are cut again."""
        dirty: set[int] = set()
        for key, hist in self._hist.items():
            final = key in self.exported
            for j, (n, decision) in enumerate(hist):
                if decision != final:
                    until = hist[j + 1][0] if j + 1 < len(hist) else len(self._entries)
                    dirty.update(range(n, until))
        return dirty

    def _recut(self, entry: _Entry) -> list[dict[str, Any]]:
        cutter = self.cutter
        assert cutter is not None
        start, end = cutter.start_ts, cutter.end_ts
        events = [e for e in self._chunk(entry.source) if start <= e["ts"] < end]
        items = [
            (e, cutter.keyed_again(e.get("applied_objs") or ()), cutter.keyed_again(e.get("deleted_objs") or ()), False)
            for e in events
        ]
        return cutter.emit(items, self.exported)

    def chunks(self) -> Iterator[bytes]:
        """The output file, in pieces."""
        cutter = self.cutter
        assert cutter is not None and self._spool is not None
        pieces: list[bytes] = []
        writer = format3.Writer(pieces.append, self.compression)
        start = cutter.start_event(self.exported)
        writer.add_events([start], flush=True)
        dirty = self._dirty()
        events = 1
        for n, entry in enumerate(self._entries):
            last = n == len(self._entries) - 1
            if n in dirty:
                out = self._recut(entry)
                events += len(out)
                writer.add_events(out, flush=not last)
            elif last and entry.offset < 0:
                events += len(self._last_events)
                writer.add_events(self._last_events)
            else:
                self._spool.seek(entry.offset)
                writer.add_raw(self._spool.read(entry.length), entry.first_ts, entry.last_ts, entry.count)
                events += entry.count
            yield from pieces
            pieces.clear()
        result = cutter.result([], self.exported)
        writer.finish(format3.sections_of(result))
        yield from pieces
        self._spool.close()
        self.events, self.size = events, writer.offset
        self.objects = sum(len(names) for names in result.index.values())
        self.owners = len(result.pod_lifecycles)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

