"""`skctl trace` against a real control plane: controllers make ReplicaSets and Pods, KWOK
runs them, deletes go through finalizers and graceful deletion (MODIFIED before DELETED)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.e2e.cluster import Cluster
from tests.e2e.helpers import export_all
from tests.helpers import deployment, skctl_bg, tracer_url, wait_for


def _is_ours(obj: dict[str, Any], name: str) -> bool:
    """This test's Deployment (other e2e tests leave objects of the same name elsewhere)."""
    meta = obj["metadata"]
    return obj["kind"] == "Deployment" and meta["name"] == name and meta.get("namespace") == "tracer-e2e"


def test_tracer_records_a_real_deployment(real_cluster: Cluster, tmp_path: Path) -> None:
    kc = str(real_cluster.kubeconfig)
    real_cluster.kubectl("create", "namespace", "tracer-e2e")
    # one object exists before the tracer: it comes from a LIST, whose items a real server
    # sends without apiVersion and kind
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment("early", "tracer-e2e", replicas=0, image="nginx:1", kwok=True)))
    proc = skctl_bg("trace", "--kubeconfig", kc, "--journal", str(tmp_path / "j"), "--listen", "127.0.0.1:0")
    try:
        url = tracer_url(proc)
        wait_for(lambda: requests.get(url + "/status", timeout=5).json()["watches"].get("v1.Pod", {}).get("state")
                == "watching", what="the watches", timeout=60, interval=0.5)
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment("web", "tracer-e2e", replicas=2, image="nginx:1", kwok=True)))
        real_cluster.kubectl("annotate", "-n", "tracer-e2e", "deployment/web", "note=metadata-only")
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment("web", "tracer-e2e", replicas=3, image="nginx:2", kwok=True)))
        wait_for(lambda: any(o == ("apps/v1.Deployment", "tracer-e2e/web") for o in export_all(url).pod_lifecycles),
                timeout=120, what="pod lifecycles under the Deployment (through its ReplicaSets)", interval=0.5)
        real_cluster.kubectl("delete", "-n", "tracer-e2e", "deployment/web", "--cascade=foreground", "--wait=true")

        def deleted() -> Any:
            trace = export_all(url)
            actions = [a for _t, a, o in trace.iter_objects() if _is_ours(o, "web")]
            return actions if actions and actions[-1] == "deleted" else None

        actions = wait_for(deleted, timeout=120, what="the delete", interval=0.5)
        # create, template change (replicas 3 + image) ... never the annotation, one delete
        # create and the template change; not the annotation, the controllers' status updates
        # or the foreground deletion's MODIFIED with a deletionTimestamp; one delete
        assert actions == ["applied", "applied", "deleted"]
        trace = export_all(url)
        early = [o for _t, _a, o in trace.iter_objects() if _is_ours(o, "early")]
        assert early and early[0]["apiVersion"] == "apps/v1" and early[0]["kind"] == "Deployment"
        lifecycles = [lc for lcs in trace.pod_lifecycles[("apps/v1.Deployment", "tracer-e2e/web")].values()
                      for lc in lcs]
        assert len(lifecycles) >= 3 and all(lc["start_ts"] is not None for lc in lifecycles)
        assert all(lc["end_ts"] is not None and lc["end_ts"] >= lc["start_ts"] for lc in lifecycles)
        assert all(o["kind"] != "Pod" for _t, _a, o in trace.iter_objects())  # owned pods: skipOwned
    finally:
        proc.terminate()
        proc.wait(30)


def test_tracer_waits_for_a_real_crd(real_cluster: Cluster, tmp_path: Path) -> None:
    from skctl.sandbox.scenario import VOLCANO_CRD

    kc = str(real_cluster.kubeconfig)
    real_cluster.kubectl("create", "namespace", "tracer-crd")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trackedObjects:\n  batch.volcano.sh/v1alpha1.Job:\n"
                   "    podSpecTemplatePaths: [/spec/tasks/*/template]\n    trackLifecycle: true\n")
    proc = skctl_bg("trace", "--kubeconfig", kc, "-c", str(cfg), "--journal", str(tmp_path / "j"),
                    "--listen", "127.0.0.1:0", "--wait-for-crds")
    try:
        url = tracer_url(proc)
        status = requests.get(url + "/status", timeout=5).json()
        assert status["watches"]["batch.volcano.sh/v1alpha1.Job"]["state"] == "waiting for CRD"
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(VOLCANO_CRD))
        wait_for(lambda: requests.get(url + "/status", timeout=5).json()["watches"]
                ["batch.volcano.sh/v1alpha1.Job"]["state"] == "watching", timeout=60, what="the CRD's watch", interval=0.5)
        job = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
               "metadata": {"name": "vc", "namespace": "tracer-crd"},
               "spec": {"tasks": [{"name": "t", "replicas": 1, "template": {"spec": {
                   "containers": [{"name": "c", "image": "busybox"}]}}}]}}
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
        trace = wait_for(lambda: (lambda t: t if any(o["kind"] == "Job" for _x, _a, o in t.iter_objects()) else None)(
            export_all(url)), timeout=60, what="the custom resource in the recording", interval=0.5)
        (obj,) = [o for _t, _a, o in trace.iter_objects() if o["kind"] == "Job"]
        assert obj["spec"]["tasks"][0]["name"] == "t" and "status" not in obj

        def state() -> str:
            return requests.get(url + "/status", timeout=5).json()["watches"]["batch.volcano.sh/v1alpha1.Job"]["state"]

        # Deleting the CRD ends the real server's watch (then 404): the kind waits again, and
        # is traced again once the CRD is back.
        real_cluster.kubectl("delete", "crd", VOLCANO_CRD["metadata"]["name"], "--wait=true")
        wait_for(lambda: state() == "waiting for CRD", timeout=60, what="the watch to wait again", interval=0.5)
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(VOLCANO_CRD))
        wait_for(lambda: state() == "watching", timeout=60, what="the watch to start again", interval=0.5)
        job["metadata"]["name"] = "vc2"
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
        wait_for(lambda: any(o["metadata"]["name"] == "vc2" for _t, _a, o in export_all(url).iter_objects()),
                timeout=60, what="the recreated kind in the recording", interval=0.5)
    finally:
        proc.terminate()
        proc.wait(30)
