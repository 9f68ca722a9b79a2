"""A small list+watch of every pod in the cluster, feeding the driver's pod handler.

Narrow on purpose (`PodWatcher(kube, on_event).start()/.stop()`) so it can move onto a
shared list+watch in skctl.kube later. It lists, then watches from the list's
resourceVersion; after a dropped connection it resumes from the last resourceVersion it
saw, and after 410 Gone (the server compacted that far) it lists again and hands every
pod over again: the handler is idempotent. Events are raw JSON dicts, no typed models.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from skctl.errors import SkctlError
from skctl.kube.api import ApiError, Kube

log = logging.getLogger("skctl.sim.podwatch")
WATCH_SECONDS = 5  # the server ends each watch after this long, so stop() is seen promptly
RETRY_DELAY = 0.5


class PodWatcher:
    """Runs `on_event(type, pod)` for every pod event, on its own daemon thread."""

    def __init__(self, kube: Kube, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.kube = kube
        self.on_event = on_event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resource_version: str | None = None
        self._response: Any = None
        self.ready = threading.Event()  # set once the first list has been handled

    def start(self) -> None:
        """List synchronously (so pods that exist already are handled first), then watch."""
        self._relist()
        self.ready.set()
        self._thread = threading.Thread(target=self._loop, name="skctl-pod-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 0.2) -> None:
        """Stop delivering events at once; the thread (a daemon) ends at its next wake-up."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # noqa: BLE001 - closing a stream another thread reads is best effort
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the loop ---------------------------------------------------------------------

    def _relist(self) -> None:
        path = self.kube.resource("v1", "Pod").path()
        doc = self.kube.request("GET", path, what="list of pods")
        self._resource_version = ((doc or {}).get("metadata") or {}).get("resourceVersion")
        for pod in (doc or {}).get("items") or []:
            self._deliver("ADDED", pod)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._resource_version is None:
                    self._relist()
                self._watch_once()
            except ApiError as exc:
                if exc.status == 410:
                    self._resource_version = None
                    continue
                log.warning("pod watch failed: %s", exc)
                self._stop.wait(RETRY_DELAY)
            except (SkctlError, OSError, ValueError) as exc:
                if not self._stop.is_set():
                    log.debug("pod watch interrupted (%s); resuming", exc)
                    self._stop.wait(RETRY_DELAY)
            except Exception as exc:  # noqa: BLE001 - urllib3 errors on a stream closed by stop()
                if not self._stop.is_set():
                    log.debug("pod watch interrupted (%s); resuming", exc)
                    self._stop.wait(RETRY_DELAY)

    def _watch_once(self) -> None:
        from urllib.parse import urlencode

        query = {
            "watch": "true",
            "resourceVersion": self._resource_version,
            "timeoutSeconds": str(WATCH_SECONDS),
            "allowWatchBookmarks": "true",
        }
        path = self.kube.resource("v1", "Pod").path() + "?" + urlencode(query)
        client = self.kube.api_client
        req = client.param_serialize(
            method="GET", resource_path=path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        resp = client.call_api(*req, _request_timeout=(5.0, WATCH_SECONDS + 30.0))
        if resp.status != 200:
            body = resp.read()
            try:
                detail = json.loads(body)
            except ValueError:
                detail = {}
            raise ApiError(f"watch of pods: HTTP {resp.status}", resp.status, detail.get("reason", ""), detail)
        self._response = resp.response
        try:
            buffer = b""
            for chunk in resp.response.stream(65536, decode_content=True):
                if self._stop.is_set():
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._event(json.loads(line))
        finally:
            self._response = None
            resp.response.release_conn()

    def _event(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            raise ApiError(f"watch of pods: {obj.get('message', '')}", int(code or 500), obj.get("reason", ""), obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self._resource_version = rv
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._deliver(kind, obj)

    def _deliver(self, kind: str, pod: dict[str, Any]) -> None:
        if self._stop.is_set():
            return  # the replay is over: its cleanup is deleting these pods
        try:
            self.on_event(kind, pod)
        except Exception as exc:  # noqa: BLE001 - one bad pod must not stop the watch
            meta = pod.get("metadata") or {}
            log.warning("pod %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)
