"""`skctl trace` against the sandbox API server over HTTP: scenarios, faults, journal, API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.sandbox import SandboxServer
from skctl.sandbox.scenario import VOLCANO_CRD, WorkloadGenerator
from skctl.trace import codec, load
from skctl.trace.model import Trace
from skctl.trace.tracked import parse_config
from skctl.trace.window import NO_FILTERS, ExportFilters
from skctl.tracer import DEFAULT_CONFIG_YAML
from skctl.tracer import journal as journal_mod
from skctl.tracer.service import Tracer, TracerOptions
from tests.helpers import deployment, tracer_url, wait_for

ROOT = Path(__file__).resolve().parents[1]
FAR = 2**40


@pytest.fixture
def cluster(sandbox: SandboxServer) -> Iterator[tuple[SandboxServer, client.ApiClient]]:
    api = sandbox.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "shop"}})
    yield sandbox, api


def start_tracer(sandbox: SandboxServer, tmp_path: Path, config: dict | None = None, **kw: Any) -> Tracer:
    cfg = parse_config(config or {"trackedObjects": {
        "apps/v1.Deployment": {"trackLifecycle": True},
        "batch/v1.CronJob": {"trackLifecycle": True},
        "v1.Pod": {"skipOwned": True, "trackLifecycle": True},
    }})
    options = TracerOptions(config=cfg, journal_dir=tmp_path / "journal", port=0, **kw)
    tracer = Tracer(Kube(sandbox.api_client()), options).start()
    assert tracer.recorder.wait_synced(10)
    return tracer


def mentions(trace: Any, gvk: str = "apps/v1.Deployment") -> list[tuple[str, str]]:
    out = []
    for _ts, action, obj in trace.iter_objects():
        if f"{obj['apiVersion']}.{obj['kind']}" == gvk:
            out.append((action, obj["metadata"]["name"]))
    return out


def test_deployment_scenario_records_spec_changes_only(cluster, tmp_path: Path) -> None:
    sandbox, api = cluster
    apps = client.AppsV1Api(api)
    tracer = start_tracer(sandbox, tmp_path)
    try:
        apps.create_namespaced_deployment("shop", deployment("web", "shop"))
        apps.patch_namespaced_deployment("web", "shop", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "nginx:2"}]}}}})
        apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"team": "a"}}})  # metadata only
        apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 3}})
        apps.delete_namespaced_deployment("web", "shop")
        wait_for(lambda: ("deleted", "web") in mentions(tracer.store.to_trace()), what="the delete")
        trace = tracer.store.export(0, FAR, NO_FILTERS)
    finally:
        tracer.close()
    assert mentions(trace) == [("applied", "web"), ("applied", "web"), ("applied", "web"), ("deleted", "web")]
    images = [o["spec"]["template"]["spec"]["containers"][0]["image"] for _t, a, o in trace.iter_objects() if a == "applied"]
    assert images == ["nginx:1", "nginx:2", "nginx:2"]
    replicas = [o["spec"]["replicas"] for _t, a, o in trace.iter_objects() if a == "applied"]
    assert replicas == [1, 1, 3]
    for _ts, _a, obj in trace.iter_objects():  # sanitised
        assert "status" not in obj
        assert not {"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} & set(obj["metadata"])


def test_pods_through_replicasets_cronjobs_and_bare_pods(sandbox: SandboxServer, tmp_path: Path) -> None:
    # v1.Pod tracked without skipOwned: owned pods are recorded, and export drops them
    # because their chain reaches an exported Deployment through an unwatched ReplicaSet.
    config = {"trackedObjects": {"apps/v1.Deployment": {"trackLifecycle": True},
                                 "batch/v1.CronJob": {"trackLifecycle": True},
                                 "v1.Pod": {"trackLifecycle": True}}}
    tracer = start_tracer(sandbox, tmp_path, config)
    gen = WorkloadGenerator(sandbox.store, seed=3, scenario="mixed")
    try:
        gen.run(150)
        wait_for(lambda: tracer.store.lifecycles, what="lifecycles")
        time.sleep(0.5)
        trace = tracer.store.export(0, FAR, ExportFilters(frozenset(), ()))
        lookups = tracer.store.owners.lookups
        links = tracer.store.owner_links()
    finally:
        tracer.close()
    owners = set(trace.pod_lifecycles)
    kinds = {gvk for gvk, _ in owners}
    assert "apps/v1.Deployment" in kinds and "batch/v1.CronJob" in kinds and "v1.Pod" in kinds
    assert lookups > 0  # ReplicaSets/Jobs were looked up through the API
    exported_pods = [o for _t, _a, o in trace.iter_objects() if o["kind"] == "Pod"]
    # bare pods stay; pods of Deployments (via ReplicaSets) and CronJobs (via Jobs) do not;
    # pods of the untracked Volcano job have no exported owner, so they stay too
    # (an owner deleted before the tracer could look it up ends the chain: such pods stay)
    assert any(not o["metadata"].get("ownerReferences") for o in exported_pods)
    dropped = 0
    for _ts, _action, obj in trace.iter_objects():
        for ref in obj["metadata"].get("ownerReferences") or ():
            rs_key = (f"{ref['apiVersion']}.{ref['kind']}", f"{obj['metadata']['namespace']}/{ref['name']}")
            assert not links.get(rs_key), f"{obj['metadata']['name']} is owned through {rs_key} but was exported"
    for key, owners in links.items():
        if key[0] == "apps/v1.ReplicaSet" and owners and owners[0][0] == "apps/v1.Deployment":
            dropped += 1
    assert dropped > 0
    for by_hash in trace.pod_lifecycles.values():
        for lcs in by_hash.values():
            for lc in lcs:
                assert lc["start_ts"] is not None
                assert lc["end_ts"] is None or lc["end_ts"] >= lc["start_ts"]


def server_state(sandbox: SandboxServer, api_version: str, kind: str) -> dict[str, Any]:
    rtype = sandbox.store.resource(api_version, kind)
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o.get("spec") for o in sandbox.store.objects(rtype)}


def final_state(trace: Any, gvk: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for _ts, action, obj in trace.iter_objects():
        if f"{obj['apiVersion']}.{obj['kind']}" != gvk:
            continue
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if action == "applied":
            state[key] = obj.get("spec")
        else:
            state.pop(key, None)
    return state


@pytest.mark.parametrize("fault", ["drop", "compact", "errors"])
def test_faults_lose_nothing_and_duplicate_nothing(sandbox: SandboxServer, tmp_path: Path, fault: str) -> None:
    tracer = start_tracer(sandbox, tmp_path)
    gen = WorkloadGenerator(sandbox.store, seed=7, scenario="deployments")
    try:
        gen.run(40)
        for _ in range(3):
            if fault == "errors":
                sandbox.faults.fail_next(4, 503, path_contains="deployments")
                sandbox.faults.fail_next(3, 429, path_contains="pods", retry_after=0)
                sandbox.faults.drop_watches()
            elif fault == "compact":
                sandbox.faults.drop_watches()
                gen.run(20)  # changes while nobody watches, then history is compacted away
                sandbox.faults.compact()
            else:
                sandbox.faults.drop_watches()
            gen.run(20)
        expected = server_state(sandbox, "apps/v1", "Deployment")
        wait_for(lambda: final_state(tracer.store.to_trace(), "apps/v1.Deployment") == expected, what="final state")
        trace = tracer.store.to_trace()
        if fault == "compact":
            assert tracer.recorder.states()["apps/v1.Deployment"]["relists"] >= 1
    finally:
        tracer.close()
    # no event recorded twice: consecutive applies of one object always differ in spec
    last: dict[str, Any] = {}
    for _ts, action, obj in trace.iter_objects():
        key = obj["metadata"]["name"]
        if action == "applied":
            assert key not in last or last[key] != obj["spec"], f"duplicate apply of {key}"
            last[key] = obj["spec"]
        else:
            assert key in last, f"delete of {key} without an apply"
            del last[key]


def test_wait_for_crds_starts_the_watch_when_the_crd_appears(cluster, tmp_path: Path) -> None:
    sandbox, api = cluster
    config = {"trackedObjects": {"batch.volcano.sh/v1alpha1.Job": {
        "podSpecTemplatePaths": ["/spec/tasks/*/template"], "trackLifecycle": True}}}
    with pytest.raises(Exception, match="does not serve batch.volcano.sh/v1alpha1.Job"):
        start_tracer(sandbox, tmp_path / "a", config)
    tracer = start_tracer(sandbox, tmp_path / "b", config, wait_for_crds=True)
    try:
        assert tracer.status()["watches"]["batch.volcano.sh/v1alpha1.Job"]["state"] == "waiting for CRD"
        client.ApiextensionsV1Api(api).create_custom_resource_definition(json.loads(json.dumps(VOLCANO_CRD)))
        wait_for(lambda: "batch.volcano.sh/v1alpha1.Job" in tracer.recorder.watches, what="the CRD watch")
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "batch.volcano.sh", "v1alpha1", "shop", "jobs",
            {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "vc"},
             "spec": {"tasks": [{"name": "t", "replicas": 1, "template": {"spec": {"containers": [
                 {"name": "c", "image": "busybox"}]}}}]}})
        wait_for(lambda: mentions(tracer.store.to_trace(), "batch.volcano.sh/v1alpha1.Job") == [("applied", "vc")],
                 what="the custom resource")
    finally:
        tracer.close()


def test_a_deleted_crd_goes_back_to_waiting_and_is_traced_again_when_recreated(cluster, tmp_path: Path) -> None:
    sandbox, api = cluster
    gvk = "batch.volcano.sh/v1alpha1.Job"
    crds = client.ApiextensionsV1Api(api)
    crs = client.CustomObjectsApi(api)
    crds.create_custom_resource_definition(json.loads(json.dumps(VOLCANO_CRD)))
    body = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "vc"},
            "spec": {"tasks": [{"name": "t", "replicas": 1, "template": {"spec": {"containers": [
                {"name": "c", "image": "busybox"}]}}}]}}
    tracer = start_tracer(sandbox, tmp_path / "j", {"trackedObjects": {gvk: {}}})
    try:
        assert tracer.status()["watches"][gvk]["state"] == "watching"
        crs.create_namespaced_custom_object("batch.volcano.sh", "v1alpha1", "shop", "jobs", body)
        wait_for(lambda: mentions(tracer.store.to_trace(), gvk) == [("applied", "vc")], what="the custom resource")
        crds.delete_custom_resource_definition(VOLCANO_CRD["metadata"]["name"])
        wait_for(lambda: tracer.status()["watches"][gvk]["state"] == "waiting for CRD", what="the watch to wait again")
        crds.create_custom_resource_definition(json.loads(json.dumps(VOLCANO_CRD)))
        body["metadata"]["name"] = "vc2"
        wait_for(lambda: gvk in tracer.recorder.watches, what="the watch to start again")
        crs.create_namespaced_custom_object("batch.volcano.sh", "v1alpha1", "shop", "jobs", body)
        wait_for(lambda: ("applied", "vc2") in mentions(tracer.store.to_trace(), gvk), what="the recreated kind")
        assert tracer.status()["watches"][gvk]["state"] == "watching"
    finally:
        tracer.close()


def test_secret_in_config_is_refused(sandbox_kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trackedObjects:\n  v1.Secret: {}\n")
    assert main(["trace", "--kubeconfig", str(sandbox_kubeconfig), "-c", str(cfg), "--journal", str(tmp_path / "j"),
                 "--duration", "1"]) == 2
    assert "Secret data is never recorded" in capsys.readouterr().err


def test_print_default_config_is_a_valid_config(capsys: pytest.CaptureFixture) -> None:
    import yaml

    assert main(["trace", "--print-default-config"]) == 0
    config = parse_config(yaml.safe_load(capsys.readouterr().out))
    assert config.track_lifecycle("batch/v1.CronJob") and config.skip_owned("v1.Pod")


def test_simkube_reference_config_loads(reference_dir: Path) -> None:
    ref = reference_dir / "tracer-config.yml"
    from skctl.tracer.config import load_config

    assert "batch/v1.CronJob" in load_config(str(ref)).tracked_objects


# --- journal ---------------------------------------------------------------------------


def test_journal_export_equals_tracer_export_and_survives_a_torn_tail(sandbox: SandboxServer, tmp_path: Path) -> None:
    tracer = start_tracer(sandbox, tmp_path, segment_seconds=0.3)
    gen = WorkloadGenerator(sandbox.store, seed=5, scenario="mixed")
    try:
        for _ in range(4):
            gen.run(30)
            time.sleep(0.4)  # several segments
        expected = server_state(sandbox, "apps/v1", "Deployment")
        wait_for(lambda: final_state(tracer.store.to_trace(), "apps/v1.Deployment") == expected, what="catch-up")
        span = tracer.store.time_range()
        assert span is not None
        live = tracer.store.export(span[0], span[1] + 1, ExportFilters(frozenset(), ()))
    finally:
        tracer.close()
    journal_dir = tmp_path / "journal"
    assert len(journal_mod.segments(journal_dir)) >= 3
    from_journal = journal_mod.export_journal(journal_dir, span[0], span[1] + 1, ExportFilters(frozenset(), ()))
    assert codec.encode(from_journal) == codec.encode(live)

    # a torn tail: half a record at the end of the newest segment
    newest = journal_mod.segments(journal_dir)[-1][2]
    with open(newest, "ab") as fh:
        fh.write(b"\x00\x00\x10\x00garbage")
    out = tmp_path / "cut.sktrace"
    assert main(["export", "--from", str(journal_dir), "-s", str(span[0]), "-t", str(span[1] + 1),
                 "--excluded-namespaces", "", "-o", str(out)]) == 0
    assert codec.encode(load.read_trace(str(out))) == codec.encode(live)


def start_trace_process(kubeconfig: Path, journal: Path, port: int = 0, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "skctl", "trace", "--kubeconfig", str(kubeconfig), "--journal", str(journal),
         "--listen", f"127.0.0.1:{port}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    return proc, tracer_url(proc)


def histories(trace: Any) -> dict[str, list[tuple[str, Any]]]:
    """Per object: its recorded (action, spec) sequence (order across objects ignored)."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for _ts, action, obj in trace.iter_objects():
        out.setdefault(f"{obj['kind']}/{obj['metadata']['name']}", []).append((action, obj.get("spec")))
    return out


