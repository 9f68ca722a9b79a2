"""SimKube's simulation options on a real control plane (marker e2e): pause holds replay time
still and resume continues it; a hook's output is in the driver's log; an interrupted bare pod
comes back as NAME-clone-1 and runs on a KWOK node."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from skctl.sim import PAUSED_ANNOTATION, SIMULATION_LABEL, manifests
from skctl.trace import load
from skctl.trace.model import Trace, new_event
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import items, namespaces
from tests.helpers import skctl, skctl_bg, wait_for

DRIVER_NS = manifests.DEFAULT_DRIVER_NAMESPACE


def _suspended_job(cluster: Cluster, name: str) -> None:
    """A driver Job that never runs a pod here: it only holds the pause annotation."""
    cluster.kubectl("create", "namespace", DRIVER_NS, check=False)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": DRIVER_NS},
           "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never",
                                                            "containers": [{"name": "d", "image": "none"}]}}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(job))


def _config_maps(*stamps: int) -> Trace:
    return Trace(events=[new_event(ts, [{"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": f"c{i}", "namespace": "app"}, "data": {"i": str(i)}}])
                         for i, ts in enumerate(stamps)])


class Lines:
    """A process's stderr, collected line by line on a thread (the driver's log)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


def _created(cluster: Cluster, path: str) -> datetime | None:
    r = cluster.request("GET", path)
    if r.status_code == 404:
        return None
    return datetime.strptime(r.json()["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=180)


def test_pause_holds_replay_time_and_resume_continues(real_cluster: Cluster, tmp_path: Path) -> None:
    kc = str(real_cluster.kubeconfig)
    name = "e2e-pause"
    _suspended_job(real_cluster, name)
    trace = tmp_path / "t.sktrace"
    trace.write_bytes(load.encode_as(_config_maps(1000, 1020), "cbor"))  # 20 s apart: 5 s at speed 4
    gap = 20 / 4
    proc = skctl_bg("drive", name, "--trace-path", str(trace), "--speed", "4", "--start-paused",
                    "--kubeconfig", kc, "-v", "info")
    log = Lines(proc)
    first = "/api/v1/namespaces/virtual-app/configmaps/c0"
    second = "/api/v1/namespaces/virtual-app/configmaps/c1"
    try:
        wait_for(lambda: log.has("is paused"), what="the driver to hold before its first event", timeout=60, interval=0.5)
        job = real_cluster.request("GET", f"/apis/batch/v1/namespaces/{DRIVER_NS}/jobs/{name}").json()
        assert PAUSED_ANNOTATION in job["metadata"]["annotations"]  # --start-paused set it on the Job
        assert _created(real_cluster, first) is None  # nothing replayed while paused
        r = skctl("resume", name, "--kubeconfig", kc)
        assert r.returncode == 0 and "resumed" in r.stdout, r.stderr
        c0 = wait_for(lambda: _created(real_cluster, first), what="the first event after the resume", timeout=60, interval=0.5)
        r = skctl("pause", name, "--kubeconfig", kc)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sum("is paused" in line for line in log.lines) >= 2, what="the driver to hold again", timeout=60, interval=0.5)
        # hold past the second event's own due time: it does not come while paused
        held_from = time.time()
        wait_for(lambda: time.time() > c0.timestamp() + gap + 3, timeout=gap + 10, interval=0.2,
                what="the second event's due time to pass")
        assert _created(real_cluster, second) is None
        assert skctl("pause", name, "--kubeconfig", kc).returncode == 1  # already paused: one line, exit 1
        resumed_at = time.time()
        r = skctl("resume", name, "--kubeconfig", kc)
        assert r.returncode == 0, r.stderr
        c1 = wait_for(lambda: _created(real_cluster, second), what="the second event after the resume", timeout=60, interval=0.5)
        # replay time stood still: the two events are the recorded gap apart plus at least the time
        # the test held the pause (creation times are whole seconds)
        assert (c1 - c0).total_seconds() >= gap + (resumed_at - held_from) - 1.5
        assert proc.wait(timeout=120) == 0
    finally:
        out, _err = _stop(proc)
        real_cluster.kubectl("delete", "job", "-n", DRIVER_NS, name, "--wait=false", check=False)
    assert log.has("resumed after") and "replayed 2 events" in out


def test_hook_output_is_in_the_driver_log_and_a_failing_hook_fails_the_run(real_cluster: Cluster,
                                                                            tmp_path: Path) -> None:
    kc = str(real_cluster.kubeconfig)
    trace = tmp_path / "t.sktrace"
    trace.write_bytes(load.encode_as(_config_maps(1000, 1001), "cbor"))
    (tmp_path / "a.yml").write_text("preRunHooks:\n  - cmd: echo\n    args: [hello-from-a-hook]\n")
    (tmp_path / "b.yml").write_text("postRunHooks:\n  - cmd: kubectl\n    args: [version, --client]\n"
                                    "    ignoreFailure: true\npostStopHooks:\n  - cmd: echo\n    args: [all-done]\n")
    r = skctl("drive", "e2e-hooks", "--trace-path", str(trace), "--speed", "100", "--kubeconfig", kc, "-v", "info",
              "--hooks", f"{tmp_path / 'a.yml'}:{tmp_path / 'b.yml'}", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    pre = next(i for i, line in enumerate(lines) if "preRun hook echo: hello-from-a-hook" in line)
    post = next(i for i, line in enumerate(lines) if "postStop hook echo: all-done" in line)
    assert pre < post
    (tmp_path / "bad.yml").write_text("preRunHooks:\n  - cmd: sh\n    args: [-c, 'echo about to fail; exit 3']\n")
    r = skctl("drive", "e2e-hooks", "--trace-path", str(trace), "--speed", "100", "--kubeconfig", kc,
              "--hooks", str(tmp_path / "bad.yml"), timeout=180)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("skctl: error:")]
    assert errors == ["skctl: error: preRun hook `sh -c echo about to fail; exit 3` failed (exit status 3); "
                      "set ignoreFailure: true on it to go on regardless"]
    assert "about to fail" in r.stderr and "Traceback" not in r.stderr
    assert not namespaces(real_cluster, f"{SIMULATION_LABEL}=e2e-hooks")  # nothing was replayed


def _bare_pod_trace() -> Trace:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker", "namespace": "jobs"},
           "spec": {"containers": [{"name": "w", "image": "busybox"}]}}
    return Trace(config={"trackedObjects": {"v1.Pod": {"skipOwned": True, "trackLifecycle": True}}},
                 events=[new_event(1000, [pod])])


