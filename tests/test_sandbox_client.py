"""The sandbox through the official kubernetes client: typed APIs, DynamicClient, Watch."""

from __future__ import annotations

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

from skctl.sandbox import SandboxServer
from tests.helpers import deployment, wait_for

pytestmark = pytest.mark.timeout(60)


def _cm(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {"k": "v"}}


def _pod(name: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}


@pytest.fixture
def core(sandbox: SandboxServer) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture
def apps(sandbox: SandboxServer) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


@pytest.fixture
def dyn(sandbox: SandboxServer) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(sandbox.api_client())


def test_typed_create_get_list_patch_delete(core: client.CoreV1Api) -> None:
    assert {ns.metadata.name for ns in core.list_namespace().items} >= {"default", "kube-system"}
    created = core.create_namespaced_pod("default", _pod("p1", {"app": "web", "tier": "fe"}))
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert created.status.phase == "Pending"
    core.create_namespaced_pod("default", _pod("p2", {"app": "db"}))
    core.create_namespaced_pod("default", _pod("p3", {"app": "web", "tier": "be"}))

    def names(selector: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default", label_selector=selector).items]

    assert names("app=web") == ["p1", "p3"]
    assert names("app==web,tier!=fe") == ["p3"]
    assert names("app in (db, web)") == ["p1", "p2", "p3"]
    assert names("app notin (web)") == ["p2"]
    assert names("tier") == ["p1", "p3"]
    assert names("!tier") == ["p2"]
    by_field = core.list_namespaced_pod("default", field_selector="metadata.name=p2").items
    assert [p.metadata.name for p in by_field] == ["p2"]

    patched = core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"extra": "yes"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "fe", "extra": "yes"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    gone = core.delete_namespaced_pod("p1", "default")
    assert gone.metadata.name == "p1"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("p1", "default")
    assert exc.value.status == 404
    assert '"reason":"NotFound"' in exc.value.body


def test_replace_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    cm = core.create_namespaced_config_map("default", _cm("c1"))
    cm.data = {"k": "v2"}
    fresh = core.replace_namespaced_config_map("c1", "default", cm)
    assert fresh.data == {"k": "v2"}
    cm.data = {"k": "v3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c1", "default", cm)
    assert exc.value.status == 409
    assert '"reason":"Conflict"' in exc.value.body


def test_create_in_missing_namespace_and_duplicates(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("nowhere", _cm("c1"))
    assert exc.value.status == 404 and 'namespaces \\"nowhere\\" not found' in exc.value.body
    core.create_namespaced_config_map("default", _cm("c1"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", _cm("c1"))
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", _cm("Not_A_Name"))
    assert exc.value.status == 422 and "Invalid" in exc.value.body


def test_noop_writes_keep_the_resource_version(sandbox: SandboxServer, dyn: dynamic.DynamicClient) -> None:
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    first = cms.server_side_apply(body=_cm("same"), namespace="default", field_manager="me")
    assert [m["manager"] for m in first.metadata.managedFields] == ["me"]
    before = sandbox.store.resource_version
    again = cms.server_side_apply(body=_cm("same"), namespace="default", field_manager="me")
    patched = cms.patch(name="same", namespace="default", body={"data": {"k": "v"}},
                        content_type="application/merge-patch+json")
    assert again.metadata.resourceVersion == patched.metadata.resourceVersion == first.metadata.resourceVersion
    assert sandbox.store.resource_version == before  # no events either


def test_generation_bumps_only_on_spec_change(apps: client.AppsV1Api) -> None:
    dep = apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    assert dep.metadata.generation == 1
    dep = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert dep.metadata.generation == 1
    dep = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert dep.metadata.generation == 2 and dep.spec.replicas == 3
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 3
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5
    # the main resource ignores status; the status subresource changes only status
    dep = apps.patch_namespaced_deployment("web", "default", {"status": {"replicas": 9}})
    assert not dep.status.replicas
    dep = apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 9}})
    assert dep.status.replicas == 9


def _owned_rs_and_pod(sandbox: SandboxServer, apps: client.AppsV1Api, core: client.CoreV1Api, name: str) -> None:
    dep = apps.create_namespaced_deployment("default", deployment(name, replicas=1))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": dep.metadata.uid,
           "controller": True, "blockOwnerDeletion": True}
    rs_body = {**deployment(f"{name}-abc", replicas=1), "kind": "ReplicaSet"}  # the same shape
    rs_body["metadata"]["ownerReferences"] = [ref]
    rs = apps.create_namespaced_replica_set("default", rs_body)
    pod = _pod(f"{name}-abc-x1", {"app": name})
    pod["metadata"]["ownerReferences"] = [{**ref, "kind": "ReplicaSet", "name": rs.metadata.name,
                                           "uid": rs.metadata.uid}]
    core.create_namespaced_pod("default", pod)


