"""`skctl drive` against the sandbox: the reference traces replayed at high speed."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.kube.keys import gvk_of, split_gvk
from skctl.sim.driver import DriveOptions, Driver, StepRecord, schedule
from skctl.trace.load import read_trace
from tests.helpers import running, wait_for

ROOT = Path(__file__).resolve().parent.parent
SPEED = 2000.0
KINDS = [("v1", "Pod"), ("apps/v1", "Deployment"), ("batch/v1", "CronJob"), ("apps/v1", "StatefulSet")]


@pytest.fixture
def kube(sandbox) -> Kube:
    k = Kube(sandbox.api_client())
    yield k
    k.close()


def leftovers(kube: Kube, name: str) -> list[str]:
    """Everything labelled with the simulation, anywhere."""
    found = [f"namespace {n['metadata']['name']}" for n in kube.list("v1", "Namespace", label_selector=f"simkube.io/simulation={name}")]
    for api_version, kind in KINDS:
        for obj in kube.list(api_version, kind, label_selector=f"simkube.io/simulation={name}"):
            found.append(f"{kind} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}")
    return found


def check_virtual(obj: dict, name: str, original_ns: str, templates: list[dict]) -> None:
    meta = obj["metadata"]
    assert meta["namespace"] == f"virtual-{original_ns}"
    assert meta["labels"]["simkube.io/simulation"] == name and meta["labels"]["simkube.io/virtual"] == "true"
    assert "ownerReferences" not in meta  # (status may be server-defaulted, e.g. a Pending pod)
    assert templates
    for template in templates:
        spec = template["spec"]
        assert spec["nodeSelector"] == {"type": "virtual"}
        assert {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert all("ports" not in c for c in spec["containers"])
        assert template["metadata"]["labels"]["simkube.io/simulation"] == name


def templates_of(obj: dict) -> list[dict]:
    from skctl.trace.tracked import find_pod_templates

    return [t for _at, t in find_pod_templates(obj)]


@pytest.mark.parametrize("trace_name", ["cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"])
def test_replay_reference_trace(reference_dir: Path, kube: Kube, trace_name: str) -> None:
    trace = read_trace(str(reference_dir / trace_name))
    name = "sim-" + trace_name.split(".")[0]
    observed: list[tuple[StepRecord, list[dict], list[bool]]] = []

    def on_step(record: StepRecord) -> None:
        # read back what was just applied and deleted, while the replay is running
        got = []
        for gvk, ns, obj_name in record.applied:
            group, version, kind = split_gvk(gvk)
            got.append(kube.get(f"{group}/{version}" if group else version, kind, obj_name, ns))
        gone = []
        for gvk, ns, obj_name in record.deleted:
            group, version, kind = split_gvk(gvk)
            gone.append(kube.get(f"{group}/{version}" if group else version, kind, obj_name, ns) is None)
        observed.append((record, got, gone))

    driver = Driver(kube, trace, DriveOptions(name=name, speed=SPEED), on_step=on_step)
    result = driver.run()
    assert result.failures == [] and result.stopped_by is None
    assert result.events == len(trace.events)
    expected_applies = sum(len(e["applied_objs"]) for e in trace.events)
    expected_deletes = sum(len(e["deleted_objs"]) for e in trace.events)
    assert result.applies == expected_applies and result.deletes == expected_deletes

    steps = schedule(trace, SPEED)
    assert [r.index for r, _, _ in observed] == list(range(len(trace.events)))
    starts = [r.started for r, _, _ in observed]
    assert starts == sorted(starts)  # in trace order
    for (record, got, gone), step, event in zip(observed, steps, trace.events, strict=True):
        # never early; "on time" within a generous bound (scheduling is measured by the bench)
        assert record.started >= record.due - 0.001
        assert record.due == pytest.approx(result.started + step.offset, abs=1e-6)
        assert record.lateness < 5.0
        assert len(got) == len(event["applied_objs"]) and all(got)
        for original, live in zip(event["applied_objs"], got, strict=True):
            assert gvk_of(live) == gvk_of(original) and live["metadata"]["name"] == original["metadata"]["name"]
            check_virtual(live, name, original["metadata"]["namespace"], templates_of(live))
        assert all(gone)
    assert leftovers(kube, name) == []


def test_cronjob_template_carries_simkube_annotations(reference_dir: Path, kube: Kube) -> None:
    trace = read_trace(str(reference_dir / "cronjob.sktrace"))
    seen = []

    def on_step(record: StepRecord) -> None:
        for _gvk, ns, obj_name in record.applied:
            seen.append(kube.get("batch/v1", "CronJob", obj_name, ns))

    Driver(kube, trace, DriveOptions(name="life", speed=SPEED), on_step=on_step).run()
    (cron,) = seen
    annotations = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["static.simkube.io/original-namespace"] == "default"
    assert annotations["simkube.io/kwok-stage-ready-delay"] == "0ms"
    # lifetimes are per pod (tests/test_drive_pods.py), never one number on the template
    assert not any("lifetime" in key or "complete" in key for key in annotations)
    assert cron["metadata"]["labels"]["app.kubernetes.io/name"] == "hello-simkube"


def test_duration_cuts_and_cli(capsys, reference_dir: Path, kube: Kube, sandbox_kubeconfig: Path) -> None:
    trace_path = reference_dir / "dsb-scaling.sktrace"
    trace = read_trace(str(trace_path))
    t0 = trace.events[0]["ts"]
    within = [e for e in trace.events if e["ts"] - t0 < 600]
    assert 0 < len(within) < len(trace.events)
    code = main(["drive", "cut", "--kubeconfig", str(sandbox_kubeconfig), "--trace-path", f"file://{trace_path}",
                 "--speed", "5000", "--duration", "10m"])
    out, err = capsys.readouterr()
    assert code == 0, err
    applies = sum(len(e["applied_objs"]) for e in within)
    assert f"replayed {len(within)} events, {applies} applies" in out
    assert leftovers(kube, "cut") == []


def test_repeated_runs_and_leftover_cleanup(reference_dir: Path, kube: Kube) -> None:
    trace = read_trace(str(reference_dir / "bare-pods.sktrace"))
    # a driver killed before it cleaned up left a namespace and a pod behind
    kube.apply({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "virtual-old", "labels": {"simkube.io/simulation": "rep", "simkube.io/virtual": "true"}}})
    for _ in range(2):  # two repetitions of the Job: each a full replay + cleanup
        seen_namespaces = []

        def on_step(record: StepRecord, seen=seen_namespaces) -> None:
            seen.extend(n["metadata"]["name"] for n in kube.list("v1", "Namespace", label_selector="simkube.io/simulation=rep"))

        result = Driver(kube, trace, DriveOptions(name="rep", speed=SPEED), on_step=on_step).run()
        assert result.applies == 4 and not result.failures
        assert "virtual-old" not in seen_namespaces and "virtual-testing" in seen_namespaces
        assert leftovers(kube, "rep") == []


def test_transient_errors_are_retried(reference_dir: Path, sandbox, kube: Kube) -> None:
    trace = read_trace(str(reference_dir / "dsb-scaling.sktrace"))
    sandbox.faults.fail_next(3, 500, path_contains="/deployments", method="PATCH")
    result = Driver(kube, trace, DriveOptions(name="flaky", speed=5000)).run()
    assert sandbox.faults.injected == 3
    assert not result.failures and result.applies == sum(len(e["applied_objs"]) for e in trace.events)
    assert leftovers(kube, "flaky") == []


def test_rejected_apply_is_reported_after_cleanup(capsys, tmp_path: Path, kube: Kube, sandbox_kubeconfig: Path) -> None:
    from skctl.trace import codec
    from skctl.trace.model import Trace, new_event

    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": "a"}, "data": {"k": "v"}}
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name", "namespace": "a"}}
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(Trace(events=[new_event(100, [good]), new_event(101, [bad])])))
    code = main(["drive", "bad", "--kubeconfig", str(sandbox_kubeconfig), "--trace-path", str(path), "--speed", "100"])
    _out, err = capsys.readouterr()
    assert code == 1
    assert "1 apply/delete call(s) failed" in err.strip().splitlines()[-1]
    assert kube.list("v1", "Namespace", label_selector="simkube.io/simulation=bad") == []


def test_sigterm_mid_trace_cleans_up(reference_dir: Path, kube: Kube, sandbox_kubeconfig: Path) -> None:
    # dsb-scaling spans 1134 s of trace time: at speed 20 the replay would take ~57 s
    argv = [sys.executable, "-m", "skctl", "drive", "term", "--kubeconfig", str(sandbox_kubeconfig),
            "--trace-path", str(reference_dir / "dsb-scaling.sktrace"), "--speed", "20", "-v", "info"]

    def applied() -> list:
        return kube.list("apps/v1", "Deployment", "virtual-dsb", label_selector="simkube.io/simulation=term")

    with running(argv) as proc:
        wait_for(applied, "the driver never applied anything", timeout=30, process=proc)
        assert kube.get("v1", "Namespace", "virtual-dsb") is not None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in out and "cleaned up" in out
    assert "Traceback" not in err
    assert kube.get("v1", "Namespace", "virtual-dsb") is None
    assert leftovers(kube, "term") == []


def test_a_replay_that_falls_behind_says_so(sandbox, kube: Kube, tmp_path: Path, capsys, caplog) -> None:
    """A server slower than the trace: the driver warns while it lags and says the worst lag at the end."""
    import random

    from skctl.trace import synth
    from skctl.trace.codec import encode
    from skctl.trace.model import Trace, new_event

    rng = random.Random(3)
    objs = [synth.deployment(rng, "shop", f"d{i}", 1) for i in range(12)]
    trace = Trace(config={"trackedObjects": {"apps/v1.Deployment": {}}},
                  events=[new_event(1_750_000_000 + i, applied=[o]) for i, o in enumerate(objs)])
    path = tmp_path / "t.sktrace"
    path.write_bytes(encode(trace))
    sandbox.faults.set_latency(0.25)  # every request takes 0.25 s; the trace wants one write per 0.01 s
    kc = sandbox.write_kubeconfig(tmp_path / "kc")
    caplog.set_level("WARNING", logger="skctl.sim.driver")
    code = main(["drive", "lag", "--trace-path", str(path), "--speed", "100", "--kubeconfig", str(kc)])
    out = capsys.readouterr().out
    assert code == 0
    behind = [r.getMessage() for r in caplog.records if "behind the trace" in r.getMessage()]
    assert behind and "simulation lag:" in behind[0]
    assert "at worst" in out and "behind the trace" in out
    sandbox.faults.set_latency(0)
    # at a speed the server keeps up with, nothing is said
    caplog.clear()
    assert main(["drive", "lag2", "--trace-path", str(path), "--speed", "5", "--duration", "3",
                 "--kubeconfig", str(kc)]) == 0
    assert "behind the trace" not in capsys.readouterr().out
    assert not [r for r in caplog.records if "behind the trace" in r.getMessage()]
