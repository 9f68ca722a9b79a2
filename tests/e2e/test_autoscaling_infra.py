"""The e2e control plane with metrics-server: KWOK pods report the usage their annotations say,
the resource metrics API serves it, and a real HorizontalPodAutoscaler in the real
kube-controller-manager scales a Deployment up and down as that usage changes.

This is the "production" load of issue 24's record/replay tests: usage driven by the
kwok.x-k8s.io/usage-cpu / usage-memory annotations (config/kwok/usage-from-annotation.yaml).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from skctl.report.resources import quantity
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import items, set_deployment_usage, set_pod_usage, usage_annotations
from tests.helpers import KWOK_POD, deployment, wait_for

NS = "autoscaling-e2e"
REQUEST_CPU = "100m"
# metrics-server's CPU figure is a rate between two scrapes of KWOK's cumulative counter; the
# change of an annotation lands between scrapes, so a sample may straddle it
CPU_TOLERANCE = Decimal("0.1")


def _create(cluster: Cluster, path: str, body: dict[str, Any]) -> None:
    r = cluster.request("POST", path, json=body)
    assert r.status_code in (201, 409), r.text


def _namespace(cluster: Cluster) -> None:
    _create(cluster, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})


def _pod_metrics(cluster: Cluster, pod: str) -> dict[str, Any] | None:
    r = cluster.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods/{pod}")
    return r.json() if r.status_code == 200 else None


def _usage_near(cluster: Cluster, pod: str, cpu: str, memory: str) -> dict[str, Any] | None:
    """The pod's metrics once they show this usage (memory exactly, CPU within tolerance)."""
    m = _pod_metrics(cluster, pod)
    if m is None or not m.get("containers"):
        return None
    usage = m["containers"][0]["usage"]
    cpu_ok = abs(quantity(usage["cpu"]) - quantity(cpu)) <= quantity(cpu) * CPU_TOLERANCE
    return m if cpu_ok and quantity(usage["memory"]) == quantity(memory) else None


def test_pod_metrics_follow_usage_annotations(metrics_cluster: Cluster) -> None:
    cluster = metrics_cluster
    _namespace(cluster)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "busy", "namespace": NS,
                        "annotations": usage_annotations(cpu="300m", memory="48Mi")},
           "spec": {"containers": [{"name": "c", "image": "busy:1"}], **KWOK_POD}}
    _create(cluster, f"/api/v1/namespaces/{NS}/pods", pod)
    wait_for(lambda: _usage_near(cluster, "busy", "300m", "48Mi"), timeout=120, interval=2,
            what="PodMetrics showing the annotated 300m / 48Mi")
    # in place, no restart: the next scrapes report the new figures
    set_pod_usage(cluster, NS, "busy", cpu="40m", memory="200Mi")
    wait_for(lambda: _usage_near(cluster, "busy", "40m", "200Mi"), timeout=120, interval=2,
            what="PodMetrics following the changed annotations to 40m / 200Mi")
    # the node's figure is the sum of its pods', so it carries this pod's usage too
    node = wait_for(lambda: cluster.request("GET", f"/api/v1/namespaces/{NS}/pods/busy").json()
                   ["spec"].get("nodeName"), what="the pod scheduled", timeout=60, interval=0.5)
    wait_for(lambda: (m := cluster.node_metrics().get(node)) and quantity(m["usage"]["memory"]) >= quantity("200Mi"),
            timeout=60, interval=2, what=f"NodeMetrics for {node} including the pod's 200Mi")
    # a pod without the annotations reports KWOK's defaults, 1m and 1Mi
    plain = {**pod, "metadata": {"name": "idle", "namespace": NS}}
    _create(cluster, f"/api/v1/namespaces/{NS}/pods", plain)
    wait_for(lambda: _usage_near(cluster, "idle", "1m", "1Mi"), timeout=120, interval=2,
            what="PodMetrics of an unannotated pod at 1m / 1Mi")


def _hpa() -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                     # a short scale-down window so the test takes minutes, not the default 5
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}}}


def _hpa_status(cluster: Cluster) -> dict[str, Any]:
    r = cluster.request("GET", f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/web")
    r.raise_for_status()
    return dict(r.json().get("status") or {})


def _utilization(status: dict[str, Any]) -> int | None:
    for m in status.get("currentMetrics") or []:
        if m.get("type") == "Resource" and m["resource"]["name"] == "cpu":
            return m["resource"]["current"].get("averageUtilization")
    return None


def _replicas(cluster: Cluster) -> int:
    r = cluster.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    r.raise_for_status()
    return int(r.json()["spec"]["replicas"])


def test_hpa_scales_deployment_with_annotated_usage(metrics_cluster: Cluster) -> None:
    cluster = metrics_cluster
    _namespace(cluster)
    # 20m of a 100m request: 20% against a 50% target, so the HPA keeps one replica
    _create(cluster, f"/apis/apps/v1/namespaces/{NS}/deployments",
            deployment("web", NS, image="web:1", container="app", cpu=REQUEST_CPU, kwok=True,
                       pod_annotations=usage_annotations(cpu="20m")))
    _create(cluster, f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa())
    status = wait_for(lambda: (s := _hpa_status(cluster)) and _utilization(s) is not None and s,
                     timeout=180, interval=2, what="the HPA reading the pods' CPU utilisation")
    assert status["desiredReplicas"] == 1 and _replicas(cluster) == 1, status
    low = wait_for(lambda: (u := _utilization(_hpa_status(cluster))) is not None and 10 <= u <= 30 and u,
                  timeout=120, interval=2, what="the HPA's utilisation near 20%")
    assert _replicas(cluster) == 1, low

    # 200m each: 200% -> the HPA scales up to its maximum
    set_deployment_usage(cluster, NS, "web", cpu="200m")
    wait_for(lambda: _replicas(cluster) == 5, timeout=300, interval=2,
            what="the HPA scaling the Deployment up to 5 replicas")
    high = wait_for(lambda: (u := _utilization(_hpa_status(cluster))) is not None and u >= 100 and u,
                   timeout=180, interval=2, what="the HPA's utilisation above its target")
    pods = items(cluster, f"/api/v1/namespaces/{NS}/pods", "app=web")
    assert len(pods) >= 5, [p["metadata"]["name"] for p in pods]
    assert _replicas(cluster) == 5, high  # capped at maxReplicas

    # 10m each: 10% -> back down to the minimum once the 15 s stabilisation window has passed
    set_deployment_usage(cluster, NS, "web", cpu="10m")
    wait_for(lambda: _replicas(cluster) == 1, timeout=360, interval=2,
            what="the HPA scaling the Deployment down to 1 replica")
    status = _hpa_status(cluster)
    assert status["desiredReplicas"] == 1, status
