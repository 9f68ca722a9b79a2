"""deploy/tracer.yaml validates against the Kubernetes schemas and matches the tracer's needs."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from skctl.trace.tracked import parse_config

ROOT = Path(__file__).resolve().parents[1]
K8S_VERSIONS = ["1.29", "1.32", kubernetes_validate.utils.latest_version()]


def manifests() -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy" / "tracer.yaml").read_text()) if d]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate(version: str) -> None:
    for obj in manifests():
        kubernetes_validate.validate(obj, version, strict=True)


def test_role_covers_exactly_the_tracked_kinds_read_only() -> None:
    objs = {o["kind"]: o for o in manifests()}
    config = parse_config(yaml.safe_load(objs["ConfigMap"]["data"]["tracer-config.yml"]))
    plurals = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
               "Job": "jobs", "CronJob": "cronjobs", "Pod": "pods",
               "HorizontalPodAutoscaler": "horizontalpodautoscalers"}
    watchable = set()
    for rule in objs["ClusterRole"]["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        if "watch" in rule["verbs"]:
            watchable |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    wanted = set()
    for gvk in config.tracked_objects:
        api_version, _, kind = gvk.rpartition(".")
        group = api_version.rpartition("/")[0]
        wanted.add((group, plurals[kind]))
    starting_state = {("", "nodes"), ("scheduling.k8s.io", "priorityclasses")} if config.starting_state else set()
    assert watchable == wanted | {("", "pods")} | starting_state
    listable = {(g, r) for rule in objs["ClusterRole"]["rules"] if "list" in rule["verbs"]
                for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("metrics.k8s.io", "pods") in listable  # pod usage (docs/tracer.md)
    container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[0] == "trace" and args[args.index("--journal") + 1] == "/journal"
    assert any(m["mountPath"] == "/journal" for m in container["volumeMounts"])
