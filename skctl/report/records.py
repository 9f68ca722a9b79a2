"""The compact records a replay is folded into: per-object timestamps and step series.

A recorder keeps one small record per pod, node and virtual object instead of the objects
themselves (a pod is ~2 KB of JSON; its record is a dozen numbers and short strings), so
100,000 pods cost tens of megabytes, and every measurement (skctl.report.measure) is a
pure function of these records: tests build them directly with exact times.

Times are float unix seconds on the recorder's clock: when the watch delivered the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skctl.kube.keys import Key, split_ns_name


def key_order(key: Key) -> tuple[str, str, str]:
    """The order the report lists objects in: GVK, namespace, name (as a plain "ns/name"
    sort would not: "a-b/x" sorts before "a/x" there), so report.json keeps its order."""
    return (key[0], *split_ns_name(key[1]))


@dataclass(slots=True)
class PodRecord:
    """One pod of the simulation, from first sight to deletion."""

    namespace: str
    name: str
    uid: str = ""
    controller_uid: str = ""  # the ownerReference with controller=true
    original_namespace: str = ""  # the traced namespace (annotation or prefix stripped)
    cpu_m: int = 0  # effective CPU request, millicores (skctl.report.resources)
    memory: int = 0  # effective memory request, bytes
    created: float | None = None
    scheduled: float | None = None  # first seen bound to a node
    running: float | None = None  # first seen in phase Running
    finished: float | None = None  # first seen Succeeded or Failed
    deleted: float | None = None
    unschedulable: float | None = None  # first seen with PodScheduled=False, reason Unschedulable
    node: str = ""
    reasons: tuple[str, ...] = ()  # the scheduler's reasons, as it gave them ("Insufficient cpu")
    disruption: str = ""  # "", "preempted" or "evicted"
    lifecycle_end: bool = False  # the driver gave it its recorded end (kwok-stage-complete-time)


@dataclass(slots=True)
class NodeRecord:
    name: str
    added: float | None = None
    removed: float | None = None
    cpu_m: int = 0  # allocatable
    memory: int = 0
    pods: int = 0
    virtual: bool = False  # labelled type=virtual: where the simulation's pods may run


@dataclass(slots=True)
class ObjectRecord:
    """A virtual object of the trace's kinds, or a controller between one and its pods
    (a Deployment's ReplicaSet, a CronJob's Job), kept for owner resolution."""

    gvk: str
    namespace: str
    name: str
    uid: str = ""
    controller_uid: str = ""
    virtual: bool = False  # of a kind the trace holds (else only an owner-chain link)
    # (time, spec.replicas, status.readyReplicas), appended only when one of them changes
    replicas: list[tuple[float, int, int]] = field(default_factory=list)
    deleted: float | None = None
    # an HorizontalPodAutoscaler's (time, status.desiredReplicas), appended when it changes
    desired: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class StepTiming:
    """The driver's view of one replayed event: its trace time and how late it started."""

    ts: int
    lateness: float


@dataclass
class ReplayRecords:
    """Everything the recorder saw, plus what the driver reported."""

    pods: dict[str, PodRecord] = field(default_factory=dict)  # uid (or ns/name) → record
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    objects: dict[Key, ObjectRecord] = field(default_factory=dict)  # (gvk, "virtual ns/name")
    steps: list[StepTiming] = field(default_factory=list)
    event_reasons: dict[str, int] = field(default_factory=dict)  # Event reason → count (pods only)
    unobserved_kinds: list[str] = field(default_factory=list)  # kinds whose watch was refused
    replay_start: float | None = None  # wall time of trace time t0
    replay_end: float | None = None  # wall time the replay stopped replaying (cleanup began)

    def objects_by_uid(self) -> dict[str, ObjectRecord]:
        return {o.uid: o for o in self.objects.values() if o.uid}
