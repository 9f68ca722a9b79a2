"""The tracer's HTTP API (default 127.0.0.1:7777).

- `POST /export`: skctl's request or SimKube's `ExportRequest` (`start_ts`, `end_ts`,
  `export_path`, `filters.excluded_namespaces`, `filters.excluded_labels` as strings or
  LabelSelector objects, optional `transform`). The answer is a CBOR trace when the
  client accepts `application/cbor` (file format 3 for `application/cbor; version=3`,
  else 2, which older skctl clients read), a SimKube msgpack trace otherwise. When
  `export_path` is an object-storage URL (s3, gs/gcs, az/abfs) the tracer writes the
  trace there itself, with its own credentials, and answers 200 with an empty body, as
  SimKube's tracer does. Malformed JSON is 400, a well-formed but unusable request 422
  (a window outside 1970..9999 included), a body over `MAX_BODY` bytes 413; every error
  answer is a JSON `{"error": "<one line>"}`.
- `GET /healthz`: "ok". `GET /status`: JSON. `GET /metrics`: Prometheus text (prometheus_client).

The API can never stop the recording (docs/tracer.md, "The HTTP API under load"): at most
`max_connections()` connections are open at once (a new one closes the one that has
waited longest for its request; when all are computing answers, new ones wait in the
kernel's listen queue and use none of the tracer's file descriptors), a connection that sends
nothing for `READ_TIMEOUT` seconds, or has not sent its whole request within
`REQUEST_DEADLINE` seconds, is closed, and the cap leaves `FD_RESERVE` descriptors of the
process's limit to the journal and the watches. Clients that go away early are logged at
debug level; nothing below `-v debug` prints a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from skctl.base.errors import SkctlError
from skctl.base.text import one_line
from skctl.base.timeparse import MAX_TS
from skctl.kube.selectors import SelectorError
from skctl.trace.model import Trace
from skctl.trace.skel import Program, TransformError
from skctl.trace.window import ExportFilters

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0  # seconds a connection may stay silent (idle keep-alive included)
REQUEST_DEADLINE = 30.0  # seconds to send one whole request (line, headers, body)
MAX_CONNECTIONS = 64  # connections served at once; more wait in the listen queue
FD_RESERVE = 64  # descriptors kept for the journal, the watches and cloud writes
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what prometheus_client's generate_latest writes
_DIGITS = re.compile(r"[0-9]{1,12}")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_export_request(body: bytes) -> tuple[int, int, ExportFilters, str | None]:
    """(start, end, filters, export_path) from a request body; BadRequest on anything wrong."""
    try:
        doc = json.loads(body or b"null")
    except RecursionError:
        raise BadRequest(400, "the body is nested too deeply to be an export request") from None
    except ValueError as exc:
        raise BadRequest(400, f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest(400, "the body must be a JSON object with start_ts and end_ts")
    times = []
    for key in ("start_ts", "end_ts"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(422, f"{key} must be an integer number of unix seconds")
        times.append(value)
    start, end = times
    # The start becomes the exported trace's first time, so it must be one a trace can hold;
    # an end past 9999 means "everything recorded" and is clipped (end_ts is exclusive).
    if not 0 <= start <= MAX_TS:
        raise BadRequest(422, "start_ts is outside 1970-01-01 .. 9999-12-31 (unix seconds 0 to " + str(MAX_TS) + ")")
    end = min(end, MAX_TS + 1)
    if start >= end:
        shown = end if end >= 0 else "(negative)"
        raise BadRequest(422, f"start_ts {start} must be before end_ts {shown}")
    filters_doc = doc.get("filters")
    if filters_doc is not None and not isinstance(filters_doc, dict):
        raise BadRequest(422, "filters must be an object")
    try:
        filters = ExportFilters.from_json(filters_doc)
    except (SelectorError, ValueError, TypeError, AttributeError) as exc:
        raise BadRequest(422, f"bad filters: {exc}") from None
    transform = doc.get("transform")
    if transform is not None and not isinstance(transform, str):
        raise BadRequest(422, "transform must be a string: a SimKube transform program (SKEL)")
    path = doc.get("export_path")
    if path is not None and not isinstance(path, str):
        raise BadRequest(422, "export_path must be a string")
    return start, end, filters, path or None


def parse_transform(body: bytes) -> Program | None:
    """The request's `transform` (SimKube's SKEL program text) parsed, or None; 422 when it
    does not parse. Applied per recorded event before the window is cut (skctl.trace.skel)."""
    from skctl.trace import skel

    text = json.loads(body).get("transform")
    if not text:
        return None
    try:
        return skel.parse(text, origin="transform")
    except TransformError as exc:
        raise BadRequest(422, str(exc)) from None


class Metrics:
    """Counters the API keeps itself (export durations); the rest comes from `status`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exports = 0
        self.export_errors = 0
        self.export_seconds = 0.0


