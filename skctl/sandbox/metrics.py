"""The resource metrics API (`metrics.k8s.io/v1beta1`, metrics-server's) in the sandbox, on request.

Enabled by `SandboxServer(metrics=True)` (`skctl sandbox --metrics`): discovery then lists the
group, and `GET /apis/metrics.k8s.io/v1beta1/pods` and `.../namespaces/NS/pods[/NAME]` answer
PodMetrics derived from each pod's KWOK usage annotations (`kwok.x-k8s.io/usage-cpu`,
`kwok.x-k8s.io/usage-memory`; a pod without them uses 1m / 1Mi, as KWOK's
ClusterResourceUsage in config/kwok does), reported by every container, as KWOK evaluates
the annotations per container. Only Running
pods are reported, as metrics-server reports only pods the kubelet runs. The timestamp is
the request's time (whole seconds), the window 15s (KWOK's scrape resolution). Without the
option the group does not exist (404), as on a cluster without metrics-server.
"""

from __future__ import annotations

from typing import Any

from skctl.kube.times import rfc3339_at

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
DEFAULT_CPU, DEFAULT_MEMORY = "1m", "1Mi"
WINDOW = "15s"


def group_entry() -> dict[str, Any]:
    """The APIGroup entry /apis lists."""
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def resource_list() -> dict[str, Any]:
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
        "resources": [
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    }


def pod_metrics(pod: dict[str, Any], now: float) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    notes = meta.get("annotations") or {}
    containers = (pod.get("spec") or {}).get("containers") or [{"name": "main"}]
    usage = {"cpu": str(notes.get(USAGE_CPU_ANNOTATION) or DEFAULT_CPU),
             "memory": str(notes.get(USAGE_MEMORY_ANNOTATION) or DEFAULT_MEMORY)}
    return {
        "kind": "PodMetrics", "apiVersion": GROUP_VERSION,
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                     "labels": dict(meta.get("labels") or {}),
                     "creationTimestamp": rfc3339_at(now)},
        "timestamp": rfc3339_at(now),
        "window": WINDOW,
        "containers": [{"name": c.get("name", "main"), "usage": dict(usage)} for c in containers],
    }


def running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not (pod.get("metadata") or {}).get(
        "deletionTimestamp")


def answer(pods: list[dict[str, Any]], parts: list[str], now: float) -> dict[str, Any] | None:
    """The document for a path under /apis/metrics.k8s.io/v1beta1 (`parts` after it), or None
    (404). `pods` are the pods of the namespace asked for (or all)."""
    if parts == ["pods"] or (len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "pods"):
        items = [pod_metrics(p, now) for p in pods if running(p)]
        return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
    if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "pods":
        for p in pods:
            if (p.get("metadata") or {}).get("name") == parts[3] and running(p):
                return pod_metrics(p, now)
    return None
