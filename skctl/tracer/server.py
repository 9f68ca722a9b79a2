"""The tracer's HTTP API (default 127.0.0.1:7777).

- `POST /export`: skctl's request or SimKube's `ExportRequest` (`start_ts`, `end_ts`,
  `export_path`, `filters.excluded_namespaces`, `filters.excluded_labels` as strings or
  LabelSelector objects, optional `transform`). The answer is a CBOR trace when the
  client accepts `application/cbor`, a SimKube msgpack trace otherwise. When
  `export_path` is an object-storage URL (s3, gs/gcs, az/abfs) the tracer writes the
  trace there itself, with its own credentials, and answers 200 with an empty body, as
  SimKube's tracer does. Malformed JSON is 400, a well-formed but unusable request 422
  (both with a JSON `{"error": ...}`), a body over `MAX_BODY` bytes 413.
- `GET /healthz`: "ok". `GET /status`: JSON. `GET /metrics`: Prometheus text.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from skctl.errors import SkctlError
from skctl.trace.model import Trace
from skctl.trace.selectors import SelectorError
from skctl.trace.skel import Program, TransformError
from skctl.trace.window import ExportFilters

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
CLOUD_PROTOCOLS = ("s3", "gcs", "abfs")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_export_request(body: bytes) -> tuple[int, int, ExportFilters, str | None]:
    """(start, end, filters, export_path) from a request body; BadRequest on anything wrong."""
    try:
        doc = json.loads(body or b"null")
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
    if start >= end:
        raise BadRequest(422, f"start_ts {start} must be before end_ts {end}")
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


def is_cloud_url(url: str | None) -> bool:
    if not url:
        return False
    from skctl import storage

    try:
        return storage.protocol_of(url) in CLOUD_PROTOCOLS
    except SkctlError:
        return False


class Metrics:
    """Counters the API keeps itself (export durations); the rest comes from `status`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exports = 0
        self.export_errors = 0
        self.export_seconds = 0.0


class TracerAPI:
    """Serves the API from a thread; `export(start, end, filters) -> Trace` cuts windows."""

    def __init__(
        self,
        host: str,
        port: int,
        export: Callable[..., Trace],  # (start, end, filters[, transform])
        status: Callable[[], dict[str, Any]],
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.export = export
        self.status = status
        self.storage_options = storage_options or {}
        self.metrics = Metrics()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                log.debug("%s - %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                api._get(self)

            def do_POST(self) -> None:
                api._post(self)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> TracerAPI:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tracer api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- handlers ---------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _error(self, h: BaseHTTPRequestHandler, status: int, message: str) -> None:
        self._send(h, status, json.dumps({"error": message}).encode(), "application/json")

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(h, 200, b"ok\n", "text/plain")
        elif path == "/status":
            self._send(h, 200, json.dumps(self.status(), indent=1).encode(), "application/json")
        elif path == "/metrics":
            self._send(h, 200, self.prometheus().encode(), "text/plain; version=0.0.4")
        else:
            self._error(h, 404, f"no such endpoint {path}; use POST /export, GET /healthz, /status, /metrics")

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length_text = h.headers.get("Content-Length")
        if path != "/export":
            self._error(h, 404, f"no such endpoint {path}")
            return
        if length_text is None or not length_text.isdigit():
            self._error(h, 411, "a Content-Length is required")
            return
        length = int(length_text)
        if length > MAX_BODY:
            h.close_connection = True
            self._error(h, 413, f"the request body is {length} bytes; the limit is {MAX_BODY}")
            return
        body = h.rfile.read(length)
        started = time.perf_counter()
        try:
            start, end, filters, export_path = parse_export_request(body)
            transform = parse_transform(body)
            if is_cloud_url(export_path):
                from skctl import storage

                assert export_path is not None
                storage.check_destination(export_path, self.storage_options)  # before the work
            trace = self.export(start, end, filters, transform) if transform else self.export(start, end, filters)
            cbor = "application/cbor" in (h.headers.get("Accept") or "")
            data = _encode(trace, cbor)
            if is_cloud_url(export_path):
                from skctl import storage

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
            log.error("export failed: %s", exc)
            self._error(h, 500, str(exc))
            return
        self._count(started)

    def _count(self, started: float, error: bool = False) -> None:
        with self.metrics.lock:
            self.metrics.exports += 1
            self.metrics.export_errors += int(error)
            self.metrics.export_seconds += time.perf_counter() - started

    def prometheus(self) -> str:
        """The metrics in Prometheus' text exposition format."""
        st = self.status()
        lines = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {value:g}")

        watches = st.get("watches", {})
        metric("skctl_tracer_events_recorded_total", "counter", "Trace events recorded, per kind.",
               [(f'{{gvk="{g}"}}', n) for g, n in sorted(st.get("events_per_kind", {}).items())])
        metric("skctl_tracer_watch_restarts_total", "counter", "Watch reconnections, per tracked kind.",
               [(f'{{gvk="{g}"}}', w.get("restarts", 0)) for g, w in sorted(watches.items())])
        metric("skctl_tracer_relists_total", "counter", "Re-lists after 410 Gone, per tracked kind.",
               [(f'{{gvk="{g}"}}', w.get("relists", 0)) for g, w in sorted(watches.items())])
        metric("skctl_tracer_watch_errors_total", "counter", "Failed list/watch calls, per tracked kind.",
               [(f'{{gvk="{g}"}}', w.get("errors", 0)) for g, w in sorted(watches.items())])
        metric("skctl_tracer_watch_last_heard_seconds", "gauge",
               "Seconds since the watch last heard from the API server (an event, a bookmark, a list, a clean end), "
               "per tracked kind.",
               [(f'{{gvk="{g}"}}', w["last_heard_seconds"]) for g, w in sorted(watches.items())
                if w.get("last_heard_seconds") is not None])
        metric("skctl_tracer_journal_bytes", "gauge", "Bytes in the journal directory.",
               [("", st.get("journal_bytes", 0))])
        metric("skctl_tracer_live_objects", "gauge", "Tracked objects currently alive.",
               [("", st.get("live_objects", 0))])
        with self.metrics.lock:
            metric("skctl_tracer_export_duration_seconds", "summary", "Time spent answering POST /export.",
                   [("_sum", self.metrics.export_seconds), ("_count", self.metrics.exports)])
            metric("skctl_tracer_export_errors_total", "counter", "POST /export requests that failed.",
                   [("", self.metrics.export_errors)])
        return "\n".join(lines) + "\n"


def _encode(trace: Trace, cbor: bool) -> bytes:
    from skctl.trace import codec, simkube

    return codec.encode(trace) if cbor else simkube.encode(trace)
