"""The driver's pod watcher against the sandbox: SimKube's per-pod contract without a webhook.

The sandbox has no controllers, scheduler or KWOK, so each test plays them: it creates
the Job and pods a CronJob controller would create in the virtual namespace, moves pods
to Running as KWOK's pod-ready stage would, and reads back what the driver patched.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from skctl.kube.api import Kube
from skctl.sim.driver import DriveOptions, Driver, StepRecord
from skctl.sim.pods import PodContext, PodHandler
from skctl.trace.load import read_trace
from skctl.trace.model import Trace, new_event
from tests.helpers import wait_for

CRON_OWNER = ("batch/v1.CronJob", "default/hello-simkube")
WAIT = 20.0


@pytest.fixture
def kube(sandbox) -> Kube:
    k = Kube(sandbox.api_client())
    yield k
    k.close()


def create(kube: Kube, obj: dict) -> dict:
    res = kube.resource(obj["apiVersion"], obj["kind"])
    return kube.request("POST", res.path(obj["metadata"].get("namespace")), body=obj)


def set_running(kube: Kube, pod: dict) -> None:
    meta = pod["metadata"]
    path = kube.resource("v1", "Pod").path(meta["namespace"], meta["name"]) + "/status"
    kube.request("PATCH", path, body={"status": {"phase": "Running"}}, content_type="application/merge-patch+json")


def get_pod(kube: Kube, ns: str, name: str) -> dict:
    return kube.get("v1", "Pod", name, ns) or {}


def annotations(pod: dict) -> dict:
    return pod.get("metadata", {}).get("annotations") or {}


def labels(pod: dict) -> dict:
    return pod.get("metadata", {}).get("labels") or {}


def job_pods(kube: Kube, cron: dict, count: int) -> list[dict]:
    """What the CronJob and Job controllers would create: a Job owned by the CronJob, pods owned by the Job."""
    ns = cron["metadata"]["namespace"]
    template = copy.deepcopy(cron["spec"]["jobTemplate"]["spec"]["template"])
    job = create(kube, {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "hello-simkube-29000000", "namespace": ns, "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "CronJob", "name": cron["metadata"]["name"], "uid": cron["metadata"]["uid"], "controller": True}
        ]},
        "spec": {"template": template},
    })
    pods = []
    for i in range(count):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"hello-simkube-29000000-{i}",
                "namespace": ns,
                "labels": dict(template["metadata"].get("labels") or {}),
                "annotations": dict(template["metadata"].get("annotations") or {}),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                     "uid": job["metadata"]["uid"], "controller": True}],
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        pods.append(create(kube, pod))
        # the n-th pod is the n-th the driver sees: wait for its number before making the next
        wait_for(lambda p=pod: "static.simkube.io/pod-sequence-number" in annotations(
            get_pod(kube, ns, p["metadata"]["name"])), f"pod {i} numbered", timeout=WAIT)
    return pods


def drive_with(kube: Kube, trace: Trace, speed: float, play: Callable[[Driver, StepRecord], None]) -> None:
    """Replay `trace`; on the first step that applied something, run `play` (as the cluster's
    controllers), then stop the replay so it need not last the trace's real length."""
    driver: Driver

    def on_step(record: StepRecord) -> None:
        if record.applied and not driver.stopped:
            play(driver, record)
            driver.stop("test done")

    driver = Driver(kube, trace, DriveOptions(name="pods", speed=speed), on_step=on_step)
    result = driver.run()
    assert result.stopped_by == "test done"


def lifetimes_of(trace: Trace) -> list[int | None]:
    (by_hash,) = trace.pod_lifecycles[CRON_OWNER].values()
    return [None if lc["end_ts"] is None else lc["end_ts"] - lc["start_ts"] for lc in by_hash]


