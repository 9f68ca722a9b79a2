"""`skctl trace` records a kubectl-driven workload on a real control plane, through real faults.

kubectl creates, applies, scales, restarts, labels and deletes (each propagation policy, and a
whole namespace) while the tracer records. Then the tracer is frozen (SIGSTOP) while more
changes happen: the API server is restarted, so the tracer's watches drop for real, and etcd is
compacted after the changes, so resuming from its last resourceVersion answers 410 Expired: it must re-list and
record the difference. The exported trace's final objects must equal the API server's final
state, with no change recorded twice. Runs on the control plane without a watch cache, where
etcd compaction expires resourceVersions (see conftest.real_cluster_uncached).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import requests

from skctl.kube.keys import ns_name
from skctl.trace import load
from skctl.trace.model import Trace
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import export_all, items
from tests.helpers import deployment, skctl, skctl_bg, tracer_url, wait_for

NS, GONE_NS = "wl", "wl-gone"
TRACKED = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments", "Job": "/apis/batch/v1/namespaces/{ns}/jobs"}


def manifest(name: str, replicas: int = 1, ns: str = NS, image: str = "nginx:1.27") -> str:
    """kubectl's input: a Deployment of KWOK pods asking for 10m CPU each."""
    return json.dumps(deployment(name, ns, replicas=replicas, image=image, cpu="10m", kwok=True))


def final_state(trace: Trace) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, ns/name) → last recorded spec of every object alive at the end of the trace."""
    alive: dict[tuple[str, str], dict[str, Any]] = {}
    for _ts, action, obj in trace.iter_objects():
        key = (obj["kind"], ns_name(obj))
        if action == "deleted":
            alive.pop(key, None)
        else:
            alive[key] = obj.get("spec") or {}
    return {k: v for k, v in alive.items() if k[1].split("/")[0] in (NS, GONE_NS)}


def server_state(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for kind, path in TRACKED.items():
        for ns in (NS, GONE_NS):
            for obj in items(cluster, path.format(ns=ns)):
                if not obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("ownerReferences"):
                    out[(kind, f"{ns}/{obj['metadata']['name']}")] = obj["spec"]
    return out


def applies_per_object(trace: Trace) -> dict[tuple[str, str], list[str]]:
    seen: dict[tuple[str, str], list[str]] = {}
    for _ts, action, obj in trace.iter_objects():
        seen.setdefault((obj["kind"], ns_name(obj)), []).append(action)
    return seen


def test_tracer_records_a_kubectl_workload_through_410_and_dropped_watches(real_cluster_uncached: Cluster,
                                                                             tmp_path: Path) -> None:
    c = real_cluster_uncached
    k = c.kubectl
    for ns in (NS, GONE_NS):
        k("create", "namespace", ns)
    proc = skctl_bg("trace", "--kubeconfig", str(c.kubeconfig), "--journal", str(tmp_path / "journal"),
                    "--listen", "127.0.0.1:0")
    try:
        url = tracer_url(proc)
        wait_for(lambda: all(w.get("state") == "watching" for w in
                            requests.get(url + "/status", timeout=5).json()["watches"].values()),
                what="every watch to be running", timeout=60, interval=0.5)
        # --- phase 1: the tracer watches --------------------------------------------------------
        k("create", "-f", "-", input=manifest("a"))
        k("apply", "-f", "-", input=manifest("b", 2))
        k("apply", "-f", "-", input=manifest("orphan"))
        k("apply", "-f", "-", input=manifest("fg"))
        k("apply", "-f", "-", input=manifest("bg"))
        k("apply", "-f", "-", input=manifest("inside", ns=GONE_NS))
        k("create", "job", "once", "-n", NS, "--image=busybox", "--", "true")
        k("scale", "-n", NS, "deployment/a", "--replicas=3")
        k("rollout", "restart", "-n", NS, "deployment/b")
        k("label", "-n", NS, "deployment/a", "tier=web")  # metadata only: not a recorded change
        k("delete", "-n", NS, "deployment/orphan", "--cascade=orphan")
        k("delete", "-n", NS, "deployment/fg", "--cascade=foreground", "--wait=true")
        k("delete", "-n", NS, "deployment/bg", "--cascade=background")
        k("delete", "namespace", GONE_NS, "--wait=true", "--timeout=120s")
        wait_for(lambda: final_state(export_all(url)) == server_state(c), timeout=60,
                what="the recording to catch up with phase 1", interval=0.5)

        # --- phase 2: the tracer is frozen while the cluster moves on and history is compacted ---
        proc.send_signal(signal.SIGSTOP)
        try:
            # first drop every watch connection for real: events sent before that may sit in the
            # frozen tracer's socket buffers, but nothing that follows can reach it
            c.restart_apiserver()
            k("apply", "-f", "-", input=manifest("c"))  # added while disconnected
            k("apply", "-f", "-", input=manifest("b", 4, image="nginx:1.28"))  # changed
            k("delete", "-n", NS, "deployment/a")  # deleted
            k("label", "-n", NS, "job/once", "seen=yes")  # metadata only
            c.compact_etcd()  # resuming from the tracer's last resourceVersion is now 410 Expired
        finally:
            proc.send_signal(signal.SIGCONT)
        wait_for(lambda: final_state(export_all(url)) == server_state(c), timeout=120,
                what="the re-list after 410 to record what changed while disconnected", interval=0.5)
        status = requests.get(url + "/status", timeout=5).json()
        metrics = requests.get(url + "/metrics", timeout=5).text
        relists = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("skctl_tracer_relists_total"))
        assert relists >= 1, (status, metrics)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 143), err

    # --- the exported trace, through `skctl export --from JOURNAL_DIR` with no tracer running -----
    out_file = tmp_path / "wl.sktrace"
    r = skctl("export", "--from", str(tmp_path / "journal"), "-s", "0", "--excluded-namespaces", "",
              "-o", str(out_file))
    assert r.returncode == 0, r.stderr
    trace = load.decode_any(out_file.read_bytes())[0]
    assert final_state(trace) == server_state(c)
    actions = applies_per_object(trace)
    # nothing recorded twice: one create, one change per spec change, one delete
    assert actions[("Deployment", f"{NS}/a")] == ["applied", "applied", "deleted"]  # create, scale, delete
    assert actions[("Deployment", f"{NS}/b")] == ["applied", "applied", "applied"]  # apply, restart, change
    assert actions[("Deployment", f"{NS}/c")] == ["applied"]
    for name in ("orphan", "fg", "bg"):
        assert actions[("Deployment", f"{NS}/{name}")] == ["applied", "deleted"], name
    assert actions[("Deployment", f"{GONE_NS}/inside")] == ["applied", "deleted"]
    assert actions[("Job", f"{NS}/once")] == ["applied"]