def _pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any] | None:
    r = cluster.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
    return None if r.status_code == 404 else r.json()


def test_an_interrupted_bare_pod_comes_back(real_cluster: Cluster, tmp_path: Path) -> None:
    kc = str(real_cluster.kubeconfig)
    sim = "e2e-bare"
    trace = tmp_path / "t.sktrace"
    trace.write_bytes(load.encode_as(_bare_pod_trace(), "cbor"))
    proc = skctl_bg("drive", sim, "--trace-path", str(trace), "--duration", "10m",
                    "--reschedule-interrupted-bare-pods", "--kubeconfig", kc, "-v", "info")
    log = Lines(proc)
    ns = "virtual-jobs"
    try:
        running = wait_for(lambda: (_pod(real_cluster, ns, "worker") or {}).get("status", {}).get("phase") == "Running",
                          what="the bare pod to run on a KWOK node", timeout=60, interval=0.5)
        assert running
        real_cluster.kubectl("delete", "pod", "-n", ns, "worker", "--wait=false")
        clone = wait_for(lambda: _pod(real_cluster, ns, "worker-clone-1"), what="the clone", timeout=60, interval=0.5)
        assert clone["metadata"]["annotations"]["static.simkube.io/original-owner"] == "worker"
        assert clone["spec"]["nodeSelector"]["type"] == "virtual"
        wait_for(lambda: (_pod(real_cluster, ns, "worker-clone-1") or {}).get("status", {}).get("phase") == "Running",
                what="the clone to run", timeout=60, interval=0.5)
        wait_for(lambda: _pod(real_cluster, ns, "worker") is None, what="the original to be gone", timeout=60, interval=0.5)
        assert log.has("recreated it as worker-clone-1")
        assert [p["metadata"]["name"] for p in items(real_cluster, f"/api/v1/namespaces/{ns}/pods")] == ["worker-clone-1"]
    finally:
        out, _err = _stop(proc)
    assert proc.returncode == 143, out
    wait_for(lambda: not namespaces(real_cluster, f"{SIMULATION_LABEL}={sim}"), timeout=120,
            what="the cleanup (no clone of a pod the cleanup deletes)", interval=0.5)
