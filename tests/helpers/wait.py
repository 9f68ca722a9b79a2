"""The suite's one way to wait for a condition: poll, never sleep a fixed time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str = "", *, timeout: float = 15.0, interval: float = 0.05,
             process: subprocess.Popen[Any] | None = None) -> T:
    """Call `probe` until it returns something truthy and return that.

    `timeout` only guards against waiting forever (the condition normally holds long before);
    on expiry the test fails naming `what` and the probe's last answer. With `process`, the
    wait also fails as soon as that process has ended without the condition holding."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what or probe}: the process ended first {process.communicate()}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or probe}: last {last!r}")
        time.sleep(interval)
