"""Pause and resume a running simulation through an annotation on its driver Job.

SimKube keeps `spec.pausedTime` on its Simulation resource and its driver polls it before
every event; skctl has no Simulation resource, so the driver Job carries the same fact as
the annotation `simkube.io/paused-time` (an RFC 3339 time). `skctl pause NAME` sets it,
`skctl resume NAME` removes it, `skctl run --start-paused` creates the Job with it. The
driver reads its Job once a second (`PauseWatch`); while the annotation is there, replay
time stands still: no event is replayed and the events still to come move later by the
time spent paused. Pods already running are KWOK's: their completion times are absolute
and are not moved (SimKube leaves them alone too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from skctl.base import messages
from skctl.base.errors import OperationalError
from skctl.kube.api import ApiError, Kube
from skctl.kube.times import rfc3339
from skctl.sim import PAUSED_ANNOTATION

log = logging.getLogger("skctl.sim.pause")
POLL = 1.0  # seconds between two reads of the driver Job
MERGE_PATCH = "application/merge-patch+json"


def paused_since(job: dict[str, Any] | None) -> str | None:
    """When the simulation of this driver Job was paused, or None when it is not paused."""
    annotations = ((job or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(PAUSED_ANNOTATION)
    return str(value) if value else None


def now_text() -> str:
    return rfc3339(datetime.now(timezone.utc))


def _job(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    job = kube.get("batch/v1", "Job", name, namespace)
    if job is None:
        raise OperationalError(messages.PAUSE_NO_JOB.format(name=name, namespace=namespace))
    return job


def set_paused(kube: Kube, name: str, namespace: str, value: str | None) -> None:
    """Set (an RFC 3339 time) or remove (None) the pause annotation of the driver Job."""
    kube.request(
        "PATCH",
        kube.resource("batch/v1", "Job").path(namespace, name),
        body={"metadata": {"annotations": {PAUSED_ANNOTATION: value}}},
        content_type=MERGE_PATCH,
        what=f"patch of Job {namespace}/{name}",
    )


def pause(kube: Kube, name: str, namespace: str) -> None:
    """Pause simulation `name`; an OperationalError when it is missing or already paused."""
    since = paused_since(_job(kube, name, namespace))
    if since is not None:
        raise OperationalError(messages.PAUSE_ALREADY.format(name=name, since=since))
    set_paused(kube, name, namespace, now_text())


def resume(kube: Kube, name: str, namespace: str) -> None:
    """Resume simulation `name`; an OperationalError when it is missing or not paused."""
    if paused_since(_job(kube, name, namespace)) is None:
        raise OperationalError(messages.PAUSE_NOT_PAUSED.format(name=name))
    set_paused(kube, name, namespace, None)


class PauseWatch:
    """The driver's view of its Job's pause annotation, refreshed every `poll` seconds on a
    daemon thread. A Job that cannot be read leaves the last known state."""

    def __init__(self, kube: Kube, name: str, namespace: str, poll: float = POLL) -> None:
        self.kube = kube
        self.name = name
        self.namespace = namespace
        self.poll = poll
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def refresh(self) -> dict[str, Any] | None:
        """Read the Job now; returns it (None when it does not exist)."""
        try:
            job = self.kube.get("batch/v1", "Job", self.name, self.namespace)
        except ApiError as exc:
            log.debug("cannot read driver Job %s/%s: %s", self.namespace, self.name, exc)
            return None
        if paused_since(job) is not None:
            self._paused.set()
        else:
            self._paused.clear()
        return job

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pause-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - a flaky read must not end the watch
                log.debug("pause watch: %s", exc)

    def wait_while_paused(self, stopped: threading.Event, clock: Callable[[], float] = time.monotonic) -> float:
        """Block while paused (until resumed or `stopped`); the seconds spent paused."""
        if not self.paused:
            return 0.0
        began = clock()
        log.info(messages.DRIVE_PAUSED.format(name=self.name))
        while self.paused and not stopped.wait(min(self.poll, 0.5)):
            pass
        spent = clock() - began
        if not stopped.is_set():
            log.info(messages.DRIVE_RESUMED.format(name=self.name, seconds=spent))
        return spent
