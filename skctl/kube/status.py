"""Kubernetes API failures in one shape: that of the v1 `Status` an API server answers with.

`code` (the HTTP status), `reason` (NotFound, Conflict, Invalid...), `message` and optional
`details` (name, kind, causes, retryAfterSeconds). The client raises it for a non-2xx
answer (skctl.kube.api.ApiError), the sandbox raises it to give one
(skctl.sandbox.errors.ApiError); both are this class.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Kubernetes API failure; `status()` is the Status document for it."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # StatusReasonUnknown is "", left out as Go's omitempty does
            del out["reason"]
        if self.details is not None:
            out["details"] = self.details
        return out