def test_delete_propagation(sandbox: SandboxServer, apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    _owned_rs_and_pod(sandbox, apps, core, "bg")
    _owned_rs_and_pod(sandbox, apps, core, "orph")
    apps.delete_namespaced_deployment("bg", "default", propagation_policy="Background")
    assert not apps.list_namespaced_replica_set("default", label_selector="app=bg").items
    assert not core.list_namespaced_pod("default", label_selector="app=bg").items

    apps.delete_namespaced_deployment("orph", "default", body=client.V1DeleteOptions(propagation_policy="Orphan"))
    kept = apps.read_namespaced_replica_set("orph-abc", "default")
    assert not kept.metadata.owner_references
    assert [p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=orph").items] == [
        "orph-abc-x1"
    ]


def test_namespace_delete_removes_contents(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team-a"}})
    core.create_namespaced_config_map("team-a", _cm("c1"))
    core.create_namespaced_pod("team-a", _pod("p1"))
    core.delete_namespace("team-a")
    # As on a cluster, the namespace controller empties it shortly after the DELETE, then it goes.
    wait_for(lambda: "team-a" not in {n.metadata.name for n in core.list_namespace().items},
             "the namespace team-a to go", timeout=30)
    assert not core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=team-a").items


def test_finalizers_delay_deletion_and_delete_collection(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {**_cm("fin"), "metadata": {"name": "fin",
                                                                             "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("fin", "default")
    held = core.read_namespaced_config_map("fin", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("fin", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("fin", "default")
    assert exc.value.status == 404

    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map("default", _cm(name, {"team": team}))
    core.delete_collection_namespaced_config_map("default", label_selector="team=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]


def test_list_paging_and_expired_continue(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    for i in range(25):
        core.create_namespaced_config_map("default", _cm(f"c{i:02d}"))
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=10, _continue=token)
        seen += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3 and seen == [f"c{i:02d}" for i in range(25)]
    first = core.list_namespaced_config_map("default", limit=10)
    core.create_namespaced_config_map("default", _cm("later"))
    sandbox.faults.compact()
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert exc.value.status == 410 and "Expired" in exc.value.body


def test_dynamic_client_crud_apply_and_json_patch(dyn: dynamic.DynamicClient) -> None:
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=_cm("d1", {"app": "dyn"}), namespace="default")
    listed = cms.get(namespace="default", label_selector="app=dyn")
    assert listed.kind == "ConfigMapList" and [i.metadata.name for i in listed.items] == ["d1"]
    merged = cms.patch(name="d1", namespace="default", body={"data": {"b": "2"}},
                       content_type="application/merge-patch+json")
    assert dict(merged.data) == {"k": "v", "b": "2"}
    jp = cms.patch(name="d1", namespace="default", content_type="application/json-patch+json",
                   body=[{"op": "remove", "path": "/data/k"}, {"op": "add", "path": "/data/c", "value": "3"}])
    assert dict(jp.data) == {"b": "2", "c": "3"}

    applied = cms.server_side_apply(body=_cm("d2", data={"x": "1"}), namespace="default", field_manager="test")
    assert applied.metadata.name == "d2" and dict(applied.data) == {"x": "1"}
    again = cms.server_side_apply(body={**_cm("d2", {"new": "label"}), "data": {"y": "2"}},
                                  namespace="default", field_manager="test", force_conflicts=True)
    # As on a real server, a field the same manager applied before and no longer applies is removed.
    assert dict(again.data) == {"y": "2"} and dict(again.metadata.labels) == {"new": "label"}
    with pytest.raises(ApiException) as exc:
        cms.patch(name="d2", namespace="default", body=_cm("d2"), content_type="application/apply-patch+yaml")
    assert exc.value.status == 422

    rv = cms.get(namespace="default").metadata.resourceVersion
    cms.delete(name="d1", namespace="default")
    with pytest.raises(dynamic.exceptions.NotFoundError):
        cms.get(name="d1", namespace="default")
    events = []
    for event in cms.watch(namespace="default", resource_version=rv, timeout=5):
        events.append((event["type"], event["object"].metadata.name))
        break
    assert events == [("DELETED", "d1")]


def test_crd_shows_up_in_discovery(sandbox: SandboxServer, dyn: dynamic.DynamicClient) -> None:
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }
    created = crds.create(body=crd)
    assert any(c["type"] == "Established" and c["status"] == "True" for c in created.status.conditions)

    fresh = dynamic.DynamicClient(sandbox.api_client())  # new discovery
    widgets = fresh.resources.get(api_version="example.com/v1", kind="Widget")
    assert widgets.namespaced and widgets.name == "widgets"
    widgets.create(body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
                         "spec": {"size": 3}}, namespace="default")
    assert widgets.get(name="w1", namespace="default").spec.size == 3

    crds.delete(name="widgets.example.com")
    assert sandbox.store.registry.lookup("example.com", "v1", "widgets") is None
    groups = client.ApisApi(sandbox.api_client()).get_api_versions().groups
    assert "example.com" not in {g.name for g in groups}


def test_watch_streams_added_modified_deleted_and_bookmarks(core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("w1"))
    core.patch_namespaced_config_map("w1", "default", {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("w1", "default")
    w = watch.Watch()
    kinds = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv,
                          allow_watch_bookmarks=True, timeout_seconds=10):
        kinds.append(event["type"])
        if event["type"] == "BOOKMARK":
            w.stop()
    assert kinds[:3] == ["ADDED", "MODIFIED", "DELETED"]
    assert kinds[-1] == "BOOKMARK"


def test_watch_without_resource_version_starts_with_current_state(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", _cm("s1"))
    core.create_namespaced_config_map("default", _cm("s2"))
    w = watch.Watch()
    got = []
    for event in w.stream(core.list_namespaced_config_map, "default", allow_watch_bookmarks=True,
                          timeout_seconds=10):
        if event["type"] == "BOOKMARK":
            annotations = event["raw_object"]["metadata"].get("annotations") or {}
            assert annotations.get("k8s.io/initial-events-end") == "true"
            w.stop()
        else:
            got.append((event["type"], event["object"].metadata.name))
    assert got == [("ADDED", "s1"), ("ADDED", "s2")]


def test_watch_resumes_after_dropped_connection(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(10):
        core.create_namespaced_config_map("default", _cm(f"r{i:02d}"))
    w = watch.Watch()
    names: list[str] = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv):
        assert event["type"] == "ADDED"
        names.append(event["object"].metadata.name)
        if len(names) == 5:
            assert sandbox.faults.drop_watches() >= 1
            for i in range(10, 20):
                core.create_namespaced_config_map("default", _cm(f"r{i:02d}"))
        if len(names) == 20:
            w.stop()
    assert names == [f"r{i:02d}" for i in range(20)]  # no duplicates, no gaps
    assert sandbox.watches_started >= 2  # it really reconnected


def test_watch_from_compacted_resource_version_gets_410(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("x1"))
    core.create_namespaced_config_map("default", _cm("x2"))
    sandbox.faults.compact()
    with pytest.raises(ApiException) as exc:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv,
                                      timeout_seconds=5):
            pass
    assert exc.value.status == 410
    with pytest.raises(ApiException) as exc:  # without a timeout the client retries once, then gives up
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv):
            pass
    assert exc.value.status == 410


def test_watch_label_selector_filters_and_relabel_deletes(core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a", {"team": "x"}))
    core.create_namespaced_config_map("default", _cm("b", {"team": "y"}))
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"team": "z"}}})
    core.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"team": "x"}}})
    core.create_namespaced_config_map("default", _cm("end", {"team": "x"}))
    w = watch.Watch()
    got = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv,
                          label_selector="team=x", timeout_seconds=10):
        got.append((event["type"], event["object"].metadata.name))
        if event["object"].metadata.name == "end":
            w.stop()
    assert got == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b"), ("ADDED", "end")]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_injected_failures_surface_as_api_exceptions(sandbox: SandboxServer, status: int) -> None:
    cfg = sandbox.configuration()
    cfg.retries = 0  # see what the server sent, without urllib3's Retry-After handling
    core = client.CoreV1Api(client.ApiClient(cfg))
    sandbox.faults.fail_next(1, status, path_contains="/configmaps")
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default")
    assert exc.value.status == status
    if status == 429:
        assert exc.value.headers["Retry-After"] == "1"
        assert '"reason":"TooManyRequests"' in exc.value.body
    assert core.list_namespaced_config_map("default").kind == "ConfigMapList"  # recovered


