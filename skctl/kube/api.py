"""Raw-JSON access to the API server: discovery, server-side apply, get/list/delete.

Everything goes through the official client's ApiClient (auth, TLS, proxies, token
refresh) but skips its typed models: objects stay plain dicts, as in the trace, and
the driver's hot path does no model (de)serialisation.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from skctl.base import messages, settings
from skctl.base.errors import InputError, OperationalError
from skctl.base.text import one_line
from skctl.kube import retry
from skctl.kube import status as kube_status
from skctl.kube.keys import join_ns_name

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML: the body is JSON
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"

@dataclass(frozen=True)
class Resource:
    """One REST resource as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        return base


class ApiError(kube_status.ApiError, OperationalError):
    """A non-2xx answer (exit 1 unless the caller decides otherwise): `code` and `reason`
    say which; the message is skctl's one line, the server's own is in it."""


class Kube:
    """A thin, thread-safe layer over one ApiClient."""

    def __init__(self, api_client: Any, field_manager: str = "skctl", timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self.timeout = timeout
        self._resources: dict[str, dict[str, Resource]] = {}
        self._is_kubernetes = False
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    # --- HTTP ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        what: str | None = None,
        raw: bool = False,
    ) -> Any:
        """One call with retries on 429/5xx/connection errors (skctl.kube.retry: a retry is
        made only while --request-timeout leaves room for its wait); returns the decoded JSON
        (or text with raw=True). Non-2xx raises ApiError; unreachable raises OperationalError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        url_path = path
        if query:
            url_path += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json" if not raw else "*/*"}
        data: Any = None
        if body is not None:
            headers["Content-Type"] = content_type
            # the client JSON-encodes bodies of JSON content types itself; for apply
            # (YAML content type) it sends a string as is, which skips its model walker
            if "json" in content_type or isinstance(body, str):
                data = body
            else:
                data = json.dumps(body, separators=(",", ":"))
        attempt = 0
        budget = settings.current().request_timeout
        deadline = time.monotonic() + budget
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError(f"no answer within --request-timeout ({budget:g}s)")
                req = self.api_client.param_serialize(
                    method=method, resource_path=url_path, header_params=dict(headers), body=data, auth_settings=["BearerToken"]
                )
                connect_timeout, read_timeout = self.timeout
                timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
                resp = self.api_client.call_api(*req, _request_timeout=timeout)
                payload = resp.read()
                status = resp.status
            except (HTTPError, ApiException, OSError) as exc:
                delay = retry.backoff_delay(attempt)
                if attempt < retry.CALL_RETRIES and deadline - time.monotonic() > delay:
                    time.sleep(delay)
                    attempt += 1
                    continue
                detail = getattr(exc, "reason", None) or exc
                raise OperationalError(
                    messages.KUBE_UNREACHABLE.format(host=self.host, detail=one_line(detail))
                ) from exc
            if retry.is_retryable_status(status) and attempt < retry.CALL_RETRIES:
                delay = retry.backoff_delay(attempt, retry.retry_after(resp.headers))
                if deadline - time.monotonic() > delay:
                    time.sleep(delay)
                    attempt += 1
                    continue
            if 200 <= status < 300:
                if raw:
                    return payload.decode("utf-8", "replace")
                try:
                    return json.loads(payload) if payload else None
                except ValueError:  # a web server, not an API server, answered
                    head = one_line(payload[:80].decode("utf-8", "replace"))
                    raise InputError(messages.KUBE_NOT_AN_API_SERVER.format(
                        host=self.host, detail=f"{method} {path} answered {status} with non-JSON: {head!r}")) from None
            try:
                decoded = json.loads(payload)
            except ValueError:
                decoded = None
            doc = decoded if isinstance(decoded, dict) else {}
            detail = doc.get("message", "") if doc else payload[:1024].decode("utf-8", "replace")
            raise ApiError(
                status,
                doc.get("reason", ""),
                messages.KUBE_API_ERROR.format(what=what or f"{method} {path}", status=status, detail=one_line(detail)),
                doc.get("details") if isinstance(doc.get("details"), dict) else None,
            )

    # --- discovery ------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The resource serving `kind` in `api_version`, via (cached) discovery."""
        found = self._resources.get(api_version, {}).get(kind)
        if found is None:
            self._discover(api_version)
            found = self._resources.get(api_version, {}).get(kind)
        if found is None:
            raise InputError(messages.KUBE_UNKNOWN_KIND.format(gvk=f"{api_version}.{kind}"))
        return found

    def _discover(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            doc = self.request("GET", path, what=f"discovery of {api_version}")
        except ApiError as exc:
            if exc.code != 404:
                raise
            self._check_is_kubernetes()  # a 404 from any web server must not read as "install its CRD"
            doc = {"resources": []}
        table: dict[str, Resource] = {}
        for r in (doc or {}).get("resources", []):
            name = r.get("name", "")
            if "/" in name or not r.get("kind"):
                continue  # subresources (status, scale, log)
            table.setdefault(r["kind"], Resource(group, version, r["kind"], name, bool(r.get("namespaced"))))
        with self._lock:
            self._resources[api_version] = table

    def _check_is_kubernetes(self) -> None:
        """Every Kubernetes API server lists its core API versions at /api."""
        if self._is_kubernetes:
            return
        try:
            doc = self.request("GET", "/api", what="GET /api")
        except ApiError as exc:
            doc = {"error": exc.code}
        if not (isinstance(doc, dict) and doc.get("kind") == "APIVersions"):
            raise InputError(messages.KUBE_NOT_AN_API_SERVER.format(
                host=self.host, detail=f"GET /api answered {one_line(json.dumps(doc), 80)}"))
        self._is_kubernetes = True

    def apply(self, obj: dict[str, Any], *, force: bool = True, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of a raw object (field manager `skctl`, force by default)."""
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        meta = obj.get("metadata") or {}
        res = self.resource(api_version, kind)
        query: dict[str, Any] = {"fieldManager": self.field_manager, "force": "true" if force else None}
        if dry_run:
            query["dryRun"] = "All"
        namespace = meta.get("namespace") if res.namespaced else None
        applied: dict[str, Any] = self.request(
            "PATCH",
            res.path(namespace or ("default" if res.namespaced else None), meta["name"]),
            query=query,
            body=obj,
            content_type=APPLY_CONTENT_TYPE,
            what=f"apply of {kind} {join_ns_name(namespace, meta.get('name'))}",
        )
        return applied

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        res = self.resource(api_version, kind)
        try:
            found: dict[str, Any] = self.request(
                "GET", res.path(namespace, name), what=f"get of {kind} {join_ns_name(namespace, name)}"
            )
            return found
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        res = self.resource(api_version, kind)
        doc = self.request(
            "GET", res.path(namespace), query={"labelSelector": label_selector}, what=f"list of {res.plural}"
        )
        return list((doc or {}).get("items") or [])

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone (404 is not an error here)."""
        res = self.resource(api_version, kind)
        try:
            self.request(
                "DELETE",
                res.path(namespace, name),
                body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation},
                what=f"delete of {kind} {join_ns_name(namespace, name)}",
            )
        except ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


