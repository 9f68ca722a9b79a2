"""A simulation never touches what is not its own: the real cluster's objects and other simulations."""

from __future__ import annotations

import pytest

from skctl.base.errors import InputError
from skctl.kube.api import Kube
from skctl.sim.driver import DriveOptions, Driver, StepRecord
from skctl.trace.model import Trace, new_event
from tests.helpers import deployment

SPEED = 1000.0


@pytest.fixture
def kube(sandbox) -> Kube:  # noqa: ANN001
    k = Kube(sandbox.api_client())
    yield k
    k.close()


def priority_class(name: str, value: int) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value}


def trace_of(*events: dict) -> Trace:
    return Trace(config={"trackedObjects": {"apps/v1.Deployment": {}}}, events=list(events))


def test_recorded_namespaces_and_existing_cluster_objects_are_left_alone(kube: Kube, sandbox) -> None:  # noqa: ANN001
    kube.apply({**priority_class("important", 5), "metadata": {"name": "important", "labels": {"owner": "platform"}}})
    trace = trace_of(
        new_event(100, applied=[
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
            priority_class("important", 1000),
            priority_class("sim-only", 7),
            deployment("web", "shop"),
        ]),
        new_event(101, deleted=[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}]),
        new_event(102),
    )
    seen: list[StepRecord] = []
    during: list[dict | None] = []

    def on_step(record: StepRecord) -> None:
        seen.append(record)
        during.append(kube.get("scheduling.k8s.io/v1", "PriorityClass", "sim-only"))

    result = Driver(kube, trace, DriveOptions(name="own", speed=SPEED), on_step=on_step).run()
    assert result.failures == []
    assert during[0] is not None and during[0]["metadata"]["labels"]["simkube.io/simulation"] == "own"
    assert kube.get("scheduling.k8s.io/v1", "PriorityClass", "sim-only") is None, "its own object is cleaned up"
    real = kube.get("scheduling.k8s.io/v1", "PriorityClass", "important")
    assert real is not None and real["value"] == 5 and real["metadata"]["labels"] == {"owner": "platform"}
    assert kube.get("v1", "Namespace", "kube-system") is not None
    applied = {ref[2] for ref in seen[0].applied}
    assert applied == {"sim-only", "web"}


def test_a_namespace_of_another_simulation_is_refused(kube: Kube) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "virtual-shop", "labels": {"simkube.io/simulation": "first", "simkube.io/virtual": "true"}}})
    kube.apply({**deployment("theirs", "virtual-shop")})
    trace = trace_of(new_event(100, applied=[deployment("web", "shop")]))
    with pytest.raises(InputError, match="belongs to simulation first"):
        Driver(kube, trace, DriveOptions(name="second", speed=SPEED)).run()
    assert kube.get("v1", "Namespace", "virtual-shop") is not None, "the other simulation keeps its namespace"
    assert kube.get("apps/v1", "Deployment", "theirs", "virtual-shop") is not None


def test_unserved_kinds_and_bad_namespace_names_fail_before_the_first_event(kube: Kube) -> None:
    crd = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "v", "namespace": "shop"}}
    trace = trace_of(new_event(100, applied=[deployment("web", "shop")]), new_event(5000, applied=[crd]))
    with pytest.raises(InputError, match="batch.volcano.sh"):
        Driver(kube, trace, DriveOptions(name="early", speed=1.0)).run()
    assert kube.get("v1", "Namespace", "virtual-shop") is None, "nothing was applied"

    long_ns = "n" * 60
    trace = trace_of(new_event(100, applied=[deployment("web", long_ns)]))
    with pytest.raises(InputError, match="not a valid namespace name"):
        Driver(kube, trace, DriveOptions(name="early", speed=SPEED)).run()


def test_a_malformed_pod_template_is_an_input_error(kube: Kube) -> None:
    bad = deployment("web", "shop")
    bad["spec"]["template"]["spec"]["containers"] = ["x"]
    with pytest.raises(InputError, match="pod template is malformed"):
        Driver(kube, trace_of(new_event(100, applied=[bad])), DriveOptions(name="bad", speed=SPEED)).run()
    assert kube.get("v1", "Namespace", "virtual-shop") is None, "cleaned up"
