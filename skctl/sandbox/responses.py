"""What a sandbox handler returns, and what it needs of the server.

Kept apart from `server.py` (the HTTP plumbing) and `handlers.py` (the Kubernetes
semantics) so that each imports this module and neither imports the other.
"""

from __future__ import annotations

from typing import Any, Protocol

from skctl.sandbox.objects import dumps
from skctl.sandbox.store import Store


class Response:
    """A finished (non-streaming) response."""

    __slots__ = ("code", "body", "content_type", "headers")

    def __init__(self, code: int, body: bytes, content_type: str = "application/json",
                 headers: dict[str, str] | None = None) -> None:
        self.code = code
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def json_response(obj: Any, code: int = 200) -> Response:
    return Response(code, obj if isinstance(obj, bytes) else dumps(obj))


class ServerState(Protocol):
    """The parts of a running SandboxServer that resource handlers use."""

    store: Store
    bookmark_interval: float
    fresh_wait: float  # how long a list for a future resourceVersion waits before 504
