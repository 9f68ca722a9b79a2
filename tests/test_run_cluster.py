"""`skctl run` and `skctl delete` against the sandbox API server (real HTTP, official client)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.base.errors import OperationalError
from skctl.cli.main import main
from skctl.kube.api import MERGE_PATCH_CONTENT_TYPE, Kube
from skctl.sim import manifests
from tests.helpers import wait_for


@pytest.fixture
def kube(sandbox) -> Kube:
    k = Kube(sandbox.api_client())
    yield k
    k.close()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(kube: Kube, ns: str = "simkube", name: str = "sim1") -> dict[str, dict]:
    objs = {
        "ns": kube.get("v1", "Namespace", ns),
        "sa": kube.get("v1", "ServiceAccount", manifests.SERVICE_ACCOUNT, ns),
        "role": kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", manifests.CLUSTER_ROLE),
        "workloads": kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", manifests.WORKLOADS_ROLE),
        "binding": kube.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", f"{manifests.CLUSTER_ROLE}-{ns}"),
        "job": kube.get("batch/v1", "Job", name, ns),
    }
    assert all(objs.values()), {k: v is not None for k, v in objs.items()}
    return objs


def test_run_creates_then_noop_update(capsys, sandbox_kubeconfig: Path, kube: Kube) -> None:
    args = ["run", "sim1", "--kubeconfig", str(sandbox_kubeconfig), "--trace-path", "file:///data/t.sktrace", "-N", "2"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "sim1" in out and "simkube/sim1" in out
    first = snapshot(kube)
    job = first["job"]
    assert job["spec"]["completions"] == 2 and job["spec"]["backoffLimit"] == 0 and job["spec"]["parallelism"] == 1
    assert job["metadata"]["labels"]["simkube.io/simulation"] == "sim1"
    pod = job["spec"]["template"]["spec"]
    assert {"name": "trace", "hostPath": {"path": "/data/t.sktrace", "type": "File"}} in pod["volumes"]
    assert any(m.get("manager") == "skctl" for m in job["metadata"].get("managedFields", [{"manager": "skctl"}]))
    assert first["binding"]["subjects"][0]["name"] == manifests.SERVICE_ACCOUNT

    code, _out, err = run_cli(capsys, *args)
    assert code == 0, err
    second = snapshot(kube)
    for key in first:
        assert second[key]["metadata"]["uid"] == first[key]["metadata"]["uid"], key
        # a no-op server-side apply changes nothing, not even the resourceVersion
        assert second[key]["metadata"]["resourceVersion"] == first[key]["metadata"]["resourceVersion"], key
        assert second[key]["metadata"].get("labels") == first[key]["metadata"].get("labels"), key
        for field in ("spec", "rules", "subjects", "roleRef", "aggregationRule"):
            assert second[key].get(field) == first[key].get(field), (key, field)


def _set_job_condition(kube: Kube, condition: str, name: str = "sim1", ns: str = "simkube") -> None:
    status = {"conditions": [{"type": condition, "status": "True", "reason": f"Test{condition}"}]}
    if condition == "Complete":
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    kube.request(
        "PATCH",
        f"/apis/batch/v1/namespaces/{ns}/jobs/{name}/status",
        body={"status": status},
        content_type=MERGE_PATCH_CONTENT_TYPE,
    )


def test_run_wait_success_and_failure(capsys, sandbox_kubeconfig: Path, kube: Kube) -> None:
    base = ["run", "sim1", "--kubeconfig", str(sandbox_kubeconfig)]
    assert run_cli(capsys, *base)[0] == 0
    _set_job_condition(kube, "Complete")  # the sandbox has no Job controller: play its part
    # ... nor containers: the sandbox serves a pod's log from an annotation
    log = "".join(f"replayed event {i}\n" for i in range(30)) + "simulation sim1: cleaned up\n"
    kube.apply({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "sim1-abcde", "namespace": "simkube", "labels": {"simkube.io/simulation": "sim1"},
                             "annotations": {"sandbox.skctl.io/log": log}},
                "spec": {"containers": [{"name": "driver", "image": "python:3.11-slim"}]}})
    code, out, err = run_cli(capsys, *base, "--wait")
    assert code == 0, err
    assert "1/1 succeeded" in out and "finished" in out
    assert "simulation sim1: cleaned up" in out and "replayed event 29" in out
    assert "replayed event 0\n" not in out, "only the last lines of the driver's log are shown"

    assert run_cli(capsys, "delete", "sim1", "--kubeconfig", str(sandbox_kubeconfig))[0] == 0
    assert run_cli(capsys, *base)[0] == 0
    _set_job_condition(kube, "Failed")
    code, out, err = run_cli(capsys, *base, "--wait")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "failed" in err and "TestFailed" in err


def test_delete_removes_job_and_virtual_namespaces(capsys, sandbox_kubeconfig: Path, kube: Kube) -> None:
    kc = str(sandbox_kubeconfig)
    assert run_cli(capsys, "run", "sim1", "--kubeconfig", kc)[0] == 0
    assert run_cli(capsys, "run", "sim2", "--kubeconfig", kc)[0] == 0
    for ns, sim in (("virtual-a", "sim1"), ("virtual-b", "sim1"), ("virtual-c", "sim2")):
        kube.apply({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"simkube.io/simulation": sim, "simkube.io/virtual": "true"}}})
    code, out, err = run_cli(capsys, "delete", "sim1", "--kubeconfig", kc)
    assert code == 0, err
    assert "Job simkube/sim1" in out and "virtual-a" in out and "virtual-b" in out
    assert kube.get("batch/v1", "Job", "sim1", "simkube") is None
    for ns in ("virtual-a", "virtual-b"):  # as on a cluster: Terminating until the namespace controller is done
        left = kube.get("v1", "Namespace", ns)
        assert left is None or left["status"]["phase"] == "Terminating"
    wait_for(lambda: not any(kube.get("v1", "Namespace", ns) for ns in ("virtual-a", "virtual-b")),
             "virtual-a and virtual-b to go", timeout=30)
    # another simulation and the shared driver objects stay
    assert kube.get("v1", "Namespace", "virtual-c") is not None
    assert kube.get("batch/v1", "Job", "sim2", "simkube") is not None
    assert kube.get("v1", "ServiceAccount", manifests.SERVICE_ACCOUNT, "simkube") is not None

    code, out, err = run_cli(capsys, "delete", "sim1", "--kubeconfig", kc)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "no simulation named sim1" in err


def test_delete_other_driver_namespace(capsys, sandbox_kubeconfig: Path, kube: Kube) -> None:
    kc = str(sandbox_kubeconfig)
    assert run_cli(capsys, "run", "sim1", "--kubeconfig", kc, "--driver-namespace", "sims")[0] == 0
    assert run_cli(capsys, "delete", "sim1", "--kubeconfig", kc)[0] == 1  # wrong namespace: nothing there
    assert run_cli(capsys, "delete", "sim1", "--kubeconfig", kc, "--driver-namespace", "sims")[0] == 0
    assert kube.get("batch/v1", "Job", "sim1", "sims") is None


def test_run_retries_transient_server_errors(capsys, sandbox, sandbox_kubeconfig: Path) -> None:
    sandbox.faults.fail_next(2, 500, path_contains="/jobs")
    code, _out, err = run_cli(capsys, "run", "sim1", "--kubeconfig", str(sandbox_kubeconfig))
    assert code == 0, err
    assert sandbox.faults.injected == 2


def test_unreachable_cluster(capsys, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    for args in (["run", "sim1"], ["delete", "sim1"], ["drive", "sim1", "--trace-path", str(cfg)]):
        code, out, err = run_cli(capsys, *args, "--kubeconfig", str(cfg))
        if args[0] == "drive":
            assert code == 2  # the "trace" is not a trace: input is checked before the cluster
            continue
        assert code == 1, err
        assert len(err.strip().splitlines()) == 1
        assert "cannot reach the Kubernetes API server" in err and "Traceback" not in err


def test_no_kubeconfig(capsys) -> None:
    code, _out, err = run_cli(capsys, "run", "sim1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "no Kubernetes client configuration" in err


def test_service_host_without_a_mounted_token_is_not_in_cluster(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-cluster detection is the client's own loader: the service host alone is not enough."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    code, _out, err = run_cli(capsys, "delete", "sim1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "not running in a cluster" in err


def test_bad_context(capsys, sandbox_kubeconfig: Path) -> None:
    code, _out, err = run_cli(capsys, "delete", "sim1", "--kubeconfig", str(sandbox_kubeconfig), "--context", "nope")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nope" in err


def test_malformed_kubeconfig_is_an_input_error(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "kubeconfig"
    bad.write_text("garbage: [\n")
    code, _out, err = run_cli(capsys, "run", "sim1", "--kubeconfig", str(bad))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "no Kubernetes client configuration" in err


def test_delete_again_while_namespaces_terminate(capsys, tmp_path: Path) -> None:
    """A second delete does not re-delete Terminating namespaces and claim it did: it says they
    are already going (as on a real cluster, where the namespace controller takes a while)."""
    from skctl.sandbox import SandboxServer

    with SandboxServer(bookmark_interval=0.2, namespace_delay=60) as server:
        kc = str(server.write_kubeconfig(tmp_path / "kc"))
        k = Kube(server.api_client())
        assert run_cli(capsys, "run", "sim1", "--kubeconfig", kc)[0] == 0
        k.apply({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "virtual-a", "labels": {"simkube.io/simulation": "sim1", "simkube.io/virtual": "true"}}})
        code, out, err = run_cli(capsys, "delete", "sim1", "--kubeconfig", kc)
        assert code == 0 and "deleted Job simkube/sim1, namespace virtual-a" in out, err
        assert k.get("v1", "Namespace", "virtual-a")["status"]["phase"] == "Terminating"
        code, out, err = run_cli(capsys, "delete", "sim1", "--kubeconfig", kc)
        assert code == 0, err
        assert out.strip() == "simulation sim1: namespaces virtual-a are already being deleted (Terminating)"
        k.close()


UNSCHEDULABLE = ("0/4 nodes are available: 4 node(s) had untolerated taint(s). preemption: "
                 "0/4 nodes are available: 4 Preemption is not helpful for scheduling.")


def _driver_pod(kube: Kube, name: str = "sim1-abcde", ns: str = "simkube", sim: str = "sim1") -> None:
    """A driver pod as the Job controller makes it; the sandbox has no scheduler, so the test
    writes the scheduler's verdict into its status as a real one does."""
    kube.apply({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {"simkube.io/simulation": sim}},
                "spec": {"containers": [{"name": "driver", "image": "python:3.11-slim"}]}})


