"""Fault injection: make the sandbox misbehave the ways real API servers do.

Tests drive it through `server.faults` (or POST /sandbox/faults): fail the next N
requests with 500/503/429 (429 carries Retry-After), add latency, drop every open watch
connection (clients must resume from their last resourceVersion), break them (the
connection is cut mid-stream, as by a network failure or a crashed server), and compact
history (resuming from an older resourceVersion then gets 410 Gone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from skctl.sandbox.errors import ApiError

REASONS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request (injected fault)"),
    504: ("Timeout", "The server was unable to return a response in the time allotted (injected fault)"),
}


@dataclass
class _Failure:
    remaining: int
    code: int
    retry_after: int
    path_contains: str | None
    method: str | None


class Faults:
    """Thread-safe fault switches consulted by the HTTP handler on every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self.latency = 0.0
        self.injected = 0  # how many requests were failed on purpose
        self._drop_hooks: list[Callable[..., int]] = []
        self._compact_hooks: list[Callable[[], int]] = []

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: int = 1,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Fail the next `count` matching requests with `status` (500, 503, 429, 504)."""
        if status not in REASONS:
            raise ValueError(f"status must be one of {sorted(REASONS)}")
        with self._lock:
            self._failures.append(_Failure(count, status, retry_after, path_contains, method))

    def set_latency(self, seconds: float) -> None:
        """Delay every request by `seconds` before it is handled (0 turns it off)."""
        self.latency = max(0.0, float(seconds))

    def drop_watches(self) -> int:
        """Close every open watch stream now; returns how many were closed."""
        return sum(hook() for hook in list(self._drop_hooks))

    def break_watches(self) -> int:
        """Cut every open watch connection without ending its stream (the client sees a
        broken connection, not a clean end); returns how many were cut."""
        return sum(hook(True) for hook in list(self._drop_hooks))

    def compact(self) -> int:
        """Compact the event history; returns the resourceVersion compacted up to."""
        return max([hook() for hook in list(self._compact_hooks)] or [0])

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
        self.latency = 0.0

    def on_drop(self, hook: Callable[..., int]) -> None:
        self._drop_hooks.append(hook)

    def on_compact(self, hook: Callable[[], int]) -> None:
        self._compact_hooks.append(hook)

    def check(self, method: str, path: str) -> None:
        """Called per request: sleep for latency, raise an injected ApiError if one is due."""
        if self.latency:
            time.sleep(self.latency)
        if not self._failures:
            return
        with self._lock:
            for failure in self._failures:
                if failure.path_contains and failure.path_contains not in path:
                    continue
                if failure.method and failure.method.upper() != method.upper():
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                self.injected += 1
                reason, message = REASONS[failure.code]
                headers = {"Retry-After": str(failure.retry_after)} if failure.code in (429, 503) else {}
                raise ApiError(failure.code, reason, message, {"retryAfterSeconds": failure.retry_after}
                               if failure.code == 429 else None, headers=headers)

    def apply(self, spec: dict) -> dict:
        """The JSON form used by POST /sandbox/faults: {"action": ..., ...}."""
        action = spec.get("action")
        if action == "fail":
            self.fail_next(
                int(spec.get("count", 1)),
                int(spec.get("status", 500)),
                retry_after=int(spec.get("retryAfter", 1)),
                path_contains=spec.get("pathContains"),
                method=spec.get("method"),
            )
            return {"ok": True}
        if action == "latency":
            self.set_latency(float(spec.get("seconds", 0)))
            return {"ok": True}
        if action == "drop-watches":
            return {"ok": True, "dropped": self.drop_watches()}
        if action == "break-watches":
            return {"ok": True, "broken": self.break_watches()}
        if action == "compact":
            return {"ok": True, "resourceVersion": str(self.compact())}
        if action == "clear":
            self.clear()
            return {"ok": True}
        raise ValueError("action must be one of fail, latency, drop-watches, break-watches, compact, clear")
