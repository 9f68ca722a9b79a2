"""Resource requests: parse the REST path, then get/list/watch/create/update/patch/delete.

Kept apart from the HTTP plumbing in `server.py` so the Kubernetes semantics (status
subresource, optimistic concurrency, patch flavours, paging, selectors, propagation) read
in one place. Every failure is an `ApiError`, rendered by the server as a `Status`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from skctl.kube.selectors import selector_string
from skctl.kube.times import now_rfc3339
from skctl.sandbox import errors, fields, options, patches
from skctl.sandbox.discovery import Registry, ResourceType
from skctl.sandbox.errors import ApiError
from skctl.sandbox.objects import dumps
from skctl.sandbox.responses import Response, ServerState, json_response
from skctl.sandbox.selectors import SelectorError, combine, parse_field_selector, parse_label_selector
from skctl.sandbox.tables import table_for, wants_table
from skctl.sandbox.watch import WatchStream

JSON_TYPES = ("application/json", "application/yaml", "*/*", "")
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
CUSTOM_PATCH_TYPES = tuple(t for t in PATCH_TYPES if "strategic" not in t)  # no SMP for custom resources
JSON_PATCH_FAILED = "the server rejected our request due to an error in our request"
TRUE = ("1", "true", "True")
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter."
)


@dataclass
class ResourceRequest:
    """A request for a resource, parsed from /api/v1/... or /apis/{group}/{version}/..."""

    method: str
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch: bool
    query: dict[str, str]
    content_type: str
    accept: str
    body: bytes
    user_agent: str = ""

    @classmethod
    def parse(
        cls,
        registry: Registry,
        method: str,
        group: str,
        version: str,
        rest: list[str],
        query: dict[str, str],
        headers: Any,
        body: bytes,
    ) -> ResourceRequest | None:
        watch = False
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3 or not all(rest):
            return None
        rtype = registry.lookup(group, version, rest[0])
        if rtype is None or (namespace is not None and not rtype.namespaced):
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rtype.subresources and not (sub == "finalize" and rtype.plural == "namespaces"):
            return None
        if query.get("watch") in TRUE:
            watch = True
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return cls(method, rtype, namespace, name, sub, watch, query, ctype, headers.get("Accept") or "", body,
                   headers.get("User-Agent") or "")

    @property
    def manager(self) -> str:
        """The field manager of a write: `fieldManager`, else the user agent's product name."""
        return self.query.get("fieldManager") or fields.manager_from_user_agent(self.user_agent)

    def dry_run(self, kind: str) -> bool:
        """`dryRun=All` on the query (422 for other values)."""
        value = self.query.get("dryRun")
        return options.dry_run([value] if value is not None else [], kind)


def _parse_body(req: ResourceRequest, *, allow_yaml: bool = False) -> Any:
    if not req.body.strip():
        raise errors.bad_request("the request body is empty; send a JSON object")
    try:
        return json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        if allow_yaml or req.content_type == "application/yaml":
            try:
                import yaml  # PyYAML is a project dependency; only needed for YAML bodies

                return yaml.safe_load(req.body)
            except Exception as yexc:  # noqa: BLE001 - any YAML failure is a bad request
                raise errors.bad_request(f"error decoding YAML: {yexc}") from None
        raise errors.bad_request(
            f"the object provided is unrecognized (must be of type {req.rtype.kind}): "
            f"couldn't get version/kind; json parse error: {exc}"
        ) from None


def _object_body(req: ResourceRequest) -> dict:
    if req.content_type not in JSON_TYPES:
        raise errors.unsupported_media_type(req.content_type)
    obj = _parse_body(req)
    kind = "Scale" if req.subresource == "scale" else req.rtype.kind
    if not isinstance(obj, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind})")
    if req.subresource == "scale":
        _check_kind_of(obj, "Scale", "autoscaling/v1")
    else:
        _check_kind(req.rtype, obj)
    return obj


def _check_kind(rtype: ResourceType, obj: dict) -> None:
    _check_kind_of(obj, rtype.kind, rtype.api_version)


def _check_kind_of(obj: dict, want_kind: str, want_api_version: str) -> None:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind and kind != want_kind:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({want_kind})")
    if api_version and api_version != want_api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({want_api_version})"
        )


def _matcher(req: ResourceRequest) -> Any:
    options.check_field_labels(req.rtype.group, req.rtype.kind, req.query.get("fieldSelector"))
    try:
        return combine(
            parse_label_selector(req.query.get("labelSelector")),
            parse_field_selector(req.query.get("fieldSelector")),
        )
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from None


