"""One watch stream: initial state or history replay, then live events, bookmarks and timeout.

Semantics follow the real server's watch cache: resourceVersion unset or "0" starts with a
synthetic ADDED per current object; a number replays every event after it (ERROR 410
Expired when it left the history window); a number the server has not reached yet waits
quietly for it. Initial events (resourceVersion unset or "0", or `sendInitialEvents=true`)
end with one BOOKMARK annotated `k8s.io/initial-events-end` when bookmarks are allowed; a
`sendInitialEvents=true` watch for a version the server has not reached is one ERROR 504
"Too large resource version" at once (a real server compares with etcd's revision).
Label/field selectors turn an object that stops matching into DELETED (its previous state,
stamped with the event's resourceVersion) and one that starts matching into ADDED. Periodic bookmarks carry
the newest version seen, only once it passed the watch's own, and one more comes about 2 s
before `timeoutSeconds` ends the watch. Events are taken from the store in batches and
written as one chunk per batch, using the event lines serialised at write time, so a fast
client sees tens of thousands of events per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from skctl.sandbox.discovery import ResourceType
from skctl.sandbox.errors import ApiError, gone, too_large_resource_version
from skctl.sandbox.objects import dumps
from skctl.sandbox.store import Store, event_line

BATCH = 4096
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class WatchStream:
    """Produces the byte chunks of one watch response; `stop()` ends it from another thread."""

    def __init__(
        self,
        store: Store,
        rtype: ResourceType,
        namespace: str | None,
        match: Callable[[dict], bool] | None,
        resource_version: str | None,
        *,
        bookmarks: bool = False,
        bookmark_interval: float = 1.0,
        timeout: float | None = None,
        send_initial_events: bool | None = None,
    ) -> None:
        self.store = store
        self.rtype = rtype
        self.namespace = namespace or None
        self.match = match
        self.resource_version = resource_version or ""
        self.bookmarks = bookmarks
        self.bookmark_interval = max(0.01, bookmark_interval)
        self.timeout = timeout
        self.send_initial_events = send_initial_events
        self.dropped = False
        self.broken = False  # stopped to be cut off, not ended cleanly
        self._stopped = threading.Event()

    def stop(self, broken: bool = False) -> None:
        """End the stream (used to drop watches; `broken`: the connection is to be cut
        mid-stream); wakes the stream if it is waiting."""
        self.broken = self.broken or broken
        self.dropped = True
        self._stopped.set()
        with self.store.cond:
            self.store.cond.notify_all()

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: dict = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self.rtype.kind, "apiVersion": self.rtype.api_version, "metadata": meta}
        return event_line("BOOKMARK", dumps(obj))

    def _error(self, exc: ApiError) -> bytes:
        return event_line("ERROR", dumps(exc.status()))

    def _expired(self, rv: int) -> bytes:
        return self._error(gone(f"too old resource version: {rv} ({self.store.oldest_resumable_rv + 1})"))

    def _filter(self, events: list) -> list[bytes]:
        key, ns, match = self.rtype.key, self.namespace, self.match
        out: list[bytes] = []
        for ev in events:
            if ev.key != key or (ns is not None and ev.namespace != ns):
                continue
            if match is None:
                out.append(ev.line)
                continue
            now = match(ev.obj)
            if ev.type == "ADDED":
                if now:
                    out.append(ev.line)
            elif ev.type == "DELETED":
                if now or (ev.prev is not None and match(ev.prev)):
                    out.append(ev.line)
            else:
                before = ev.prev is not None and match(ev.prev)
                if now and before:
                    out.append(ev.line)
                elif now:
                    out.append(event_line("ADDED", ev.raw))
                elif before:
                    out.append(event_line("DELETED", _stamped(ev.prev, ev.rv)))
        return out

    def run(self, write: Callable[[bytes], None]) -> None:
        """Write the stream through `write` (one call per chunk) until it ends."""
        deadline = time.monotonic() + self.timeout if self.timeout else None
        rv_text = self.resource_version
        requested = int(rv_text) if rv_text not in ("", "0") else None
        send_initial = self.send_initial_events
        initial = rv_text in ("", "0") if send_initial is None else send_initial
        if send_initial and requested is not None and requested > self.store.resource_version:
            write(self._error(too_large_resource_version(requested, self.store.resource_version)))
            return
        if initial:
            with self.store.cond:
                pos, items = self.store.list(self.rtype, self.namespace, self.match)
            lines = [event_line("ADDED", raw) for _, _, raw in items]
            for i in range(0, len(lines), BATCH):
                write(b"".join(lines[i : i + BATCH]))
            if self.bookmarks:
                write(self._bookmark(max(pos, requested or 0), initial_end=True))
        elif requested is None:  # sendInitialEvents=false from "now"
            pos = self.store.resource_version
        else:
            pos = requested
            if pos < self.store.oldest_resumable_rv:
                write(self._expired(pos))
                return
        watch_rv = pos
        next_bookmark = self._next_bookmark(time.monotonic(), deadline)
        while not self._stopped.is_set() and not self.store.closed:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if self.bookmarks and next_bookmark is not None and now >= next_bookmark:
                if pos > watch_rv:
                    write(self._bookmark(pos))
                next_bookmark = self._next_bookmark(now, deadline)
            events = self.store.events_after(pos, BATCH)
            if events is None:
                write(self._expired(pos))
                return
            if events:
                lines = self._filter(events)
                pos = events[-1].rv
                if lines:
                    write(b"".join(lines))
                continue
            if self.store.registry.lookup(self.rtype.group, self.rtype.version, self.rtype.plural) is None:
                return  # caught up, and its CRD is gone: the real server ends such watches too
            wake = next_bookmark if self.bookmarks and next_bookmark is not None else now + 1.0
            if deadline is not None:
                wake = min(wake, deadline)
            self.store.wait(pos, max(0.0, wake - now))

    def _next_bookmark(self, now: float, deadline: float | None) -> float | None:
        """When the next bookmark is due: every interval, and ~2 s before the deadline."""
        due = now + self.bookmark_interval
        if deadline is not None:
            if deadline - 2.0 > now:
                due = min(due, deadline - 2.0)
            elif due >= deadline:
                return None
        return due


def _stamped(obj: dict | None, rv: int) -> bytes:
    """An object's JSON with its resourceVersion replaced (a DELETED event for a watcher
    that no longer matches carries the previous state at the event's version)."""
    obj = dict(obj or {})
    obj["metadata"] = {**(obj.get("metadata") or {}), "resourceVersion": str(rv)}
    return dumps(obj)
