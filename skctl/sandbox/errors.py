"""API errors as the real server reports them: a `Status` object with a code and a reason.

Storage and request handling raise `ApiError`; the HTTP layer only serialises it, so the
same failure looks identical whether it came from a create, a patch or a watch.
"""

from __future__ import annotations

from typing import Any

from skctl.kube import status


class ApiError(status.ApiError):
    """A Kubernetes API failure, carried to the client as a `Status` with `code` (and any
    response headers it needs, e.g. Retry-After)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, reason, message, details)
        self.headers = headers or {}


def _details(name: str, group: str, plural: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        out["group"] = group
    return out


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(group, plural)} "{name}" not found', _details(name, group, plural)
    )


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(group, plural)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": {why}',
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, field: str, problem: str) -> ApiError:
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {field}: {problem}', details)


def invalid_fields(kind: str, group: str, name: str, problems: list[tuple[str, str, str]]) -> ApiError:
    """422 for several field problems, each (field, cause reason, message), worded as a real
    server aggregates them: one is inline, more are listed in brackets."""
    causes = [{"reason": reason, "message": message, "field": field} for field, reason, message in problems]
    parts = [f"{field}: {message}" for field, _, message in problems]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes} if name else {"kind": kind,
                                                                                           "causes": causes}
    if group:
        details["group"] = group
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details)


def forbidden(group: str, plural: str, name: str, why: str, causes: list[dict] | None = None) -> ApiError:
    qualified = _qualified(group, plural)
    message = f'{qualified} "{name}" is forbidden: {why}' if name else f"{qualified} is forbidden: {why}"
    details = _details(name, group, plural)
    if not name:
        del details["name"]
    if causes:
        details["causes"] = causes
    return ApiError(403, "Forbidden", message, details)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """504 for a read that asks for a resourceVersion the server has not reached (after ~3 s)."""
    return ApiError(
        504, "Timeout", f"Timeout: Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


BODY_TYPES = ("application/json", "application/yaml")
PROTOBUF_HINT = (
    "; the skctl sandbox does not decode protobuf: use `kubectl create -f FILE` or `kubectl apply -f FILE` "
    "instead of generator commands such as `kubectl create namespace|deployment|configmap`"
)


def unsupported_media_type(content_type: str, accepted: tuple[str, ...] = BODY_TYPES) -> ApiError:
    """415 worded as a real server does, naming what works instead when kubectl sent protobuf."""
    message = "the body of the request was in an unknown format - accepted media types include: " + ", ".join(
        accepted)
    if "protobuf" in content_type:
        message += PROTOBUF_HINT
    return ApiError(415, "UnsupportedMediaType", message)
