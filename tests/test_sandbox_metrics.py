"""The sandbox's resource metrics API (`SandboxServer(metrics=True)`, `skctl sandbox --metrics`):
listed by discovery only when enabled, PodMetrics of Running pods from their KWOK usage
annotations, all namespaces, one namespace and one pod."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skctl.base.errors import InputError
from skctl.kube.api import ApiError, Kube
from skctl.sandbox import SandboxServer

API = "metrics.k8s.io/v1beta1"


@pytest.fixture
def metrics_kube() -> Iterator[Kube]:
    server = SandboxServer(metrics=True).start()
    kube = Kube(server.api_client())
    try:
        yield kube
    finally:
        kube.close()
        server.stop()


def pod(kube: Kube, ns: str, name: str, running: bool = True, **notes: str) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    path = kube.resource("v1", "Pod").path(ns)
    kube.request("POST", path, body={"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": name, "namespace": ns, "annotations": notes},
                                     "spec": {"containers": [{"name": "app", "image": "i"}, {"name": "side", "image": "i"}]}})
    if running:
        kube.request("PATCH", f"{path}/{name}/status", body={"status": {"phase": "Running"}},
                     content_type="application/merge-patch+json")


def test_pod_metrics_come_from_the_usage_annotations(metrics_kube: Kube) -> None:
    kube = metrics_kube
    pod(kube, "a", "hot", **{"kwok.x-k8s.io/usage-cpu": "750m", "kwok.x-k8s.io/usage-memory": "256Mi"})
    pod(kube, "a", "plain")
    pod(kube, "b", "other", **{"kwok.x-k8s.io/usage-cpu": "2"})
    pod(kube, "b", "pending", running=False)
    groups = [g["name"] for g in kube.request("GET", "/apis")["groups"]]
    assert "metrics.k8s.io" in groups
    everything = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in kube.list(API, "PodMetrics")}
    assert set(everything) == {("a", "hot"), ("a", "plain"), ("b", "other")}  # not the pending pod
    hot = everything[("a", "hot")]
    assert hot["kind"] == "PodMetrics" and hot["window"] == "15s" and hot["timestamp"].endswith("Z")
    assert hot["containers"] == [{"name": "app", "usage": {"cpu": "750m", "memory": "256Mi"}},
                                 {"name": "side", "usage": {"cpu": "750m", "memory": "256Mi"}}]  # as KWOK: per container
    assert everything[("a", "plain")]["containers"][0]["usage"] == {"cpu": "1m", "memory": "1Mi"}  # KWOK's default
    assert everything[("b", "other")]["containers"][0]["usage"] == {"cpu": "2", "memory": "1Mi"}
    assert [m["metadata"]["name"] for m in kube.list(API, "PodMetrics", "a")] == ["hot", "plain"]
    one = kube.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/b/pods/other")
    assert one["metadata"]["name"] == "other"
    with pytest.raises(ApiError) as missing:
        kube.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/b/pods/pending")
    assert missing.value.code == 404


def test_without_the_option_the_group_does_not_exist(sandbox: SandboxServer) -> None:
    kube = Kube(sandbox.api_client())
    assert "metrics.k8s.io" not in [g["name"] for g in kube.request("GET", "/apis")["groups"]]
    with pytest.raises(InputError):
        kube.resource(API, "PodMetrics")
    with pytest.raises(ApiError) as missing:
        kube.request("GET", "/apis/metrics.k8s.io/v1beta1/pods")
    assert missing.value.code == 404
