"""The sandbox API server: Kubernetes REST and watch over HTTP/1.1 on loopback.

`SandboxServer` runs a ThreadingHTTPServer in a background thread (tests) or in the
foreground (`skctl sandbox`). Each request is routed to the discovery documents, a
fault-injection endpoint, or a resource handler in `skctl.sandbox.handlers`. Watches
stream chunked JSON lines. Everything is standard library except the optional TLS
certificate generation (see `skctl.sandbox.tls`).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from skctl.sandbox import access, errors, metrics, openapi, options
from skctl.sandbox.discovery import SERVER_VERSION, Registry
from skctl.sandbox.errors import ApiError
from skctl.sandbox.faults import Faults
from skctl.sandbox.handlers import ResourceRequest, handle_resource
from skctl.sandbox.kubeconfig import write_kubeconfig
from skctl.sandbox.objects import dumps
from skctl.sandbox.responses import Response, json_response
from skctl.sandbox.store import Store
from skctl.sandbox.watch import WatchStream

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BOOKMARK_INTERVAL = 60.0  # seconds between watch BOOKMARK events: about a minute, as a real server
MAX_BODY = 64 * 1024 * 1024


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.ssl_context: ssl.SSLContext | None = None
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # Handshake later, in the handler thread, so a slow client cannot stall accept().
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "skctl-sandbox"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        if self.server.ssl_context is not None:
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conn_lock:
            self.server.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.request)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    # --- plumbing ------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise errors.bad_request("invalid Content-Length") from None
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
        return self.rfile.read(n)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise errors.bad_request("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, "RequestEntityTooLarge", "the request body is too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, resp: Response, head_only: bool = False) -> None:
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(resp.body)

    def _dispatch(self, method: str) -> None:
        sandbox = self.server.sandbox
        try:
            try:
                body = self._read_body()
            except ApiError as exc:
                self._send(Response(exc.code, dumps(exc.status()), headers=exc.headers))
                return
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            try:
                result = sandbox.handle(method, url.path, query, self.headers, body)
            except ApiError as exc:
                result = Response(exc.code, dumps(exc.status()), headers=exc.headers)
            except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
                log.exception("sandbox: unhandled error for %s %s", method, self.path)
                err = ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}")
                result = Response(500, dumps(err.status()))
            if isinstance(result, WatchStream):
                self._stream(result)
            else:
                self._send(result, head_only=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        except OSError:
            self.close_connection = True

    def _stream(self, stream: WatchStream) -> None:
        sandbox = self.server.sandbox
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        sock = self.request

        def write(data: bytes) -> None:
            sock.sendall(b"%x\r\n%b\r\n" % (len(data), data))

        sandbox._register_watch(stream)
        try:
            stream.run(write)
            if stream.broken:  # cut mid-stream: no final chunk, the connection just ends
                sock.shutdown(socket.SHUT_RDWR)
            else:
                sock.sendall(b"0\r\n\r\n")
        finally:
            sandbox._unregister_watch(stream)
        if stream.dropped:
            self.close_connection = True


class SandboxServer:
    """A loopback Kubernetes API server with fault injection, in a background thread.

    Use as a context manager or call `start()`/`stop()`. `store` is the in-process API
    (create/update/delete/list) that generators write through; `faults` injects failures.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        tls: bool = False,
        token: str | None = None,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        max_history: int | None = None,
        store: Store | None = None,
        fresh_wait: float = options.BLOCK_SECONDS,
        history_seconds: float | None = None,
        namespace_delay: float | None = None,
        access_rules: Iterable[Mapping[str, Any]] | None = None,
        metrics: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS and not host.startswith("127."):
            raise ValueError(f"the sandbox binds to loopback only, not {host!r}")
        self.host = host
        self.token = token
        self.metrics = metrics  # serve metrics.k8s.io from pod usage annotations (skctl.sandbox.metrics)
        self.tls = tls
        self.bookmark_interval = bookmark_interval
        self.fresh_wait = fresh_wait  # how long a read for a future resourceVersion waits before 504
        if store is None:
            kwargs: dict[str, Any] = {}
            if max_history:
                kwargs["max_history"] = max_history
            if history_seconds is not None:
                kwargs["history_seconds"] = history_seconds
            if namespace_delay is not None:
                kwargs["namespace_delay"] = namespace_delay
            store = Store(Registry.with_builtins(), **kwargs)
        self.store = store
        self.registry = self.store.registry
        # None: every request allowed; else the one user's RBAC rules (skctl.sandbox.access)
        self.access = None if access_rules is None else access.AccessRules(access_rules)
        self.faults = Faults()
        self.faults.on_drop(self.drop_watches)
        self.faults.on_compact(self.store.compact)
        self._watches: set[WatchStream] = set()
        self.watches_started = 0  # watch requests served so far (tests check reconnects)
        self._watch_lock = threading.Lock()
        self._tmpdir = tempfile.TemporaryDirectory(prefix="skctl-sandbox-")
        self.ca_pem: bytes | None = None
        self.ca_path: Path | None = None
        self._httpd = _HTTPServer((host if host != "localhost" else "127.0.0.1", port), self)
        if tls:
            from skctl.sandbox.tls import generate_self_signed, server_context

            cert, key = generate_self_signed(host)
            self.ca_pem = cert
            self.ca_path = Path(self._tmpdir.name) / "ca.crt"
            key_path = Path(self._tmpdir.name) / "tls.key"
            self.ca_path.write_bytes(cert)
            key_path.write_bytes(key)
            self._httpd.ssl_context = server_context(self.ca_path, key_path)
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self once the socket is accepting."""
        self._thread = threading.Thread(target=self.serve_forever, name="skctl-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Stop accepting, end watches, close open connections, release the port."""
        self.store.close()
        self.drop_watches()
        self._httpd.shutdown()
        with self._httpd.conn_lock:
            conns = list(self._httpd.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._tmpdir.cleanup()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- watches -------------------------------------------------------------------------
    def _register_watch(self, stream: WatchStream) -> None:
        with self._watch_lock:
            self._watches.add(stream)
            self.watches_started += 1

    def _unregister_watch(self, stream: WatchStream) -> None:
        with self._watch_lock:
            self._watches.discard(stream)

    @property
    def open_watches(self) -> int:
        return len(self._watches)

    def drop_watches(self, broken: bool = False) -> int:
        """End every open watch stream (clients see the stream end and must resume); with
        `broken`, cut the connections mid-stream instead of ending the streams cleanly."""
        with self._watch_lock:
            streams = list(self._watches)
        for stream in streams:
            stream.stop(broken)
        return len(streams)

    # --- clients -------------------------------------------------------------------------
    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig for this server (context `skctl-sandbox`) and return its path."""
        return write_kubeconfig(path, self.url, ca_pem=self.ca_pem, token=self.token)

    def configuration(self) -> Any:
        """A `kubernetes.client.Configuration` for this server (imports kubernetes lazily)."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        if self.tls:
            cfg.ssl_ca_cert = str(self.ca_path)
            cfg.verify_ssl = True
        if self.token:
            cfg.api_key = {"authorization": self.token}
            cfg.api_key_prefix = {"authorization": "Bearer"}
        return cfg

    def api_client(self) -> Any:
        """A fresh `kubernetes.client.ApiClient` talking to this server."""
        from kubernetes import client

        return client.ApiClient(self.configuration())

    # --- request handling ----------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> Any:
        """Route one request; returns a Response or a WatchStream. Raises ApiError."""
        if self.token:
            auth = headers.get("Authorization", "")
            if auth != f"Bearer {self.token}" and path not in ("/healthz", "/livez", "/readyz"):
                raise ApiError(401, "Unauthorized", "Unauthorized")
        if path.startswith("/sandbox/"):
            return self._handle_sandbox(method, path, body)
        self.faults.check(method, path)
        path = path.rstrip("/") or "/"
        if path == access.SSAR_PATH:
            return access.review(self.access, method, body)
        if method in ("GET", "HEAD"):
            doc = self._discovery(path, headers)
            if doc is not None:
                return doc
            if self.metrics and path.startswith(f"/apis/{metrics.GROUP_VERSION}/"):
                return self._metrics(path)
        # Segments arrive percent-encoded (clients quote names such as system:foo).
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _path_not_found()
        req = ResourceRequest.parse(self.registry, method, group, version, rest, query, headers, body)
        if req is None:
            raise _path_not_found()
        if self.access is not None:
            self._authorize(req)
        return handle_resource(self, req)

    def _authorize(self, req: ResourceRequest) -> None:
        """403 unless the access rules allow the request; an apply that would create the object
        needs `create` too, as on a real server."""
        assert self.access is not None
        rtype, sub = req.rtype, req.subresource or ""
        verbs = [access.request_verb(req.method, req.name, req.watch)]
        if (verbs[0] == "patch" and not sub and req.name and req.content_type == "application/apply-patch+yaml"
                and self.store.get(rtype, req.namespace or "", req.name) is None):
            verbs.append("create")
        for verb in verbs:
            if not self.access.allows(verb, rtype.group, rtype.plural, sub, req.name or ""):
                raise access.forbidden(verb, rtype.group, rtype.plural, sub, req.namespace, req.name)

    def _discovery(self, path: str, headers: Any = None) -> Response | None:
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return json_response(SERVER_VERSION)
        if path == "/api":
            return json_response(self.registry.api_versions(f"{self.host}:{self.port}"))
        if path == "/apis":
            groups = self.registry.api_group_list()
            if self.metrics:
                groups["groups"].append(metrics.group_entry())
            return json_response(groups)
        if self.metrics and path == f"/apis/{metrics.GROUP}":
            return json_response({"kind": "APIGroup", "apiVersion": "v1", **metrics.group_entry()})
        if self.metrics and path == f"/apis/{metrics.GROUP_VERSION}":
            return json_response(metrics.resource_list())
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = self.registry.resource_list("", parts[1])
            if doc is None:
                raise _path_not_found()
            return json_response(doc)
        if parts[0] == "apis" and len(parts) == 2:
            doc = self.registry.api_group(parts[1])
            if doc is None:
                raise _path_not_found()
            return json_response(doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = self.registry.resource_list(parts[1], parts[2])
            if doc is None:
                raise _path_not_found()
            return json_response(doc)
        if parts[0] == "openapi" and len(parts) >= 2 and parts[1] == "v3":
            if len(parts) == 2:
                return json_response(openapi.index_doc(self.registry))
            rest = parts[2:]
            if rest[0] == "api" and len(rest) == 2:
                doc = openapi.group_version_doc(self.registry, "", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                doc = openapi.group_version_doc(self.registry, rest[1], rest[2])
            else:
                doc = None
            if doc is None:
                raise _path_not_found()
            return json_response(doc)
        if path == "/openapi/v2":
            accept = (headers.get("Accept") or "") if headers is not None else ""
            if "protobuf" in accept:
                return Response(200, openapi.V2_PROTOBUF, openapi.V2_PROTOBUF_TYPE)
            return json_response(openapi.V2_DOC)
        if parts[0] == "openapi":
            raise _path_not_found()
        return None

    def _metrics(self, path: str) -> Response:
        """GET of PodMetrics (skctl.sandbox.metrics); 404 for anything else under the group."""
        parts = [unquote(p) for p in path[len(f"/apis/{metrics.GROUP_VERSION}/"):].split("/")]
        namespace = parts[1] if len(parts) >= 3 and parts[0] == "namespaces" else None
        pod_type = self.registry.by_key(("", "pods"))
        assert pod_type is not None
        _rv, found = self.store.list(pod_type, namespace)
        doc = metrics.answer([obj for _key, obj, _raw in found], parts, time.time())
        if doc is None:
            raise _path_not_found()
        return json_response(doc)

    def _handle_sandbox(self, method: str, path: str, body: bytes) -> Response:
        if path.rstrip("/") == "/sandbox/faults" and method == "POST":
            try:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                return json_response(self.faults.apply(spec))
            except (ValueError, TypeError) as exc:
                raise errors.bad_request(f"bad fault request: {exc}") from None
        if path.rstrip("/") == "/sandbox/state" and method == "GET":
            return json_response({
                "resourceVersion": str(self.store.resource_version),
                "oldestResumableResourceVersion": str(self.store.oldest_resumable_rv),
                "openWatches": self.open_watches,
                "injectedFailures": self.faults.injected,
            })
        raise _path_not_found()


def _path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
