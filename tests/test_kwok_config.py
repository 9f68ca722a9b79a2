"""config/kwok's autoscaling pieces keep the contract other parts rely on: the usage annotations
the replay driver writes, KWOK's defaults without them, and the per-node metrics path that
metrics-server is pointed at (the e2e test tests/e2e/test_autoscaling_infra.py runs them)."""

from __future__ import annotations

from pathlib import Path

import yaml

KWOK_DIR = Path(__file__).resolve().parents[1] / "config" / "kwok"


def _docs_by_kind() -> dict[str, dict]:
    kustomization = yaml.safe_load((KWOK_DIR / "kustomization.yaml").read_text())
    docs = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((KWOK_DIR / name).read_text()):
            if doc:
                docs.setdefault(doc["kind"], doc)
    return docs


def test_usage_comes_from_the_pod_annotations_with_kwok_defaults() -> None:
    usage = _docs_by_kind()["ClusterResourceUsage"]
    assert usage["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
    (entry,) = usage["spec"]["usages"]
    assert "containers" not in entry  # every container of every pod
    for resource, annotation, default in (("cpu", "kwok.x-k8s.io/usage-cpu", "1m"),
                                          ("memory", "kwok.x-k8s.io/usage-memory", "1Mi")):
        expression = " ".join(entry["usage"][resource]["expression"].split())
        assert expression == (f'"{annotation}" in pod.metadata.annotations'
                              f' ? Quantity(pod.metadata.annotations["{annotation}"]) : Quantity("{default}")')


def test_metric_serves_kubelet_resource_families_per_node() -> None:
    metric = _docs_by_kind()["Metric"]
    assert metric["spec"]["path"] == "/metrics/nodes/{nodeName}/metrics/resource"
    families = {m["name"]: m for m in metric["spec"]["metrics"]}
    # what metrics-server's resource scraper reads
    assert {"node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "container_start_time_seconds",
            "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"} <= set(families)
    assert families["container_cpu_usage_seconds_total"]["kind"] == "counter"
    assert families["container_cpu_usage_seconds_total"]["value"] == 'pod.CumulativeUsage("cpu", container.name)'
    assert families["container_memory_working_set_bytes"]["value"] == 'pod.Usage("memory", container.name)'
