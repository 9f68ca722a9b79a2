"""Just enough OpenAPI for kubectl: v3 with one PATCH operation per resource, v2 empty.

kubectl (1.27+) validates manifests on the server when the server's OpenAPI v3 document
says the resource's PATCH takes the `fieldValidation` query parameter; otherwise it
insists on downloading schemas for client-side validation. Advertising the parameter
makes `kubectl apply -f` work without `--validate=false`. The sandbox accepts
`fieldValidation` but does not reject unknown fields. No request body content types are
declared, so kubectl computes client-side apply patches from its built-in types.

kubectl up to 1.28 downloads `/openapi/v2` (as protobuf) before `create -f`/`apply` with
validation and fails without it. An empty v2 document (no definitions) satisfies it: kubectl
then finds no schema for any kind and skips client-side validation. Its protobuf form is
three fields of gnostic's `openapi_v2.Document` (swagger = 1, info = 2, paths = 8), written
out below rather than pulling in a protobuf runtime for a constant.
"""

from __future__ import annotations

import hashlib
import json

from skctl.sandbox.discovery import Registry, ResourceType

_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
]


V2_TITLE, V2_VERSION = "Kubernetes (skctl sandbox)", "v1.32.0"
V2_DOC = {"swagger": "2.0", "info": {"title": V2_TITLE, "version": V2_VERSION}, "paths": {}}
V2_PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2); lengths here stay below 128."""
    assert len(payload) < 128
    return bytes([(number << 3) | 2, len(payload)]) + payload


V2_PROTOBUF = (
    _pb_field(1, b"2.0")
    + _pb_field(2, _pb_field(1, V2_TITLE.encode()) + _pb_field(2, V2_VERSION.encode()))
    + _pb_field(8, b"")
)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _resource_paths(rtype: ResourceType) -> dict:
    gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    base = "/" + _gv_path(rtype.group, rtype.version)
    item = (f"{base}/namespaces/{{namespace}}/{rtype.plural}/{{name}}" if rtype.namespaced
            else f"{base}/{rtype.plural}/{{name}}")
    op = {
        "operationId": f"patch{rtype.kind}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
        "parameters": _PARAMS,
        "responses": {"200": {"description": "OK"}},
    }
    return {item: {"patch": op}}


def group_version_doc(registry: Registry, group: str, version: str) -> dict | None:
    types = [r for r in registry.all() if r.group == group and r.version == version]
    if not types:
        return None
    paths: dict = {}
    for rtype in types:
        paths.update(_resource_paths(rtype))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (skctl sandbox)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def index_doc(registry: Registry) -> dict:
    """/openapi/v3: where each group-version's document lives (hash changes with content)."""
    paths = {}
    for gv in sorted({(r.group, r.version) for r in registry.all()}):
        doc = group_version_doc(registry, *gv)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[_gv_path(*gv)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(*gv)}?hash={digest}"}
    return {"paths": paths}
