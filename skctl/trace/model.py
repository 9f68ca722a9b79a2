"""The logical trace document (SPEC section 3), shared by every encoding.

Objects stay plain dicts as the API server returns them: the tracer, the export window
and the driver all work on raw JSON, and no typed model sits on the hot path.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The logical schema version. skctl's CBOR traces and SimKube's msgpack traces share
# the same logical schema (SimKube v2), so both carry the same number.
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (2,)

Obj = dict[str, Any]

# Metadata the API server sets, which a recorded or replayed object must not carry (SPEC 4).
SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
# (owner GVK, "ns/name") → pod spec hash → lifecycles, each {"start_ts": int|None, "end_ts": int|None}
PodLifecycles = dict[tuple[str, str], dict[int, list[dict[str, int | None]]]]


@dataclass
class Trace:
    """A recorded timeline of object changes plus the lifecycles of the pods they own."""

    config: dict[str, Any] = field(default_factory=lambda: {"trackedObjects": {}})
    events: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, dict[str, int]] = field(default_factory=dict)
    pod_lifecycles: PodLifecycles = field(default_factory=dict)
    version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tracked_objects(self) -> dict[str, dict[str, Any]]:
        return self.config.get("trackedObjects") or {}

    @property
    def usage(self) -> dict[str, Any] | None:
        """The recorded pod usage (the `usage` section, skctl.trace.usage), or None."""
        value = self.extra.get("usage")
        return value if isinstance(value, dict) else None

    def time_range(self) -> tuple[int, int] | None:
        if not self.events:
            return None
        return self.events[0]["ts"], self.events[-1]["ts"]

    def iter_objects(self) -> Iterator[tuple[int, str, Obj]]:
        """Every object mention in time order as (ts, "applied"|"deleted", obj)."""
        for event in self.events:
            for obj in event.get("applied_objs", ()):
                yield event["ts"], "applied", obj
            for obj in event.get("deleted_objs", ()):
                yield event["ts"], "deleted", obj

    def to_document(self) -> dict[str, Any]:
        """The logical document, in SimKube's key order; extra keys ride along at the end."""
        doc: dict[str, Any] = {
            "version": self.version,
            "config": self.config,
            "events": self.events,
            "index": self.index,
            "pod_lifecycles": self.pod_lifecycles,
        }
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc


def new_event(ts: int, applied: list[Obj] | None = None, deleted: list[Obj] | None = None) -> dict[str, Any]:
    return {"ts": ts, "applied_objs": applied or [], "deleted_objs": deleted or []}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off while a big trace is decoded or worked on.

    Decoding, windowing or encoding a million events allocates millions of containers,
    and every few hundred allocations the collector would walk all of them again: that
    made decode and window 3-7x slower. Trace data has no reference cycles.

    When the pause ends, the collector's next passes still walk everything allocated
    during it, once per generation (seconds for a million events). So a one-shot command
    keeps the pause over its whole job (decode through write), and a long-running
    process freezes its long-lived data itself (gc.freeze, as the driver does).

    Interrupted (Ctrl-C, SIGTERM), the pause ends with everything allocated during it
    frozen instead: the command is ending, and the collector walking a million half-decoded
    events on the way out held up the exit for seconds (issue 21).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except KeyboardInterrupt:
        if was_enabled:
            gc.freeze()
        raise
    finally:
        if was_enabled:
            gc.enable()