def test_sigkill_and_restart_on_the_same_journal(sandbox: SandboxServer, sandbox_kubeconfig: Path,
                                                 tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    gen = WorkloadGenerator(sandbox.store, seed=11, scenario="deployments")
    gen.run(30)
    reference = start_tracer(sandbox, tmp_path / "ref", yaml.safe_load(DEFAULT_CONFIG_YAML))
    proc, url = start_trace_process(sandbox_kubeconfig, journal)
    try:
        wait_for(lambda: requests.get(url + "/status", timeout=5).json()["events"] > 0, what="first events")
        gen.run(30)
        expected = server_state(sandbox, "apps/v1", "Deployment")

        def caught_up() -> bool:
            data = requests.post(url + "/export", json={"start_ts": 0, "end_ts": FAR, "filters": {
                "excluded_namespaces": [], "excluded_labels": []}}, headers={"Accept": "application/cbor"}, timeout=10)
            return final_state(codec.decode(data.content), "apps/v1.Deployment") == expected

        wait_for(caught_up, what="the tracer to catch up")
        wait_for(lambda: final_state(reference.store.to_trace(), "apps/v1.Deployment") == expected,
                 what="the reference tracer")
        caught_at = int(time.time())  # nothing changes from here until after the restart
        time.sleep(1.2)  # past the fsync interval
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        never_died = histories(reference.store.to_trace())
        gen.run(30)  # changes while no tracer runs
        expected = server_state(sandbox, "apps/v1", "Deployment")
        proc, url = start_trace_process(sandbox_kubeconfig, journal)
        wait_for(caught_up, what="the restarted tracer to catch up")
        data = requests.post(url + "/export", json={"start_ts": 0, "end_ts": FAR, "export_path": "file:///dev/null",
                                                    "filters": {"excluded_namespaces": [], "excluded_labels": []}},
                             timeout=10)
        assert data.headers["Content-Type"] == "application/msgpack"  # SimKube's default answer
        trace, fmt = load.decode_any(data.content)
        assert fmt == "msgpack"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        reference.close()
    assert proc.returncode == 0
    # up to the kill, the restarted tracer's recording is the never-killed one's
    before = Trace(events=[e for e in trace.events if e["ts"] <= caught_at])
    assert histories(before) == never_died
    last: dict[str, Any] = {}
    for _ts, action, obj in trace.iter_objects():
        key = obj["metadata"]["name"]
        if action == "applied":
            assert key not in last or last[key] != obj["spec"], f"{key} recorded twice"
            last[key] = obj["spec"]
        else:
            del last[key]


# --- HTTP API and the export client ------------------------------------------------------


def test_http_api_and_export_client_end_to_end(cluster, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sandbox, api = cluster
    apps = client.AppsV1Api(api)
    tracer = start_tracer(sandbox, tmp_path)
    host, port = tracer.address
    url = f"http://{host}:{port}"
    try:
        apps.create_namespaced_deployment("shop", deployment("web", "shop"))
        apps.create_namespaced_deployment("shop", deployment("db", "shop", labels={"app": "db", "tier": "data"}))
        wait_for(lambda: len(tracer.store.live) >= 2, what="both deployments")
        out = tmp_path / "c.sktrace"
        assert main(["export", "--tracer-address", url, "-s", "0", "-t", "+1h", "--excluded-namespaces",
                     "kube-system", "--excluded-labels", "tier in (data)", "-o", str(out)]) == 0
        trace = load.read_trace(str(out))
        assert sorted(n for _a, n in mentions(trace)) == ["web"]
        # -s 0 starts at the tracer's first recorded event, not in 1970, and says so
        assert trace.events[0]["ts"] == tracer.store.to_trace().events[0]["ts"] > 0
        assert "the window starts at the recording's first event" in capsys.readouterr().err
        msg = tmp_path / "m.sktrace"
        assert main(["export", "--tracer-address", url, "-s", "0", "-t", "+1h", "--excluded-namespaces", "",
                     "--format", "msgpack", "-o", str(msg)]) == 0
        trace, fmt = load.decode_any(msg.read_bytes())
        assert fmt == "msgpack" and sorted(n for _a, n in mentions(trace)) == ["db", "web"]

        assert requests.get(url + "/healthz", timeout=5).text == "ok\n"
        status = requests.get(url + "/status", timeout=5).json()
        assert status["watches"]["apps/v1.Deployment"]["state"] == "watching" and status["events"] >= 2
        metrics = requests.get(url + "/metrics", timeout=5)
        assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        lines = metrics.text.splitlines()  # whole lines: a value of 20 must not pass for 2
        assert 'skctl_tracer_events_recorded_total{gvk="apps/v1.Deployment"} 2.0' in lines
        assert "skctl_tracer_export_duration_seconds_count 2.0" in lines
        assert "# TYPE skctl_tracer_export_duration_seconds summary" in lines

        bad = requests.post(url + "/export", data=b"{not json", timeout=5)
        assert bad.status_code == 400 and "error" in bad.json()
        bad = requests.post(url + "/export", json={"start_ts": 5, "end_ts": 1}, timeout=5)
        assert bad.status_code == 422 and "before end_ts" in bad.json()["error"]
        bad = requests.post(url + "/export", json={"start_ts": 0, "end_ts": 9, "filters": {
            "excluded_namespaces": [], "excluded_labels": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}},
            timeout=5)
        assert bad.status_code == 422
        big = requests.post(url + "/export", data=b" " * (2 * 1024 * 1024), timeout=5)
        assert big.status_code == 413
    finally:
        tracer.close()


def test_status_and_metrics_show_when_each_watch_last_heard_from_the_server(cluster, tmp_path: Path) -> None:
    sandbox, api = cluster
    tracer = start_tracer(sandbox, tmp_path, {"trackedObjects": {
        "apps/v1.Deployment": {}, "batch.volcano.sh/v1alpha1.Job": {"podSpecTemplatePaths": ["/spec/tasks/*/template"]}}},
        wait_for_crds=True)
    host, port = tracer.address
    url = f"http://{host}:{port}"
    try:
        watches = requests.get(url + "/status", timeout=5).json()["watches"]
        assert watches["batch.volcano.sh/v1alpha1.Job"] == {"state": "waiting for CRD"}
        first = watches["apps/v1.Deployment"]
        assert first["last_heard_at"] is not None and first["last_heard_seconds"] >= 0 and first["failures"] == 0
        client.AppsV1Api(api).create_namespaced_deployment("shop", deployment("web", "shop"))
        wait_for(lambda: requests.get(url + "/status", timeout=5).json()["watches"]["apps/v1.Deployment"]
                 ["last_heard_at"] > first["last_heard_at"], what="the event to count as hearing from the server")
        samples = {}
        for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
            if line.startswith("skctl_tracer_watch_last_heard_seconds{"):
                name, value = line.split()
                samples[name] = float(value)
        # one sample per watched kind (pods, and the starting state's nodes and PriorityClasses,
        # are always watched), none for a kind not watched yet
        assert set(samples) == {f'skctl_tracer_watch_last_heard_seconds{{gvk="{gvk}"}}' for gvk in
                                ("apps/v1.Deployment", "v1.Pod", "v1.Node", "scheduling.k8s.io/v1.PriorityClass")}
        assert all(v >= 0 for v in samples.values())
    finally:
        tracer.close()


def test_tracer_writes_to_object_storage_itself(cluster, s3_bucket_url: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    sandbox, api = cluster
    tracer = start_tracer(sandbox, tmp_path)
    host, port = tracer.address
    try:
        client.AppsV1Api(api).create_namespaced_deployment("shop", deployment("web", "shop"))
        wait_for(lambda: tracer.store.live, what="the deployment")
        dest = f"{s3_bucket_url}/from-tracer.sktrace"
        answer = requests.post(f"http://{host}:{port}/export", json={
            "start_ts": 0, "end_ts": FAR, "export_path": dest,
            "filters": {"excluded_namespaces": [], "excluded_labels": []}}, timeout=30)
        assert answer.status_code == 200 and answer.content == b""
        dest2 = f"{s3_bucket_url}/client-asked.sktrace"
        assert main(["export", "--tracer-address", f"http://{host}:{port}", "-s", "0", "-t", "+1h",
                     "--excluded-namespaces", "", "--tracer-writes", "-o", dest2]) == 0
    finally:
        tracer.close()
    from skctl import storage

    for url in (dest, dest2):
        trace, _fmt = load.decode_any(storage.read_bytes(url))
        assert [n for _a, n in mentions(trace)] == ["web"]


def test_a_tracer_refuses_a_missing_bucket_before_exporting(cluster, s3_bucket_url: str, tmp_path: Path) -> None:
    """The tracer checks the bucket of export_path (storage.check_destination) before it
    cuts and encodes the window, and answers 500 with skctl's one line."""
    sandbox, _api = cluster
    tracer = start_tracer(sandbox, tmp_path)
    host, port = tracer.address
    try:
        missing = s3_bucket_url + "-gone"
        answer = requests.post(f"http://{host}:{port}/export", json={
            "start_ts": 0, "end_ts": FAR, "export_path": f"{missing}/t.sktrace",
            "filters": {"excluded_namespaces": [], "excluded_labels": []}}, timeout=30)
        assert answer.status_code == 500
        assert f"the bucket or container '{missing[5:]}' does not exist" in answer.text
    finally:
        tracer.close()


def test_the_default_journal_is_one_per_kubeconfig_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from skctl.cli.commands.trace import default_journal

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    base = os.path.join(str(tmp_path), "skctl", "journals")
    assert default_journal("prod") == os.path.join(base, "prod")
    assert default_journal("kind-staging_2.x") == os.path.join(base, "kind-staging_2.x")
    assert default_journal(None) == os.path.join(base, "in-cluster")  # the pod's service account
    # names that are not plain file names become one, kept apart by a hash of the real name
    odd = [default_journal(c) for c in ("arn:aws:eks:eu-west-1:1:cluster/prod", "arn:aws:eks:eu-west-1:1:cluster_prod",
                                        "me@prod", "..", "/", "in-cluster", "x" * 300)]
    assert len(set(odd)) == len(odd)
    for path in odd:
        name = os.path.basename(path)
        assert os.path.dirname(path) == base and name not in (".", "..") and len(name) <= 120
        assert all(ch.isalnum() or ch in "._-" for ch in name)
    assert os.path.basename(odd[0]).startswith("arn_aws_eks_eu-west-1_1_cluster_prod-")


def test_unreachable_cluster_and_bad_flags_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kc = tmp_path / "kc"
    kc.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n")
    assert main(["trace", "--kubeconfig", str(kc), "--journal", str(tmp_path / "j"), "--duration", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Kubernetes API server" in err
    assert main(["trace", "--kubeconfig", str(kc), "--listen", "nope", "--duration", "1"]) == 2
    assert "--listen 'nope'" in capsys.readouterr().err
    for bad in ("[::1:0", "::1]:0", "[]:0", "[[::1]]:0", "127.0.0.1:\u0667", "127.0.0.1:65536"):  # half brackets, odd digits
        assert main(["trace", "--kubeconfig", str(kc), "--listen", bad, "--duration", "1"]) == 2
        assert f"--listen '{bad}'" in capsys.readouterr().err
    assert main(["trace", "--kubeconfig", str(kc), "--retention", "soon"]) == 2
    assert "bad duration 'soon'" in capsys.readouterr().err
    for flag in ("--retention", "--duration", "--request-timeout", "--exec-timeout"):  # once an overflow inside
        assert main(["trace", "--kubeconfig", str(kc), flag, "1e300"]) == 2
        assert f"argument {flag}: duration '1e300' is out of range: use 1us to 36500d" in capsys.readouterr().err
    # An object-storage --journal became a relative directory named `s3:/b/k`, and an empty
    # -o/-c/--journal (an unset variable) was silently the default: no recording written.
    for flags, needle in ((["--journal", "s3://b/k"], "--journal 's3://b/k' is not a local directory"),
                          (["--journal", "memory://x"], "--journal 'memory://x' is not a local directory"),
                          (["--journal", ""], "--journal '' is not a local directory"),
                          (["-o", ""], "malformed URL ''"), (["-c", ""], "malformed URL ''")):
        args = ["trace", "--kubeconfig", str(kc), "--duration", "1", *flags]
        if "--journal" not in flags:
            args += ["--journal", str(tmp_path / "j")]
        assert main(args) == 2
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "s3:").exists()


def test_trace_command_writes_the_recording_and_refuses_a_busy_journal(
        cluster, sandbox_kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sandbox, api = cluster
    client.AppsV1Api(api).create_namespaced_deployment("shop", deployment("web", "shop"))
    out = tmp_path / "all.sktrace"
    journal = tmp_path / "j"
    assert main(["trace", "--kubeconfig", str(sandbox_kubeconfig), "--journal", str(journal),
                 "--listen", "127.0.0.1:0", "--duration", "1", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "stopped by --duration" in err and "wrote the recording" in err
    trace = load.read_trace(str(out))
    assert mentions(trace) == [("applied", "web")] and "ns/web" not in str(trace.index)
    assert trace.index["apps/v1.Deployment"].keys() == {"shop/web"}

    holder = Tracer(Kube(sandbox.api_client()), TracerOptions(config=parse_config({"trackedObjects": {}}),
                                                             journal_dir=journal, port=0)).start()
    try:
        assert main(["trace", "--kubeconfig", str(sandbox_kubeconfig), "--journal", str(journal),
                     "--listen", "127.0.0.1:0", "--duration", "1"]) == 1
        assert "in use by another running tracer" in capsys.readouterr().err
    finally:
        holder.close()


def test_an_interrupted_close_still_closes_the_journal_and_a_second_close_finishes(cluster, tmp_path: Path) -> None:
    """Ctrl-C while the API shuts down (it blocks for its poll interval) must not leave the
    journal open and its fsync thread running; close() again is harmless."""
    import threading

    sandbox, _api = cluster
    tracer = start_tracer(sandbox, tmp_path)
    assert tracer.api is not None
    httpd = tracer.api.httpd
    shutdown = httpd.shutdown

    def interrupted_shutdown() -> None:
        shutdown()
        raise KeyboardInterrupt

    httpd.shutdown = interrupted_shutdown  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        tracer.close()
    assert "journal fsync" not in {t.name for t in threading.enumerate()}
    assert tracer.journal._fh is None and tracer.journal._lock_fh is None
    httpd.shutdown = shutdown  # type: ignore[method-assign]
    tracer.close()
    tracer.close()
    # the journal's lock was released: another tracer can open the same journal
    again = start_tracer(sandbox, tmp_path)
    again.close()


def test_journal_close_on_a_failed_flush_is_an_operational_error(tmp_path: Path) -> None:
    from skctl.base.errors import OperationalError
    from skctl.tracer.journal import Journal
    from skctl.tracer.store import TraceStore

    journal = Journal(tmp_path / "journal", 3600.0)
    journal.open(TraceStore(parse_config({"trackedObjects": {}})))
    assert journal._fh is not None
    real = journal._fh
    journal._fh = open("/dev/full", "wb")  # noqa: SIM115 - a segment on a full disk
    journal._fh.write(b"unflushed record")
    real.close()
    with pytest.raises(OperationalError, match="could not flush the journal in .*No space left on device"):
        journal.close()
    assert journal._fh is None and journal._lock_fh is None
    journal.close()


def test_trace_on_a_full_disk_is_one_error_line_not_an_internal_error(sandbox: SandboxServer, sandbox_kubeconfig: Path,
                                                                      tmp_path: Path) -> None:
    """The journal cannot be flushed (files are capped at 2 KiB: EFBIG, as ENOSPC on a full
    disk): `skctl trace` ends with exit 1 and the journal's error, not `internal error`."""
    import resource

    from skctl.sandbox.scenario import WorkloadGenerator

    generator = WorkloadGenerator(sandbox.store, seed=0, namespace="shop")
    generator.start(20.0)

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    try:
        proc = subprocess.run([sys.executable, "-m", "skctl", "trace", "--kubeconfig", str(sandbox_kubeconfig),
                               "--journal", str(tmp_path / "j"), "--listen", "127.0.0.1:0", "--duration", "2"],
                              capture_output=True, text=True, timeout=60, preexec_fn=small_files,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        generator.stop()
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("skctl: error: could not flush the journal in ") and "File too large" in last
    assert "internal error" not in proc.stderr


def test_a_full_disk_when_the_journal_opens_is_operational_not_bad_input(sandbox_kubeconfig: Path,
                                                                        tmp_path: Path) -> None:
    """Files capped at 16 bytes (EFBIG, as ENOSPC on a full disk) fail the journal's first
    write: exit 1 (the machine's fault), where a path that cannot be a directory is 2."""
    import resource

    def tiny_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))

    def trace(journal: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skctl", "trace", "--kubeconfig", str(sandbox_kubeconfig),
                               "--journal", str(journal), "--listen", "127.0.0.1:0", "--duration", "1"],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, **kwargs)

    full = trace(tmp_path / "j", preexec_fn=tiny_files)
    assert full.returncode == 1, full.stderr
    assert full.stderr.strip().startswith("skctl: error: cannot use journal directory") and "File too large" in full.stderr
    (tmp_path / "file").write_text("x")
    wrong = trace(tmp_path / "file" / "j")
    assert wrong.returncode == 2, wrong.stderr
    assert wrong.stderr.strip().startswith("skctl: error: cannot use journal directory")


def test_close_stops_the_crd_poller(cluster, tmp_path: Path) -> None:
    """A tracer waiting for a CRD has a poller thread; close() waits for it (bounded)."""
    sandbox, _api = cluster
    config = {"trackedObjects": {"batch.volcano.sh/v1alpha1.Job": {}}}
    tracer = start_tracer(sandbox, tmp_path, config, wait_for_crds=True)
    poller = tracer.recorder._poller
    assert poller is not None and poller.is_alive()
    tracer.close()
    assert not poller.is_alive()


def test_metrics_exposition_parses_and_keeps_every_digit() -> None:
    """/metrics is Prometheus text a Prometheus parser reads back: names, labels and values as
    status() says (a journal of 12,345,678 bytes is not rounded to 1.23457e+07), the export
    summary from the API's own counters, an empty per-kind family still announced."""
    from prometheus_client.parser import text_string_to_metric_families

    from skctl.tracer.server import TracerAPI

    status = {
        "events_per_kind": {"apps/v1.Deployment": 2, "v1.Pod": 123456789},
        "watches": {"v1.Pod": {"restarts": 1, "relists": 3, "errors": 0, "last_heard_seconds": 1.25},
                    "batch.volcano.sh/v1alpha1.Job": {"state": "waiting for CRD"}},
        "usage": {"sampling": True, "samples": 7},
        "journal_bytes": 12345678,
        "live_objects": 4,
    }
    api = TracerAPI("127.0.0.1", 0, lambda *a: Trace(), lambda: status)
    try:
        api.metrics.exports, api.metrics.export_errors, api.metrics.export_seconds = 3, 1, 0.5
        families = {f.name: f for f in text_string_to_metric_families(api.prometheus())}
    finally:
        api.httpd.server_close()
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert values == {
        ("skctl_tracer_events_recorded_total", (("gvk", "apps/v1.Deployment"),)): 2,
        ("skctl_tracer_events_recorded_total", (("gvk", "v1.Pod"),)): 123456789,
        ("skctl_tracer_watch_restarts_total", (("gvk", "batch.volcano.sh/v1alpha1.Job"),)): 0,
        ("skctl_tracer_watch_restarts_total", (("gvk", "v1.Pod"),)): 1,
        ("skctl_tracer_relists_total", (("gvk", "batch.volcano.sh/v1alpha1.Job"),)): 0,
        ("skctl_tracer_relists_total", (("gvk", "v1.Pod"),)): 3,
        ("skctl_tracer_watch_errors_total", (("gvk", "batch.volcano.sh/v1alpha1.Job"),)): 0,
        ("skctl_tracer_watch_errors_total", (("gvk", "v1.Pod"),)): 0,
        ("skctl_tracer_watch_last_heard_seconds", (("gvk", "v1.Pod"),)): 1.25,
        ("skctl_tracer_usage_sampling", ()): 1,
        ("skctl_tracer_usage_samples", ()): 7,
        ("skctl_tracer_journal_bytes", ()): 12345678,
        ("skctl_tracer_live_objects", ()): 4,
        ("skctl_tracer_export_duration_seconds_count", ()): 3,
        ("skctl_tracer_export_duration_seconds_sum", ()): 0.5,
        ("skctl_tracer_export_errors_total", ()): 1,
    }
    assert families["skctl_tracer_export_duration_seconds"].type == "summary"
    assert families["skctl_tracer_watch_last_heard_seconds"].type == "gauge"
    assert families["skctl_tracer_events_recorded"].type == "counter"  # the parser drops _total