def _pod_status(kube: Kube, status: dict, name: str = "sim1-abcde", ns: str = "simkube") -> None:
    kube.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", body={"status": status},
                 content_type=MERGE_PATCH_CONTENT_TYPE)


def _job_status(kube: Kube, status: dict, name: str = "sim1", ns: str = "simkube") -> None:
    kube.request("PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}/status", body={"status": status},
                 content_type=MERGE_PATCH_CONTENT_TYPE)


PENDING = {"phase": "Pending", "conditions": [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": UNSCHEDULABLE}]}


def test_run_wait_gives_up_on_an_unschedulable_driver_pod(capsys, sandbox_kubeconfig: Path, kube: Kube) -> None:
    """A Pending driver pod the scheduler cannot place is not "running": --wait prints the
    scheduler's reason and gives up after --schedule-timeout with exit 1 and one line."""
    base = ["run", "sim1", "--kubeconfig", str(sandbox_kubeconfig)]
    assert run_cli(capsys, *base)[0] == 0
    _job_status(kube, {"active": 1})
    _driver_pod(kube)
    _pod_status(kube, PENDING)
    code, out, err = run_cli(capsys, *base, "--wait", "--schedule-timeout", "1ms")
    assert code == 1
    assert f"driver pod simkube/sim1-abcde cannot be scheduled: {UNSCHEDULABLE}" in out
    (line,) = err.strip().splitlines()
    assert f"sim1-abcde could not be scheduled for 0.001s: {UNSCHEDULABLE.rstrip('.')}; " in line
    assert "--schedule-timeout" in line and "skctl delete sim1" in line


def test_run_wait_bound_counts_only_while_the_pod_is_unschedulable(sandbox, kube: Kube) -> None:
    """The bound is for one stretch of being unschedulable: a pod placed in time (an autoscaler
    added a node) is followed to the Job's end; the reason is printed once, not every poll."""
    import io

    from skctl.sim import runner

    opts = manifests.RunOptions(name="sim1")
    runner.apply_simulation(kube, opts, manifests.build_manifests(opts))
    _job_status(kube, {"active": 1})
    _driver_pod(kube)
    _pod_status(kube, PENDING)
    now = [0.0]
    script = {
        3: lambda: _pod_status(kube, {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"}]}),
        4: lambda: _job_status(kube, {"active": 0, "succeeded": 1, "conditions": [
            {"type": "Complete", "status": "True", "reason": "Done"}]}),
    }
    polls = []

    def sleep(seconds: float) -> None:  # a fake clock: each poll advances it, and the cluster moves on
        polls.append(seconds)
        now[0] += seconds
        script.get(len(polls), lambda: None)()

    out = io.StringIO()
    assert runner.wait_for_job(kube, opts, out, poll=1.0, schedule_timeout=3.5, clock=lambda: now[0], sleep=sleep) == 0
    assert out.getvalue().count("cannot be scheduled") == 1
    assert "finished: 1/1" in out.getvalue()

    # unschedulable for longer than the bound: given up at the first poll past it
    _job_status(kube, {"active": 1, "succeeded": 0, "conditions": []})
    _pod_status(kube, PENDING)
    polls.clear()
    script.clear()
    with pytest.raises(OperationalError, match="could not be scheduled for 3.5s"):
        runner.wait_for_job(kube, opts, io.StringIO(), poll=1.0, schedule_timeout=3.5, clock=lambda: now[0], sleep=sleep)
    assert len(polls) == 4


@pytest.mark.parametrize("bound", ["1ms", "0.2s"])
def test_run_wait_has_an_overall_bound(capsys, sandbox_kubeconfig: Path, kube: Kube, bound: str) -> None:
    """A driver Job that runs (scheduled, active) but never ends is followed for at most
    --wait-timeout (issue 22, class 8): exit 1, one line, the Job left running."""
    base = ["run", "sim1", "--kubeconfig", str(sandbox_kubeconfig)]
    assert run_cli(capsys, *base)[0] == 0
    _job_status(kube, {"active": 1})
    code, _out, err = run_cli(capsys, *base, "--wait", "--wait-timeout", bound)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "did not finish within" in line and "--wait-timeout" in line
    assert kube.get("batch/v1", "Job", "sim1", "simkube") is not None
