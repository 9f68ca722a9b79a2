"""The suite's one way to wait for a condition: poll, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str = "", *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Call `probe` until it returns something truthy and return that.

    `timeout` only guards against waiting forever (the condition normally holds long before);
    on expiry the test fails naming `what` and the probe's last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or probe}: last {last!r}")
        time.sleep(interval)
