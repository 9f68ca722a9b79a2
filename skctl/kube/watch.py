"""A resumable list+watch of one resource, on raw JSON dicts.

The loop every long-running client of the API server needs (the tracer, a replay driver
that follows what it created), written once:

1. LIST (paged with `limit`/`continue`; items get the list's apiVersion and kind, which
   a real server leaves out) and hand the complete set of objects to `on_sync`; the consumer diffs it against what it already knows, so a re-list after a
   410 records exactly what changed while the client was not watching.
2. WATCH from the list's resourceVersion with bookmarks, passing each ADDED, MODIFIED
   and DELETED object to `on_event`, and remembering the resourceVersion of every event
   and BOOKMARK. Each watch asks the server to end it after a random `timeoutSeconds`
   between `WATCH_TIMEOUT` and twice that (as client-go's reflector does, so the watches
   of many kinds do not all end together), and the client's read timeout is that plus
   `READ_MARGIN`: the server always ends a quiet watch cleanly before the client would
   give up on it, bookmarks or not (a server without a watch cache sends none).
3. When the stream ends or the connection drops, WATCH again from the remembered
   resourceVersion. On 410 Gone (an ERROR event or the HTTP status) go back to step 1.
   A watch that heard from the server (any line, bookmarks included, or a clean end)
   is healthy: the next one starts at once and the backoff starts over.
4. Only failures in a row back off: 429 and 5xx answers, connection errors and watches
   that broke before the server said anything are retried with capped, jittered
   exponential backoff; a Retry-After is honoured (skctl.kube.retry, the policy every
   retry loop in kube/ shares). A watch that ends cleanly with
   no line within `SHORT_WATCH` seconds counts as a failure (client-go's "very short
   watch"), so a server or proxy that closes every watch at once is not hammered.

resourceVersions are opaque strings: they are only stored and sent back, never compared
or parsed. The `k8s.io/initial-events-end` bookmark is not relied on (a real server
sends it only with `sendInitialEvents=true`); a watch started from a list's
resourceVersion sends no initial events at all. Objects are never turned into the
client's typed models.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from skctl.base.errors import SkctlError
from skctl.base.text import one_line
from skctl.kube import retry

log = logging.getLogger(__name__)

LIST_PAGE = 500
WATCH_TIMEOUT = 300  # the shortest timeoutSeconds asked for; each watch asks for up to twice this
READ_MARGIN = 30.0  # the client gives up on a silent watch this long after the server should have ended it
LIST_READ_TIMEOUT = 60.0  # no byte of a list page in this long: retry
SHORT_WATCH = 1.0  # a clean end with nothing heard sooner than this is a failure


class Gone(Exception):
    """The resourceVersion we resume from was compacted away (410): re-list."""


class Retryable(Exception):
    """A 429/5xx answer or a broken connection: wait and try again."""

    def __init__(self, message: str, retry_after: float | None = None, heard: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.heard = heard  # the broken watch had heard from the server: reconnect at once


class Fatal(Exception):
    """An answer retrying cannot fix (401, 403, 404 of the resource...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class WatchStats:
    """What the loop has done so far; read by status displays (plain ints, no lock)."""

    state: str = "starting"  # starting, listing, watching, backoff, stopped, failed
    events: int = 0
    lists: int = 0
    relists: int = 0  # lists after a 410
    restarts: int = 0  # watch reconnects after the first
    errors: int = 0
    last_error: str = ""
    resource_version: str = ""
    last_event_at: float = 0.0
    last_heard_at: float = 0.0  # wall time of the last word from the server: a watch line, a list, a clean end
    failures: int = 0  # failures in a row (the backoff grows with them); 0 once the server is heard
    backoffs: int = 0  # waits before a retry so far
    last_delay: float = 0.0  # the last such wait, in seconds
    synced: threading.Event = field(default_factory=threading.Event)


class ListWatch:
    """List+watch one resource path (e.g. `/apis/apps/v1/deployments`) until `stop()`.

    `on_sync(items)` gets every object after each (re-)list; `on_event(type, obj)` gets
    each ADDED/MODIFIED/DELETED object. Both are called from the loop's thread, in the
    order the server sent things. `on_fatal(exc)`, if given, is told why the loop ended
    on an answer retrying cannot fix (instead of the error being logged), so an owner
    can decide what comes next (the tracer waits again for a deleted CRD).
    """

    def __init__(
        self,
        api_client: Any,
        path: str,
        on_event: Callable[[str, dict[str, Any]], None],
        on_sync: Callable[[list[dict[str, Any]]], None],
        *,
        label_selector: str | None = None,
        watch_timeout: int = WATCH_TIMEOUT,
        read_margin: float = READ_MARGIN,
        short_watch: float = SHORT_WATCH,
        name: str | None = None,
        on_fatal: Callable[[Fatal], None] | None = None,
    ) -> None:
        self.api_client = api_client
        self.on_fatal = on_fatal
        self.path = path
        self.on_event = on_event
        self.on_sync = on_sync
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self.read_margin = read_margin
        self.short_watch = short_watch
        self.name = name or path
        self.stats = WatchStats()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self._rng = random.Random()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> ListWatch:
        self._thread = threading.Thread(target=self.run, name=f"watch {self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop; an open watch connection is closed so the thread exits promptly."""
        self._stop.set()
        response = self._response
        if response is not None:
            _close(response)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The loop (blocking). Fatal answers end it with state `failed`."""
        rv: str | None = None
        stats = self.stats
        while not self._stop.is_set():
            try:
                if rv is None:
                    stats.state = "listing"
                    rv = self._list()
                stats.state = "watching"
                rv = self._watch(rv)
            except Gone:
                log.info("%s: resourceVersion %s is too old (410); re-listing", self.name, rv)
                stats.relists += 1
                rv = None
            except Retryable as exc:
                stats.errors += 1
                stats.last_error = str(exc)
                if exc.heard and exc.retry_after is None:
                    # a healthy watch that broke (a dropped connection after events or
                    # bookmarks): resume at once, so no change waits for a backoff
                    log.info("%s: %s; resuming at once", self.name, exc)
                else:
                    delay = retry.backoff_delay(stats.failures, exc.retry_after, self._rng)
                    stats.failures += 1
                    stats.backoffs += 1
                    stats.last_delay = delay
                    log.info("%s: %s; retrying in %.1fs", self.name, exc, delay)
                    stats.state = "backoff"
                    self._stop.wait(delay)
            except Fatal as exc:
                stats.errors += 1
                stats.last_error = str(exc)
                stats.state = "failed"
                if self.on_fatal is not None:
                    self.on_fatal(exc)
                else:
                    log.error("%s: %s", self.name, exc)
                return
            if not self._stop.is_set():
                stats.restarts += 1
        stats.state = "stopped"

    def _heard(self) -> None:
        """The server said something (a line, a list, a clean end): failures in a row end."""
        self.stats.last_heard_at = time.time()
        self.stats.failures = 0

    # --- HTTP -----------------------------------------------------------------------

    def _open(self, query: dict[str, Any], timeout: Any) -> Any:
        """GET with the client's auth/TLS; returns the unread urllib3 response or raises."""
        from urllib3.exceptions import HTTPError

        url = self.path + "?" + urlencode({k: v for k, v in query.items() if v is not None})
        try:
            params = self.api_client.param_serialize(
                method="GET", resource_path=url, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            resp = self.api_client.call_api(*params, _request_timeout=timeout)
        except (HTTPError, OSError) as exc:
            raise Retryable(f"connection failed: {one_line(exc)}") from None
        except SkctlError as exc:
            # the exec credential plugin failed to refresh the token (skctl.kube.client):
            # the next attempt runs it again, as a login may have been renewed meanwhile
            raise Retryable(f"credentials: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the client wraps transport errors variously
            if type(exc).__name__ == "ApiException":
                raise Retryable(f"request failed: {one_line(exc)}") from None
            raise
        raw = getattr(resp, "response", resp)
        status = raw.status
        if 200 <= status < 300:
            return raw
        body = b""
        try:
            body = raw.read()
        except Exception:  # noqa: BLE001 - the body is only for the message
            pass
        finally:
            _close(raw)
        detail = _status_message(body) or f"HTTP {status}"
        if status == 410:
            raise Gone(detail)
        if retry.is_retryable_status(status):
            raise Retryable(f"HTTP {status}: {detail}", retry.retry_after(raw.headers))
        raise Fatal(f"HTTP {status}: {detail}", status)

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        cont: str | None = None
        rv = ""
        while True:
            resp = self._open(
                {"limit": LIST_PAGE, "continue": cont, "labelSelector": self.label_selector},
                (10.0, LIST_READ_TIMEOUT),
            )
            try:
                doc = json.loads(resp.read())
            except (ValueError, OSError) as exc:
                raise Retryable(f"list broke off: {one_line(exc)}") from None
            finally:
                _close(resp)
            page = doc.get("items") or []
            # A real API server leaves apiVersion and kind out of list items (watch events
            # carry them): put them back from the list's own, as client-go does.
            list_kind = str(doc.get("kind") or "")
            kind = list_kind[: -len("List")] if list_kind.endswith("List") else ""
            api_version = doc.get("apiVersion")
            if kind and api_version:
                for item in page:
                    if isinstance(item, dict):
                        item.setdefault("apiVersion", api_version)
                        item.setdefault("kind", kind)
            items.extend(page)
            meta = doc.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            cont = meta.get("continue") or None
            if not cont:
                break
        self.stats.lists += 1
        self.stats.resource_version = rv
        self._heard()
        self.on_sync(items)
        self.stats.synced.set()
        return rv

    def _watch(self, rv: str) -> str:
        """One watch connection; returns the resourceVersion to resume from."""
        timeout = int(self.watch_timeout * (1.0 + self._rng.random()))  # client-go's spread
        resp = self._open(
            {
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": rv,
                "timeoutSeconds": timeout,
                "labelSelector": self.label_selector,
            },
            (10.0, timeout + self.read_margin),
        )
        self._response = resp
        opened = time.monotonic()
        heard = False  # a line came on this connection
        try:
            if self._stop.is_set():
                return rv
            for line in _lines(resp):
                if self._stop.is_set():
                    break
                try:
                    event = json.loads(line)
                    kind = event["type"]
                    obj = event["object"]
                except (ValueError, KeyError, TypeError):
                    log.warning("%s: skipping a malformed watch line: %.200r", self.name, line)
                    continue
                if kind == "ERROR":
                    code = obj.get("code") if isinstance(obj, dict) else None
                    if code == 410:
                        raise Gone(obj.get("message", "Gone"))
                    if code == 429 or (isinstance(code, int) and code >= 500):
                        raise Retryable(f"watch error {code}: {obj.get('message', '')}")
                    raise Retryable(f"watch error: {one_line(obj)}")
                heard = True
                self._heard()
                new_rv = ((obj.get("metadata") or {}).get("resourceVersion")) if isinstance(obj, dict) else None
                if kind != "BOOKMARK":
                    self.stats.events += 1
                    self.stats.last_event_at = time.time()
                    self.on_event(kind, obj)
                if new_rv:
                    rv = new_rv
                    self.stats.resource_version = rv
        except (OSError, ValueError) as exc:
            if not self._stop.is_set():
                raise Retryable(f"watch connection broke: {one_line(exc)}", heard=heard) from None
        except Exception as exc:  # noqa: BLE001 - urllib3's protocol/timeout errors
            if isinstance(exc, (Gone, Retryable, Fatal)):
                raise
            if not self._stop.is_set():
                raise Retryable(f"watch connection broke: {one_line(exc)}", heard=heard) from None
        finally:
            self._response = None
            _close(resp)
        if not heard and not self._stop.is_set() and time.monotonic() - opened < self.short_watch:
            raise Retryable("the server ended the watch at once without a word")
        self._heard()  # a clean end is the server's word too
        return rv


def _lines(resp: Any) -> Any:
    """Complete lines of a streamed response (a watch is one JSON document per line)."""
    pending = b""
    for chunk in resp.stream(65536, decode_content=True):
        if not chunk:
            continue
        pending += chunk
        if b"\n" not in chunk:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _close(resp: Any) -> None:
    for method in ("shutdown", "close", "release_conn"):
        fn = getattr(resp, method, None)
        if fn is not None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def _status_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return one_line(body[:1024].decode("utf-8", "replace"))
    return one_line(doc.get("message", "")) if isinstance(doc, dict) else ""
