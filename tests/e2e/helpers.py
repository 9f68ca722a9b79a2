"""Small helpers shared by the e2e tests: read the cluster and a tracer's export, set KWOK usage.
(Waiting, running skctl and object builders are tests/helpers/, shared with the unit tests.)"""

from __future__ import annotations

from typing import Any

from skctl.sim.usage import USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION
from tests.e2e.cluster import Cluster

FAR = 2**40  # an export end time after anything a test records


def export_all(url: str) -> Any:
    """Everything a running tracer recorded, nothing filtered out, as a Trace (CBOR answer)."""
    import requests

    from skctl.trace import codec

    body = {"start_ts": 0, "end_ts": FAR, "filters": {"excluded_namespaces": [], "excluded_labels": []}}
    answer = requests.post(url + "/export", json=body, headers={"Accept": "application/cbor"}, timeout=60)
    answer.raise_for_status()
    return codec.decode(answer.content)


def items(cluster: Cluster, path: str, selector: str | None = None) -> list[dict[str, Any]]:
    r = cluster.request("GET", path, params={"labelSelector": selector} if selector else None)
    r.raise_for_status()
    return list(r.json().get("items") or [])


def namespaces(cluster: Cluster, selector: str) -> list[str]:
    return sorted(n["metadata"]["name"] for n in items(cluster, "/api/v1/namespaces", selector))


def exists(cluster: Cluster, path: str) -> bool:
    r = cluster.request("GET", path)
    if r.status_code == 404:
        return False
    r.raise_for_status()
    return True


# KWOK's pod usage annotations, read by config/kwok/usage-from-annotation.yaml (1m / 1Mi without
# them): each container of the pod reports this much, as metrics-server then sees it.
USAGE_CPU = USAGE_CPU_ANNOTATION
USAGE_MEMORY = USAGE_MEMORY_ANNOTATION


def usage_annotations(cpu: str | None = None, memory: str | None = None) -> dict[str, str]:
    """The annotations that make a KWOK pod report this usage (Kubernetes quantities)."""
    return {k: v for k, v in ((USAGE_CPU, cpu), (USAGE_MEMORY, memory)) if v is not None}


def set_pod_usage(cluster: Cluster, namespace: str, pod: str, cpu: str | None = None,
                  memory: str | None = None) -> None:
    """Change one running pod's reported usage in place (no restart); None leaves a value as it is."""
    r = cluster.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/{pod}",
                        json={"metadata": {"annotations": usage_annotations(cpu, memory)}},
                        headers={"Content-Type": "application/merge-patch+json"})
    r.raise_for_status()


def set_deployment_usage(cluster: Cluster, namespace: str, name: str, cpu: str | None = None,
                         memory: str | None = None) -> None:
    """Change the usage in a Deployment's pod template: a rollout, after which every pod (and every
    pod a scale-up adds) reports it. None leaves a value as it is."""
    body = {"spec": {"template": {"metadata": {"annotations": usage_annotations(cpu, memory)}}}}
    r = cluster.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", json=body,
                        headers={"Content-Type": "application/merge-patch+json"})
    r.raise_for_status()
