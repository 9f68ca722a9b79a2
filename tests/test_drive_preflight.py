"""Replay pre-flight, permissions (skctl.sim.access): the driver asks the API server with
SelfSubjectAccessReview whether it may make every call the replay makes, before the first write.

Against the sandbox with access rules (skctl.sandbox.access), which both answers the reviews and
refuses what the rules do not allow, so a replay that passes the pre-flight also proves that the
calls it then makes are the ones checked. tests/e2e/test_run_drive.py does the same with the real
RBAC authorizer and a ServiceAccount token.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.kube.api import Resource
from skctl.sandbox.access import AccessRules
from skctl.sandbox.server import SandboxServer
from skctl.sim import access, manifests
from skctl.trace import codec
from skctl.trace.model import Trace, new_event
from tests.helpers import deployment

SIM_LABEL = "simkube.io/simulation"


def driver_rules() -> list[dict]:
    return copy.deepcopy(manifests.workloads_role()["rules"])


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
             "data": {"k": "v"}}


def write_trace(path: Path, *events: dict) -> Path:
    path.write_bytes(codec.encode(Trace(events=list(events))))
    return path


def drive(capsys: pytest.CaptureFixture, kubeconfig: Path, trace: Path, name: str = "pre") -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["drive", name, "--kubeconfig", str(kubeconfig), "--trace-path", str(trace), "--speed", "1000"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("trace_name", ["cronjob.sktrace", "bare-pods.sktrace"])
def test_the_driver_role_is_enough_for_the_reference_traces(capsys, reference_dir: Path, sandbox: SandboxServer,
                                                            sandbox_kubeconfig: Path, trace_name: str) -> None:
    """With exactly the driver's ClusterRole the pre-flight passes and no call of the replay
    (applies, deletes, the pod watcher's list/watch/patch, cleanup) is refused."""
    sandbox.access = AccessRules(driver_rules())
    code, out, err = drive(capsys, sandbox_kubeconfig, reference_dir / trace_name)
    assert code == 0, err
    assert "forbidden" not in (out + err).lower()
    assert "replayed" in out


def test_a_kind_the_driver_may_not_write_fails_before_the_first_write(capsys, tmp_path: Path, sandbox: SandboxServer,
                                                                     sandbox_kubeconfig: Path) -> None:
    sandbox.access = AccessRules(driver_rules())
    trace = write_trace(tmp_path / "t.sktrace", new_event(100, [deployment("web", "shop"), CONFIGMAP]),
                        new_event(110, [], [deployment("web", "shop")]))
    code, out, err = drive(capsys, sandbox_kubeconfig, trace)
    assert code == 2  # bad setup, as a kind the cluster does not serve
    (line,) = err.strip().splitlines()
    assert 'may not create, get, patch configmaps (API group "")' in line
    assert "ClusterRole skctl-driver aggregates every ClusterRole labelled simkube.io/aggregate-to-driver=true" in line
    assert "`kubectl create clusterrole skctl-driver-extra --verb=create,get,patch --resource=configmaps`" in line
    assert "`kubectl label clusterrole skctl-driver-extra simkube.io/aggregate-to-driver=true`" in line
    assert "deployments" not in line  # the role has those
    namespaces = sandbox.store.objects(sandbox.registry.lookup("", "v1", "namespaces"))
    assert not [n for n in namespaces if SIM_LABEL in (n["metadata"].get("labels") or {})], "nothing may be written"

    # the fix the line gives: the aggregated role with those verbs on that resource
    sandbox.access = AccessRules([*driver_rules(), {"apiGroups": [""], "resources": ["configmaps"],
                                                    "verbs": ["create", "get", "patch"]}])
    code, out, err = drive(capsys, sandbox_kubeconfig, trace)
    assert code == 0, err
    assert "replayed 2 events, 2 applies, 1 deletes" in out


def test_one_missing_verb_is_named(capsys, tmp_path: Path, sandbox: SandboxServer, sandbox_kubeconfig: Path) -> None:
    rules = driver_rules()
    for rule in rules:  # the driver may not delete the virtual namespaces it creates (cleanup would fail)
        if rule["resources"] == ["namespaces"]:
            rule["verbs"].remove("delete")
    sandbox.access = AccessRules(rules)
    code, _out, err = drive(capsys, sandbox_kubeconfig, write_trace(tmp_path / "t.sktrace", new_event(100, [deployment("web", "shop")])))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert 'may not delete namespaces (API group "")' in line and "--verb=delete --resource=namespaces`" in line


def res(group: str, plural: str, namespaced: bool = True) -> Resource:
    return Resource(group, "v1", plural.title(), plural, namespaced)


def perms(found: list[access.Permission], group: str, resource: str) -> set[str]:
    return {p.verb for p in found if (p.group, p.resource) == (group, resource)}


def test_needed_verbs_follow_what_the_driver_does() -> None:
    found = access.needed([(res("apps", "deployments"), False), (res("example.com", "widgets"), True),
                           (res("scheduling.k8s.io", "priorityclasses", namespaced=False), False),
                           (res("", "namespaces", namespaced=False), True)], watch_pods=True)
    assert perms(found, "apps", "deployments") == {"create", "patch", "get"}  # apply, owner reads; no deletes
    assert perms(found, "example.com", "widgets") == {"create", "patch", "get", "delete"}  # the trace deletes some
    # cluster-scoped: claimed with a get, deleted at cleanup
    assert perms(found, "scheduling.k8s.io", "priorityclasses") == {"create", "patch", "get", "delete"}
    # recorded namespaces are not replayed; the virtual ones need the full set
    assert perms(found, "", "namespaces") == {"create", "patch", "get", "list", "delete"}
    assert perms(found, "", "pods") == {"list", "watch", "patch", "delete"}  # the pod watcher
    assert found == sorted(set(found))
    assert perms(access.needed([], watch_pods=False), "", "pods") == set()


def test_many_missing_resources_stay_one_line() -> None:
    missing = [access.Permission(f"g{i}.example.com", f"r{i}", verb) for i in range(5) for verb in ("create", "patch")]
    line = access.describe(missing)
    assert "\n" not in line
    assert 'create, patch r0 (API group "g0.example.com")' in line and "r3 (" not in line and "and 2 more" in line
    assert "--resource=" + ",".join(f"r{i}.g{i}.example.com" for i in range(5)) in line
