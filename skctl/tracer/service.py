"""One tracer process: journal → store → watches → HTTP API, until told to stop.

`Tracer.start()` reopens (or creates) the journal and replays it, starts the watches
(their first list is diffed against the replayed state, so what changed while no tracer
ran is recorded once), then the API. `run_until(stop)` enforces retention every
`RETENTION_EVERY` seconds and calls `on_tick(status)` for the UI. `close()` stops the
watches and the API and flushes the journal. A journal recorded from another cluster
(`cluster_identity`: the kube-system namespace's UID) is refused, exit 2.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress, no_progress
from skctl.kube.api import ApiError, Kube
from skctl.trace.tracked import TracerConfig
from skctl.trace.window import ExportFilters
from skctl.tracer.journal import Journal, JournalBusy, JournalError, JournalForeign
from skctl.tracer.recorder import Recorder, check_config, lookup_through
from skctl.tracer.server import TracerAPI
from skctl.tracer.store import TraceStore
from skctl.tracer.usage import UsageSampler, metrics_lister

log = logging.getLogger(__name__)

RETENTION_EVERY = 30.0
GC_THRESHOLDS = (50_000, 20, 20)
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})  # the disk's fault, not the path's


def cluster_identity(kube: Kube) -> dict[str, Any]:
    """{"uid": the kube-system namespace's UID, "server": the API server URL}: what a journal
    records to know its cluster. The UID is created once with the cluster and never
    changes; it is None (with a warning) when the namespace cannot be read (RBAC)."""
    server = str(getattr(kube.api_client.configuration, "host", "") or "")
    try:
        ns = kube.get("v1", "Namespace", "kube-system")
    except ApiError as exc:
        log.warning(messages.TRACE_IDENTITY_UNKNOWN.format(detail=exc))
        ns = None
    uid = ((ns or {}).get("metadata") or {}).get("uid")
    return {"uid": str(uid) if uid else None, "server": server}


def tune_gc() -> None:
    """The tracer keeps a large, slowly changing heap without cycles (its objects are held
    as bytes, which the cyclic collector does not track); with the default thresholds the
    collector runs every 700 allocations and costs a third of the ingest time. Collect
    young objects 70x less often instead."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def settle_gc() -> None:
    """After a big load (the journal replay): collect once, then move everything alive into
    the collector's permanent generation (`gc.freeze`), so that its full collections no
    longer walk the recording. Frozen objects are still freed when no longer referenced.
    Then the C allocator gives back to the system what the replay's passing allocations
    left free (glibc's `malloc_trim`; nothing elsewhere), so a restarted tracer holds no
    more memory than the one that recorded."""
    import ctypes
    import gc

    gc.collect()
    gc.freeze()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: glibc's, when it is glibc
    except (OSError, AttributeError):
        pass  # not glibc: its allocator keeps the free memory for later allocations


@dataclass
class TracerOptions:
    config: TracerConfig
    journal_dir: Path
    retention: float = 86400.0
    host: str = "127.0.0.1"
    port: int = 7777
    wait_for_crds: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    segment_seconds: float = 600.0


# The longest `--duration` waits for the watches' first lists before it starts counting.
LIST_WAIT = 60.0


class Tracer:
    def __init__(self, kube: Kube, options: TracerOptions, clock: Callable[[], float] = time.time,
                 progress: Progress = no_progress) -> None:
        check_config(options.config)
        self.kube = kube
        self.options = options
        self.clock = clock
        self.store = TraceStore(options.config, owner_lookup=lookup_through(kube), clock=clock)
        self.journal = Journal(options.journal_dir, options.retention, segment_seconds=options.segment_seconds, clock=clock)
        self.recorder = Recorder(kube, options.config, self.store, options.wait_for_crds)
        self.api: TracerAPI | None = None
        # pod usage from the resource metrics API, when the cluster serves it (skctl.tracer.usage)
        self.sampler = UsageSampler(metrics_lister(kube), self.store.record_usage, options.config.usage_interval, clock)
        self.replayed = 0
        self.started_at = clock()
        self.progress = progress
        self.verifier: threading.Thread | None = None

    def start(self) -> Tracer:
        tune_gc()
        self.recorder.resolve()  # an unserved kind is an input error before anything is written
        cluster = cluster_identity(self.kube)
        try:
            # its own journal: the objects are checked after the start (`verify`), not before
            self.replayed = self.journal.open(self.store, cluster, self.progress, trusted=True)
        except JournalForeign as exc:
            raise InputError(messages.TRACE_JOURNAL_OTHER_CLUSTER.format(
                path=self.options.journal_dir, theirs=exc.theirs.get("server") or "an unknown address",
                their_uid=exc.theirs.get("uid"), ours=exc.ours.get("server"), our_uid=exc.ours.get("uid"))) from None
        except JournalBusy as exc:
            raise OperationalError(messages.TRACE_JOURNAL_BUSY.format(detail=exc)) from None
        except JournalError as exc:
            raise InputError(messages.TRACE_BAD_JOURNAL_FORMAT.format(detail=exc)) from None
        except OSError as exc:
            # A path that cannot hold a journal is the user's to fix (2); a disk that is
            # full or failing is the machine's (1).
            error = OperationalError if exc.errno in _MACHINE_ERRNOS else InputError
            raise error(messages.TRACE_BAD_JOURNAL.format(path=self.options.journal_dir, detail=exc)) from None
        self.trim()
        settle_gc()
        self.verifier = threading.Thread(target=self._verify, name="journal check", daemon=True)
        self.verifier.start()
        try:
            self.api = TracerAPI(self.options.host, self.options.port, self.export, self.status,
                                 self.options.storage_options).start()
        except OSError as exc:
            self.journal.close()
            raise OperationalError(
                messages.TRACE_LISTEN_FAILED.format(host=self.options.host, port=self.options.port, detail=exc.strerror or exc)
            ) from None
        self.recorder.start()
        self.sampler.start()
        return self

    def stop_after(self, seconds: float, stop: threading.Event) -> threading.Thread:
        """Set `stop` once `seconds` have passed since every watch finished its first list
        (`--duration`): a short recording still holds what was there at the start, however
        long listing a big cluster takes. A watch that never lists (no permission, an API
        that keeps failing) holds the count up for at most LIST_WAIT seconds, or `seconds`
        when that is longer."""

        def count() -> None:
            deadline = time.monotonic() + max(seconds, LIST_WAIT)
            while not stop.is_set() and not self.recorder.wait_synced(0.1) and time.monotonic() < deadline:
                pass
            if not stop.wait(seconds):
                stop.set()

        timer = threading.Thread(target=count, name="--duration", daemon=True)
        timer.start()
        return timer

    def _verify(self) -> None:
        dropped = self.store.verify()
        if dropped:
            log.warning("%d objects of the journal were damaged and are left out", dropped)

    def export(self, start_ts: int, end_ts: int, filters: ExportFilters, transform: Any = None) -> Any:
        return self.store.export(start_ts, end_ts, filters, transform)

    def trim(self) -> None:
        cutoff = int(self.clock() - self.options.retention)
        self.store.trim(cutoff)
        self.journal.enforce_retention()

    def run_until(self, stop: threading.Event, on_tick: Callable[[dict[str, Any]], None] | None = None,
                  tick: float = 1.0) -> None:
        last_trim = self.clock()
        while not stop.wait(tick):
            if self.clock() - last_trim >= RETENTION_EVERY:
                self.trim()
                last_trim = self.clock()
            if on_tick is not None:
                on_tick(self.status())

    def status(self) -> dict[str, Any]:
        span = self.store.time_range()
        return {
            "watches": self.recorder.states(),
            "events": self.store.event_count(),
            "events_per_kind": dict(self.store.counts),
            "live_objects": len(self.store.live),
            "journal_unchecked": self.store.unchecked(),
            "pods_followed": len(self.store.pods),
            "lifecycle_owners": len(self.store.lifecycles),
            "owner_lookups": self.store.owners.lookups,
            "oldest_ts": span[0] if span else None,
            "newest_ts": span[1] if span else None,
            "last_event_at": self.store.last_event_at or None,
            "journal": str(self.options.journal_dir),
            "journal_bytes": self.journal.size(),
            "retention_seconds": self.options.retention,
            "uptime_seconds": round(self.clock() - self.started_at, 1),
            "usage": {**self.sampler.status(), "sampling": self.sampler.state == "sampling",
                      "pods": len(self.store.usage.pods), "samples": self.store.usage.samples},
        }

    @property
    def address(self) -> tuple[str, int]:
        assert self.api is not None
        return self.api.address

    def close(self) -> None:
        """Stop the watches and the API, then flush and close the journal. Every part runs
        even when an earlier one fails or is interrupted (Ctrl-C while the API shuts down), and
        each part may run again, so calling close() again finishes what an interrupted call
        left. A journal that cannot be flushed (full disk) is an OperationalError."""
        try:
            self.sampler.stop()
            self.recorder.stop()
        finally:
            try:
                if self.api is not None:
                    self.api.stop()  # a second shutdown of a stopped server returns at once
            finally:
                self.journal.close()
