"""Kubernetes objects the tests create or record, built one way."""

from __future__ import annotations

from typing import Any

# What a KWOK-run pod needs: the virtual nodes' label and their provider taint tolerated.
KWOK_NODE_SELECTOR = {"type": "virtual"}
KWOK_TOLERATION = {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}


def deployment(name: str, namespace: str | None = None, *, replicas: int = 1, image: str = "nginx:1",
               labels: dict[str, str] | None = None, container: str = "c", cpu: str | None = None,
               kwok: bool = False, pod_spec: dict[str, Any] | None = None,
               pod_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """An apps/v1 Deployment whose pods carry `app: <name>` (its selector); `labels` are the
    Deployment's own (default the same `app` label). `cpu` sets the container's request,
    `kwok` schedules the pods onto KWOK's virtual nodes, `pod_spec` adds pod spec fields."""
    app = {"app": name}
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels if labels is not None else app)
    main: dict[str, Any] = {"name": container, "image": image}
    if cpu is not None:
        main["resources"] = {"requests": {"cpu": cpu}}
    spec: dict[str, Any] = {"containers": [main]}
    if kwok:
        spec["nodeSelector"] = dict(KWOK_NODE_SELECTOR)
        spec["tolerations"] = [dict(KWOK_TOLERATION)]
    spec.update(pod_spec or {})
    template: dict[str, Any] = {"metadata": {"labels": dict(app)}, "spec": spec}
    if pod_annotations:
        template["metadata"]["annotations"] = dict(pod_annotations)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(app)}, "template": template}}
