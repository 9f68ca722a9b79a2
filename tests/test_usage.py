"""Recorded pod usage (issue 24): the tracer samples PodMetrics into the trace's `usage` section,
export windows clip it, the reader and validate check it, xray summarises it, and the driver
replays it as KWOK usage annotations. The cluster is the sandbox with its metrics API on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import InputError
from skctl.cli.commands.trace import _status_line
from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.kube.quantity import byte_count, cpu_text, memory_text, millicores
from skctl.sandbox import SandboxServer
from skctl.sandbox.metrics import pod_metrics
from skctl.sim import POD_SEQUENCE_ANNOTATION
from skctl.sim.driver import DriveOptions, Driver, StepRecord
from skctl.sim.usage import USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION, usage_annotations
from skctl.trace import codec, load, shape, usage
from skctl.trace.model import Trace, new_event
from skctl.trace.pods import pod_hash
from skctl.trace.tracked import parse_config
from skctl.trace.window import NO_FILTERS, export_window
from skctl.tracer import journal as journal_mod
from skctl.tracer.service import Tracer, TracerOptions
from skctl.tracer.store import REC_USAGE, TraceStore, record_problem
from skctl.tracer.usage import pod_usage
from tests.helpers import wait_for

FAR = 2**40
WAIT = 20.0
MI = 2**20
BARE = {"trackedObjects": {"v1.Pod": {"skipOwned": True, "trackLifecycle": True}}}
DEP = ("apps/v1.Deployment", "shop/web")


def series(t: list[int], cpu: list[int], mem: list[int]) -> dict[str, list[int]]:
    return {"t": t, "cpu": cpu, "mem": mem}


def section(*owners: tuple[tuple[str, str], int, list[dict[str, list[int]]]]) -> dict[str, Any]:
    return {"interval": 30, "owners": [{"owner": list(o), "hash": h, "pods": pods} for o, h, pods in owners]}


# --- the section's rules ------------------------------------------------------------------


def test_quantities_read_metrics_server_forms_and_write_annotations() -> None:
    assert millicores("12345678n") == 13 and millicores("250m") == 250 and millicores("2") == 2000
    assert byte_count("131072Ki") == 128 * MI and byte_count("1000") == 1000
    assert cpu_text(250) == "250m" and memory_text(128 * MI) == "128Mi" and memory_text(1536 * 1024) == "1536Ki"
    assert memory_text(1000) == "1000"
    assert pod_usage({"containers": [{"usage": {"cpu": "100m", "memory": "1Mi"}},
                                     {"usage": {"cpu": "50000000n", "memory": "1024Ki"}}]}) == (150, 2 * MI)


@pytest.mark.parametrize("containers", [1, 2, 3])
def test_a_pod_of_several_containers_reports_the_recorded_pod_total(containers: int) -> None:
    """KWOK (and the sandbox, like it) applies the annotations to every container; the
    driver's annotation is the pod total split over them, rounded up, so the sum is the
    recorded total, never less."""
    notes = usage_annotations(701, 300 * 2**20 + 1, containers)
    pod = {"metadata": {"name": "p", "namespace": "n", "annotations": notes},
           "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)]}}
    reported = pod_usage(pod_metrics(pod, 0.0))
    assert 701 <= reported[0] < 701 + containers
    assert 300 * 2**20 + 1 <= reported[1] < 300 * 2**20 + 1 + containers


def test_build_orders_pods_by_first_sample_and_drops_empty_ones() -> None:
    built = usage.build([(DEP, 7, [20, 30], [1, 2], [3, 4]), (DEP, 7, [10], [5], [6]), (DEP, 8, [], [], [])])
    assert built == section((DEP, 7, [series([10], [5], [6]), series([20, 30], [1, 2], [3, 4])]))
    assert usage.build([]) is None


def test_clip_keeps_the_window_and_carries_a_running_pod_into_its_start() -> None:
    sec = section((DEP, 1, [series([100, 130, 160, 190], [1, 2, 3, 4], [10, 20, 30, 40]),
                            series([10, 40], [9, 9], [9, 9])]),  # ended before the window
                  (("apps/v1.Deployment", "shop/gone"), 2, [series([140], [5], [50])]))
    cut = usage.clip(sec, 150, 190, keep_owner=lambda o: o == DEP)
    # the sample at 130 holds from 150; 190 is the window's end (excluded); the other owner is not exported
    assert cut == section((DEP, 1, [series([150, 160], [2, 3], [20, 30])]))
    assert usage.clip(sec, 500, 600) is None
    assert usage.clip(None, 0, 10) is None


def test_value_at_is_the_latest_sample_and_the_first_before_it() -> None:
    s = series([100, 130], [1, 2], [10, 20])
    assert usage.value_at(s, 50) == (1, 10)
    assert usage.value_at(s, 129.9) == (1, 10)
    assert usage.value_at(s, 130) == (2, 20)
    assert usage.value_at(s, 10_000) == (2, 20)


@pytest.mark.parametrize(("bad", "why"), [
    ([], "is not a map"),
    ({"owners": {}}, "'owners' is missing or not a list"),
    ({"owners": [{"owner": ["x"], "hash": 1, "pods": []}]}, "owner entry 0 has no [GVK, ns/name] 'owner'"),
    ({"owners": [{"owner": ["a", "b"], "hash": -1, "pods": []}]}, "owner entry 0 has no pod hash"),
    ({"owners": [{"owner": ["a", "b"], "hash": 1, "pods": [{"t": [1], "cpu": [1]}]}]}, "lacks one of the lists"),
    ({"owners": [{"owner": ["a", "b"], "hash": 1, "pods": [series([1, 2], [1], [1, 2])]}]}, "different lengths"),
    ({"owners": [{"owner": ["a", "b"], "hash": 1, "pods": [series([1], [1.5], [1])]}]}, "not a 64-bit integer"),  # type: ignore[list-item]
])
def test_the_reader_refuses_a_section_it_cannot_walk(bad: Any, why: str) -> None:
    doc = Trace(events=[new_event(1)], extra={"usage": bad}).to_document()
    issue = shape.problem(doc)
    assert issue is not None and issue.startswith("usage: ") and why in issue


def test_validate_reports_order_negative_values_unknown_keys_and_owners() -> None:
    sec = section((DEP, 1, [series([10, 10], [1, 1], [1, 1]), series([1, 2], [-1, 0], [0, 0])]),
                  (("apps/v1.Deployment", "shop/nobody"), 1, [series([5], [1], [1])]))
    sec["extra"] = 1
    found = usage.findings(sec, known_owner=lambda o: o == DEP)
    problems = [(f["owner"], f["pod"], f["problem"]) for f in found]
    assert (None, None, "unknown key(s) extra") in problems
    assert (list(DEP), 0, "sample time 10 is not after 10: times must increase") in problems
    assert (list(DEP), 1, "negative CPU usage -1") in problems
    assert (["apps/v1.Deployment", "shop/nobody"], None,
            "an owner the trace does not record (no object or lifecycle of it)") in problems
    assert len(problems) == 4
    assert usage.fixed(sec, known_owner=lambda o: o == DEP) is None  # both of DEP's pods were bad
    good = section((DEP, 1, [series([1, 2], [0, 5], [7, 7])]))
    assert usage.findings(good, known_owner=lambda o: True) == []
    assert usage.fixed(good) == good


def test_export_window_clips_usage_for_exported_owners_and_the_codec_carries_it() -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": 1}}
    other = {**dep, "metadata": {"name": "other", "namespace": "kube-system"}}
    trace = Trace(events=[new_event(100, [dep, other]), new_event(200, [dep])],
                  extra={"usage": section((DEP, 1, [series([100, 150, 250], [1, 2, 3], [4, 5, 6])]),
                                          (("apps/v1.Deployment", "kube-system/other"), 1, [series([120], [1], [1])]))})
    out = export_window(trace, 140, 240)  # default filters leave kube-system out
    assert out.usage == section((DEP, 1, [series([140, 150], [1, 2], [4, 5])]))
    again = codec.decode(codec.encode(out))
    assert again.usage == out.usage
    assert export_window(Trace(events=trace.events), 0, FAR, NO_FILTERS).usage is None  # none in, none out


def test_usage_interval_config_key_and_flag() -> None:
    assert parse_config({}).usage_interval == 30.0
    config = parse_config({"trackedObjects": {}, "usageInterval": "1m"})
    assert config.usage_interval == 60.0 and config.to_document()["usageInterval"] == "60s"
    assert "usageInterval" not in parse_config({}).to_document()
    for bad in ("0s", "500ms", "soon", True, [1]):
        with pytest.raises(InputError, match="usageInterval must be a duration of at least 1s"):
            parse_config({"usageInterval": bad})


def test_trace_refuses_a_bad_usage_interval_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--usage-interval", "0.5s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "usageInterval must be a duration of at least 1s" in err[-1]


# --- the tracer's store and journal ----------------------------------------------------------


def running_pod(name: str, cpu: str | None = None, mem: str | None = None, ns: str = "shop") -> dict[str, Any]:
    notes = {}
    if cpu:
        notes[USAGE_CPU_ANNOTATION] = cpu
    if mem:
        notes[USAGE_MEMORY_ANNOTATION] = mem
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "annotations": notes},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]},
    }


def test_store_keys_samples_like_lifecycles_and_a_restart_keeps_them(tmp_path: Path) -> None:
    config = parse_config(BARE)
    store = TraceStore(config, clock=lambda: 1000.0)
    journal = journal_mod.Journal(tmp_path / "j", retention=10**9, clock=lambda: 1000.0)
    journal.open(store)
    pod = running_pod("p")
    store.pod_event("ADDED", pod, ts=1000)
    assert store.record_usage([("shop/p", 1000, 100, MI), ("shop/unknown", 1000, 5, 5)]) == 1
    assert store.record_usage([("shop/p", 1000, 999, MI)]) == 0  # not newer: the same scrape
    assert store.record_usage([("shop/p", 1030, 300, 2 * MI)]) == 1
    journal.close()
    h = pod_hash(pod)
    expected = section((("v1.Pod", "shop/p"), h, [series([1000, 1030], [100, 300], [MI, 2 * MI])]))
    assert store.to_trace().usage == expected

    restored = TraceStore(config, clock=lambda: 2000.0)
    again = journal_mod.Journal(tmp_path / "j", retention=10**9, clock=lambda: 2000.0)
    assert again.open(restored) > 0
    again.close()
    assert restored.to_trace().usage == expected
    assert journal_mod.export_journal(tmp_path / "j", 0, FAR, NO_FILTERS).usage == expected
    # retention drops old samples
    restored.trim(1010)
    assert restored.to_trace().usage == section((("v1.Pod", "shop/p"), h, [series([1030], [300], [2 * MI])]))


def test_a_damaged_usage_record_is_refused_by_the_journal_reader() -> None:
    assert record_problem(REC_USAGE, 10, {"s": [["shop/p", "v1.Pod", "shop/p", 1, 10, 1, 1]]}) is None
    assert record_problem(REC_USAGE, 10, {"s": [["shop/p", "v1.Pod", 1, 10, 1, 1]]}) is not None
    assert record_problem(REC_USAGE, 10, {"s": "x"}) is not None


# --- the tracer against the sandbox ---------------------------------------------------------


@pytest.fixture
def metrics_sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(bookmark_interval=0.2, metrics=True).start()
    try:
        yield server
    finally:
        server.stop()


def create_running(kube: Kube, pod: dict[str, Any]) -> None:
    meta = pod["metadata"]
    path = kube.resource("v1", "Pod").path(meta["namespace"])
    kube.request("POST", path, body={k: v for k, v in pod.items() if k != "status"})
    kube.request("PATCH", f"{path}/{meta['name']}/status", body={"status": pod["status"]},
                 content_type="application/merge-patch+json")


def annotate(kube: Kube, ns: str, name: str, notes: dict[str, str]) -> None:
    kube.request("PATCH", kube.resource("v1", "Pod").path(ns, name), body={"metadata": {"annotations": notes}},
                 content_type="application/merge-patch+json")


def start_tracer(sandbox: SandboxServer, tmp_path: Path, interval: float = 1.0) -> Tracer:
    config = parse_config({**BARE, "usageInterval": f"{interval}s"})
    tracer = Tracer(Kube(sandbox.api_client()), TracerOptions(config=config, journal_dir=tmp_path / "j", port=0)).start()
    assert tracer.recorder.wait_synced(10)
    return tracer


def test_trace_samples_pod_metrics_and_export_carries_the_series(metrics_sandbox: SandboxServer, tmp_path: Path) -> None:
    kube = Kube(metrics_sandbox.api_client())
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    create_running(kube, running_pod("web-1", "200m", "64Mi"))
    tracer = start_tracer(metrics_sandbox, tmp_path)
    try:
        wait_for(lambda: tracer.store.usage.samples >= 1, "a first sample", timeout=WAIT)
        annotate(kube, "shop", "web-1", {USAGE_CPU_ANNOTATION: "900m", USAGE_MEMORY_ANNOTATION: "256Mi"})
        wait_for(lambda: 900 in tracer.store.usage.pods["shop/web-1"].cpu, "the new usage", timeout=WAIT)
        status = tracer.status()["usage"]
        line = _status_line(tracer.status())
        metrics_text = tracer.api.prometheus() if tracer.api else ""
        out = tmp_path / "t.sktrace"
        assert main(["export", "--tracer-address", f"http://127.0.0.1:{tracer.address[1]}", "-s", "0", "-t", "now",
                     "--excluded-namespaces", "", "-o", str(out)]) == 0
    finally:
        tracer.close()
    assert status["sampling"] is True and status["pods"] == 1
    assert f"pod usage {status['samples']} samples" in line
    assert "skctl_tracer_usage_sampling 1.0" in metrics_text.splitlines()
    trace = load.decode_any(out.read_bytes())[0]
    sec = trace.usage
    assert sec is not None and sec["interval"] == 1
    (entry,) = sec["owners"]
    assert entry["owner"] == ["v1.Pod", "shop/web-1"]
    assert entry["hash"] in {h for by in trace.pod_lifecycles.values() for h in by}
    (pod,) = entry["pods"]
    assert all(a < b for a, b in zip(pod["t"], pod["t"][1:], strict=False))
    assert pod["cpu"][0] == 200 and pod["mem"][0] == 64 * MI
    assert pod["cpu"][-1] == 900 and pod["mem"][-1] == 256 * MI
    assert set(pod["cpu"]) == {200, 900}


def test_without_the_metrics_api_the_tracer_says_so_once_and_records_none(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube(sandbox.api_client())
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    create_running(kube, running_pod("web-1", "200m", "64Mi"))
    caplog.set_level(logging.WARNING, logger="skctl.tracer.usage")
    tracer = start_tracer(sandbox, tmp_path)
    try:
        wait_for(lambda: tracer.sampler.state == "no metrics API"
                 and tracer.sampler.sample_once() is False and tracer.sampler.sample_once() is False, "three sampling rounds", timeout=WAIT)
        status = tracer.status()["usage"]
        metrics_text = tracer.api.prometheus() if tracer.api else ""
        trace = tracer.store.whole()
    finally:
        tracer.close()
    said = [r for r in caplog.records if "resource metrics API" in r.getMessage()]
    assert len(said) == 1
    assert status["sampling"] is False and status["state"] == "no metrics API" and status["samples"] == 0
    assert "skctl_tracer_usage_sampling 0.0" in metrics_text.splitlines()
    assert trace.usage is None and "usage" not in trace.to_document()


# --- xray --------------------------------------------------------------------------------------


def test_xray_shows_usage_per_owner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    trace = Trace(events=[new_event(100, [dep])],
                  extra={"usage": section((DEP, 1, [series([100, 130, 160], [100, 300, 900], [MI, 3 * MI, 2 * MI]),
                                                    series([100], [200], [MI])]))})
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(trace))
    assert main(["xray", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["usage"]
    assert row == {"owner": list(DEP), "pods": 2, "samples": 4, "cpu_peak_m": 900, "cpu_median_m": 250,
                   "mem_peak_bytes": 3 * MI, "mem_median_bytes": MI + MI // 2}
    assert main(["xray", str(path)]) == 0
    text = capsys.readouterr().out
    assert "shop/web" in text and "900m" in text and "3Mi" in text


# --- the driver ------------------------------------------------------------------------------


def dep_trace(with_usage: bool) -> Trace:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "shop"}, "data": {}}
    extra = {"usage": section((DEP, 1, [series([1000, 1030], [100, 700], [64 * MI, 128 * MI])]))} if with_usage else {}
    return Trace(events=[new_event(1000, [dep]), new_event(1600, [cm])],
                 index={"apps/v1.Deployment": {"shop/web": 1}}, extra=extra)


def play_pod(kube: Kube, driver: Driver, check: Callable[[Kube, Driver], None]) -> None:
    """Create the pod the Deployment's controller would (the sandbox has none), Running."""
    ns = "virtual-shop"
    dep = kube.get("apps/v1", "Deployment", "web", ns) or {}
    template = dep["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-1", "namespace": ns, "labels": template["metadata"]["labels"],
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                             "uid": dep["metadata"]["uid"], "controller": True}]},
           "spec": template["spec"],
           "status": {"phase": "Running"}}
    create_running(kube, pod)
    check(kube, driver)