def run_cronjob(kube: Kube, trace: Trace, speed: float, count: int) -> list[tuple[dict, int, int]]:
    """Drive the CronJob trace, make `count` job pods Running one by one; return each
    patched pod with the whole seconds (UTC) just before it ran and just after it was timed."""
    seen: list[tuple[dict, int, int]] = []

    def play(driver: Driver, record: StepRecord) -> None:
        (gvk, ns, name), = record.applied
        cron = kube.get("batch/v1", "CronJob", name, ns)
        for pod in job_pods(kube, cron, count):
            meta = pod["metadata"]
            before = int(datetime.now(timezone.utc).timestamp())
            set_running(kube, pod)
            lifetimes = lifetimes_of(trace)
            n = len(seen)
            if lifetimes[n % len(lifetimes)] is None:
                # recorded as still running: the driver must leave it without a completion time
                # (read again below, once the driver has handled the pods made after it)
                got = pod
            else:
                got = wait_for(lambda m=meta: (
                    lambda p: p if "simkube.io/kwok-stage-complete" in labels(p) else None
                )(get_pod(kube, m["namespace"], m["name"])), f"completion label on {meta['name']}", timeout=WAIT)
            after = int(datetime.now(timezone.utc).timestamp()) + 1
            seen.append((got, before, after))
        # the watch delivers events in order: the later pods' patches mean the earlier ones were handled
        for i, (got, before, after) in enumerate(seen):
            seen[i] = (get_pod(kube, got["metadata"]["namespace"], got["metadata"]["name"]), before, after)

    drive_with(kube, trace, speed, play)
    return seen


def check_completion(seen: list[tuple[dict, int, int]], lifetimes: list[int | None], speed: float) -> None:
    for n, (pod, before, after) in enumerate(seen):
        recorded = lifetimes[n % len(lifetimes)]  # the n-th pod gets the n-th lifecycle, wrapping round
        ann = annotations(pod)
        assert ann["static.simkube.io/pod-sequence-number"] == str(n)
        assert ann["static.simkube.io/original-namespace"] == "default"
        assert pod["spec"]["nodeSelector"]["type"] == "virtual"
        if recorded is None:
            assert "simkube.io/kwok-stage-complete" not in labels(pod)
            assert "simkube.io/kwok-stage-complete-time" not in ann
            continue
        assert labels(pod)["simkube.io/kwok-stage-complete"] == "true"
        when = datetime.strptime(ann["simkube.io/kwok-stage-complete-time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        offset = int(recorded / speed)  # SimKube: whole seconds of (end - start) / speed after the pod runs
        assert before + offset <= when.timestamp() <= after + offset


def test_reference_cronjob_pods_get_simkube_completion(reference_dir: Path, kube: Kube) -> None:
    trace = read_trace(str(reference_dir / "cronjob.sktrace"))
    lifetimes = lifetimes_of(trace)
    assert lifetimes == [30, 30, 30]
    seen = run_cronjob(kube, trace, speed=1, count=4)
    check_completion(seen, lifetimes, speed=1)


def test_nth_pod_gets_nth_lifecycle_and_running_ones_never_complete(reference_dir: Path, kube: Kube) -> None:
    trace = read_trace(str(reference_dir / "cronjob.sktrace"))
    (pod_hash,) = trace.pod_lifecycles[CRON_OWNER]
    t0 = 1743286861
    trace.pod_lifecycles[CRON_OWNER] = {pod_hash: [
        {"start_ts": t0, "end_ts": t0 + 20},
        {"start_ts": t0 + 60, "end_ts": t0 + 100},
        {"start_ts": t0 + 120, "end_ts": None},  # still running when the trace was cut
        {"start_ts": t0 + 180, "end_ts": t0 + 186},
    ]}
    seen = run_cronjob(kube, trace, speed=2, count=5)
    check_completion(seen, [20, 40, None, 6], speed=2)
    assert [annotations(p)["static.simkube.io/pod-sequence-number"] for p, _, _ in seen] == ["0", "1", "2", "3", "4"]


def _bare_trace() -> Trace:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "nginx"}]}},
        },
    }
    return Trace(events=[new_event(100, [deployment]), new_event(200, [], [deployment])])


