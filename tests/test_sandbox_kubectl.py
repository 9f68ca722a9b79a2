"""kubectl against a real `python -m skctl sandbox` process."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.fixtures.sandbox import SandboxProcess

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data: {mode: fast}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
  labels: {app: other}
data: {mode: slow}
"""


def kubectl(sp: SandboxProcess, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["kubectl", *args], env=sp.env(), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFESTS)
    return path


def test_api_resources(sandbox_process: SandboxProcess) -> None:
    out = kubectl(sandbox_process, "api-resources").stdout
    for needle in ("deployments", "cronjobs", "customresourcedefinitions", "clusterrolebindings", "configmaps"):
        assert needle in out
    assert "skctl-sandbox" in kubectl(sandbox_process, "config", "current-context").stdout


def test_apply_get_patch_delete(sandbox_process: SandboxProcess, manifests: Path) -> None:
    out = kubectl(sandbox_process, "apply", "-f", str(manifests)).stdout
    assert "deployment.apps/web created" in out and "configmap/settings created" in out
    assert "unchanged" in kubectl(sandbox_process, "apply", "-f", str(manifests)).stdout
    ssa = kubectl(sandbox_process, "apply", "--server-side", "-f", str(manifests)).stdout
    assert "serverside-applied" in ssa

    names = kubectl(sandbox_process, "get", "cm", "-l", "app=web", "-o", "name").stdout.split()
    assert names == ["configmap/settings"]
    table = kubectl(sandbox_process, "get", "deploy").stdout
    assert table.splitlines()[0].split()[:2] == ["NAME", "READY"] and "web" in table

    doc = json.loads(kubectl(sandbox_process, "get", "deploy", "web", "-o", "json").stdout)
    assert doc["kind"] == "Deployment" and doc["spec"]["replicas"] == 2

    kubectl(sandbox_process, "patch", "deploy", "web", "-p", '{"spec":{"replicas":3}}')
    kubectl(sandbox_process, "patch", "cm", "settings", "--type=merge", "-p", '{"data":{"mode":"slow"}}')
    kubectl(sandbox_process, "patch", "cm", "other", "--type=json",
            "-p", '[{"op":"replace","path":"/data/mode","value":"fast"}]')
    kubectl(sandbox_process, "scale", "deploy", "web", "--replicas=4")
    doc = json.loads(kubectl(sandbox_process, "get", "deploy", "web", "-o", "json").stdout)
    assert doc["spec"]["replicas"] == 4
    assert kubectl(sandbox_process, "get", "cm", "-o", "jsonpath={.items[*].data.mode}").stdout == "fast slow"  # other, settings

    edited = MANIFESTS.replace("replicas: 2", "replicas: 5")
    manifests.write_text(edited)
    assert "configured" in kubectl(sandbox_process, "apply", "-f", str(manifests)).stdout

    out = kubectl(sandbox_process, "delete", "-f", str(manifests)).stdout
    assert 'deployment.apps "web" deleted' in out
    missing = kubectl(sandbox_process, "get", "deploy", "web", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_get_watch_sees_changes(sandbox_process: SandboxProcess, manifests: Path, tmp_path: Path) -> None:
    watcher = subprocess.Popen(
        ["kubectl", "get", "cm", "--watch", "--output-watch-events", "-o", "json", "--request-timeout=30s"],
        env=sandbox_process.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.append(line)
            if sum(1 for ln in lines if '"type"' in ln) >= 3:
                done.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        kubectl(sandbox_process, "apply", "-f", str(manifests))  # two ConfigMaps
        kubectl(sandbox_process, "label", "cm", "settings", "seen=yes")
        assert done.wait(30), f"kubectl watch printed only: {''.join(lines)}"
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    types = [json.loads(ln)["type"] for ln in lines if ln.startswith("{")]
    assert types[:3] == ["ADDED", "ADDED", "MODIFIED"]


def test_crd_then_custom_resource(sandbox_process: SandboxProcess, tmp_path: Path) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text("""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: jobs.batch.volcano.sh}
spec:
  group: batch.volcano.sh
  scope: Namespaced
  names: {plural: jobs, singular: job, kind: Job, shortNames: [vcjob]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
""")
    kubectl(sandbox_process, "apply", "-f", str(crd))
    assert "batch.volcano.sh/v1alpha1" in kubectl(sandbox_process, "api-resources").stdout
    job = tmp_path / "vcjob.yaml"
    job.write_text("apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: vj1}\nspec: {minAvailable: 1}\n")
    kubectl(sandbox_process, "apply", "-f", str(job))
    assert kubectl(sandbox_process, "get", "vcjob", "-o", "name").stdout.split() == ["job.batch.volcano.sh/vj1"]


def test_server_dry_runs_change_nothing(sandbox_process: SandboxProcess, manifests: Path) -> None:
    out = kubectl(sandbox_process, "apply", "--dry-run=server", "-f", str(manifests)).stdout
    assert "(server dry run)" in out
    assert kubectl(sandbox_process, "get", "deploy", "web", check=False).returncode != 0  # nothing created
    kubectl(sandbox_process, "apply", "-f", str(manifests))
    out = kubectl(sandbox_process, "delete", "deploy", "web", "--dry-run=server").stdout
    assert "deleted (server dry run)" in out
    assert kubectl(sandbox_process, "get", "deploy", "web", "-o", "name").stdout.strip() == "deployment.apps/web"


def test_scale_with_current_replicas_and_apply_conflicts(sandbox_process: SandboxProcess, manifests: Path) -> None:
    kubectl(sandbox_process, "apply", "--server-side", "-f", str(manifests))
    # --current-replicas makes kubectl PUT a Scale object (resourceVersion as precondition).
    kubectl(sandbox_process, "scale", "deploy", "web", "--current-replicas=2", "--replicas=3")
    stale = kubectl(sandbox_process, "scale", "deploy", "web", "--current-replicas=2", "--replicas=4", check=False)
    assert stale.returncode != 0
    doc = json.loads(kubectl(sandbox_process, "get", "deploy", "web", "-o", "json").stdout)
    assert doc["spec"]["replicas"] == 3
    # Another manager applying a different replica count conflicts with kubectl's ownership.
    conflict = kubectl(sandbox_process, "apply", "--server-side", "--field-manager=other", "-f", str(manifests),
                       check=False)
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower() and ".spec.replicas" in conflict.stderr
    forced = kubectl(sandbox_process, "apply", "--server-side", "--field-manager=other", "--force-conflicts",
                     "-f", str(manifests))
    assert "serverside-applied" in forced.stdout