def drive(kube: Kube, trace: Trace, check: Callable[[Kube, Driver], None],
          clock: Callable[[], float] = time.monotonic) -> Driver:
    driver: Driver

    def on_step(record: StepRecord) -> None:
        if record.applied and not driver.stopped:
            play_pod(kube, driver, check)
            driver.stop("test done")

    driver = Driver(kube, trace, DriveOptions(name="use", speed=20), on_step=on_step, clock=clock)
    assert driver.run().stopped_by == "test done"
    return driver


def pod_notes(kube: Kube) -> dict[str, str]:
    pod = kube.get("v1", "Pod", "web-1", "virtual-shop") or {}
    return (pod.get("metadata") or {}).get("annotations") or {}


def test_driver_sets_the_recorded_usage_on_the_pod_as_trace_time_advances(sandbox: SandboxServer) -> None:
    kube = Kube(sandbox.api_client())
    seen: list[dict[str, str]] = []
    now = [0.0]  # the driver's clock, moved by the test: trace time = 1000 + now x 20

    def check(kube: Kube, driver: Driver) -> None:
        seen.append(wait_for(lambda: (lambda n: n if n.get(USAGE_CPU_ANNOTATION) else None)(
            pod_notes(kube)), "the first usage", timeout=WAIT))
        now[0] = 1.4  # trace time 1028: still the first sample
        assert driver.usage is not None and driver.usage.update_all() == 0
        now[0] = 1.5  # trace time 1030: the second sample
        seen.append(wait_for(lambda: (
            lambda n: n if n.get(USAGE_CPU_ANNOTATION) == "700m" else None)(pod_notes(kube)), "the later usage", timeout=WAIT))

    driver = drive(kube, dep_trace(True), check, clock=lambda: now[0])
    assert seen[0][USAGE_CPU_ANNOTATION] == "100m" and seen[0][USAGE_MEMORY_ANNOTATION] == "64Mi"
    assert seen[1][USAGE_MEMORY_ANNOTATION] == "128Mi"
    assert driver.usage is not None and driver.usage.patches == 2  # once per change, not per tick


