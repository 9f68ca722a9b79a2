"""`skctl run --dry-run`: manifests validated against the Kubernetes OpenAPI schemas, offline."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from skctl.cli.main import main

# Two (well, three) Kubernetes minor versions bundled with kubernetes-validate: the oldest
# one we claim (kind's long-lived 1.29 images), the sandbox's 1.32 and the newest bundled.
K8S_VERSIONS = ["1.29", "1.32", kubernetes_validate.utils.latest_version()]


def dry_run(capsys: pytest.CaptureFixture[str], *args: str, fmt: str = "yaml") -> list[dict]:
    code = main(["run", "sim1", "--dry-run", "-o", fmt, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    if fmt == "json":
        doc = json.loads(out)
        assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
        return doc["items"]
    return [d for d in yaml.safe_load_all(out) if d]


def validate_all(objects: list[dict]) -> None:
    for version in K8S_VERSIONS:
        for obj in objects:
            # strict: additionalProperties=false, so a misspelt field fails too
            kubernetes_validate.validate(obj, version, strict=True)


def the(objects: list[dict], kind: str) -> dict:
    (obj,) = [o for o in objects if o["kind"] == kind]
    return obj


def container(objects: list[dict]) -> dict:
    return the(objects, "Job")["spec"]["template"]["spec"]["containers"][0]


CASES = {
    "local": [],
    "local-explicit": ["--trace-path", "file:///srv/traces/prod.sktrace"],
    "bare-absolute": ["--trace-path", "/srv/traces/prod.sktrace"],
    "cloud-secrets": ["--trace-path", "s3://bucket/traces/t.sktrace", "--driver-secrets", "aws-creds,extra.secret"],
    "gcs": ["--trace-path", "gs://bucket/t", "--driver-secrets", "gcp"],
    "azure": ["--trace-path", "az://container/t"],
    "skip-mount": ["--skip-local-volume-mount"],
    "image": ["--skctl-pyz", "none", "--driver-image", "registry.example/skctl:1.0"],
    "image-default": ["--skctl-pyz", "none"],
    "repetitions": ["-N", "3", "--speed", "2.5", "--duration", "10m", "--driver-verbosity", "debug"],
    "namespaces": ["--driver-namespace", "sims", "--virtual-ns-prefix", "vsim"],
    "everything": [
        "--trace-path", "s3://b/t", "--skctl-pyz", "none", "--driver-secrets", "a", "--repetitions", "5",
        "--skip-local-volume-mount", "--storage-option", "anon=true",
    ],
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_dry_run_validates(capsys: pytest.CaptureFixture[str], case: str, fmt: str) -> None:
    objects = dry_run(capsys, *CASES[case], fmt=fmt)
    assert [o["kind"] for o in objects] == [
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Job",
    ]
    validate_all(objects)


def test_local_trace_mount_shape(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "--trace-path", "file:///srv/traces/prod.sktrace")
    job = the(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    assert {"name": "trace", "hostPath": {"path": "/srv/traces/prod.sktrace", "type": "File"}} in pod["volumes"]
    c = container(objects)
    assert {"name": "trace", "mountPath": "/srv/traces/prod.sktrace", "readOnly": True} in c["volumeMounts"]
    # the driver reads the same path it was given
    assert c["args"][c["args"].index("--trace-path") + 1] == "file:///srv/traces/prod.sktrace"
    # the zipapp: a stock python image runs it from a read-only File hostPath
    assert {"name": "skctl-pyz", "hostPath": {"path": "/data/skctl.pyz", "type": "File"}} in pod["volumes"]
    assert {"name": "skctl-pyz", "mountPath": "/data/skctl.pyz", "readOnly": True} in c["volumeMounts"]
    assert c["command"] == ["python3", "/data/skctl.pyz"]
    assert c["image"].startswith("python:3")
    assert "envFrom" not in c


def test_default_trace_path(capsys: pytest.CaptureFixture[str]) -> None:
    c = container(dry_run(capsys))
    assert c["args"][:4] == ["drive", "sim1", "--trace-path", "file:///data/trace"]
    assert {"name": "trace", "mountPath": "/data/trace", "readOnly": True} in c["volumeMounts"]


def test_job_shape(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "-N", "4", "--speed", "10", "--duration", "1h30m", "--virtual-ns-prefix", "vv")
    job = the(objects, "Job")
    assert job["metadata"] == {
        "name": "sim1",
        "namespace": "simkube",
        "labels": {"simkube.io/simulation": "sim1", "app.kubernetes.io/managed-by": "skctl"},
    }
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["completions"] == 4
    assert job["spec"]["parallelism"] == 1
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == the(objects, "ServiceAccount")["metadata"]["name"]
    assert container(objects)["args"] == [
        "drive", "sim1", "--trace-path", "file:///data/trace", "--speed", "10", "--virtual-ns-prefix", "vv",
        "-v", "info", "--duration", "1h30m",
    ]


def test_rbac_is_least_privilege(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys)
    roles = [o for o in objects if o["kind"] == "ClusterRole"]
    workloads = next(r for r in roles if "rules" in r)
    driver = next(r for r in roles if "aggregationRule" in r)
    for rule in workloads["rules"]:
        assert "*" not in rule["apiGroups"] and "*" not in rule["resources"] and "*" not in rule["verbs"]
        if set(rule["verbs"]) <= {"get", "list", "watch"}:
            # read-only: the pod watcher, and the report recorder (nodes, events, the workload kinds)
            assert set(rule["resources"]) <= {"pods", "nodes", "events", "deployments", "replicasets", "statefulsets",
                                              "daemonsets", "jobs", "cronjobs", "horizontalpodautoscalers"}, rule
        else:
            assert set(rule["verbs"]) <= {"create", "patch", "get", "list", "delete"}
            assert "events" not in rule["resources"], rule  # never written
            # nodes are written only to make the trace's starting state (--nodes trace)
            assert "nodes" not in rule["resources"] or rule["resources"] == ["nodes"], rule
    granted = {(g, r) for rule in workloads["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "namespaces") in granted and ("apps", "deployments") in granted and ("batch", "cronjobs") in granted
    assert ("autoscaling", "horizontalpodautoscalers") in granted  # HPAs are tracked by default
    assert ("", "secrets") not in granted
    readable = {(g, r) for rule in workloads["rules"] if "watch" in rule["verbs"]
                for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("", "nodes"), ("", "events"), ("apps", "deployments"), ("apps", "replicasets")} <= readable
    selector = driver["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
    assert all(workloads["metadata"]["labels"][k] == v for k, v in selector.items())
    binding = the(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == driver["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "skctl-driver", "namespace": "simkube"}]


def test_report_url_is_passed_to_the_driver(capsys: pytest.CaptureFixture[str]) -> None:
    args = container(dry_run(capsys, "--report", "s3://bucket/reports/sim"))["args"]
    assert args[args.index("--report") + 1] == "s3://bucket/reports/sim"
    assert "--report" not in container(dry_run(capsys))["args"]


def test_cloud_trace_secrets_and_no_hostpath(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "--trace-path", "s3://bucket/t.sktrace", "--driver-secrets", "aws-creds, other")
    pod = the(objects, "Job")["spec"]["template"]["spec"]
    c = container(objects)
    assert c["envFrom"] == [{"secretRef": {"name": "aws-creds"}}, {"secretRef": {"name": "other"}}]
    hostpaths = [v["hostPath"]["path"] for v in pod["volumes"]]
    assert hostpaths == ["/data/skctl.pyz"]  # the zipapp only, never the s3 URL


def test_skip_local_volume_mount(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "--skip-local-volume-mount")
    pod = the(objects, "Job")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["skctl-pyz"]
    assert [m["name"] for m in container(objects)["volumeMounts"]] == ["skctl-pyz"]
    objects = dry_run(capsys, "--skip-local-volume-mount", "--skctl-pyz", "none")
    pod = the(objects, "Job")["spec"]["template"]["spec"]
    assert "volumes" not in pod and "volumeMounts" not in container(objects)


def test_installed_image_mode(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "--skctl-pyz", "none", "--driver-image", "reg/skctl:1")
    c = container(objects)
    assert c["command"] == ["skctl"] and c["image"] == "reg/skctl:1"
    assert [m["name"] for m in c["volumeMounts"]] == ["trace"]
    assert "SHIV_ROOT" not in {e["name"] for e in c["env"]}


def test_custom_pyz_path(capsys: pytest.CaptureFixture[str]) -> None:
    objects = dry_run(capsys, "--skctl-pyz", "file:///opt/sk/skctl.pyz")
    c = container(objects)
    assert c["command"] == ["python3", "/opt/sk/skctl.pyz"]
    assert {"name": "skctl-pyz", "mountPath": "/opt/sk/skctl.pyz", "readOnly": True} in c["volumeMounts"]
    assert {"name": "SHIV_ROOT", "value": "/tmp/shiv"} in c["env"], "the zipapp unpacks somewhere writable"


def test_dry_run_touches_no_cluster(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:
    # a kubeconfig pointing at a closed port: --dry-run must not even try it
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    assert dry_run(capsys, "--kubeconfig", str(cfg))


BAD = [
    (["--trace-path", "file://trace"], "absolute node path"),
    (["--trace-path", "trace.sktrace"], "relative"),
    (["--trace-path", "./data/trace"], "relative"),
    (["--trace-path", "file:///data/../etc/shadow"], ".."),
    (["--trace-path", "/data/../etc/passwd"], ".."),
    (["--trace-path", "file:///data/traces/"], "ends in '/'"),
    (["--trace-path", "file:///data//trace"], "normalised"),
    (["--trace-path", "file:///data/./trace"], "normalised"),
    (["--trace-path", "file://"], "empty"),
    (["--trace-path", "file://otherhost/data/trace"], "absolute node path"),
    (["--trace-path", "file:///data/trace?x=1"], "query"),
    (["--trace-path", "memory://t"], "memory://"),
    (["--trace-path", "ftp://host/t"], "unsupported URL scheme"),
    (["--trace-path", "http://host/t"], "unsupported URL scheme"),
    (["--skctl-pyz", "s3://bucket/skctl.pyz"], "file:// path on the node"),
    (["--skctl-pyz", "skctl.pyz"], "relative"),
    (["--skctl-pyz", "file:///data/../skctl.pyz"], ".."),
    (["--skip-local-volume-mount", "--trace-path", "../t"], "relative"),
    (["--speed", "0"], "--speed"),
    (["--speed", "-2"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--speed", "nan"], "--speed"),
    (["--duration", "10 minutes"], "bad duration"),
    (["--duration", "0s"], "bad duration"),
    (["-N", "0"], "--repetitions"),
    (["-N", "two"], "--repetitions"),
    (["--driver-secrets", "Bad_Secret"], "invalid secret name"),
    (["--driver-namespace", "Sim Kube"], "--driver-namespace"),
    (["--virtual-ns-prefix", "v_"], "--virtual-ns-prefix"),
    (["--virtual-ns-prefix", "a" * 41], "longer than 40"),
    (["--trace-path", "file:///data/t#"], "#fragment"),
    (["--trace-path", "file:///data/t?"], "?query"),
    (["-N", str(2**31)], "--repetitions"),
    (["--storage-option", "foo"], "--storage-option"),
    # non-UTF-8 command-line bytes (surrogate escapes) went into the manifest as \uDCFF
    (["--trace-path", "file:///data/\udcff\udcfe"], "not UTF-8"),
    (["--skctl-pyz", "/data/skctl\udcff.pyz"], "not UTF-8"),
    (["--driver-image", "img\udcff"], "invalid --driver-image"),
    (["--driver-image", " ghcr.io/x/skctl:1 "], "leading or trailing whitespace"),
]


@pytest.mark.parametrize("args, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_rejected_inputs(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    code = main(["run", "sim1", "--dry-run", *args])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0]


@pytest.mark.parametrize("name", ["Sim", "sim_1", "-sim", "sim-", "a" * 64, "sim.one", ""])
def test_invalid_simulation_names(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code = main(["run", "--dry-run", "--", name])
    _out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "DNS-1123" in err


def test_valid_edge_names(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "a" * 63, "0sim", "sim-1-x"):
        assert main(["run", name, "--dry-run"]) == 0
    capsys.readouterr()
