"""The tracer's on-disk journal: durable, bounded, and readable without a tracer.

A journal is a directory:

    journal.cbor                          {"format": "skctl-journal", "version": 2, "config": {...},
                                           "cluster": {"uid": ..., "server": ...}}
    seg-<start ts>-<sequence>.skj         append-only segments of records

Each record is a frame: a 17-byte header (big-endian u32 payload length, u32 CRC-32 of
type+ts+payload, u8 type, i64 ts) and a CBOR payload. Record types are those of
`skctl.tracer.store` (snapshot, event, lifecycle, owners, starting state, pod usage). Every segment starts with a
snapshot of the live state, so

- retention deletes whole old segments (a segment goes once the next one starts before
  the retention cutoff), and
- reading a window starts at the last segment whose snapshot is before the
  window's start: earlier segments are never opened, and event records after the
  window's end are skipped by their header without being decoded.

Writes go through a buffer that a background thread flushes and fsyncs every
`FSYNC_INTERVAL` seconds, so a SIGKILL loses at most the last second. A frame cut short
by a crash or damaged on disk ends the reading of its segment with a warning; a later
segment's snapshot brings the state back in line.

Version 2 writes the tracked objects of event records and snapshots as the store holds
them (`store.encode`: zlib-compressed CBOR, as CBOR byte strings): a snapshot is then
a copy of bytes already made, not an encoding of every live object, and a replay keeps
the bytes as they are. Version 1 journals (objects as CBOR maps) are read as before and
adopted: reopened, the new segments are written in version 2.

A journal belongs to one cluster: `cluster` holds the UID of its kube-system namespace
(which decides: a server URL changes behind a load balancer or a tunnel, the UID does
not) and the server URL (for the message). Opening it for a cluster with another UID is
refused (`JournalForeign`); a journal without identity (an older skctl's) is adopted by
the first cluster that opens it.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skctl.base import messages
from skctl.base.errors import OperationalError
from skctl.base.progress import Advance, Progress, no_progress
from skctl.storage.local import fsync_dir, write_local
from skctl.tracer.store import (
    REC_CLUSTER,
    REC_EVENT,
    REC_LIFECYCLE,
    REC_OWNERS,
    REC_SNAPSHOT,
    REC_USAGE,
    TraceStore,
)

log = logging.getLogger(__name__)

META_NAME = "journal.cbor"
LOCK_NAME = "journal.lock"
FORMAT_NAME = "skctl-journal"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)  # version 1: objects as CBOR maps instead of encoded bytes
FSYNC_INTERVAL = 0.5
SEGMENT_SECONDS = 600
SEGMENT_BYTES = 64 * 1024 * 1024

_HEADER = struct.Struct(">IIBq")
_HEAD = struct.Struct(">II")  # length, CRC-32 of the rest
_TAIL = struct.Struct(">Bq")  # type, ts
_TYPES = {REC_SNAPSHOT: 1, REC_EVENT: 2, REC_LIFECYCLE: 3, REC_OWNERS: 4, REC_CLUSTER: 5, REC_USAGE: 6}
_NAMES = {v: k for k, v in _TYPES.items()}
_SEGMENT_RE = re.compile(r"^seg-(\d+)-(\d+)\.skj$")
MAX_FRAME = 1 << 30


class JournalError(Exception):
    """The directory is not a journal, or one of another format version."""


class JournalBusy(JournalError):
    """Another running tracer writes this journal."""


class JournalForeign(JournalError):
    """The journal belongs to another cluster (`theirs` and `ours`: {"uid", "server"})."""

    def __init__(self, directory: Path, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
        super().__init__(f"{directory} belongs to the cluster with kube-system UID {theirs.get('uid')}")
        self.directory = directory
        self.theirs = theirs
        self.ours = ours


def default_dir(state_home: str, context: str | None) -> Path:
    """The default journal of a kubeconfig context (None: in a cluster, the service
    account's): `<state_home>/skctl/journals/<context>`, so each context, and so each
    cluster, has its own. A context name that is not a plain file name (`arn:aws:eks:...:
    cluster/prod`, `me@prod`, `..`) is made one: other characters become `_`, and a short
    hash of the real name keeps two such names apart."""
    import hashlib

    name = context if context is not None else "in-cluster"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100]
    if safe != name or not safe.strip(".") or context == "in-cluster":
        safe = f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return Path(state_home) / "skctl" / "journals" / safe


def is_journal(path: str | os.PathLike[str]) -> bool:
    """Whether `path` holds a journal; a path the OS refuses (a name too long, EACCES) holds
    none, and reading it as a trace file then reports why."""
    try:
        return (Path(path) / META_NAME).is_file()
    except OSError:
        return False


def segments(directory: Path) -> list[tuple[int, int, Path]]:
    """(start ts, sequence, path) of every segment, in order."""
    out = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        m = _SEGMENT_RE.match(entry.name)
        if m:
            if not entry.is_file():  # a FIFO or a device would block the reader; a directory fail it
                log.warning("journal %s: %s is named like a segment but is not a regular file; skipped",
                            directory, entry.name)
                continue
            out.append((int(m.group(1)), int(m.group(2)), entry))
    return sorted(out, key=lambda s: s[1])


def read_meta(directory: Path) -> dict[str, Any]:
    import cbor2

    if (directory / META_NAME).exists() and not (directory / META_NAME).is_file():
        raise JournalError(f"{directory / META_NAME} is not a regular file")
    try:
        meta = cbor2.loads((directory / META_NAME).read_bytes())
    except (OSError, ValueError, cbor2.CBORDecodeError) as exc:
        raise JournalError(f"{directory} is not a readable skctl journal ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise JournalError(f"{directory} is not an skctl journal")
    if meta.get("version") not in READ_VERSIONS:
        raise JournalError(
            f"{directory} is an skctl journal of version {meta.get('version')}, this skctl reads versions {', '.join(map(str, READ_VERSIONS))}"
        )
    return meta


def iter_records(path: Path, skip_events_from: int | None = None,
                 advance: Advance | None = None) -> Iterator[tuple[str, int, Any]]:
    """The records of one segment. Event records at or after `skip_events_from` are not
    decoded (their payload is None). A torn or damaged frame ends the segment with a warning.
    `advance` is told the bytes of each frame read."""
    import cbor2

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        offset = 0
        while True:
            header = fh.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                log.warning("journal segment %s: torn record at byte %d (crash during a write); skipped", path.name, offset)
                return
            length, crc, code, ts = _HEADER.unpack(header)
            kind = _NAMES.get(code)
            if kind is None or length > MAX_FRAME or offset + _HEADER.size + length > size:
                log.warning("journal segment %s: torn or damaged record at byte %d; the rest of it is skipped",
                            path.name, offset)
                return
            if advance is not None:
                advance(_HEADER.size + length)
            if kind == REC_EVENT and skip_events_from is not None and ts >= skip_events_from:
                fh.seek(length, os.SEEK_CUR)
                offset += _HEADER.size + length
                yield kind, ts, None
                continue
            body = fh.read(length)
            if zlib.crc32(body, zlib.crc32(header[8:])) != crc:
                log.warning("journal segment %s: damaged record at byte %d (checksum); the rest of it is skipped",
                            path.name, offset)
                return
            try:
                payload = cbor2.loads(body)
            except (ValueError, cbor2.CBORDecodeError) as exc:
                log.warning("journal segment %s: undecodable record at byte %d (%s); skipped", path.name, offset, exc)
                return
            offset += _HEADER.size + length
            yield kind, ts, payload


def load_store(directory: Path, store: TraceStore, start_ts: int | None = None, end_ts: int | None = None,
               progress: Progress = no_progress, trusted: bool = False) -> int:
    """Replay a journal into an empty store; with `start_ts`, begin at the last snapshot
    before it (the window's state is complete from there); with `end_ts`, event records
    after it are not decoded. Returns the number of records applied. `progress` counts the
    bytes of the segments read; `trusted`: see `TraceStore.replay`."""
    segs = segments(directory)
    if start_ts is not None:
        first = 0
        for i, (seg_start, _seq, _p) in enumerate(segs):
            if seg_start < start_ts:  # strictly: events at start_ts itself must stay events
                first = i
        segs = segs[first:]

    def records(advance: Advance) -> Iterator[tuple[str, int, Any]]:
        for _start, _seq, path in segs:
            for kind, ts, payload in iter_records(path, end_ts, advance):
                if payload is not None:
                    yield kind, ts, payload

    total = sum(_size(path) for _s, _q, path in segs)
    with progress("replaying the journal", total) as advance:
        return store.replay(records(advance), trusted=trusted)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def export_journal(
    directory: str | os.PathLike[str], start_ts: int, end_ts: int, filters: Any = None, transform: Any = None
) -> Any:
    """`skctl export --from JOURNAL_DIR`: the window, cut exactly as a running tracer cuts it."""
    from skctl.trace.tracked import parse_config

    path = Path(directory)
    meta = read_meta(path)
    store = TraceStore(parse_config(meta.get("config") or {}, "journal config", strict=False))
    load_store(path, store, start_ts, end_ts)
    return store.export(start_ts, end_ts, filters, transform)


class Journal:
    """The writer: `store.sink = journal.append` after `open()`; `close()` flushes."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        retention: float,
        segment_seconds: float = SEGMENT_SECONDS,
        segment_bytes: int = SEGMENT_BYTES,
        clock: Any = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.retention = retention
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self.clock = clock
        self.store: TraceStore | None = None
        self._fh: Any = None
        self._seq = 0
        self._segment_started = 0.0
        self._segment_size = 0
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.bytes_written = 0
        self.records_written = 0
        self._lock_fh: Any = None
        self._dir_fd: int | None = None

    def open(self, store: TraceStore, cluster: dict[str, Any] | None = None, progress: Progress = no_progress,
             trusted: bool = False) -> int:
        """Create or reopen the directory, replay what it holds into `store`, start a new
        segment with a snapshot and the fsync thread. Returns the records replayed.
        `cluster` ({"uid", "server"}) is the cluster being recorded: a journal of another
        one is refused (JournalForeign) before anything is read or written. `progress` and
        `trusted`: see `load_store`."""
        import cbor2

        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            # held for the journal's life: rotating a segment must never need a new
            # descriptor for the directory, whatever else holds the process's descriptors
            self._dir_fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            self._dir_fd = None
        meta_path = self.directory / META_NAME
        replayed = 0
        recorded: Any = None
        try:
            if meta_path.exists():
                recorded = read_meta(self.directory).get("cluster")
                if (isinstance(recorded, dict) and recorded.get("uid") and cluster and cluster.get("uid")
                        and recorded["uid"] != cluster["uid"]):
                    raise JournalForeign(self.directory, recorded, cluster)
        except JournalError:
            self._release_lock()
            raise
        if meta_path.exists():
            replayed = load_store(self.directory, store, progress=progress, trusted=trusted)
        meta: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": store.config.to_document()}
        identity = cluster if cluster and cluster.get("uid") else recorded  # an unreadable identity keeps the old one
        if isinstance(identity, dict) and identity.get("uid"):
            meta["cluster"] = {"uid": str(identity["uid"]), "server": str(identity.get("server") or "")}
        data = cbor2.dumps(meta)  # written as every file skctl replaces (skctl.storage.local)
        write_local(str(meta_path), iter([data]), len(data), str(meta_path), no_progress, result=False)
        segs = segments(self.directory)
        self._seq = segs[-1][1] + 1 if segs else 0
        self.store = store
        with store.lock:
            # A reopened journal's new segment starts when its records end: its snapshot is
            # the state then, and the changes a re-list finds go after it at their own times
            # (skctl.tracer.store, `sync`), not all at the restart.
            self._rotate(store.last_ts if replayed and store.last_ts else int(self.clock()))
            store.sink = self.append
        self._flusher = threading.Thread(target=self._flush_loop, name="journal fsync", daemon=True)
        self._flusher.start()
        return replayed

    def _take_lock(self) -> None:
        """One writer per journal: a second tracer on the same directory is refused."""
        import fcntl

        self._lock_fh = open(self.directory / LOCK_NAME, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self._lock_fh = None
            raise JournalBusy(f"{self.directory} is in use by another running tracer") from None

    def _release_lock(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the lock
            self._lock_fh = None

    def append(self, kind: str, ts: int, payload: dict[str, Any]) -> None:
        """Write one record (called by the store under its lock)."""
        import cbor2

        body = cbor2.dumps(payload)
        tail = _TAIL.pack(_TYPES[kind], ts)
        frame = _HEAD.pack(len(body), zlib.crc32(body, zlib.crc32(tail))) + tail + body
        with self._lock:
            if self._fh is None:
                return
            self._fh.write(frame)
            self._segment_size += len(frame)
            self.bytes_written += len(frame)
            self.records_written += 1
            self._dirty = True
        if kind != REC_SNAPSHOT and (
            self._segment_size >= self.segment_bytes or self.clock() - self._segment_started >= self.segment_seconds
        ):
            assert self.store is not None
            self._rotate(max(ts, self.store.last_ts))  # never before a recorded event: the snapshot holds them

    def _rotate(self, ts: int) -> None:
        """Close the current segment and start the next with a snapshot (store lock held).
        Every event record of a segment is stamped at or after its start: the store is told
        so (`set_floor`), since replaying the snapshot would undo an earlier stamped event."""
        assert self.store is not None
        self.store.set_floor(ts)
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            path = self.directory / f"seg-{ts}-{self._seq:010d}.skj"
            self._seq += 1
            self._fh = open(path, "ab", buffering=1024 * 1024)  # noqa: SIM115 - closed in _rotate/close
            self._segment_started = self.clock()
            self._segment_size = 0
        self.append(REC_SNAPSHOT, ts, self.store.snapshot(ts))
        self.flush()
        if self._dir_fd is not None:
            try:
                os.fsync(self._dir_fd)
            except OSError:
                pass
        else:
            fsync_dir(self.directory)

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None and self._dirty:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._dirty = False

    def _flush_loop(self) -> None:
        while not self._stop.wait(FSYNC_INTERVAL):
            try:
                self.flush()
            except OSError as exc:  # a full disk must not kill the tracer; keep trying
                log.error("journal fsync failed: %s", exc)

    def enforce_retention(self, now: float | None = None) -> int:
        """Delete segments wholly older than the retention window; returns how many."""
        cutoff = (self.clock() if now is None else now) - self.retention
        segs = segments(self.directory)
        removed = 0
        for (_start, _seq, path), (next_start, _nseq, _np) in zip(segs, segs[1:], strict=False):
            if next_start <= cutoff:
                try:
                    path.unlink()
                    removed += 1
                except OSError as exc:
                    log.warning("could not delete old journal segment %s: %s", path, exc)
        return removed

    def size(self) -> int:
        return sum(p.stat().st_size for _s, _q, p in segments(self.directory) if p.exists())

    def close(self) -> None:
        """Stop the fsync thread, flush and close the segment, release the lock. Safe to call
        again (an interrupted close is finished by the next); the segment and the lock are
        closed even when the flush fails, which is an OperationalError (a full disk)."""
        self._stop.set()
        try:
            if self._flusher is not None:
                self._flusher.join(5)
                if not self._flusher.is_alive():
                    self._flusher = None
            if self.store is not None:
                with self.store.lock:
                    self.store.sink = None
            with self._lock:
                fh, self._fh = self._fh, None
                if fh is not None:
                    try:
                        fh.flush()
                        os.fsync(fh.fileno())
                    finally:
                        fh.close()
        except OSError as exc:
            raise OperationalError(messages.TRACE_JOURNAL_CLOSE_FAILED.format(
                path=self.directory, detail=exc.strerror or exc)) from None
        finally:
            self._release_lock()