def test_pods_outside_templates_are_moved_or_refused(kube: Kube) -> None:
    """A pod no patched template made (a custom controller's) never lands on a real node."""
    outcome: dict[str, Any] = {}

    def play(driver: Driver, record: StepRecord) -> None:
        ns = "virtual-shop"
        spec = {"containers": [{"name": "c", "image": "busybox"}]}
        create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "namespace": ns}, "spec": spec})
        gated = dict(spec, schedulingGates=[{"name": "example.com/wait"}], nodeSelector={"zone": "a"})
        create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gated", "namespace": ns}, "spec": gated})
        # a pod in a namespace that is not the simulation's is none of the driver's business
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
        create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "namespace": "elsewhere"}, "spec": spec})
        outcome["stray"] = wait_for(lambda: get_pod(kube, ns, "stray") == {} or None, "stray refused", timeout=WAIT)
        outcome["gated"] = wait_for(lambda: (
            lambda p: p if (p.get("spec", {}).get("nodeSelector") or {}).get("type") == "virtual" else None
        )(get_pod(kube, ns, "gated")), "gated moved", timeout=WAIT)
        outcome["refused"] = list(driver.pods.refused)

    drive_with(kube, _bare_trace(), speed=1, play=play)
    assert outcome["refused"] == ["virtual-shop/stray"]
    gated = outcome["gated"]["spec"]
    assert gated["nodeSelector"] == {"zone": "a", "type": "virtual"}  # added to, not replaced
    assert {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"} in gated["tolerations"]
    other = get_pod(kube, "elsewhere", "other")
    assert other and "simkube.io/simulation" not in labels(other) and "nodeSelector" not in other["spec"]


def test_pod_watch_survives_dropped_watches_and_410(sandbox, kube: Kube) -> None:
    """After the watch drops and its resourceVersion is compacted away (410), the driver re-lists
    and still places pods created afterwards: a stale watch would leave them on real nodes."""
    outcome: dict[str, Any] = {}

    def play(driver: Driver, record: StepRecord) -> None:
        ns = "virtual-shop"
        spec = {"containers": [{"name": "c", "image": "busybox"}]}
        create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "before", "namespace": ns}, "spec": spec})
        wait_for(lambda: get_pod(kube, ns, "before") == {} or None, "the first stray refused", timeout=WAIT)
        # the watch drops and cannot come back at once (503s), the cluster moves on meanwhile,
        # and the history it would resume from is compacted: resuming answers 410
        sandbox.faults.fail_next(count=3, status=503, path_contains="/pods", method="GET")
        sandbox.drop_watches()
        create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after", "namespace": ns}, "spec": spec})
        sandbox.faults.compact()
        outcome["after"] = wait_for(lambda: get_pod(kube, ns, "after") == {} or None,
                                    "the stray made after the 410 refused", timeout=WAIT)
        outcome["refused"] = list(driver.pods.refused)

    drive_with(kube, _bare_trace(), speed=1, play=play)
    assert outcome["refused"] == ["virtual-shop/before", "virtual-shop/after"]


# --- the decisions, without a server ------------------------------------------------------

def test_simulated_pod_hashes_like_the_recorded_one(reference_dir: Path) -> None:
    """The driver's hash of a simulated pod is the key SimKube's tracer recorded the original
    pod's lifecycle under: the driver's own changes (virtual nodeSelector, kwok toleration,
    no ports, no token volume) must not alter it, and the hash is SimKube's, not another."""
    from skctl.sim.mutate import mutate_template
    from skctl.sim.pods import simulated_spec_hash
    from skctl.trace.pods import pod_spec_hash

    trace = read_trace(str(reference_dir / "bare-pods.sktrace"))
    recorded = trace.events[0]["applied_objs"][0]
    meta = recorded["metadata"]
    (recorded_hash,) = trace.pod_lifecycles[("v1.Pod", f"{meta['namespace']}/{meta['name']}")]
    simulated = copy.deepcopy(recorded)
    mutate_template(simulated, "s", "testing")
    assert simulated["spec"] != recorded["spec"]
    assert simulated_spec_hash(simulated["spec"]) == recorded_hash
    with_selector = dict(recorded["spec"], nodeSelector={"disk": "ssd"})
    assert pod_spec_hash(with_selector) != recorded_hash


