"""The tracer's HTTP client: `skctl export` asking a running tracer (skctl's or SimKube's)
for a window. The other half of the exchange, the tracer's own API, is skctl.tracer.server.

The request is SimKube's `ExportRequest`; the answer is the trace's bytes (CBOR from skctl's
tracer, msgpack from SimKube's), or nothing when the tracer wrote to cloud storage itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress, no_progress
from skctl.base.text import one_line
from skctl.kube.selectors import SelectorError, to_label_selector
from skctl.trace import DEFAULT_FORMAT_VERSION, DEFAULT_TRACER_TIMEOUT
from skctl.trace.window import ExportFilters

CONNECT_TIMEOUT = 10.0
DOWNLOAD_CHUNK = 1024 * 1024


def tracer_export_url(address: str) -> str:
    """`{address}/export`; a bare `host:port` means http://host:port."""
    address = address.strip()
    if "://" not in address:
        address = "http://" + address
    try:
        parts = urlsplit(address)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise InputError(messages.EXPORT_BAD_TRACER_URL.format(url=address)) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(messages.EXPORT_BAD_TRACER_URL.format(url=address))
    try:  # a port past 65535, or a host name no DNS can hold (a label over 63 characters, `a..b`)
        _ = parts.port
        (parts.hostname or "").encode("idna")
    except ValueError:
        raise InputError(messages.EXPORT_BAD_TRACER_URL.format(url=address)) from None
    return address.rstrip("/") + "/export"