def test_a_trace_without_usage_replays_as_before(sandbox: SandboxServer) -> None:
    kube = Kube(sandbox.api_client())
    seen: list[dict[str, str]] = []

    def check(kube: Kube, driver: Driver) -> None:
        seen.append(wait_for(lambda: (
            lambda n: n if POD_SEQUENCE_ANNOTATION in n else None)(pod_notes(kube)), "the pod numbered", timeout=WAIT))

    driver = drive(kube, dep_trace(False), check)
    assert driver.usage is None and driver.pods.usage is None
    assert not {USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION} & set(seen[0])


def test_trace_time_scales_with_the_speed_and_stops_while_paused() -> None:
    now = [100.0]
    driver = Driver(None, dep_trace(True), DriveOptions(name="use", speed=20), clock=lambda: now[0])  # type: ignore[arg-type]
    assert driver.trace_time() is None  # not started
    driver._started = 100.0
    now[0] = 103.0
    assert driver.trace_time() == 1000 + 3 * 20
    driver._shift = 1.0  # one second paused: the series waited with the replay
    assert driver.trace_time() == 1000 + 2 * 20


def test_validate_checks_the_usage_section_and_fix_drops_the_bad_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    good = series([100, 130], [1, 2], [3, 4])
    trace = Trace(events=[new_event(100, [dep])],
                  extra={"usage": section((DEP, 1, [good, series([100, 90], [1, 1], [1, 1])]),
                                          (("apps/v1.Deployment", "shop/ghost"), 1, [series([100], [1], [1])]))})
    path, fixed = tmp_path / "t.sktrace", tmp_path / "fixed.sktrace"
    path.write_bytes(codec.encode(trace))
    assert main(["validate", "check", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"E0100": 2}
    assert {(f["name"], f["obj"], f["detail"]) for f in doc["findings"]} == {
        ("shop/web", 1, "sample time 90 is not after 100: times must increase"),
        ("shop/ghost", -1, "an owner the trace does not record (no object or lifecycle of it)")}
    assert main(["validate", "check", str(path)]) == 0
    text = capsys.readouterr().out
    assert "usage pod 1: apps/v1.Deployment shop/web: E0100 usage_series_invalid (sample time 90" in text
    assert main(["validate", "check", str(path), "--fix", str(fixed)]) == 0
    assert load.decode_any(fixed.read_bytes())[0].usage == section((DEP, 1, [good]))
    assert main(["validate", "explain", "E0100"]) == 0
    assert "usage_series_invalid" in capsys.readouterr().out


def test_an_hpa_is_replayed_beside_its_target_which_keeps_the_simulation_s_replicas(sandbox: SandboxServer) -> None:
    kube = Kube(sandbox.api_client())

    def dep(name: str) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
                "spec": {"replicas": 5, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}

    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 50}}}]}}
    trace = Trace(events=[new_event(1000, [dep("web"), dep("batch"), hpa]), new_event(1600, [])])
    got: dict[str, Any] = {}

    def on_step(record: StepRecord) -> None:
        if record.applied and not driver.stopped:
            got["hpa"] = kube.get("autoscaling/v2", "HorizontalPodAutoscaler", "web", "virtual-shop")
            got["web"] = kube.get("apps/v1", "Deployment", "web", "virtual-shop")
            got["batch"] = kube.get("apps/v1", "Deployment", "batch", "virtual-shop")
            driver.stop("test done")

    driver = Driver(kube, trace, DriveOptions(name="hpa", speed=20, watch_pods=False), on_step=on_step)
    assert driver.run().stopped_by == "test done"
    assert got["hpa"]["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert got["hpa"]["metadata"]["namespace"] == "virtual-shop"  # beside its target's twin
    assert got["web"]["spec"].get("replicas") != 5  # the simulation's HPA decides
    assert got["batch"]["spec"]["replicas"] == 5  # no HPA: the recorded count


def test_the_default_config_tracks_hpas() -> None:
    import yaml

    from skctl.tracer import DEFAULT_CONFIG_YAML

    assert "autoscaling/v2.HorizontalPodAutoscaler" in parse_config(yaml.safe_load(DEFAULT_CONFIG_YAML)).tracked_objects


def test_convert_keeps_the_section_both_ways(tmp_path: Path) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    sec = section((DEP, 2**63 + 5, [series([100, 130], [100, 300], [MI, 3 * MI])]))
    src, mp, back = tmp_path / "a.sktrace", tmp_path / "b.msgpack", tmp_path / "c.sktrace"
    src.write_bytes(codec.encode(Trace(events=[new_event(100, [dep])], extra={"usage": sec})))
    assert main(["convert", str(src), str(mp), "--to", "msgpack"]) == 0
    assert main(["convert", str(mp), str(back), "--to", "cbor"]) == 0
    assert load.decode_any(back.read_bytes())[0].usage == sec