@pytest.mark.parametrize("recorded_extra", [
    {},
    {"nodeSelector": {"type": "virtual"}},
    {"tolerations": [{"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}]},
    {"nodeSelector": {"type": "virtual", "disk": "ssd"},
     "tolerations": [{"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}]},
])
def test_simulated_pod_hash_leaves_out_only_what_the_driver_added(recorded_extra: dict) -> None:
    """A recorded spec that already had the virtual selector or the kwok toleration (recorded
    on a KWOK cluster) keeps them in its hash; the driver removes only its own additions."""
    from skctl.sim import PLACEMENT_ADDED_ANNOTATION
    from skctl.sim.mutate import mutate_template
    from skctl.sim.pods import simulated_spec_hash
    from skctl.trace.pods import pod_spec_hash

    recorded = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}], **copy.deepcopy(recorded_extra)}}
    template = copy.deepcopy(recorded)
    mutate_template(template, "s", "ns")
    added = template["metadata"]["annotations"][PLACEMENT_ADDED_ANNOTATION]
    assert simulated_spec_hash(template["spec"], added) == pod_spec_hash(recorded["spec"])
    if recorded_extra:  # the old rule (remove both whatever the recording had) would miss it
        assert simulated_spec_hash(template["spec"]) != pod_spec_hash(recorded["spec"])


@pytest.mark.parametrize("spec, expected", [
    ({"schedulingGates": [{"name": "g"}]}, [{"op": "add", "path": "/spec/nodeSelector", "value": {"type": "virtual"}}]),
    ({"schedulingGates": [{"name": "g"}], "nodeSelector": {"a": "b"}},
     [{"op": "add", "path": "/spec/nodeSelector/type", "value": "virtual"}]),
    ({"schedulingGates": [{"name": "g"}], "nodeSelector": {"type": "gpu"}}, None),  # only additions are allowed
    ({"nodeSelector": {"a": "b"}}, None),  # not gated: too late to change
    ({"schedulingGates": [{"name": "g"}], "nodeName": "n1"}, None),  # already bound
])
def test_placement_patch(spec: dict, expected: list | None) -> None:
    from skctl.sim.pods import placement_patch

    assert placement_patch({"spec": spec}) == expected


def test_set_keys_escapes_and_creates_maps() -> None:
    from skctl.sim.pods import set_keys

    assert set_keys({}, "labels", {"simkube.io/x": "1"}) == [{"op": "add", "path": "/metadata/labels", "value": {"simkube.io/x": "1"}}]
    assert set_keys({"labels": {"a": "b"}}, "labels", {"simkube.io/x": "1"}) == [
        {"op": "add", "path": "/metadata/labels/simkube.io~1x", "value": "1"}
    ]


def test_a_pod_gone_before_its_patch_is_no_warning(sandbox, kube: Kube, caplog: pytest.LogCaptureFixture) -> None:
    """A pod deleted between its watch event and the driver's patch (a scale-down, a namespace
    being deleted) needs nothing: its 404 is quiet. Any other refusal is still a warning."""
    handler = PodHandler(kube, PodContext("sim", "virtual", 1.0, {}, {}), owns_namespace=lambda ns: True)
    spec = {"nodeSelector": {"type": "virtual"}, "containers": [{"name": "c", "image": "busybox"}]}

    def pod(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "virtual-shop",
                                                                "uid": f"uid-{name}"}, "spec": spec}

    with caplog.at_level(logging.WARNING, logger="skctl.sim.pods"):
        handler.handle("ADDED", pod("gone"))  # never created: the PATCH answers 404
        assert [r.getMessage() for r in caplog.records] == []
        sandbox.faults.fail_next(count=50, status=500, retry_after=0, path_contains="/pods/broken", method="PATCH")
        handler.handle("ADDED", pod("broken"))
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith("could not patch pod virtual-shop/broken:")


def test_pods_of_an_hpa_target_are_not_ended_at_their_recorded_times() -> None:
    """A Deployment pod recorded as ended was removed by production's HPA scaling down: in the
    simulation the simulated HPA decides, so the pod gets no completion time (a pod ended at
    the recorded time would be replaced by its ReplicaSet); without an HPA it still does."""
    from skctl.sim.pods import completion_patch

    web, batch = ("apps/v1.Deployment", "shop/web"), ("apps/v1.Deployment", "shop/batch")
    ended = [{"start_ts": 1000, "end_ts": 1090}]
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 5}}
    trace = Trace(events=[new_event(1000, [hpa])], pod_lifecycles={web: {7: ended}, batch: {7: ended}})
    driver = Driver(None, trace, DriveOptions(name="hpa", speed=1))  # type: ignore[arg-type]
    ctx = driver.pods.ctx
    assert ctx.autoscaled == {web}
    pod = {"metadata": {"name": "p", "namespace": "virtual-shop", "labels": {}, "annotations": {}}}
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    assert completion_patch(pod, ctx, web, 7, 0, now) is None
    done = completion_patch(pod, ctx, batch, 7, 0, now)
    assert done is not None and {"op": "add", "path": "/metadata/annotations/simkube.io~1kwok-stage-complete-time",
                                 "value": "2026-12-07T00:01:30Z"} in done