def handle_resource(server: ServerState, req: ResourceRequest) -> Any:
    """Dispatch one resource request; returns a Response or a WatchStream."""

    m = req.method
    if req.subresource == "log" and m not in ("GET", "HEAD"):
        raise errors.method_not_allowed()
    if m in ("GET", "HEAD"):
        if req.watch:
            return _watch(server, req)
        if req.name is None:
            return _list(server, req)
        if req.subresource == "scale":
            return json_response(_scale_of(server, req))
        if req.subresource == "log":
            return _pod_log(server, req)
        raw = server.store.get_raw(req.rtype, req.namespace or "", req.name)
        if raw is None:
            raise errors.not_found(req.rtype.group, req.rtype.plural, req.name)
        if wants_table(req.accept):
            return json_response(table_for(req.rtype, [json.loads(raw)], str(server.store.resource_version)))
        return json_response(raw)
    if m == "POST" and req.name is None:
        if req.rtype.namespaced and req.namespace is None:
            raise errors.method_not_allowed()
        dry_run = req.dry_run("CreateOptions")
        obj = _object_body(req)
        meta = obj.get("metadata")
        if isinstance(meta, dict) and req.namespace and meta.get("namespace") not in (None, "", req.namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        created = server.store.create(req.rtype, obj, namespace=req.namespace, from_api=True, dry_run=dry_run,
                                      manager=req.manager)
        return json_response(created, 201)
    if req.name is None:
        if m == "DELETE":
            return _delete_collection(server, req)
        raise errors.method_not_allowed()
    if m == "PUT":
        dry_run = req.dry_run("UpdateOptions")
        obj = _object_body(req)
        if req.subresource == "scale":
            return json_response(_update_scale(server, req, lambda _cur: obj, dry_run))
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        if meta.get("name") not in (None, req.name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({req.name})"
            )
        updated = server.store.update(req.rtype, req.namespace, req.name, lambda _cur: obj,
                                      subresource=req.subresource, from_api=True, dry_run=dry_run,
                                      manager=req.manager)
        return json_response(updated)
    if m == "PATCH":
        return _patch(server, req)
    if m == "DELETE":
        return json_response(_delete(server, req))
    raise errors.method_not_allowed()


# --- list / watch ---------------------------------------------------------------------------
def _list(server: ServerState, req: ResourceRequest) -> Any:

    rtype, store = req.rtype, server.store
    options.check_list_options(req.query, watch=False)
    match = _matcher(req)
    wanted = options.parse_resource_version(req.query.get("resourceVersion", ""))
    if wanted is not None and not req.query.get("continue"):
        options.wait_until_fresh(store, wanted, server.fresh_wait)
    after = None
    token = req.query.get("continue")
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            token_rv, after = int(state["rv"]), (state["ns"], state["name"])
            if not all(isinstance(part, str) for part in after):
                raise TypeError("continue position must be strings")
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error):
            raise errors.bad_request("invalid continue token") from None
        if token_rv < store.oldest_resumable_rv:
            raise errors.gone(CONTINUE_EXPIRED)
    rv, items = store.list(rtype, req.namespace, match, after=after)
    if token:
        rv = token_rv
    try:
        limit = int(req.query.get("limit") or 0)
    except ValueError:
        raise errors.bad_request("limit must be an integer") from None
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if limit > 0 and len(items) > limit:
        last = items[limit - 1][0]
        meta["continue"] = base64.urlsafe_b64encode(
            dumps({"rv": rv, "ns": last[0], "name": last[1]})
        ).decode()
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    if wants_table(req.accept):

        table = table_for(rtype, [obj for _, obj, _ in items], str(rv))
        table["metadata"].update({k: v for k, v in meta.items() if k != "resourceVersion"})
        return json_response(table)
    head = b'{"kind":"%b","apiVersion":"%b","metadata":%b,"items":[' % (
        rtype.list_kind.encode(), rtype.api_version.encode(), dumps(meta))
    return Response(200, head + b",".join(raw for _, _, raw in items) + b"]}")


def _watch(server: ServerState, req: ResourceRequest) -> WatchStream:
    send_initial = options.check_list_options(req.query, watch=True)
    match = _matcher(req)
    if req.name is not None:
        name = req.name
        match = combine(match, lambda obj: obj["metadata"]["name"] == name)
    rv = req.query.get("resourceVersion", "")
    options.parse_resource_version(rv)
    timeout = None
    if req.query.get("timeoutSeconds"):
        try:
            timeout = float(req.query["timeoutSeconds"])
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number") from None
    return WatchStream(
        server.store,
        req.rtype,
        req.namespace,
        match,
        rv,
        bookmarks=req.query.get("allowWatchBookmarks") in TRUE,
        bookmark_interval=server.bookmark_interval,
        timeout=timeout,
        send_initial_events=send_initial,
    )


