"""What the sandbox store's parts share about stored objects: their keys, the one JSON
serialisation (compact, used for responses and events). Timestamps are skctl.kube.times'.

Its own module, below the store, so the store's rooms (strategy, garbage collector,
namespace controller) and the HTTP layer use the same helpers without importing each other.
"""

from __future__ import annotations

import json
from typing import Any

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped


def dumps(obj: Any) -> bytes:
    """Compact JSON, the one serialisation used for responses and events."""
    return json.dumps(obj, separators=(",", ":")).encode()
