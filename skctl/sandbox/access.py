"""Authorization in the sandbox: an optional allow-list of RBAC rules, and SelfSubjectAccessReview.

Without rules (the default) every request is allowed, as on a server run with
`--authorization-mode=AlwaysAllow`, and a SelfSubjectAccessReview answers allowed. With
rules (`SandboxServer(access_rules=[...])`, PolicyRules as in a ClusterRole: `apiGroups`,
`resources`, `verbs`, optionally `resourceNames`, `*` matching anything), the one sandbox
user holds exactly those: a resource request they do not allow is 403 Forbidden worded as
the RBAC authorizer words it, and a SelfSubjectAccessReview answers from the same rules.
So a test can give a client too little and see what a real cluster would answer it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from skctl.sandbox import errors
from skctl.sandbox.errors import ApiError
from skctl.sandbox.responses import Response, json_response

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
USER = "sandbox"  # the one user every sandbox request is made as
_KIND = "SelfSubjectAccessReview"
_API_VERSION = "authorization.k8s.io/v1"
_ATTRIBUTES = ("namespace", "verb", "group", "version", "resource", "subresource", "name")


class AccessRules:
    """The sandbox user's permissions: a list of RBAC PolicyRules."""

    def __init__(self, rules: Iterable[Mapping[str, Any]]) -> None:
        self.rules = [dict(rule) for rule in rules]

    def allows(self, verb: str, group: str, resource: str, subresource: str = "", name: str = "") -> bool:
        """RBAC's rule matching: verb, API group, resource (`res/sub` for a subresource) and name."""
        target = f"{resource}/{subresource}" if subresource else resource
        for rule in self.rules:
            verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
            resources, names = rule.get("resources") or [], rule.get("resourceNames") or []
            if not ("*" in verbs or verb in verbs):
                continue
            if not ("*" in groups or group in groups):
                continue
            if not any(r in ("*", target) or (subresource and r == f"*/{subresource}") for r in resources):
                continue
            if names and name not in names:
                continue
            return True
        return False


def request_verb(method: str, name: str | None, watch: bool) -> str:
    """The authorization verb of a resource request (the API server's RequestInfo rules)."""
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def forbidden(verb: str, group: str, resource: str, subresource: str, namespace: str | None, name: str | None) -> ApiError:
    """403 as the RBAC authorizer words it (`deployments.apps "web" is forbidden: User ...`)."""
    qualified = f"{resource}.{group}" if group else resource
    target = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = f'{qualified} "{name}"' if name else qualified
    details: dict[str, Any] = {"kind": resource}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{target}" in API group "{group}" {scope}',
        details,
    )


def review(rules: AccessRules | None, method: str, body: bytes) -> Response:
    """Answer `POST .../selfsubjectaccessreviews` (201 with the spec and `status.allowed`)."""
    if method != "POST":
        raise errors.method_not_allowed()
    try:
        doc = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {_KIND}): {exc}") from None
    if not isinstance(doc, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {_KIND})")
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    attrs, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if attrs is not None and non_resource is not None:
        raise _invalid("spec.nonResourceAttributes", "cannot be specified in combination with resourceAttributes")
    if attrs is None and non_resource is None:
        raise _invalid("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    if attrs is not None:
        if not isinstance(attrs, dict):
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {_KIND})")
        a = {key: str(attrs.get(key) or "") for key in _ATTRIBUTES}
        allowed = rules is None or rules.allows(a["verb"], a["group"], a["resource"], a["subresource"], a["name"])
    else:
        allowed = rules is None  # discovery and health paths: the rules name resources only
    answer = {
        "kind": _KIND,
        "apiVersion": _API_VERSION,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"allowed": allowed},
    }
    return json_response(answer, 201)


def _invalid(field: str, problem: str) -> ApiError:
    message = f"Invalid value: \"null\": {problem}"
    return ApiError(422, "Invalid", f'{_KIND}.authorization.k8s.io "" is invalid: {field}: {message}', {
        "kind": _KIND, "group": "authorization.k8s.io",
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
    })
