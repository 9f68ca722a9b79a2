"""Small helpers shared by the e2e tests: run skctl as a real process, poll the cluster."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from skctl.sim.usage import USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION
from tests.e2e.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def skctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skctl", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def skctl_bg(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "skctl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


FAR = 2**40  # an export end time after anything a test records


def tracer_url(proc: subprocess.Popen) -> str:
    """The API URL from a `skctl trace` process's "listening on" line (log lines may come first)."""
    assert proc.stderr is not None
    for _ in range(50):
        line = proc.stderr.readline()
        if "listening on" in line:
            return line.strip().rsplit(" ", 1)[-1]
        if not line:
            break
    proc.kill()
    raise AssertionError(f"the tracer did not start: {proc.stderr.read()}")


def export_all(url: str) -> Any:
    """Everything a running tracer recorded, nothing filtered out, as a Trace (CBOR answer)."""
    import requests

    from skctl.trace import codec

    body = {"start_ts": 0, "end_ts": FAR, "filters": {"excluded_namespaces": [], "excluded_labels": []}}
    answer = requests.post(url + "/export", json=body, headers={"Accept": "application/cbor"}, timeout=60)
    answer.raise_for_status()
    return codec.decode(answer.content)


def eventually(check: Callable[[], T], timeout: float = 60, interval: float = 0.5, what: str = "") -> T:
    """Poll until check() returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check}: last {last!r}")


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