def max_connections(limit: int = MAX_CONNECTIONS, reserve: int = FD_RESERVE) -> int:
    """How many connections the API serves at once: `limit`, lowered so that the
    descriptors already open plus the API's and `reserve` more stay within the process's
    soft RLIMIT_NOFILE (a tracer run with `ulimit -n 256` still journals and watches)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return limit
    if soft == resource.RLIM_INFINITY:
        return limit
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32
    return max(1, min(limit, soft - in_use - reserve))


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that accepts at most `capacity` connections at a time and
    closes those that take too long to send a request; its errors are log lines."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], capacity: int,
                 deadline: float) -> None:
        self.capacity = capacity
        self.slots = threading.BoundedSemaphore(capacity)
        self.deadline = deadline
        self.reading: dict[socket.socket, float] = {}  # connection -> when it must have sent its request
        self.reading_lock = threading.Lock()
        self.reaper_stop = threading.Event()
        super().__init__(address, handler)
        self.reaper = threading.Thread(target=self._reap, name="tracer api deadlines", daemon=True)
        self.reaper.start()

    def get_request(self) -> tuple[socket.socket, Any]:
        # At capacity, the connection that has waited longest for its request makes room
        # (an idle keep-alive, a stalled client): new clients are served, answers being
        # computed are never cut. When every slot is busy computing, the new connection
        # waits in the kernel's listen queue; waiting in short steps lets
        # serve_forever() see a shutdown.
        if not self.slots.acquire(blocking=False):
            self._evict_oldest()
            if not self.slots.acquire(timeout=0.5):
                raise OSError("at the connection cap")
        try:
            return super().get_request()
        except BaseException:
            self.slots.release()
            raise

    def shutdown_request(self, request: Any) -> None:
        self.expect_nothing(request)  # before the close: the reaper never touches a closed socket
        try:
            super().shutdown_request(request)
        finally:
            self.slots.release()

    def expect_request(self, sock: socket.socket) -> None:
        with self.reading_lock:
            self.reading[sock] = time.monotonic() + self.deadline

    def expect_nothing(self, sock: socket.socket) -> None:
        with self.reading_lock:
            self.reading.pop(sock, None)

    def _cut(self, sock: socket.socket) -> None:
        """End a connection's wait for its request (its handler sees end of input); the
        caller holds `reading_lock` and has removed it from `reading`."""
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _evict_oldest(self) -> None:
        with self.reading_lock:
            if not self.reading:
                return
            oldest = min(self.reading, key=self.reading.__getitem__)
            del self.reading[oldest]
            log.debug("tracer API: %d connections open; the one waiting longest for a request is closed", self.capacity)
            self._cut(oldest)

    def _reap(self) -> None:
        """Cut connections still sending a request past the deadline (a client that
        trickles a byte at a time defeats a per-read timeout)."""
        while not self.reaper_stop.wait(1.0):
            now = time.monotonic()
            with self.reading_lock:
                late = [sock for sock, due in self.reading.items() if due <= now]
                for sock in late:
                    del self.reading[sock]
                    log.debug("tracer API: a client took over %gs to send its request; closed", self.deadline)
                    self._cut(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            log.debug("tracer API: connection from %s ended: %s", client_address, exc)
        else:
            log.error("tracer API: a request from %s failed: %s", client_address, one_line(exc))
            log.debug("tracer API: the failure", exc_info=True)

    def server_close(self) -> None:
        self.reaper_stop.set()
        super().server_close()


class TracerAPI:
    """Serves the API from a thread; `export(start, end, filters) -> Trace` cuts windows."""

    def __init__(
        self,
        host: str,
        port: int,
        export: Callable[..., Trace],  # (start, end, filters[, transform])
        status: Callable[[], dict[str, Any]],
        storage_options: dict[str, Any] | None = None,
        capacity: int | None = None,
        read_timeout: float = READ_TIMEOUT,
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        self.export = export
        self.status = status
        self.storage_options = storage_options or {}
        self.metrics = Metrics()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = read_timeout

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                log.debug("%s - %s", self.address_string(), format % args)

            def handle_one_request(self) -> None:
                server: _Server = self.server  # type: ignore[assignment]
                server.expect_request(self.connection)
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError) as exc:
                    log.debug("tracer API: %s went away: %s", self.address_string(), exc)
                    self.close_connection = True
                finally:
                    server.expect_nothing(self.connection)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                # http.server's own errors (bad request line, headers too long): JSON, one line
                self.close_connection = True
                self.request_version = "HTTP/1.1"  # answer garbage (an "HTTP/0.9" line) with headers too
                try:
                    api._error(self, code, message or self.responses.get(code, ("error",))[0])
                except OSError as exc:
                    log.debug("tracer API: could not answer %s: %s", self.address_string(), exc)

            def do_GET(self) -> None:
                api._get(self)

            def do_POST(self) -> None:
                api._post(self)

        self.httpd = _Server((host, port), Handler, capacity or max_connections(), deadline)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def capacity(self) -> int:
        return self.httpd.capacity

    def start(self) -> TracerAPI:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tracer api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- handlers ---------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        """Answer; a client that has gone away is a debug line, not a traceback."""
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except OSError as exc:
            h.close_connection = True
            log.debug("tracer API: %s went away before the answer: %s", h.address_string(), exc)

    def _error(self, h: BaseHTTPRequestHandler, status: int, message: str) -> None:
        self._send(h, status, json.dumps({"error": " ".join(message.split())}).encode(), "application/json")

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        self._done_reading(h)
        path = h.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                self._send(h, 200, b"ok\n", "text/plain")
            elif path == "/status":
                self._send(h, 200, json.dumps(self.status(), indent=1).encode(), "application/json")
            elif path == "/metrics":
                self._send(h, 200, self.prometheus().encode(), METRICS_CONTENT_TYPE)
            else:
                self._error(h, 404, f"no such endpoint {path!r}; use POST /export, GET /healthz, /status, /metrics")
        except Exception as exc:  # noqa: BLE001 - an answer, never a dead handler thread
            log.error("tracer API: GET %s failed: %s", path, one_line(exc))
            log.debug("tracer API: the failure", exc_info=True)
            self._error(h, 500, f"GET {path} failed: {one_line(exc)}")

    @staticmethod
    def _done_reading(h: BaseHTTPRequestHandler) -> None:
        server: _Server = h.server  # type: ignore[assignment]
        server.expect_nothing(h.connection)

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length_text = (h.headers.get("Content-Length") or "").strip()
        if path != "/export":
            h.close_connection = True
            self._error(h, 404, f"no such endpoint {path!r}")
            return
        if not length_text:
            h.close_connection = True
            self._error(h, 411, "a Content-Length is required")
            return
        if not _DIGITS.fullmatch(length_text):
            h.close_connection = True
            status = 413 if length_text.isascii() and length_text.isdigit() else 400
            self._error(h, status, f"Content-Length must be a byte count of at most {MAX_BODY}")
            return
        length = int(length_text)
        if length > MAX_BODY:
            h.close_connection = True
            self._error(h, 413, f"the request body is {length} bytes; the limit is {MAX_BODY}")
            return
        try:
            body = h.rfile.read(length)
        except (OSError, ValueError) as exc:
            h.close_connection = True
            log.debug("tracer API: %s went away while sending its request: %s", h.address_string(), exc)
            return
        self._done_reading(h)
        if len(body) < length:
            h.close_connection = True
            log.debug("tracer API: %s sent %d of %d body bytes and went away", h.address_string(), len(body), length)
            return
        started = time.perf_counter()
        try:
            start, end, filters, export_path = parse_export_request(body)
            transform = parse_transform(body)
            from skctl import storage  # on the first export, not at import: /status needs no fsspec

            if storage.is_cloud_url(export_path):
                assert export_path is not None
                storage.check_destination(export_path, self.storage_options)  # before the work
            trace = self.export(start, end, filters, transform) if transform else self.export(start, end, filters)
            cbor, version = _wanted(h.headers.get("Accept") or "")
            data = _encode(trace, cbor, version)
            if storage.is_cloud_url(export_path):
                assert export_path is not None
                storage.write_bytes(export_path, data, self.storage_options)
                self._send(h, 200, b"", "application/octet-stream")
            else:
                self._send(h, 200, data, "application/cbor" if cbor else "application/msgpack")
        except BadRequest as exc:
            self._count(started, error=True)
            self._error(h, exc.status, str(exc))
            return
        except TransformError as exc:  # the program does not fit the recorded objects
            self._count(started, error=True)
            self._error(h, 422, str(exc))
            return
        except SkctlError as exc:
            self._count(started, error=True)
            log.error("export failed: %s", one_line(exc))
            self._error(h, 500, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - an answer, never a dead handler thread
            self._count(started, error=True)
            log.error("export failed: %s", one_line(exc))
            log.debug("export failure", exc_info=True)
            self._error(h, 500, f"the export failed: {one_line(exc)}")
            return
        self._count(started)

    def _count(self, started: float, error: bool = False) -> None:
        with self.metrics.lock:
            self.metrics.exports += 1
            self.metrics.export_errors += int(error)
            self.metrics.export_seconds += time.perf_counter() - started

    def prometheus(self) -> str:
        """The metrics in Prometheus' text exposition format (0.0.4), by prometheus_client."""
        from prometheus_client.exposition import generate_latest

        return generate_latest(_Collector(self.status, self.metrics)).decode()