def fetch_from_tracer(
    address: str,
    start_ts: int,
    end_ts: int,
    filters: ExportFilters,
    timeout: float = DEFAULT_TRACER_TIMEOUT,
    progress: Progress = no_progress,
    export_path: str | None = None,
    fmt: str = "cbor",
    transform: str | None = None,
    version: int = DEFAULT_FORMAT_VERSION,
) -> bytes:
    """POST the window to a running tracer and stream back its trace bytes.

    The request is SimKube's `ExportRequest` (label selectors as LabelSelector objects,
    `export_path` always present), so SimKube's tracer understands it too; skctl's
    tracer answers CBOR for `Accept: application/cbor` (file format `version` for
    `application/cbor; version=3`; an older skctl tracer ignores the parameter and sends
    version 2), SimKube's always msgpack. With a cloud `export_path` the tracer writes there
    itself and the answer is empty.

    Unreachable tracer, timeouts and 5xx are OperationalErrors (exit 1); a 4xx means the
    request itself was bad and is an InputError (exit 2). The tracer's error body is
    shown in the message, on one line.
    """
    import requests

    from skctl.trace import limits, load
    from skctl.trace.codec import SELF_DESCRIBE

    url = tracer_export_url(address)
    labels = []
    for selector in filters.excluded_labels:
        try:
            labels.append(to_label_selector(selector))
        except SelectorError as exc:  # `>`/`<` work in a local window but not in a LabelSelector
            raise InputError(messages.EXPORT_BAD_SELECTOR.format(selector=selector.text or selector, detail=exc)) from exc
    body = {
        "start_ts": int(start_ts),
        "end_ts": int(end_ts),
        "export_path": export_path or LOCAL_EXPORT_PATH,
        "filters": {"excluded_namespaces": sorted(filters.excluded_namespaces), "excluded_labels": labels},
    }
    if transform:  # SimKube's field: the tracer applies the program (skctl's and SimKube's both do)
        body["transform"] = transform
    accept = f"application/cbor; version={version}, application/msgpack;q=0.5" if fmt == "cbor" else "application/msgpack"
    started = time.monotonic()
    try:
        # No redirects: a tracer answers exports itself, and requests would follow one to
        # file:// and blame the user's (valid) --tracer-address.
        response = requests.post(url, json=body, stream=True, headers={"Accept": accept}, allow_redirects=False,
                                 timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
    except requests.exceptions.Timeout as exc:
        raise OperationalError(messages.EXPORT_TRACER_TIMEOUT.format(url=url, timeout=_secs(timeout))) from exc
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as exc:
        raise InputError(messages.EXPORT_BAD_TRACER_URL.format(url=address)) from exc
    except requests.exceptions.RequestException as exc:
        raise OperationalError(messages.EXPORT_TRACER_UNREACHABLE.format(url=url, detail=_reason(exc))) from exc
    with response, _overall_deadline(response, timeout - (time.monotonic() - started)) as expired:
        if 300 <= response.status_code < 400:
            raise OperationalError(messages.EXPORT_TRACER_REDIRECTED.format(
                url=url, status=response.status_code, location=one_line(response.headers.get("Location", ""))))
        if response.status_code >= 400:
            text = _body(response)
            template = messages.EXPORT_TRACER_REJECTED if response.status_code < 500 else messages.EXPORT_TRACER_FAILED
            error = InputError if response.status_code < 500 else OperationalError
            raise error(template.format(url=url, status=response.status_code, body=text))
        length = response.headers.get("Content-Length")
        # With a Content-Encoding, Content-Length counts the encoded bytes, not what we read.
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        total = int(length) if length and length.isdigit() and not encoded else None
        chunks: list[bytes] = []
        head = b""
        received, max_bytes = 0, limits.max_input_bytes()  # a tracer that streams forever is cut off
        try:
            with progress(f"downloading from {url}", total) as advance:
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    if len(head) < len(SELF_DESCRIBE):
                        head += chunk[: len(SELF_DESCRIBE)]
                        if len(head) >= len(SELF_DESCRIBE) and not _looks_like_trace(head):
                            raise OperationalError(
                                messages.EXPORT_TRACER_NOT_CBOR.format(url=url, detail=_describe_head(chunk, response))
                            )
                    received += len(chunk)
                    if received > max_bytes:
                        raise load.too_large(url, max_bytes)
                    chunks.append(chunk)
                    advance(len(chunk))
        except requests.exceptions.Timeout as exc:
            raise OperationalError(messages.EXPORT_TRACER_TIMEOUT.format(url=url, timeout=_secs(timeout))) from exc
        except requests.exceptions.RequestException as exc:
            if expired.is_set():
                raise OperationalError(messages.EXPORT_TRACER_TIMEOUT.format(url=url, timeout=_secs(timeout))) from exc
            raise OperationalError(
                messages.EXPORT_TRACER_BROKEN.format(url=url, detail=f"the download broke off: {_reason(exc)}")
            ) from exc
        if expired.is_set():
            raise OperationalError(messages.EXPORT_TRACER_TIMEOUT.format(url=url, timeout=_secs(timeout)))
    data = b"".join(chunks)
    if not data and export_path:
        return data  # the tracer wrote to export_path itself
    if not _looks_like_trace(data):
        raise OperationalError(messages.EXPORT_TRACER_NOT_CBOR.format(url=url, detail=_describe_head(data, response)))
    if total is not None and len(data) != total:
        raise OperationalError(
            messages.EXPORT_TRACER_BROKEN.format(url=url, detail=f"got {len(data)} of {total} bytes")
        )
    return data


# Sent as export_path when the client writes the output itself: a local path, so a
# SimKube tracer answers with the trace instead of writing it anywhere.
LOCAL_EXPORT_PATH = "file:///dev/null"


def _looks_like_trace(head: bytes) -> bool:
    from skctl.trace.codec import SELF_DESCRIBE
    from skctl.trace.simkube import looks_like_msgpack_map

    return head.startswith(SELF_DESCRIBE) or looks_like_msgpack_map(head)


def _body(response: Any) -> str:
    try:
        text = response.content.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only decoration for the message
        text = ""
    return one_line(text) or one_line(response.reason or "no body")


def _describe_head(data: bytes, response: Any) -> str:
    kind = response.headers.get("Content-Type") or "no content type"
    if not data:
        return f"an empty body, {kind}"
    return f"{kind}, starting with {data[:16]!r}"


def _reason(exc: BaseException) -> str:
    """The innermost useful reason from requests' nested exceptions (e.g. 'Connection refused')."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "Temporary failure"):
        if marker in text:
            return marker.lower()
    return one_line(text)


def _secs(value: float) -> str:
    return f"{value:g}"


@contextlib.contextmanager
def _overall_deadline(response: Any, seconds: float) -> Iterator[threading.Event]:
    """--tracer-timeout bounds the whole answer, not each read: a tracer that trickles a
    byte every few seconds would otherwise never time out. When the time is up the
    connection is shut down under the reading thread (whose read then fails), and the
    event tells the caller why."""
    import socket

    expired = threading.Event()
    conn = getattr(response.raw, "_connection", None) or getattr(response.raw, "connection", None)
    sock = getattr(conn, "sock", None)

    def cut() -> None:
        expired.set()
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            else:
                response.close()
        except OSError:
            pass

    timer = threading.Timer(max(0.0, seconds), cut)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()
