"""The sandbox at the HTTP level: Status errors for bad requests, discovery, raw watch, faults."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from skctl.sandbox import SandboxServer

pytestmark = pytest.mark.timeout(60)


def _request(sandbox: SandboxServer, method: str, path: str, body: bytes | str | None = None,
             content_type: str = "application/json") -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    headers = {"Content-Type": content_type} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    parsed = json.loads(data) if resp.getheader("Content-Type", "").startswith("application/json") else {}
    return resp.status, parsed, dict(resp.getheaders())


def _assert_status(doc: dict, code: int, reason: str) -> None:
    assert doc["kind"] == "Status" and doc["apiVersion"] == "v1" and doc["status"] == "Failure"
    assert doc["code"] == code and doc["reason"] == reason and doc["message"]


CM_PATH = "/api/v1/namespaces/default/configmaps"


def test_discovery_documents(sandbox: SandboxServer) -> None:
    status, version, _ = _request(sandbox, "GET", "/version")
    assert status == 200 and version["major"] == "1"
    _, api, _ = _request(sandbox, "GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    _, v1, _ = _request(sandbox, "GET", "/api/v1")
    names = {r["name"] for r in v1["resources"]}
    assert {"pods", "pods/status", "namespaces", "services", "configmaps", "secrets", "serviceaccounts",
            "nodes"} <= names
    _, apis, _ = _request(sandbox, "GET", "/apis")
    groups = {g["name"] for g in apis["groups"]}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= groups
    _, apps, _ = _request(sandbox, "GET", "/apis/apps/v1")
    assert {"deployments", "replicasets", "statefulsets", "daemonsets", "deployments/scale"} <= {
        r["name"] for r in apps["resources"]}
    _, batch, _ = _request(sandbox, "GET", "/apis/batch/v1")
    assert {"jobs", "cronjobs"} <= {r["name"] for r in batch["resources"]}
    status, doc, _ = _request(sandbox, "GET", "/apis/nope.example.com/v1")
    assert status == 404
    _assert_status(doc, 404, "NotFound")


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code", "reason"),
    [
        ("POST", CM_PATH, b"{not json", "application/json", 400, "BadRequest"),
        ("POST", CM_PATH, b"[1, 2]", "application/json", 400, "BadRequest"),
        ("POST", CM_PATH, b"", "application/json", 400, "BadRequest"),
        ("POST", CM_PATH, b'{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"}}', "application/json",
         400, "BadRequest"),
        ("POST", CM_PATH, b"\x0a\x0bk8s\x00", "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType"),
        ("POST", CM_PATH, b'{"metadata":{}}', "application/json", 422, "Invalid"),
        ("GET", "/api/v1/namespaces/default/widgets", None, "", 404, "NotFound"),
        ("GET", "/apis/apps/v1/namespaces/default/deployments/a/b/c", None, "", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/configmaps/missing", None, "", 404, "NotFound"),
        ("GET", CM_PATH + "?labelSelector=a%20in%20(", None, "", 400, "BadRequest"),
        ("GET", CM_PATH + "?watch=1&resourceVersion=abc", None, "", 400, "BadRequest"),
        ("PATCH", CM_PATH + "/missing", b"{}", "application/merge-patch+json", 404, "NotFound"),
        ("PATCH", CM_PATH + "/missing", b"{}", "text/plain", 415, "UnsupportedMediaType"),
        ("PUT", CM_PATH, b"{}", "application/json", 405, "MethodNotAllowed"),
        ("DELETE", CM_PATH + "/missing", None, "", 404, "NotFound"),
        ("GET", "/nonsense", None, "", 404, "NotFound"),
    ],
)
def test_bad_requests_get_status_errors(sandbox: SandboxServer, method: str, path: str, body: bytes | None,
                                        ctype: str, code: int, reason: str) -> None:
    status, doc, _ = _request(sandbox, method, path, body, ctype)
    assert status == code
    _assert_status(doc, code, reason)
    status, _, _ = _request(sandbox, "GET", "/version")  # still serving
    assert status == 200


def test_patch_errors_on_existing_object(sandbox: SandboxServer) -> None:
    _request(sandbox, "POST", CM_PATH, json.dumps({"metadata": {"name": "c"}, "data": {"a": "1"}}))
    status, doc, _ = _request(sandbox, "PATCH", CM_PATH + "/c", b"{bad", "application/merge-patch+json")
    assert status == 400
    status, doc, _ = _request(sandbox, "PATCH", CM_PATH + "/c", json.dumps([{"op": "remove", "path": "/nope"}]),
                              "application/json-patch+json")
    _assert_status(doc, 422, "Invalid")
    status, doc, _ = _request(sandbox, "PATCH", CM_PATH + "/c",
                              json.dumps([{"op": "test", "path": "/data/a", "value": "2"}]),
                              "application/json-patch+json")
    # A real server answers any failed JSON-patch operation, `test` included, with 422 Invalid.
    _assert_status(doc, 422, "Invalid")
    assert doc["message"] == "the server rejected our request due to an error in our request"
    status, doc, _ = _request(sandbox, "PATCH", CM_PATH + "/c",
                              json.dumps({"metadata": {"resourceVersion": "1"}, "data": {"a": "2"}}),
                              "application/merge-patch+json")
    _assert_status(doc, 409, "Conflict")
    status, doc, _ = _request(sandbox, "PATCH", CM_PATH + "/c?fieldManager=t",
                              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  b: '2'\n",
                              "application/apply-patch+yaml")
    assert status == 200 and doc["data"] == {"a": "1", "b": "2"}


def test_garbage_on_the_socket_does_not_hurt(sandbox: SandboxServer) -> None:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        sock.recv(4096)
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: nope\r\n\r\n")
        assert b" 400 " in sock.recv(4096).split(b"\r\n")[0]
    status, _, _ = _request(sandbox, "GET", "/version")
    assert status == 200


def test_keep_alive_survives_errors(sandbox: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    for path, expected in (("/api/v1/namespaces/default/configmaps/missing", 404), ("/version", 200),
                           ("/nonsense", 404), ("/api/v1", 200)):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == expected, path
    conn.close()


def test_raw_watch_stream_is_chunked_json_lines(sandbox: SandboxServer) -> None:
    _request(sandbox, "POST", CM_PATH, json.dumps({"metadata": {"name": "c1"}}))
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    conn.request("GET", CM_PATH + "?watch=true&resourceVersion=0&timeoutSeconds=1&allowWatchBookmarks=true")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    lines = [json.loads(line) for line in resp.read().splitlines()]  # ends after timeoutSeconds
    assert lines[0]["type"] == "ADDED" and lines[0]["object"]["metadata"]["name"] == "c1"
    assert lines[0]["object"]["kind"] == "ConfigMap" and lines[0]["object"]["apiVersion"] == "v1"
    assert lines[1]["type"] == "BOOKMARK"


def test_fault_endpoint(sandbox: SandboxServer) -> None:
    status, doc, _ = _request(sandbox, "POST", "/sandbox/faults",
                              json.dumps({"action": "fail", "count": 1, "status": 503, "retryAfter": 2}))
    assert status == 200 and doc["ok"]
    status, doc, headers = _request(sandbox, "GET", CM_PATH)
    assert status == 503 and headers["Retry-After"] == "2"
    _assert_status(doc, 503, "ServiceUnavailable")
    status, doc, _ = _request(sandbox, "POST", "/sandbox/faults", json.dumps({"action": "compact"}))
    assert status == 200 and int(doc["resourceVersion"]) >= 1
    status, doc, _ = _request(sandbox, "POST", "/sandbox/faults", json.dumps({"action": "explode"}))
    _assert_status(doc, 400, "BadRequest")
    status, doc, _ = _request(sandbox, "GET", "/sandbox/state")
    assert doc["injectedFailures"] == 1


def test_openapi_v3_advertises_field_validation(sandbox: SandboxServer) -> None:
    _, index, _ = _request(sandbox, "GET", "/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, doc, _ = _request(sandbox, "GET", url)
    patch_ops = [p["patch"] for p in doc["paths"].values()]
    assert any(op["x-kubernetes-group-version-kind"]["kind"] == "Deployment" for op in patch_ops)
    assert all(any(q["name"] == "fieldValidation" for q in op["parameters"]) for op in patch_ops)


@pytest.mark.parametrize(
    "metadata, word",
    [
        ({"name": "ll", "labels": ["a"]}, "labels"),
        ({"name": "ll", "labels": {"a": 1}}, "labels"),
        ({"name": "ll", "annotations": {"a": None}}, "annotations"),
        ({"name": "ll", "ownerReferences": "x"}, "ownerReferences"),
        ([1], "metadata"),
    ],
)
def test_malformed_metadata_is_a_400_and_selectors_keep_working(sandbox, metadata, word) -> None:  # noqa: ANN001
    import json
    import urllib.error
    import urllib.request

    base = f"{sandbox.url}/api/v1/namespaces/default/configmaps"
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}).encode()
    for method, url, ctype in (
        ("POST", base, "application/json"),
        ("PATCH", f"{base}/ll?fieldManager=t", "application/apply-patch+yaml"),
    ):
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        status = json.loads(err.value.read())
        assert err.value.code == 400 and word in status["message"], status
    with urllib.request.urlopen(f"{base}?labelSelector=a%3D1", timeout=10) as resp:
        assert json.load(resp)["items"] == []


def test_percent_encoded_names_reach_their_object(sandbox) -> None:  # noqa: ANN001
    import json
    import urllib.request

    url = f"{sandbox.url}/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Afoo?fieldManager=t"
    body = json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                       "metadata": {"name": "system:foo"}, "rules": []}).encode()
    req = urllib.request.Request(url, data=body, method="PATCH", headers={"Content-Type": "application/apply-patch+yaml"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp)["metadata"]["name"] == "system:foo"
    get = f"{sandbox.url}/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Afoo"
    with urllib.request.urlopen(get, timeout=10) as resp:
        assert json.load(resp)["metadata"]["name"] == "system:foo"


@pytest.mark.parametrize("state", [{"rv": 1, "ns": 1, "name": 2}, {"rv": 1e999, "ns": "", "name": ""}])
def test_crafted_continue_tokens_are_400(sandbox, state) -> None:  # noqa: ANN001
    import base64
    import json
    import urllib.error
    import urllib.request

    token = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{sandbox.url}/api/v1/configmaps?limit=1&continue={token}", timeout=10)
    assert err.value.code == 400
