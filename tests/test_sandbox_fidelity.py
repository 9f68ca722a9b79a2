"""The sandbox behaves as a real kube-apiserver where a recorder or a driver would notice.

Each test states the real server's behaviour and checks the sandbox does the same. The
facts were read from kube-apiserver's source (handlers, watch cache, field manager,
NamespaceLifecycle admission, garbage collector, namespace controller) and observed on a
v1.37.2 control plane (etcd, kube-apiserver, controller-manager) with the same requests.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from skctl.sandbox import SandboxServer
from skctl.sandbox.store import Store
from tests.helpers import deployment

pytestmark = pytest.mark.timeout(60)

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


def _request(server: SandboxServer, method: str, path: str, body: Any = None,
             content_type: str = "application/json", headers: dict | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={"Content-Type": content_type, **(headers or {})})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, (json.loads(raw) if ctype.startswith("application/json") and raw else raw)


def _watch_lines(server: SandboxServer, path: str) -> list[dict]:
    """Every event of a raw watch request (it must end by itself: timeoutSeconds or an ERROR)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    lines = [json.loads(line) for line in resp.read().splitlines()]
    conn.close()
    return lines


def _events(server: SandboxServer, path: str, rv: str, until: int) -> list[tuple[str, dict]]:
    """(type, object) of the watch events after `rv`, once `until` of them arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    sep = "&" if "?" in path else "?"
    conn.request("GET", f"{path}{sep}watch=true&resourceVersion={rv}&timeoutSeconds=20")
    resp = conn.getresponse()
    out = []
    while len(out) < until:
        line = resp.readline()
        if not line:
            break
        event = json.loads(line)
        if event["type"] != "BOOKMARK":
            out.append((event["type"], event["object"]))
    conn.close()
    return out


def _rv(server: SandboxServer) -> str:
    return str(server.store.resource_version)


@pytest.fixture
def core(sandbox: SandboxServer) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture
def apps(sandbox: SandboxServer) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


# --- 1. dry run never changes anything ------------------------------------------------------
def test_dry_run_create_update_patch_apply_delete_store_nothing(sandbox: SandboxServer) -> None:
    before = sandbox.store.resource_version
    status, created = _request(sandbox, "POST", CM + "?dryRun=All", {"metadata": {"generateName": "d-"}})
    # Real: 201 with the object as it would be (name generated, uid and creationTimestamp set,
    # no resourceVersion), nothing stored, no watch event.
    assert status == 201 and created["metadata"]["name"].startswith("d-") and created["metadata"]["uid"]
    assert "resourceVersion" not in created["metadata"]
    assert _request(sandbox, "GET", f"{CM}/{created['metadata']['name']}")[0] == 404
    assert sandbox.store.resource_version == before

    _request(sandbox, "POST", CM, {"metadata": {"name": "keep"}, "data": {"a": "1"}})
    stored = sandbox.store.get(sandbox.store.resource("v1", "ConfigMap"), "default", "keep")
    rv = stored["metadata"]["resourceVersion"]
    status, put = _request(sandbox, "PUT", f"{CM}/keep?dryRun=All", {"metadata": {"name": "keep"}, "data": {"a": "2"}})
    assert status == 200 and put["data"] == {"a": "2"} and put["metadata"]["resourceVersion"] == rv
    status, patched = _request(sandbox, "PATCH", f"{CM}/keep?dryRun=All", {"data": {"b": "3"}},
                               "application/merge-patch+json")
    assert status == 200 and patched["data"] == {"a": "1", "b": "3"}
    status, applied = _request(sandbox, "PATCH", f"{CM}/keep?dryRun=All&fieldManager=m",
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"},
                                "data": {"c": "4"}}, "application/apply-patch+yaml")
    assert status == 200 and applied["data"]["c"] == "4"
    status, answer = _request(sandbox, "DELETE", f"{CM}/keep?dryRun=All")
    # Real: a ConfigMap's DELETE answers a Status "Success" naming it, dry run or not.
    assert status == 200 and answer["kind"] == "Status" and answer["status"] == "Success"
    assert answer["details"] == {"name": "keep", "kind": "configmaps", "uid": stored["metadata"]["uid"]}
    status, _ = _request(sandbox, "DELETE", f"{CM}/keep", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                          "dryRun": ["All"]})
    assert status == 200
    status, _ = _request(sandbox, "DELETE", CM + "?dryRun=All")  # deletecollection too
    assert status == 200
    status, now = _request(sandbox, "GET", f"{CM}/keep")
    assert status == 200 and now["data"] == {"a": "1"} and now["metadata"]["resourceVersion"] == rv


def test_unknown_dry_run_value_is_422(sandbox: SandboxServer) -> None:
    status, doc = _request(sandbox, "POST", CM + "?dryRun=Yes", {"metadata": {"name": "x"}})
    # Real: CreateOptions validation, `dryRun: Unsupported value: []string{"Yes"}: supported values: "All"`.
    assert status == 422 and doc["reason"] == "Invalid"
    assert doc["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Yes"]: '
                              'supported values: "All"')
    assert _request(sandbox, "GET", f"{CM}/x")[0] == 404


# --- 2. /scale takes a Scale ----------------------------------------------------------------
def test_replace_scale_with_a_scale_object(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", "default")
    scale.spec.replicas = 5
    done = apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert done.kind == "Scale" and done.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5
    with pytest.raises(ApiException) as exc:  # the old resourceVersion is a precondition
        apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert exc.value.status == 409


def test_scale_selector_keeps_match_expressions(apps: client.AppsV1Api) -> None:
    """status.selector is the whole selector as a real server writes it (sorted by key), not
    only matchLabels: an HPA or `kubectl scale` selecting on it must see every requirement."""
    dep = deployment("exprs", replicas=2)
    dep["spec"]["selector"] = {"matchLabels": {"app": "exprs"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "api"]},
        {"key": "canary", "operator": "DoesNotExist"}]}
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "exprs", "tier": "web"}
    apps.create_namespaced_deployment("default", dep)
    scale = apps.read_namespaced_deployment_scale("exprs", "default")
    assert scale.status.selector == "app=exprs,!canary,tier in (api,web)"
    done = apps.patch_namespaced_deployment_scale("exprs", "default", {"spec": {"replicas": 3}})
    assert done.status.selector == "app=exprs,!canary,tier in (api,web)"


# --- 3. watch semantics a recorder depends on -----------------------------------------------
def test_leaving_a_selector_sends_the_previous_object_at_the_new_version(sandbox: SandboxServer) -> None:
    _request(sandbox, "POST", CM, {"metadata": {"name": "sel", "labels": {"team": "a"}}})
    rv = _rv(sandbox)
    _request(sandbox, "PATCH", f"{CM}/sel", {"metadata": {"labels": {"team": "b"}}}, "application/merge-patch+json")
    [(kind, obj)] = _events(sandbox, CM + "?labelSelector=team%3Da", rv, 1)
    # Real watch cache: DELETED carries the old object, stamped with the event's resourceVersion.
    assert kind == "DELETED" and obj["metadata"]["labels"] == {"team": "a"}
    assert obj["metadata"]["resourceVersion"] == _rv(sandbox)


def test_initial_events_end_with_a_bookmark(sandbox: SandboxServer) -> None:
    _request(sandbox, "POST", CM, {"metadata": {"name": "one"}})
    # Real (v1.37): every watch that starts with the current state (resourceVersion unset or
    # "0", or sendInitialEvents=true) ends it with one annotated BOOKMARK when bookmarks are allowed.
    for query in ("resourceVersion=0", "", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan"):
        lines = _watch_lines(sandbox, CM + f"?watch=1&{query}&allowWatchBookmarks=true&timeoutSeconds=1")
        assert [e["type"] for e in lines] == ["ADDED", "BOOKMARK"]
        mark = lines[1]["object"]["metadata"]
        assert mark["annotations"] == {"k8s.io/initial-events-end": "true"} and mark["resourceVersion"] == _rv(sandbox)
    # Without the current state (sendInitialEvents=false, or a numbered version) there is none.
    assert _watch_lines(sandbox, CM + "?watch=1&resourceVersion=0&sendInitialEvents=false"
                        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1") == []
    assert _watch_lines(sandbox, CM + f"?watch=1&resourceVersion={_rv(sandbox)}&allowWatchBookmarks=true"
                        "&timeoutSeconds=1") == []


def test_bookmarks_carry_newer_versions_only(sandbox: SandboxServer) -> None:
    # The fixture's interval is 0.2 s; `skctl sandbox` defaults to a minute like a real server.
    rv = _rv(sandbox)
    _request(sandbox, "POST", "/api/v1/namespaces/default/secrets", {"metadata": {"name": "other"}})
    lines = _watch_lines(sandbox, CM + f"?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1")
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > int(rv) for e in lines)


def test_watch_ahead_of_the_server(sandbox: SandboxServer) -> None:
    sandbox.fresh_wait = 0.3  # a real server waits 3 s for a list
    ahead = sandbox.store.resource_version + 5
    lines = _watch_lines(sandbox, CM + f"?watch=1&resourceVersion={ahead}&sendInitialEvents=true"
                         "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
    # Real: a watch-list for a version not reached answers one ERROR 504 at once; a list waits, then 504.
    [error] = lines
    assert error["type"] == "ERROR" and error["object"]["code"] == 504 and error["object"]["reason"] == "Timeout"
    assert error["object"]["message"].startswith(f"Timeout: Too large resource version: {ahead}, current: ")
    assert error["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    status, doc = _request(sandbox, "GET", CM + f"?resourceVersion={ahead}")
    assert status == 504 and doc["reason"] == "Timeout"
    # A plain watch from a future version is accepted and waits quietly for it.
    for i in range(6):
        _request(sandbox, "POST", CM, {"metadata": {"name": f"f{i}"}})
    events = _events(sandbox, CM, str(ahead), 1)
    assert events == [("ADDED", events[0][1])] and events[0][1]["metadata"]["name"] == "f5"


def test_history_keeps_75_seconds_then_expires() -> None:
    clock = [0.0]
    store = Store(monotonic=lambda: clock[0])
    ns = store.resource("v1", "ConfigMap")
    start = store.resource_version
    for i in range(150):
        store.create(ns, {"metadata": {"name": f"c{i}", "namespace": "default"}})
    clock[0] = 60.0
    store.create(ns, {"metadata": {"name": "late", "namespace": "default"}})
    assert store.events_after(start, 10) is not None  # younger than 75 s: still resumable
    clock[0] = 200.0
    store.create(ns, {"metadata": {"name": "later", "namespace": "default"}})
    assert store.events_after(start, 10) is None  # older ones evicted beyond the 100-event floor
    assert len(store.events_after(store.oldest_resumable_rv, 1000)) == 100


def _dependents(sandbox: SandboxServer, apps: client.AppsV1Api, core: client.CoreV1Api) -> dict:
    owner = apps.create_namespaced_deployment("default", deployment("own", replicas=2))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "own", "uid": owner.metadata.uid,
           "blockOwnerDeletion": True}
    core.create_namespaced_config_map("default", {"metadata": {"name": "dep", "ownerReferences": [ref]}})
    return ref


def test_foreground_delete_marks_owner_then_deletes_dependents_first(sandbox: SandboxServer,
                                                                       apps: client.AppsV1Api,
                                                                       core: client.CoreV1Api) -> None:
    _dependents(sandbox, apps, core)
    rv = _rv(sandbox)
    answer = apps.delete_namespaced_deployment("own", "default", propagation_policy="Foreground")
    # Real: the answer is the owner with deletionTimestamp and the foregroundDeletion finalizer.
    assert answer["metadata"]["finalizers"] == ["foregroundDeletion"] and answer["metadata"]["deletionTimestamp"]
    deploy = _events(sandbox, DEPLOY, rv, 2)
    assert [k for k, _ in deploy] == ["MODIFIED", "DELETED"]
    # DELETED carries the last stored state (etcd's previous value): the finalizer is still there.
    assert deploy[0][1]["metadata"]["finalizers"] == deploy[1][1]["metadata"]["finalizers"] == ["foregroundDeletion"]
    # The garbage collector deletes a dependent without dependents of its own in the background.
    cms = _events(sandbox, CM, rv, 1)
    assert [k for k, _ in cms] == ["DELETED"]
    assert int(cms[0][1]["metadata"]["resourceVersion"]) < int(deploy[1][1]["metadata"]["resourceVersion"])


def test_orphan_delete_releases_dependents_first(sandbox: SandboxServer, apps: client.AppsV1Api,
                                                 core: client.CoreV1Api) -> None:
    _dependents(sandbox, apps, core)
    rv = _rv(sandbox)
    apps.delete_namespaced_deployment("own", "default", propagation_policy="Orphan")
    deploy = _events(sandbox, DEPLOY, rv, 2)
    assert [k for k, _ in deploy] == ["MODIFIED", "DELETED"]
    assert deploy[0][1]["metadata"]["finalizers"] == deploy[1][1]["metadata"]["finalizers"] == ["orphan"]
    [(kind, released)] = _events(sandbox, CM, rv, 1)
    assert kind == "MODIFIED" and "ownerReferences" not in released["metadata"]
    dep = core.read_namespaced_config_map("dep", "default")
    assert dep.metadata.owner_references is None


def test_graceful_deletion_of_a_scheduled_pod(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}
    core.create_namespaced_pod("default", pod)
    core.create_namespaced_pod("default", {**pod, "metadata": {"name": "unscheduled"},
                                           "spec": {"containers": [{"name": "c", "image": "x"}]}})
    rv = _rv(sandbox)
    status, answer = _request(sandbox, "DELETE", "/api/v1/namespaces/default/pods/p")
    # Real: a scheduled pod gets its grace period (30 s by default) and a new generation first
    # (MODIFIED); the kubelet then deletes it with zero grace (MODIFIED) and it goes (DELETED).
    # The sandbox's absent kubelet does its part at once.
    meta = answer["metadata"]
    assert status == 200 and meta["deletionGracePeriodSeconds"] == 30 and meta["generation"] == 2
    status, answer = _request(sandbox, "DELETE", "/api/v1/namespaces/default/pods/unscheduled")
    # An unscheduled pod goes at once, answered (pods answer with the object) as marked with zero grace.
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 0 and answer["metadata"]["deletionTimestamp"]
    events = _events(sandbox, "/api/v1/namespaces/default/pods", rv, 4)
    assert [(k, o["metadata"]["name"], o["metadata"]["deletionGracePeriodSeconds"]) for k, o in events] == [
        ("MODIFIED", "p", 30), ("MODIFIED", "p", 0), ("DELETED", "p", 0), ("DELETED", "unscheduled", 0)]
    assert {o["metadata"]["generation"] for _, o in events} == {2}


def test_namespace_passes_through_terminating(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    rv = _rv(sandbox)
    status, answer = _request(sandbox, "DELETE", "/api/v1/namespaces/gone")
    assert status == 200 and answer["status"]["phase"] == "Terminating" and answer["metadata"]["deletionTimestamp"]
    # Real (NamespaceLifecycle admission): no new content while terminating.
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("gone", {"metadata": {"name": "new"}})
    doc = json.loads(exc.value.body)
    assert exc.value.status == 403 and doc["reason"] == "Forbidden"
    assert doc["message"] == ('configmaps "new" is forbidden: unable to create new content in namespace gone '
                              "because it is being terminated")
    assert doc["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    assert core.read_namespace("gone").status.phase == "Terminating"  # held by the finalizer
    events = _events(sandbox, "/api/v1/namespaces", rv, 1)  # the controller got to it...
    assert _events(sandbox, "/api/v1/namespaces/gone/configmaps", rv, 1)[0][0] == "MODIFIED"  # ...and marked "held"
    core.patch_namespaced_config_map("held", "gone", {"metadata": {"finalizers": None}})
    events = _events(sandbox, "/api/v1/namespaces", rv, 3)
    # Real: Terminating, then the namespace controller's conditions once it is empty, then gone;
    # spec.finalizers stays [kubernetes] throughout.
    assert [(k, o["status"]["phase"], o["spec"]["finalizers"]) for k, o in events] == [
        ("MODIFIED", "Terminating", ["kubernetes"]), ("MODIFIED", "Terminating", ["kubernetes"]),
        ("DELETED", "Terminating", ["kubernetes"])]
    assert _request(sandbox, "GET", "/api/v1/namespaces/gone")[0] == 404
    assert [(c["type"], c["status"], c["reason"]) for c in events[1][1]["status"]["conditions"]][3] == (
        "NamespaceContentRemaining", "False", "ContentRemoved")


# --- 4. list and watch options are validated --------------------------------------------------
@pytest.mark.parametrize("query, code, text", [
    ("resourceVersionMatch=NotOlderThan", 422,
     'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is '
     "forbidden unless resourceVersion is provided"),
    ("resourceVersion=0&resourceVersionMatch=Exact", 422,
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ("resourceVersion=5&continue=abc", 400, "specifying resource version is not allowed when using continue"),
    ("sendInitialEvents=true", 422, "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ("watch=1&sendInitialEvents=true", 422,
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ("watch=1&resourceVersionMatch=NotOlderThan", 422,
     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
    ("fieldSelector=data.x%3Dy", 400,
     '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
])
def test_list_and_watch_options_are_validated(sandbox: SandboxServer, query: str, code: int, text: str) -> None:
    status, doc = _request(sandbox, "GET", f"{CM}?{query}")
    assert status == code and text in doc["message"]


def test_field_selectors_only_on_indexed_fields(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", {"metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert [p.metadata.name for p in core.list_namespaced_pod("default", field_selector="status.phase=Pending").items
            ] == ["p"]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod("default", field_selector="spec.priority=0")
    assert exc.value.status == 400 and json.loads(exc.value.body)["message"] == (
        "field label not supported: spec.priority")


# --- 5. what a trace would contain ------------------------------------------------------------
def test_server_set_fields_match_a_real_server(sandbox: SandboxServer, core: client.CoreV1Api,
                                               apps: client.AppsV1Api) -> None:
    secret = core.create_namespaced_secret("default", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert secret.data == {"k": "dg=="} and secret.type == "Opaque" and secret.string_data is None
    assert core.create_namespaced_config_map("default", {"metadata": {"name": "c"}}).metadata.generation is None
    ns = core.create_namespace({"metadata": {"name": "fresh"}})
    assert ns.metadata.generation is None and ns.spec.finalizers == ["kubernetes"]
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "fresh"}
    assert apps.create_namespaced_deployment("default", deployment("g", replicas=2)).metadata.generation == 1
    status, doc = _request(sandbox, "POST", CM, {"metadata": {"name": "rv", "resourceVersion": "12"}})
    assert status == 500 and doc["message"] == "resourceVersion should not be set on objects to be created"
    assert "reason" not in doc  # StatusReasonUnknown


def test_strategic_merge_patch_on_a_custom_resource_is_415(sandbox: SandboxServer) -> None:
    dyn = dynamic.DynamicClient(sandbox.api_client())
    dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(body={
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    path = "/apis/example.com/v1/namespaces/default/widgets"
    _request(sandbox, "POST", path, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    status, doc = _request(sandbox, "PATCH", f"{path}/w", {"spec": {"a": 1}}, "application/strategic-merge-patch+json")
    assert status == 415 and doc["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
    assert _request(sandbox, "PATCH", f"{path}/w", {"spec": {"a": 1}}, "application/merge-patch+json")[0] == 200


# --- 6. /openapi/v2 for kubectl <= 1.28 ------------------------------------------------------
def _protobuf_fields(data: bytes) -> dict[int, bytes]:
    """Length-delimited fields of one protobuf message (enough to read the served document)."""
    out, i = {}, 0
    while i < len(data):
        key, length = data[i], data[i + 1]
        assert key & 7 == 2 and length < 128
        out[key >> 3] = data[i + 2: i + 2 + length]
        i += 2 + length
    return out


def test_openapi_v2_document(sandbox: SandboxServer) -> None:
    status, doc = _request(sandbox, "GET", "/openapi/v2")
    assert status == 200 and doc["swagger"] == "2.0" and doc["paths"] == {}
    status, raw = _request(sandbox, "GET", "/openapi/v2",
                           headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    top = _protobuf_fields(raw)  # gnostic openapi_v2.Document: swagger = 1, info = 2, paths = 8
    assert top[1] == b"2.0" and _protobuf_fields(top[2])[1] == doc["info"]["title"].encode()
    assert top[8] == b""


# --- 7. protobuf bodies -------------------------------------------------------------------------
def test_protobuf_body_is_415_naming_the_alternative(sandbox: SandboxServer) -> None:
    status, doc = _request(sandbox, "POST", "/api/v1/namespaces", b"k8s\x00...",
                           "application/vnd.kubernetes.protobuf")
    assert status == 415 and doc["reason"] == "UnsupportedMediaType"
    assert doc["message"].startswith("the body of the request was in an unknown format - accepted media types")
    assert "kubectl create -f FILE" in doc["message"] and "kubectl apply -f FILE" in doc["message"]


# --- issue 15: server-side apply ownership -----------------------------------------------------
def _apply(server: SandboxServer, obj: dict, manager: str, force: bool = False) -> tuple[int, Any]:
    query = f"?fieldManager={manager}" + ("&force=true" if force else "")
    return _request(server, "PATCH", f"{DEPLOY}/{obj['metadata']['name']}{query}", obj,
                    "application/apply-patch+yaml")


def _owners(obj: dict) -> dict[str, dict]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def test_apply_with_managed_fields_in_the_body_is_400(sandbox: SandboxServer) -> None:
    recorded = deployment("rec", replicas=2)
    recorded["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                              "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    status, doc = _apply(sandbox, recorded, "driver")
    assert status == 400 and doc["message"] == "metadata.managedFields must be nil"
    # A create accepts them, but the creator takes every field it sets from the managers they
    # name (an Update is forced), so only the creator's entry is left.
    status, created = _request(sandbox, "POST", DEPLOY + "?fieldManager=recorder", recorded)
    assert status == 201 and list(_owners(created)) == ["recorder"]
    assert _owners(created)["recorder"]["operation"] == "Update"


def test_apply_conflicts_with_another_manager_unless_forced(sandbox: SandboxServer) -> None:
    status, first = _apply(sandbox, deployment("ssa", replicas=2), "alice")
    assert status == 201
    assert _owners(first)["alice"]["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert _apply(sandbox, deployment("ssa", replicas=2), "bob")[0] == 200  # same value: shared, no conflict
    status, doc = _apply(sandbox, deployment("ssa", replicas=3), "carol")
    assert status == 409 and doc["reason"] == "Conflict"
    assert doc["message"].startswith("Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas")
    assert {(c["reason"], c["field"]) for c in doc["details"]["causes"]} == {("FieldManagerConflict",
                                                                              ".spec.replicas")}
    status, forced = _apply(sandbox, deployment("ssa", replicas=3), "carol", force=True)
    assert status == 200 and forced["spec"]["replicas"] == 3
    owners = _owners(forced)
    assert "f:replicas" not in owners["alice"]["fieldsV1"]["f:spec"]
    assert owners["carol"]["fieldsV1"]["f:spec"]["f:replicas"] == {}


def test_an_update_takes_ownership_and_apply_then_conflicts(sandbox: SandboxServer, apps: client.AppsV1Api) -> None:
    _apply(sandbox, deployment("sc", replicas=2), "kubectl")
    apps.patch_namespaced_deployment_scale("sc", "default", {"spec": {"replicas": 4}}, field_manager="hpa")
    scaled = apps.read_namespaced_deployment("sc", "default")
    hpa = [e for e in scaled.metadata.managed_fields if e.manager == "hpa"][0]
    assert hpa.operation == "Update" and hpa.subresource == "scale"
    status, doc = _apply(sandbox, deployment("sc", replicas=2), "kubectl")
    assert status == 409 and doc["message"] == (
        'Apply failed with 1 conflict: conflict with "hpa" with subresource "scale" using apps/v1: .spec.replicas')
    # Leaving replicas out of the applied config avoids the conflict, as on a real server.
    without = deployment("sc", replicas=2)
    del without["spec"]["replicas"]
    status, done = _apply(sandbox, without, "kubectl")
    assert status == 200 and done["spec"]["replicas"] == 4



def test_a_no_op_apply_is_a_no_op(sandbox: SandboxServer) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same"}, "data": {"a": "1"}}
    _, first = _request(sandbox, "PATCH", f"{CM}/same?fieldManager=m", cm, "application/apply-patch+yaml")
    clock = sandbox.store.clock
    sandbox.store.clock = lambda: clock() + 5  # later: a changed managedFields time would be a write
    _, again = _request(sandbox, "PATCH", f"{CM}/same?fieldManager=m", cm, "application/apply-patch+yaml")
    # Real: same resourceVersion, same managedFields (time included), no watch event.
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def test_an_update_takes_only_what_it_changed(sandbox: SandboxServer) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}, "data": {"a": "1", "b": "2"}}
    _request(sandbox, "PATCH", f"{CM}/two?fieldManager=owner", cm, "application/apply-patch+yaml")
    _, cur = _request(sandbox, "GET", f"{CM}/two")
    cur["data"]["b"] = "3"  # a PUT sends managedFields back as read; the editor takes data.b only
    _, put = _request(sandbox, "PUT", f"{CM}/two?fieldManager=editor", cur)
    assert [(e["manager"], e["operation"], e["fieldsV1"]) for e in put["metadata"]["managedFields"]] == [
        ("owner", "Apply", {"f:data": {"f:a": {}}}), ("editor", "Update", {"f:data": {"f:b": {}}})]
