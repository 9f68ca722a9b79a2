"""What the sandbox store's parts share about stored objects: their keys, the one JSON
serialisation (compact, used for responses and events) and metadata timestamps.

Its own module, below the store, so the store's rooms (strategy, garbage collector,
namespace controller) and the HTTP layer use the same helpers without importing each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped


def dumps(obj: Any) -> bytes:
    """Compact JSON, the one serialisation used for responses and events."""
    return json.dumps(obj, separators=(",", ":")).encode()


_ts_cache: tuple[int, str] = (-1, "")


def now_rfc3339(clock: Callable[[], float] = time.time) -> str:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes metadata uses."""
    global _ts_cache
    sec = int(clock())
    cached = _ts_cache
    if cached[0] != sec:
        cached = _ts_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec)))
    return cached[1]