def test_retry_after_is_honoured_by_the_default_client(sandbox: SandboxServer, core: client.CoreV1Api) -> None:
    sandbox.faults.fail_next(1, 429, retry_after=0, path_contains="/configmaps")
    assert core.list_namespaced_config_map("default").kind == "ConfigMapList"
    assert sandbox.faults.injected == 1


def test_tls_and_token_via_kubeconfig(sandbox_secure: SandboxServer, tmp_path) -> None:
    path = sandbox_secure.write_kubeconfig(tmp_path / "kc")
    api = config.new_client_from_config(config_file=str(path), context="skctl-sandbox")
    assert api.configuration.host.startswith("https://127.0.0.1:")
    core = client.CoreV1Api(api)
    assert "default" in {n.metadata.name for n in core.list_namespace().items}
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    cfg = sandbox_secure.configuration()
    cfg.api_key = {"authorization": "wrong"}
    with pytest.raises(ApiException) as exc:
        client.CoreV1Api(client.ApiClient(cfg)).list_namespace()
    assert exc.value.status == 401


def test_pod_log_is_served_from_the_log_annotation(core: client.CoreV1Api) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="logger", annotations={"sandbox.skctl.io/log": "one\ntwo\nthree\n"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    core.create_namespaced_pod("default", pod)
    assert core.read_namespaced_pod_log("logger", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("logger", "default", tail_lines=2) == "two\nthree\n"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("nobody", "default")
    assert missing.value.status == 404


@pytest.mark.parametrize("name", ["a" * 64, "with.dot"])
def test_namespace_names_are_dns_labels(core: client.CoreV1Api, name: str) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    assert err.value.status == 422