class _Collector:
    """prometheus_client's custom-collector protocol over the tracer's `status()` and the
    API's export counters: each scrape reads them afresh; nothing is registered globally
    (no default process/platform metrics, two tracers in one process never collide)."""

    def __init__(self, status: Callable[[], dict[str, Any]], metrics: Metrics) -> None:
        self.status = status
        self.metrics = metrics

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

        st = self.status()
        watches = sorted(st.get("watches", {}).items())

        def per_kind(family: Any, samples: Any) -> Any:
            for gvk, value in samples:
                family.add_metric([gvk], value)
            return family

        yield per_kind(CounterMetricFamily("skctl_tracer_events_recorded_total", "Trace events recorded, per kind.",
                                           labels=["gvk"]), sorted(st.get("events_per_kind", {}).items()))
        yield per_kind(CounterMetricFamily("skctl_tracer_watch_restarts_total", "Watch reconnections, per tracked kind.",
                                           labels=["gvk"]), [(g, w.get("restarts", 0)) for g, w in watches])
        yield per_kind(CounterMetricFamily("skctl_tracer_relists_total", "Re-lists after 410 Gone, per tracked kind.",
                                           labels=["gvk"]), [(g, w.get("relists", 0)) for g, w in watches])
        yield per_kind(CounterMetricFamily("skctl_tracer_watch_errors_total", "Failed list/watch calls, per tracked kind.",
                                           labels=["gvk"]), [(g, w.get("errors", 0)) for g, w in watches])
        yield per_kind(
            GaugeMetricFamily(
                "skctl_tracer_watch_last_heard_seconds",
                "Seconds since the watch last heard from the API server (an event, a bookmark, a list, a clean end), "
                "per tracked kind.",
                labels=["gvk"],
            ),
            [(g, w["last_heard_seconds"]) for g, w in watches if w.get("last_heard_seconds") is not None],
        )
        use = st.get("usage") or {}
        yield GaugeMetricFamily("skctl_tracer_usage_sampling",
                                "1 while pod usage is sampled from the resource metrics API (metrics.k8s.io), else 0.",
                                value=1 if use.get("sampling") else 0)
        yield GaugeMetricFamily("skctl_tracer_usage_samples", "Pod usage samples held (after retention).",
                                value=use.get("samples", 0))
        yield GaugeMetricFamily("skctl_tracer_journal_bytes", "Bytes in the journal directory.",
                                value=st.get("journal_bytes", 0))
        yield GaugeMetricFamily("skctl_tracer_live_objects", "Tracked objects currently alive.",
                                value=st.get("live_objects", 0))
        metrics = self.metrics
        with metrics.lock:
            exports, errors, seconds = metrics.exports, metrics.export_errors, metrics.export_seconds
        yield SummaryMetricFamily("skctl_tracer_export_duration_seconds", "Time spent answering POST /export.",
                                  count_value=exports, sum_value=seconds)
        yield CounterMetricFamily("skctl_tracer_export_errors_total", "POST /export requests that failed.", value=errors)


def _wanted(accept: str) -> tuple[bool, int]:
    """(CBOR?, its file format version) from an Accept header: `application/cbor; version=3`
    asks for version 3; a bare `application/cbor` (older skctl clients) gets version 2."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() == "application/cbor":
            return True, 3 if "version=3" in (p.replace(" ", "").lower() for p in params) else 2
    return False, 2


def _encode(trace: Trace, cbor: bool, version: int = 2) -> bytes:
    from skctl.trace import codec, format3, simkube

    if not cbor:
        return simkube.encode(trace)
    return format3.encode(trace) if version == format3.VERSION else codec.encode(trace)