# --- patch ---------------------------------------------------------------------------------
def _patch(server: ServerState, req: ResourceRequest) -> Any:

    ctype = req.content_type
    rtype = req.rtype
    accepted = CUSTOM_PATCH_TYPES if options.is_custom_resource(rtype.group) else PATCH_TYPES
    if ctype not in accepted:
        raise errors.unsupported_media_type(ctype, accepted)
    dry_run = req.dry_run("PatchOptions")
    if ctype == "application/apply-patch+yaml":
        return _apply(server, req, dry_run)
    patch = _parse_body(req)
    if ctype == "application/json-patch+json":
        if not isinstance(patch, list):
            raise errors.bad_request("a JSON patch must be a list of operations")
    elif not isinstance(patch, dict):
        raise errors.bad_request("a merge patch must be a JSON object")

    def mutate(cur: dict) -> dict:
        cur_rv = cur["metadata"]["resourceVersion"]
        try:
            if ctype == "application/json-patch+json":
                new = patches.json_patch(cur, patch)
            elif ctype == "application/merge-patch+json":
                new = patches.merge_patch(cur, patch)
            else:
                new = patches.strategic_merge(cur, patch)
        except patches.PatchError as exc:
            if ctype == "application/json-patch+json":  # any failed operation, `test` included
                raise ApiError(422, "Invalid", JSON_PATCH_FAILED, {}) from None
            raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the patch must produce an object")
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(422, "Invalid", "metadata must be an object")
        patched_rv = meta.get("resourceVersion")
        if patched_rv in (None, ""):
            meta["resourceVersion"] = cur_rv
        return new

    if req.subresource == "scale":
        return json_response(_update_scale(server, req, mutate, dry_run))
    with server.store.cond:
        updated = server.store.update(rtype, req.namespace, req.name or "", mutate,
                                      subresource=req.subresource, from_api=True, dry_run=dry_run,
                                      manager=req.manager)
    return json_response(updated)


def _apply(server: ServerState, req: ResourceRequest, dry_run: bool) -> Any:
    """Server-side apply: create, or merge into the current object with field ownership
    (a change to a field another manager owns is a 409 conflict unless `force=true`)."""

    rtype, store = req.rtype, server.store
    if not req.query.get("fieldManager"):
        raise ApiError(
            422, "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        )
    obj = _parse_body(req, allow_yaml=True)
    if not isinstance(obj, dict):
        raise errors.bad_request("an apply patch must be an object")
    if not obj.get("apiVersion") or not obj.get("kind"):
        raise errors.bad_request("apiVersion and kind must be set in an apply patch")
    _check_kind(rtype, obj)
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        raise errors.bad_request("metadata must be an object")
    meta = obj.get("metadata") or {}
    if meta.get("name") not in (None, req.name):
        raise errors.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({req.name})"
        )
    if meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    manager = req.query["fieldManager"]
    force = req.query.get("force") in TRUE
    scope = None if not rtype.has_status else ("status" if req.subresource == "status" else "main")
    with store.cond:
        if req.subresource is None and store.get_raw(rtype, req.namespace or "", req.name or "") is None:
            obj.setdefault("metadata", {})["name"] = req.name
            fields.apply({}, obj, json.loads(dumps(obj)), manager, rtype.api_version, now_rfc3339(store.clock),
                         force=force, subresource=None, scope=scope)
            created = store.create(rtype, obj, namespace=req.namespace, from_api=True, dry_run=dry_run)
            return json_response(created, 201)

        def mutate(cur: dict) -> dict:
            cur_rv = cur["metadata"]["resourceVersion"]
            # managedFields is the apply's own business (below): keep it out of the merge's copying.
            managed = cur["metadata"].pop("managedFields", None)
            new = patches.strategic_merge(cur, obj)
            if managed is not None:
                cur["metadata"]["managedFields"] = managed
            if not new["metadata"].get("resourceVersion"):
                new["metadata"]["resourceVersion"] = cur_rv
            return fields.apply(cur, new, obj, manager, rtype.api_version, now_rfc3339(store.clock),
                                force=force, subresource=req.subresource, scope=scope)

        updated = store.update(rtype, req.namespace, req.name or "", mutate,
                               subresource=req.subresource, from_api=True, dry_run=dry_run)
    return json_response(updated)


# No container runs in the sandbox, so a pod's "log" is whatever this annotation holds:
# tests and demos set it to exercise clients that read logs (e.g. `skctl run --wait`).
LOG_ANNOTATION = "sandbox.skctl.io/log"


def _pod_log(server: ServerState, req: ResourceRequest) -> Any:

    raw = server.store.get_raw(req.rtype, req.namespace or "", req.name or "")
    if raw is None:
        raise errors.not_found(req.rtype.group, req.rtype.plural, req.name or "")
    text = ((json.loads(raw).get("metadata") or {}).get("annotations") or {}).get(LOG_ANNOTATION, "")
    lines = text.splitlines(keepends=True)
    tail = req.query.get("tailLines")
    if tail is not None:
        try:
            count = int(tail)
        except ValueError:
            raise errors.bad_request(f"tailLines must be an integer, got {tail!r}") from None
        lines = lines[-count:] if count > 0 else []
    return Response(200, "".join(lines).encode(), "text/plain")


