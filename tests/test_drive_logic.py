"""Drive logic without a cluster: scheduling, virtual-object mutation, lifecycle annotations."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from skctl.base import timeparse
from skctl.base.errors import InputError
from skctl.sim import mutate
from skctl.sim.driver import schedule
from skctl.trace.load import read_trace
from skctl.trace.model import Trace, new_event
from skctl.trace.tracked import TracerConfig, config_of_trace, parse_config

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "prod",
        "uid": "1234",
        "resourceVersion": "99",
        "generation": 3,
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "ownerReferences": [{"apiVersion": "x/v1", "kind": "Owner", "name": "o", "uid": "u"}],
        "labels": {"app": "web"},
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {
                "nodeSelector": {"zone": "a"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
                "containers": [
                    {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": 80}]},
                    {"name": "side", "image": "envoy"},
                ],
                "initContainers": [{"name": "init", "image": "busybox", "ports": [{"containerPort": 9}]}],
            },
        },
    },
    "status": {"replicas": 3},
}


def vobj(obj: dict, **kw) -> dict:
    args = {"sim_name": "sim1", "ns_prefix": "virtual", "template_paths": ("/spec/template",)}
    args.update(kw)
    return mutate.virtual_object(obj, **args)


def test_virtual_deployment() -> None:
    original = copy.deepcopy(DEPLOYMENT)
    v = vobj(DEPLOYMENT)
    assert DEPLOYMENT == original  # the trace's object is untouched
    assert "status" not in v
    meta = v["metadata"]
    assert meta["namespace"] == "virtual-prod"
    for key in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "ownerReferences"):
        assert key not in meta
    assert meta["labels"] == {
        "app": "web",
        "simkube.io/simulation": "sim1",
        "simkube.io/virtual": "true",
        "app.kubernetes.io/name": "web",  # as SimKube's driver labels every virtual object
    }
    template = v["spec"]["template"]
    assert template["metadata"]["labels"]["simkube.io/simulation"] == "sim1"
    annotations = template["metadata"]["annotations"]
    assert annotations["static.simkube.io/original-namespace"] == "prod"
    # the delays SimKube's pod-create and pod-ready stages read, 0ms as SimKube's default
    for key in ("create-delay", "create-delay-jitter", "ready-delay", "ready-delay-jitter"):
        assert annotations[f"simkube.io/kwok-stage-{key}"] == "0ms"
    assert "creationTimestamp" not in template["metadata"]
    spec = template["spec"]
    # merged into the recorded selector, not replaced (SimKube's test_build_virtual_object_multiple_pod_specs)
    assert spec["nodeSelector"] == {"zone": "a", "type": "virtual"}
    assert {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["tolerations"][0]["key"] == "dedicated"  # existing tolerations kept
    assert all("ports" not in c for c in spec["containers"] + spec["initContainers"])
    assert v["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    # idempotent: mutating twice gives the same object (one kwok toleration)
    again = vobj(v | {"metadata": v["metadata"] | {"namespace": "prod"}})
    assert again["spec"]["template"]["spec"]["tolerations"] == spec["tolerations"]


def test_virtual_bare_pod_from_reference(reference_dir: Path) -> None:
    trace = read_trace(str(reference_dir / "bare-pods.sktrace"))
    pod = trace.events[0]["applied_objs"][0]
    v = mutate.virtual_object(
        dict(pod, spec=dict(pod["spec"], nodeName="node-7")),
        sim_name="s",
        ns_prefix="virtual",
        template_paths=config_of_trace(trace).template_paths("v1.Pod"),
    )
    assert v["metadata"]["namespace"] == "virtual-testing"
    assert v["spec"]["nodeSelector"] == {"type": "virtual"}
    assert "nodeName" not in v["spec"]
    # the recorded service-account token volume belongs to the traced cluster
    assert "volumes" not in v["spec"]
    assert "volumeMounts" not in v["spec"]["containers"][0]
    assert v["metadata"]["annotations"]["static.simkube.io/original-namespace"] == "testing"


def test_cronjob_template_and_wildcards() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "x", "ports": [{"containerPort": 1}]}]}}}}},
    }
    v = vobj(cron, template_paths=("/spec/jobTemplate/spec/template",))
    spec = v["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"type": "virtual"} and "ports" not in spec["containers"][0]
    vj = {
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "v"},
        "spec": {"tasks": [{"template": {"spec": {"containers": [{"name": n}]}}} for n in "ab"]},
    }
    conf = parse_config({"trackedObjects": {"batch.volcano.sh/v1alpha1.Job": {"podSpecTemplatePaths": ["/spec/tasks/*/template"]}}})
    v = vobj(vj, template_paths=conf.template_paths("batch.volcano.sh/v1alpha1.Job"))
    assert v["metadata"]["namespace"] == "virtual-default"
    for task in v["spec"]["tasks"]:
        assert task["template"]["spec"]["nodeSelector"] == {"type": "virtual"}
        assert task["template"]["metadata"]["labels"]["simkube.io/virtual"] == "true"


def test_cluster_scoped_objects_keep_no_namespace() -> None:
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "hi", "namespace": "x"}, "value": 1}
    v = vobj(pc, template_paths=(), namespaced=False)
    assert "namespace" not in v["metadata"]
    assert v["metadata"]["labels"]["simkube.io/simulation"] == "sim1"


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("45", 45), ("250ms", 0.25), ("2d", 172800),
                                           ("1w", 604800), ("1H", 3600), ("1m30s", 90), ("1500us", 0.0015)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert timeparse.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5m", "10 m", "m", "0", "1x", "inf", "nan", "1h 30m", "1h-30m", "1y", "1mm"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InputError):
        timeparse.parse_duration(text)


@pytest.mark.parametrize("text", ["1e300", "36501d", "5300w", "1e-10", "1e-320", "1e-7"])
def test_parse_duration_rejects_what_no_wait_can_hold(text: str) -> None:
    with pytest.raises(InputError, match=f"duration '{text}' is out of range: use 1us to 36500d"):
        timeparse.parse_duration(text)


@pytest.mark.parametrize("text, seconds", [("36500d", 36500 * 86400), ("1us", 1e-6), ("3153600000", 3153600000)])
def test_parse_duration_takes_the_ends_of_the_range(text: str, seconds: float) -> None:
    assert timeparse.parse_duration(text) == pytest.approx(seconds)


def _trace(*ts: int) -> Trace:
    return Trace(events=[new_event(t, [{"i": i}]) for i, t in enumerate(ts)])


def test_schedule_scales_and_spreads() -> None:
    steps = schedule(_trace(100, 100, 100, 101, 110), speed=2)
    assert [s.index for s in steps] == [0, 1, 2, 3, 4]
    offsets = [round(s.offset, 6) for s in steps]
    # three events in second 100 are spread over it: 0, 1/3, 2/3 trace seconds
    assert offsets == [0.0, round(1 / 6, 6), round(2 / 6, 6), 0.5, 5.0]
    assert offsets == sorted(offsets)
    flat = schedule(_trace(100, 100, 101), speed=1, spread=False)
    assert [s.offset for s in flat] == [0, 0, 1]


def test_schedule_duration_cuts_trace_time() -> None:
    steps = schedule(_trace(100, 150, 159, 160, 500), speed=10, duration=60)
    assert [s.ts for s in steps] == [100, 150, 159]
    assert schedule(Trace(), speed=1) == []


def test_reference_schedules(reference_dir: Path) -> None:
    trace = read_trace(str(reference_dir / "dsb-scaling.sktrace"))
    steps = schedule(trace, speed=1000)
    assert len(steps) == len(trace.events)
    assert steps[-1].offset == pytest.approx((trace.events[-1]["ts"] - trace.events[0]["ts"]) / 1000, abs=0.001)
    assert isinstance(config_of_trace(trace), TracerConfig)


ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_copies_what_pip_needs() -> None:
    text = (ROOT / "images" / "Dockerfile").read_text()
    assert "pip install" in text and 'ENTRYPOINT ["skctl"]' in text
    for path in ("pyproject.toml", "README.md", "skctl"):
        assert (ROOT / path).exists() and path in text


def test_app_name_label_fits_a_label_value() -> None:
    """SimKube labels each virtual object app.kubernetes.io/name=<name>, cut to a valid label value."""
    from skctl.kube.names import label_value_error

    long_name = "a" * 62 + "-" + "b" * 20
    v = vobj(dict(DEPLOYMENT, metadata=dict(DEPLOYMENT["metadata"], name=long_name)))
    value = v["metadata"]["labels"]["app.kubernetes.io/name"]
    assert value == "a" * 62 and label_value_error(value) is None
