"""A resumable list+watch of one resource, on raw JSON dicts.

The loop every long-running client of the API server needs (the tracer, a replay driver
that follows what it created), written once:

1. LIST (paged with `limit`/`continue`; items get the list's apiVersion and kind, which
   a real server leaves out) and hand the complete set of objects to `on_sync`; the consumer diffs it against what it already knows, so a re-list after a
   410 records exactly what changed while the client was not watching.
2. WATCH from the list's resourceVersion with bookmarks, passing each ADDED, MODIFIED
   and DELETED object to `on_event`, and remembering the resourceVersion of every event
   and BOOKMARK.
3. When the stream ends or the connection drops, WATCH again from the remembered
   resourceVersion. On 410 Gone (an ERROR event or the HTTP status) go back to step 1.
4. 429 and 5xx answers and connection errors are retried with capped, jittered
   exponential backoff; a 429's Retry-After is honoured.

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

from skctl.errors import SkctlError

log = logging.getLogger(__name__)

LIST_PAGE = 500
WATCH_TIMEOUT = 300  # seconds the server may keep one watch open (it ends it cleanly)
READ_TIMEOUT = 60.0  # no byte in this long (bookmarks come far more often): reconnect
BACKOFF_BASE = 0.2
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0


class Gone(Exception):
    """The resourceVersion we resume from was compacted away (410): re-list."""


class Retryable(Exception):
    """A 429/5xx answer or a broken connection: wait and try again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    synced: threading.Event = field(default_factory=threading.Event)


def backoff_delay(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with full jitter; a server's Retry-After wins (capped)."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, RETRY_AFTER_CAP)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempt, 16)))
    return (rng or random).uniform(ceiling / 2, ceiling)


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
        read_timeout: float = READ_TIMEOUT,
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
        self.read_timeout = read_timeout
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
        attempt = 0
        while not self._stop.is_set():
            try:
                if rv is None:
                    self.stats.state = "listing"
                    rv = self._list()
                    attempt = 0
                self.stats.state = "watching"
                rv = self._watch(rv)
                attempt = 0
            except Gone:
                log.info("%s: resourceVersion %s is too old (410); re-listing", self.name, rv)
                self.stats.relists += 1
                rv = None
            except Retryable as exc:
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                delay = backoff_delay(attempt, exc.retry_after, self._rng)
                attempt += 1
                log.info("%s: %s; retrying in %.1fs", self.name, exc, delay)
                self.stats.state = "backoff"
                self._stop.wait(delay)
            except Fatal as exc:
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                self.stats.state = "failed"
                if self.on_fatal is not None:
                    self.on_fatal(exc)
                else:
                    log.error("%s: %s", self.name, exc)
                return
            if not self._stop.is_set():
                self.stats.restarts += 1
        self.stats.state = "stopped"

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
            raise Retryable(f"connection failed: {_short(exc)}") from None
        except SkctlError as exc:
            # the exec credential plugin failed to refresh the token (skctl.kube.client):
            # the next attempt runs it again, as a login may have been renewed meanwhile
            raise Retryable(f"credentials: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the client wraps transport errors variously
            if type(exc).__name__ == "ApiException":
                raise Retryable(f"request failed: {_short(exc)}") from None
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
        if status == 429 or status >= 500:
            retry_after = raw.headers.get("Retry-After") if raw.headers else None
            raise Retryable(f"HTTP {status}: {detail}", _seconds(retry_after))
        raise Fatal(f"HTTP {status}: {detail}", status)

    def _list(self) -> str:
        items: list[dict[str, Any]] = []
        cont: str | None = None
        rv = ""
        while True:
            resp = self._open(
                {"limit": LIST_PAGE, "continue": cont, "labelSelector": self.label_selector},
                (10.0, max(self.read_timeout, 30.0)),
            )
            try:
                doc = json.loads(resp.read())
            except (ValueError, OSError) as exc:
                raise Retryable(f"list broke off: {_short(exc)}") from None
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
        self.on_sync(items)
        self.stats.synced.set()
        return rv

    def _watch(self, rv: str) -> str:
        """One watch connection; returns the resourceVersion to resume from."""
        resp = self._open(
            {
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": rv,
                "timeoutSeconds": self.watch_timeout,
                "labelSelector": self.label_selector,
            },
            (10.0, self.read_timeout),
        )
        self._response = resp
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
                    raise Retryable(f"watch error: {_short(obj)}")
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
                raise Retryable(f"watch connection broke: {_short(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - urllib3's protocol/timeout errors
            if isinstance(exc, (Gone, Retryable, Fatal)):
                raise
            if not self._stop.is_set():
                raise Retryable(f"watch connection broke: {_short(exc)}") from None
        finally:
            self._response = None
            _close(resp)
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
        return _short(body[:200].decode("utf-8", "replace"))
    return _short(doc.get("message", "")) if isinstance(doc, dict) else ""


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
