"""SimKube's simulation options on skctl: pause/resume, --start-paused, --hooks,
--reschedule-interrupted-bare-pods, and the webhook/metrics flags accepted with one note.
Cluster parts run against the sandbox API server (tests/e2e has the real control plane)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import InputError, OperationalError
from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.sim import PAUSED_ANNOTATION, hooks, manifests, pause
from skctl.sim.driver import DriveOptions, Driver, StepRecord
from skctl.sim.pods import PodContext, PodHandler, clone_name, clone_of
from skctl.trace.model import Trace, new_event
from tests.helpers import wait_for

NS = "simkube"


@pytest.fixture
def kube(sandbox) -> Iterator[Kube]:
    k = Kube(sandbox.api_client(), field_manager="skctl")
    yield k
    k.close()


def make_job(kube: Kube, name: str, annotations: dict[str, str] | None = None, completions: int = 1) -> None:
    if kube.get("v1", "Namespace", NS) is None:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if annotations:
        meta["annotations"] = annotations
    kube.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {
        "suspend": True, "completions": completions,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "d", "image": "x"}]}}}})


# --- pause / resume -----------------------------------------------------------------------------


def test_pause_and_resume_commands(kube: Kube, sandbox_kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kc = ["--kubeconfig", str(sandbox_kubeconfig)]
    assert main(["pause", "nosuch", *kc]) == 1
    assert "no simulation nosuch" in capsys.readouterr().err
    make_job(kube, "sim")
    assert main(["resume", "sim", *kc]) == 1
    assert "simulation sim is not paused" in capsys.readouterr().err
    assert main(["pause", "sim", *kc]) == 0
    since = pause.paused_since(kube.get("batch/v1", "Job", "sim", NS))
    assert since is not None and since.endswith("Z")
    assert "skctl resume sim" in capsys.readouterr().out
    assert main(["pause", "sim", *kc]) == 1
    assert f"already paused (since {since})" in capsys.readouterr().err
    assert main(["resume", "sim", *kc]) == 0
    assert pause.paused_since(kube.get("batch/v1", "Job", "sim", NS)) is None


def _trace(*stamps: int) -> Trace:
    return Trace(events=[new_event(ts, [{"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": f"c{i}", "namespace": "app"}, "data": {}}])
                         for i, ts in enumerate(stamps)])


def _drive_in_thread(driver: Driver) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["result"] = driver.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, box


def test_start_paused_replays_nothing_until_resumed(kube: Kube, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skctl.sim.pause")
    make_job(kube, "held")
    records: list[StepRecord] = []
    driver = Driver(kube, _trace(100, 101), DriveOptions(name="held", speed=100, watch_pods=False,
                                                         driver_namespace=NS, start_paused=True),
                    on_step=records.append)
    thread, box = _drive_in_thread(driver)
    wait_for(lambda: "is paused" in caplog.text or box, "the driver to hold", timeout=20)
    assert pause.paused_since(kube.get("batch/v1", "Job", "held", NS)) is not None  # the driver set it
    assert records == [] and kube.get("v1", "ConfigMap", "c0", "virtual-app") is None
    resumed_at = time.monotonic()
    pause.resume(kube, "held", NS)
    thread.join(30)
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.events == 2 and result.paused_seconds > 0
    assert records[0].started >= resumed_at  # nothing was replayed before the resume
    assert "resumed after" in caplog.text


def test_pause_mid_replay_moves_the_rest_later(kube: Kube, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skctl.sim.pause")
    make_job(kube, "mid")
    records: list[StepRecord] = []
    driver = Driver(kube, _trace(100, 110), DriveOptions(name="mid", speed=10, watch_pods=False, driver_namespace=NS))

    def on_step(record: StepRecord) -> None:
        records.append(record)
        if record.index == 0:  # pause right after the first event; the driver sees it at once
            pause.pause(kube, "mid", NS)
            assert driver.pause is not None
            driver.pause.refresh()

    driver.on_step = on_step
    thread, box = _drive_in_thread(driver)
    wait_for(lambda: "is paused" in caplog.text or box, "the driver to hold", timeout=20)
    assert len(records) == 1
    resumed_at = time.monotonic()
    pause.resume(kube, "mid", NS)
    thread.join(30)
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.events == 2 and result.paused_seconds > 0
    assert records[1].started >= resumed_at
    # replay time stood still: the second event kept its 1 s distance after the pause
    assert records[1].due - records[0].due == pytest.approx(1.0 + result.paused_seconds)


def test_start_paused_without_a_job_is_refused(kube: Kube) -> None:
    driver = Driver(kube, _trace(100), DriveOptions(name="nojob", watch_pods=False, driver_namespace=NS,
                                                    start_paused=True))
    with pytest.raises(InputError, match="--start-paused needs the driver Job simkube/nojob"):
        driver.run()


def test_run_start_paused_creates_the_job_paused() -> None:
    (job,) = [o for o in manifests.build_manifests(manifests.RunOptions(name="s", start_paused=True))
              if o["kind"] == "Job"]
    assert pause.paused_since(job) is not None and PAUSED_ANNOTATION in job["metadata"]["annotations"]
    (job,) = [o for o in manifests.build_manifests(manifests.RunOptions(name="s")) if o["kind"] == "Job"]
    assert "annotations" not in job["metadata"]


# --- hooks ------------------------------------------------------------------------------------

# SimKube's merge case restated: three files, hooks of earlier files first, stage by stage.
HOOK_FILES = [
    {"preStartHooks": [{"cmd": "prestart1", "args": ["prestart-arg1", "prestart-arg2"]}],
     "preRunHooks": [{"cmd": "prerun1", "args": ["prerun-arg1"]}],
     "postRunHooks": [{"cmd": "postrun1", "args": ["postrun-arg1"]}]},
    {"preStartHooks": [{"cmd": "prestart2"}, {"cmd": "prestart3"}],
     "preRunHooks": [{"cmd": "prerun2", "args": ["prerun-arg2"]}],
     "postStopHooks": [{"cmd": "poststop1", "args": ["poststop-arg1"]}]},
    {"preRunHooks": [{"cmd": "prerun3", "args": ["prerun-arg3"]}],
     "postRunHooks": [{"cmd": "postrun2", "args": ["prerun-arg2"]}]},
]
MERGED = {
    "preStartHooks": ["prestart1 prestart-arg1 prestart-arg2", "prestart2", "prestart3"],
    "preRunHooks": ["prerun1 prerun-arg1", "prerun2 prerun-arg2", "prerun3 prerun-arg3"],
    "postRunHooks": ["postrun1 postrun-arg1", "postrun2 prerun-arg2"],
    "postStopHooks": ["poststop1 poststop-arg1"],
}


def test_hook_files_merge_in_order(tmp_path: Path) -> None:
    import yaml

    paths = []
    for i, doc in enumerate(HOOK_FILES):
        (tmp_path / f"h{i}.yml").write_text(yaml.safe_dump(doc))
        paths.append(str(tmp_path / f"h{i}.yml"))
    merged = hooks.load_files(":".join(paths))
    assert {stage: [hooks.command_line(h) for h in hs] for stage, hs in merged.items()} == MERGED
    assert hooks.load_files("") == {}


@pytest.mark.parametrize("text, problem", [
    ("preRunHooks: {cmd: echo}", "preRunHooks must be a list"),
    ("preRunHooks: [{args: [a]}]", "preRunHooks[0] needs a command"),
    ("preRunHook: []", "unknown key 'preRunHook'"),
    ("preRunHooks: [{cmd: echo, ignoreFailures: true}]", "unknown key 'ignoreFailures'"),
    ("preRunHooks: [{cmd: echo, sendSim: yes please}]", "sendSim must be true or false"),
    ("[1, 2", "bad hooks file"),
])
def test_bad_hook_files_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                            problem: str) -> None:
    (tmp_path / "h.yml").write_text(text)
    assert main(["run", "sim", "--dry-run", "--hooks", str(tmp_path / "h.yml")]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1
    assert main(["run", "sim", "--dry-run", "--hooks", str(tmp_path / "missing.yml")]) == 2
    assert "no hooks file at" in capsys.readouterr().err


def test_hooks_run_log_their_output_and_a_failure_stops(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skctl.sim.hooks")
    py = sys.executable
    got = tmp_path / "stdin.json"
    config = hooks.check_hooks({
        "preRunHooks": [
            {"cmd": py, "args": ["-c", "print('hello from a hook')"]},
            {"cmd": py, "args": ["-c", f"import sys; open({str(got)!r}, 'w').write(sys.stdin.read())"],
             "sendSim": True},
            {"cmd": py, "args": ["-c", "raise SystemExit(3)"], "ignoreFailure": True},
        ],
        "postRunHooks": [{"cmd": py, "args": ["-c", "raise SystemExit(4)"]}, {"cmd": "echo", "args": ["never"]}],
        "postStopHooks": [{"cmd": "/no/such/program"}],
    }, "test")
    sim = hooks.simulation_document("s", config, speed=2.0)
    hooks.run_stage(config, "preRunHooks", sim)
    assert "preRun hook " in caplog.text and "hello from a hook" in caplog.text
    assert json.loads(got.read_text())["metadata"]["name"] == "s"
    assert "exit status 3); ignored" in caplog.text
    with pytest.raises(OperationalError, match="postRun hook .* failed \\(exit status 4\\)"):
        hooks.run_stage(config, "postRunHooks", sim)
    assert "never" not in caplog.text
    with pytest.raises(OperationalError, match="command not found"):
        hooks.run_stage(config, "postStopHooks", sim)


@pytest.mark.parametrize("job, position", [
    (None, (True, True)),
    ({"spec": {"completions": 3}, "status": {}}, (True, False)),
    ({"spec": {"completions": 3}, "status": {"succeeded": 1}}, (False, False)),
    ({"spec": {"completions": 3}, "status": {"succeeded": 2}}, (False, True)),
    ({"spec": {"completions": 1}, "status": {}}, (True, True)),
])
def test_pre_start_and_post_stop_run_in_the_first_and_last_repetition(job: Any, position: tuple[bool, bool]) -> None:
    assert hooks.repetition_position(job) == position


def test_drive_runs_the_hooks_around_the_replay(sandbox_kubeconfig: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    from skctl.trace import load

    caplog.set_level(logging.INFO, logger="skctl.sim.hooks")
    (tmp_path / "t.sktrace").write_bytes(load.encode_as(_trace(100, 101), "cbor"))
    log_file = tmp_path / "order"
    hook = {"cmd": "sh", "args": ["-c", f"echo $0 >> {log_file}; echo out-$0"]}
    (tmp_path / "h.yml").write_text(json.dumps({stage: [dict(hook, args=[*hook["args"], stage])]
                                                for stage in hooks.STAGES}))
    argv = ["drive", "hooked", "--trace-path", str(tmp_path / "t.sktrace"), "--speed", "1000",
            "--kubeconfig", str(sandbox_kubeconfig), "--hooks", str(tmp_path / "h.yml"), "-v", "info"]
    assert main(argv) == 0, capsys.readouterr().err
    assert log_file.read_text().split() == list(hooks.STAGES)
    assert "preRun hook sh: out-preRunHooks" in caplog.text and "postStop hook sh: out-postStopHooks" in caplog.text
    (tmp_path / "bad.yml").write_text(json.dumps({"preRunHooks": [{"cmd": "false"}]}))
    argv[argv.index(str(tmp_path / "h.yml"))] = str(tmp_path / "bad.yml")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "preRun hook `false` failed (exit status 1)" in err and "Traceback" not in err


def test_run_passes_the_merged_hooks_to_the_driver(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("preRunHooks: [{cmd: echo, args: [a]}]")
    (tmp_path / "b.yml").write_text("preRunHooks: [{cmd: echo, args: [b]}]\npostStopHooks: [{cmd: date}]")
    merged = hooks.load_files(f"{tmp_path / 'a.yml'}:{tmp_path / 'b.yml'}")
    (job,) = [o for o in manifests.build_manifests(manifests.RunOptions(name="s", hooks=merged)) if o["kind"] == "Job"]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert hooks.from_env(env) == merged


# --- bare pods --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, clone", [
    ("web", "web-clone-1"), ("web-clone-1", "web-clone-2"), ("web-clone-9", "web-clone-10"),
    ("a-clone-b", "a-clone-b-clone-1"), ("clone-3", "clone-3-clone-1"),
])
def test_clone_names(name: str, clone: str) -> None:
    assert clone_name(name) == clone


def _running_bare_pod(name: str, ns: str = "virtual-app", owners: list[dict] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name, "namespace": ns, "uid": "u1", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"simkube.io/simulation": "s", "simkube.io/kwok-stage-complete": "true"},
        "annotations": {"static.simkube.io/pod-sequence-number": "0", "static.simkube.io/pod-spec-stable-hash": "5",
                        "simkube.io/kwok-stage-complete-time": "2026-01-01T00:01:00Z"}}
    if owners:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "kwok-1", "nodeSelector": {"type": "virtual"},
                     "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"}}


def test_a_clone_starts_afresh_and_names_its_original() -> None:
    clone = clone_of(_running_bare_pod("web-clone-1"))
    meta = clone["metadata"]
    assert meta["name"] == "web-clone-2" and "uid" not in meta and "resourceVersion" not in meta
    assert meta["annotations"]["static.simkube.io/original-owner"] == "web-clone-1"
    assert "simkube.io/kwok-stage-complete-time" not in meta["annotations"]
    assert meta["labels"] == {"simkube.io/simulation": "s"} and meta["annotations"]["static.simkube.io/pod-spec-stable-hash"] == "5"
    assert "nodeName" not in clone["spec"] and "status" not in clone
    again = clone_of({**clone, "metadata": {**meta, "name": "web-clone-2"}})
    assert again["metadata"]["annotations"]["static.simkube.io/original-owner"] == "web-clone-1"  # the first one's


@pytest.mark.parametrize("pod, reschedule, expected, recreated", [
    (_running_bare_pod("p"), True, False, True),
    (_running_bare_pod("p"), False, False, False),  # the flag is off
    (_running_bare_pod("p"), True, True, False),  # the trace deleted it
    ({**_running_bare_pod("p"), "status": {"phase": "Succeeded"}}, True, False, False),  # it had finished
    (_running_bare_pod("p", owners=[{"apiVersion": "v1", "kind": "ReplicationController", "name": "r", "uid": "x"}]),
     True, False, False),  # its owner makes a new one
])
def test_interrupted_bare_pods_come_back(kube: Kube, pod: dict, reschedule: bool, expected: bool,
                                         recreated: bool) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "virtual-app"}})
    ctx = PodContext(sim_name="s", ns_prefix="virtual", speed=1.0, lifecycles={}, index={},
                     reschedule_bare_pods=reschedule)
    handler = PodHandler(kube, ctx, owns_namespace=lambda ns: ns == "virtual-app")
    if expected:
        handler.expect_delete("virtual-app", "p")
    handler.handle("DELETED", pod)
    got = kube.get("v1", "Pod", "p-clone-1", "virtual-app")
    assert (got is not None) == recreated
    if recreated:
        assert got["metadata"]["annotations"]["static.simkube.io/original-owner"] == "p"
        assert handler.rescheduled == ["virtual-app/p-clone-1"]


# --- SimKube's webhook and metrics flags --------------------------------------------------------


def test_webhook_and_metrics_flags_are_accepted_with_one_note(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "sim", "--dry-run", "--driver-port", "8888", "--disable-metrics", "--metrics-namespace", "m",
            "--prometheus-shards", "2", "--remote-write-endpoint", "http://x:1/receive"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("skctl: note: --driver-port, --disable-metrics, --metrics-namespace, --prometheus-shards, "
                           "--remote-write-endpoint ignored")
    assert "8888" not in captured.out and "metrics" not in captured.out
    assert main(["run", "sim", "--dry-run"]) == 0
    assert capsys.readouterr().err == ""
