"""Kubernetes objects the tests create or record, built one way."""

from __future__ import annotations

from typing import Any

# What a pod needs to run on KWOK's virtual nodes: their label selected, their taint tolerated.
KWOK_NODE_SELECTOR = {"type": "virtual"}
KWOK_TOLERATION = {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}
KWOK_POD = {"nodeSelector": KWOK_NODE_SELECTOR, "tolerations": [KWOK_TOLERATION]}  # spread into a pod spec


def deployment(name: str, namespace: str | None = None, *, replicas: int = 1, image: str = "nginx:1",
               labels: dict[str, str] | None = None, container: str = "c", cpu: str | None = None,
               kwok: bool = False, pod_spec: dict[str, Any] | None = None,
               pod_annotations: dict[str, str] | None = None, uid: str | None = None,
               status: dict[str, Any] | None = None) -> dict[str, Any]:
    """An apps/v1 Deployment whose pods carry `app: <name>`, its selector.

    `labels` are the Deployment's own (default the same `app` label). The pods run one
    container (`container`, `image`, a `cpu` request if given) unless `pod_spec` gives the
    whole pod spec; `kwok` puts them on KWOK's virtual nodes."""
    app = {"app": name}
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels if labels is not None else app)
    if uid is not None:
        metadata["uid"] = uid
    if pod_spec is None:
        main: dict[str, Any] = {"name": container, "image": image}
        if cpu is not None:
            main["resources"] = {"requests": {"cpu": cpu}}
        pod_spec = {"containers": [main]}
    spec = dict(pod_spec)
    if kwok:
        spec["nodeSelector"] = {**KWOK_NODE_SELECTOR, **(spec.get("nodeSelector") or {})}
        spec["tolerations"] = [dict(KWOK_TOLERATION), *(spec.get("tolerations") or [])]
    template: dict[str, Any] = {"metadata": {"labels": dict(app)}, "spec": spec}
    if pod_annotations:
        template["metadata"]["annotations"] = dict(pod_annotations)
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                           "spec": {"replicas": replicas, "selector": {"matchLabels": dict(app)}, "template": template}}
    if status is not None:
        obj["status"] = status
    return obj