def test_an_hpa_target_is_applied_without_its_recorded_replicas(kube: Kube) -> None:
    """The Deployment an HPA scales is applied without spec.replicas (the simulated HPA owns
    the count); another Deployment of the same namespace keeps its recorded replicas."""
    def deployment(name: str) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}

    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web-hpa", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 5}}
    trace = Trace(events=[new_event(1000, [hpa, deployment("web"), deployment("db")]), new_event(1100, [])])
    seen: dict[str, Any] = {}

    def play(driver: Driver, record: StepRecord) -> None:
        for name in ("web", "db"):
            seen[name] = (kube.get("apps/v1", "Deployment", name, "virtual-shop") or {}).get("spec", {})

    drive_with(kube, trace, 1.0, play)
    assert seen["db"]["replicas"] == 3
    assert seen["web"]["selector"] == {"matchLabels": {"app": "web"}} and "replicas" not in seen["web"]


def test_a_running_pod_seen_first_gets_its_numbers_and_completion_in_one_patch(sandbox, kube: Kube) -> None:
    """A pod first seen already Running, with no labels or annotations yet: the first-sight
    operations create both maps, and the completion operations, planned against the pod as
    those leave it, add their keys to them instead of replacing them (the simulation label,
    hash and sequence survive beside the completion label and time)."""
    from skctl.sim.pods import simulated_spec_hash

    spec = {"nodeSelector": {"type": "virtual"}, "containers": [{"name": "c", "image": "busybox"}]}
    create(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "virtual-shop"}})
    created = create(kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "virtual-shop"},
                            "spec": spec})
    pod_hash = simulated_spec_hash(created["spec"])  # the recorded pod's hash, of the spec as the server defaulted it
    lifecycles = {("v1.Pod", "shop/p"): {pod_hash: [{"start_ts": 1000, "end_ts": 1090}]}}
    handler = PodHandler(kube, PodContext("sim", "virtual", 1.0, lifecycles, {}), owns_namespace=lambda ns: True,
                         now=lambda: datetime(2026, 12, 7, tzinfo=timezone.utc))
    handler.handle("MODIFIED", {**created, "status": {"phase": "Running"}})
    meta = kube.get("v1", "Pod", "p", "virtual-shop")["metadata"]
    assert meta["labels"] == {"simkube.io/simulation": "sim", "simkube.io/virtual": "true",
                              "simkube.io/kwok-stage-complete": "true"}
    assert meta["annotations"]["simkube.io/kwok-stage-complete-time"] == "2026-12-07T00:01:30Z"
    assert meta["annotations"]["static.simkube.io/pod-spec-stable-hash"] == str(pod_hash)
    assert meta["annotations"]["static.simkube.io/pod-sequence-number"] == "0"
