"""The running tracer: discovery, one list+watch per tracked resource plus pods, into the store.

Every tracked GVK is resolved through API discovery (so custom resources work). A GVK
the cluster does not serve is an input error at start-up, unless `wait_for_crds` is
set: then discovery is checked again every `CRD_POLL` seconds and the watch starts when
the CRD appears. A kind whose CRD is deleted while tracing (its watch gets a 404) goes
back to waiting the same way, with or without `wait_for_crds`: at run time a vanished
kind is a cluster change to ride out, not a typo in the config. Pods are always watched (lifecycles); when v1.Pod is also a tracked
kind the same watch serves both.

The starting state (`config.starting_state`): Nodes and PriorityClasses get a watch each
that feeds the store's starting-state timeline (skctl.trace.cluster). A cluster that does
not serve one, or a tracer not allowed to watch it, records the rest: a warning names it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.kube.api import Kube, Resource
from skctl.kube.keys import split_gvk
from skctl.kube.watch import Fatal, ListWatch
from skctl.trace import cluster
from skctl.trace.pods import POD_GVK
from skctl.trace.tracked import TracerConfig
from skctl.tracer.store import TraceStore

log = logging.getLogger(__name__)

CRD_POLL = 2.0
REFUSED_KINDS = ("v1.Secret",)


def check_config(config: TracerConfig) -> None:
    """Refuse kinds the tracer must never record (Secret data is never stored), however the
    GVK is spelled: "/v1.Secret" (an empty group) and "v1.secret" name the core Secret too."""
    from skctl.kube.keys import split_gvk

    refused = {(group, kind.lower()) for group, _version, kind in map(split_gvk, REFUSED_KINDS)}
    for gvk in config.tracked_objects:
        group, _version, kind = split_gvk(gvk)
        if gvk in REFUSED_KINDS or (group.strip("/"), kind.lower()) in refused:
            raise InputError(messages.TRACE_SECRET_REFUSED.format(gvk=gvk))


def lookup_through(kube: Kube) -> Callable[[str, str | None, str], dict[str, Any] | None]:
    """An owners-cache lookup that reads one object from the API server."""

    def lookup(gvk: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        api_version, _, kind = gvk.rpartition(".")
        return kube.get(api_version, kind, name, namespace)

    return lookup


class Recorder:
    """Starts and stops the watches that feed one store."""

    def __init__(self, kube: Kube, config: TracerConfig, store: TraceStore, wait_for_crds: bool = False) -> None:
        check_config(config)
        self.kube = kube
        self.config = config
        self.store = store
        self.wait_for_crds = wait_for_crds
        self.watches: dict[str, ListWatch] = {}
        self.pending: list[str] = []
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()

    def resolve(self) -> dict[str, Resource | None]:
        """GVK → served resource (None: not served yet, only with wait_for_crds)."""
        found: dict[str, Resource | None] = {}
        for gvk in [*self.config.tracked_objects, POD_GVK]:
            if gvk in found:
                continue
            found[gvk] = self._discover(gvk)
            if found[gvk] is None and not self.wait_for_crds:
                raise InputError(messages.TRACE_KIND_NOT_SERVED.format(gvk=gvk))
        return found

    def _discover(self, gvk: str, fresh: bool = False) -> Resource | None:
        group, version, kind = split_gvk(gvk)
        api_version = f"{group}/{version}" if group else version
        if fresh:
            self.kube._discover(api_version)
        try:
            return self.kube.resource(api_version, kind)
        except InputError:
            return None

    def start(self) -> None:
        for gvk, resource in self.resolve().items():
            if resource is None:
                log.warning("%s is not served yet; waiting for its CRD", gvk)
                self.pending.append(gvk)
            else:
                self._start_watch(gvk, resource)
        if self.pending:
            self._start_poller()
        if self.config.starting_state:
            self._start_state_watches()

    def _start_state_watches(self) -> None:
        """One watch per starting-state kind, feeding the store's cluster timeline."""
        store = self.store
        for gvk in cluster.STATE_GVKS:
            resource = self._discover(gvk)
            if resource is None:
                log.warning(messages.TRACE_STATE_NOT_SERVED.format(gvk=gvk))
                continue

            def on_event(kind: str, obj: dict[str, Any], gvk: str = gvk) -> None:
                if kind == "DELETED":
                    store.cluster_deleted(gvk, obj)
                else:
                    store.cluster_applied(gvk, obj)

            def on_sync(items: list[dict[str, Any]], gvk: str = gvk) -> None:
                store.cluster_sync(gvk, items)

            def on_fatal(exc: Fatal, gvk: str = gvk) -> None:
                log.warning(messages.TRACE_STATE_FAILED.format(gvk=gvk, detail=exc))

            # a kind also listed in trackedObjects has its own watch under its GVK
            name = gvk if gvk not in self.config.tracked_objects else f"{gvk} (starting state)"
            watch = ListWatch(self.kube.api_client, resource.path(), on_event, on_sync, name=name, on_fatal=on_fatal)
            with self._lock:
                if self._stop.is_set():
                    return
                self.watches[name] = watch
            watch.start()

    def _start_poller(self) -> None:
        with self._lock:
            if self._stop.is_set() or (self._poller is not None and self._poller.is_alive()):
                return
            self._poller = threading.Thread(target=self._poll_crds, name="crd poller", daemon=True)
            self._poller.start()

    def _start_watch(self, gvk: str, resource: Resource) -> None:
        store = self.store
        on_event: Callable[[str, dict[str, Any]], None]
        on_sync: Callable[[list[dict[str, Any]]], None]
        if gvk == POD_GVK:
            on_event, on_sync = store.pod_event, store.pod_sync
        else:
            def on_event(kind: str, obj: dict[str, Any]) -> None:
                if kind == "DELETED":
                    store.deleted(gvk, obj)
                else:
                    store.applied(gvk, obj)

            def on_sync(items: list[dict[str, Any]]) -> None:
                store.sync(gvk, items)

        def on_fatal(exc: Fatal) -> None:
            if exc.status != 404 or gvk == POD_GVK:
                log.error("%s: %s", gvk, exc)
                return
            log.warning("%s is no longer served (its CRD was deleted?); waiting for it again", gvk)
            with self._lock:
                self.watches.pop(gvk, None)
                if gvk not in self.pending:
                    self.pending.append(gvk)
            self._start_poller()

        watch = ListWatch(self.kube.api_client, resource.path(), on_event, on_sync, name=gvk, on_fatal=on_fatal)
        with self._lock:
            if self._stop.is_set():
                return
            self.watches[gvk] = watch
        watch.start()

    def _poll_crds(self) -> None:
        while not self._stop.wait(CRD_POLL):
            with self._lock:
                waiting = list(self.pending)
                if not waiting:
                    self._poller = None
                    return
            for gvk in waiting:
                try:
                    resource = self._discover(gvk, fresh=True)
                except Exception as exc:  # noqa: BLE001 - discovery hiccups are retried next round
                    log.info("discovery of %s failed: %s", gvk, exc)
                    continue
                if resource is not None:
                    log.info("%s is served now; starting its watch", gvk)
                    with self._lock:
                        self.pending.remove(gvk)
                    self._start_watch(gvk, resource)

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Block until every started watch has completed its first list."""
        return all(w.stats.synced.wait(timeout) for w in list(self.watches.values()))

    def stop(self) -> None:
        """Stop the watches and the CRD poller and wait (bounded) for their threads."""
        self._stop.set()
        with self._lock:
            watches = list(self.watches.values())
            poller = self._poller
        for w in watches:
            w.stop()
        for w in watches:
            w.join(5)
        if poller is not None and poller is not threading.current_thread():
            poller.join(5)  # it wakes from its CRD_POLL wait at once: _stop is set

    def states(self) -> dict[str, dict[str, Any]]:
        """Per-GVK watch state for /status and the status line. `last_heard_seconds` is the
        time since the watch last heard from the server (any watch line, bookmarks included,
        a list, a clean end): a kind that is not watched right now shows it growing."""
        out: dict[str, dict[str, Any]] = {}
        now = time.time()
        for gvk in list(self.pending):
            out[gvk] = {"state": "waiting for CRD"}
        for gvk, w in list(self.watches.items()):
            s = w.stats
            heard = s.last_heard_at
            out[gvk] = {
                "state": s.state,
                "events": s.events,
                "lists": s.lists,
                "relists": s.relists,
                "restarts": s.restarts,
                "errors": s.errors,
                "last_error": s.last_error,
                "resource_version": s.resource_version,
                "failures": s.failures,
                "last_heard_at": heard or None,
                "last_heard_seconds": round(max(0.0, now - heard), 3) if heard else None,
            }
        return out