# --- scale ---------------------------------------------------------------------------------
def _scale_doc(obj: dict) -> dict:
    """The Scale subresource of a workload; its status.selector is the workload's selector as
    a string (skctl.kube.selectors), empty when it has none or one that does not parse."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    try:
        selector = selector_string(spec.get("selector") or {})
    except SelectorError:
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0),
                   "selector": selector},
    }


def _scale_of(server: ServerState, req: ResourceRequest) -> dict:
    obj = server.store.get(req.rtype, req.namespace or "", req.name or "")
    if obj is None:
        raise errors.not_found(req.rtype.group, req.rtype.plural, req.name or "")
    return _scale_doc(obj)


def _update_scale(server: ServerState, req: ResourceRequest, mutate_scale: Any, dry_run: bool = False) -> dict:
    def mutate(cur: dict) -> dict:
        scale = mutate_scale(_scale_doc(cur))
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", req.name or "", "spec.replicas",
                                 "Invalid value: must be a non-negative integer")
        want_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
            raise errors.conflict(req.rtype.group, req.rtype.plural, req.name or "")
        cur.setdefault("spec", {})["replicas"] = replicas
        return cur

    updated = server.store.update(req.rtype, req.namespace, req.name or "", mutate, from_api=True,
                                  dry_run=dry_run, manager=req.manager, subresource="scale")
    return _scale_doc(updated)


# --- delete --------------------------------------------------------------------------------
def _delete_options(req: ResourceRequest) -> dict:
    opts: dict[str, Any] = {}
    if req.body.strip():
        try:
            parsed = json.loads(req.body)
        except ValueError as exc:
            raise errors.bad_request(f"invalid DeleteOptions: {exc}") from None
        if not isinstance(parsed, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        opts = parsed
    policy = req.query.get("propagationPolicy") or opts.get("propagationPolicy")
    orphan = req.query.get("orphanDependents", opts.get("orphanDependents"))
    if policy is None and orphan in (True, "true"):
        policy = "Orphan"
    opts["propagationPolicy"] = policy or "Background"
    dry_run = opts.get("dryRun")
    if req.query.get("dryRun") is not None:
        dry_run = [req.query["dryRun"]]
    if dry_run is not None and not (isinstance(dry_run, list) and all(isinstance(v, str) for v in dry_run)):
        raise errors.bad_request("DeleteOptions.dryRun must be a list of strings")
    opts["dryRun"] = options.dry_run(dry_run or [], "DeleteOptions")
    grace = req.query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
    if grace is not None:
        try:
            grace = int(grace)
        except (TypeError, ValueError):
            raise errors.bad_request(f"gracePeriodSeconds must be an integer, got {grace!r}") from None
    opts["gracePeriodSeconds"] = grace
    return opts


# Resources whose real registry answers a finished DELETE with the object itself; the
# others answer a Status "Success" naming what went (an object still being deleted, held by
# finalizers or a grace period, is answered as it now is either way).
RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "services")})


def _delete(server: ServerState, req: ResourceRequest) -> dict:
    opts = _delete_options(req)
    pre = opts.get("preconditions") or {}
    result = server.store.delete(
        req.rtype, req.namespace, req.name or "",
        propagation=opts["propagationPolicy"],
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
        grace_period=opts["gracePeriodSeconds"],
        dry_run=opts["dryRun"],
    )
    meta = result["metadata"]
    if req.rtype.key in RETURNS_DELETED_OBJECT or "deletionTimestamp" in meta:
        return result
    details = {"name": meta["name"], "group": req.rtype.group, "kind": req.rtype.plural, "uid": meta["uid"]}
    if not req.rtype.group:
        del details["group"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _delete_collection(server: ServerState, req: ResourceRequest) -> Any:

    opts = _delete_options(req)
    match = _matcher(req)
    store = server.store
    deleted = []
    with store.cond:
        _, items = store.list(req.rtype, req.namespace, match)
        for (ns, name), _, _ in items:
            try:
                deleted.append(store.delete(req.rtype, ns, name, propagation=opts["propagationPolicy"],
                                            grace_period=opts["gracePeriodSeconds"], dry_run=opts["dryRun"]))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        rv = store.resource_version
    head = b'{"kind":"%b","apiVersion":"%b","metadata":{"resourceVersion":"%d"},"items":[' % (
        req.rtype.list_kind.encode(), req.rtype.api_version.encode(), rv)
    return Response(200, head + b",".join(dumps(d) for d in deleted) + b"]}")
