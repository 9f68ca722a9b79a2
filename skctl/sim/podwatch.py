"""Every pod in the cluster, fed to the driver's pod handler, through skctl.kube.watch.

The resumable list+watch (bookmarks, resume after a dropped connection, re-list after 410
Gone, backoff on 429/5xx) is the tracer's, written once in skctl.kube.watch; this module
only adapts it: existing pods are handed over before the replay starts, and after a
re-list every pod is handed over again (the handler is idempotent). Raw JSON dicts only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from skctl.base import messages
from skctl.base.errors import OperationalError
from skctl.kube.api import Kube
from skctl.kube.watch import ListWatch

log = logging.getLogger("skctl.sim.podwatch")
FIRST_LIST_TIMEOUT = 60.0  # seconds to wait for the first list before the replay starts
POLL = 0.05


class PodWatcher:
    """Runs `on_event(type, pod)` for every pod event, on the watch's daemon thread."""

    def __init__(self, kube: Kube, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self.on_event = on_event
        self.ready = threading.Event()  # set once the first list has been handled
        self._stopped = threading.Event()
        path = kube.resource("v1", "Pod").path()
        self._watch = ListWatch(kube.api_client, path, self._deliver, self._sync, name="pods")

    def start(self, timeout: float = FIRST_LIST_TIMEOUT) -> None:
        """Start watching; return once the pods that exist already have been handled."""
        self._watch.start()
        waited = 0.0
        while not self.ready.wait(POLL):
            waited += POLL
            if self._watch.stats.state == "failed" or waited >= timeout:
                self.stop()
                detail = self._watch.stats.last_error or f"no pod list after {timeout:.0f}s"
                raise OperationalError(messages.DRIVE_POD_WATCH_FAILED.format(detail=detail))

    def stop(self, timeout: float = 0.2) -> None:
        """Stop delivering events at once; the thread (a daemon) ends at its next wake-up."""
        self._stopped.set()
        self._watch.stop()
        self._watch.join(timeout)

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            self._deliver("ADDED", pod)
        self.ready.set()

    def _deliver(self, kind: str, pod: dict[str, Any]) -> None:
        if self._stopped.is_set():
            return  # the replay is over: its cleanup is deleting these pods
        try:
            self.on_event(kind, pod)
        except Exception as exc:  # noqa: BLE001 - one bad pod must not stop the watch
            meta = pod.get("metadata") or {}
            log.warning("pod %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)
