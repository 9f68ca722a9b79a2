"""The launcher itself (`make cluster`): ready line, and a clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.e2e import binaries
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead, just not reaped yet
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_make_cluster_prints_kubeconfig_and_stops_clean(sig: signal.Signals) -> None:
    if not binaries.is_built():
        pytest.skip("no real control plane built (make controlplane)")
    proc = subprocess.Popen([sys.executable, "tests/e2e/cluster.py", "--nodes", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("KUBECONFIG="), proc.stderr.read() if proc.poll() is not None else line
        kubeconfig = Path(line.split("=", 1)[1])
        workdir = kubeconfig.parent
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        kids = _children(proc.pid)
        names = {Path(os.readlink(f"/proc/{k}/exe")).name for k in kids}
        assert set(binaries.BINARIES) - {"kubectl"} <= names, names
        r = subprocess.run([str(binaries.bin_dir() / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "nodes",
                            "-o", "name"], capture_output=True, text=True, timeout=30)
        assert r.stdout.split() == ["node/kwok-node-0"], r.stderr
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130, 143)
    assert not [k for k in kids if _alive(k)], "a control plane process outlived the launcher"
    assert not workdir.exists()
    with socket.socket() as s:  # the API server's port is free again
        s.bind(("127.0.0.1", urlparse(server).port))


def test_make_cluster_metrics_server_serves_pod_usage_and_stops_clean() -> None:
    """`make cluster CLUSTER_ARGS=--metrics-server`: `kubectl top` shows a pod's annotated usage,
    and metrics-server goes with everything else on SIGTERM (it is also killed if the launcher dies)."""
    if not binaries.is_built() or not binaries.metrics_server_path().is_file():
        pytest.skip("no real control plane or metrics-server built (make controlplane)")
    proc = subprocess.Popen([sys.executable, "tests/e2e/cluster.py", "--nodes", "1", "--metrics-server"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kubectl = [str(binaries.bin_dir() / "kubectl")]
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("KUBECONFIG="), proc.stderr.read() if proc.poll() is not None else line
        kubectl.append(f"--kubeconfig={line.split('=', 1)[1]}")
        kids = _children(proc.pid)
        assert "metrics-server" in {Path(os.readlink(f"/proc/{k}/exe")).name for k in kids}
        overrides = {"metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": "750m",
                                                  "kwok.x-k8s.io/usage-memory": "300Mi"}},
                     "spec": {"nodeSelector": {"type": "virtual"},
                              "tolerations": [{"key": "kwok-provider", "operator": "Exists"}]}}
        subprocess.run([*kubectl, "run", "p", "--image=x", f"--overrides={json.dumps(overrides)}"],
                       check=True, capture_output=True, timeout=30)
        top = wait_for(lambda: (r := subprocess.run([*kubectl, "top", "pod", "p", "--no-headers"],
                                                   capture_output=True, text=True, timeout=30)).returncode == 0
                      and r.stdout.split(), timeout=120, interval=2, what="kubectl top pod p")
        assert top[0] == "p" and top[2] == "300Mi", top
        assert abs(int(top[1].rstrip("m")) - 750) <= 75, top  # a rate between two scrapes
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 143)
    assert not [k for k in kids if _alive(k)], "a control plane process outlived the launcher"
