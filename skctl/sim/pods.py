"""What the driver does to each pod the simulation's controllers create (no webhook needed).

SimKube's driver is an admission webhook; skctl's watches the pods of its virtual
namespaces (skctl.sim.podwatch) and patches each one with what SimKube's webhook adds:

- first sight: the simulation labels, `static.simkube.io/pod-spec-stable-hash` and
  `static.simkube.io/pod-sequence-number` (the pod's number among the pods of its owner
  and hash), the KWOK delay annotations and the original namespace when a pod template
  did not carry them;
- once the pod is Running (KWOK's pod-ready stage): the label
  `simkube.io/kwok-stage-complete=true` and the absolute RFC 3339 time
  `simkube.io/kwok-stage-complete-time` from its recorded lifecycle (skctl.sim.lifecycle),
  which the pod-complete stage (config/kwok/) waits for before ending the pod;
- a pod that could land on a real node (no `type: virtual` nodeSelector: made by a
  controller outside the pod templates the driver patched) is moved to the virtual nodes
  while it is still held by a scheduling gate (Kubernetes accepts nodeSelector additions
  then), otherwise deleted: the driver refuses it, as SimKube's webhook denies a pod it
  cannot mutate. Labels, annotations and tolerations can be added to any pod.

Everything here is a decision on a raw pod dict; the API calls go through `Kube`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jsonpatch
import jsonpointer

from skctl.base import messages
from skctl.kube.api import ApiError, Kube
from skctl.kube.keys import Key, object_key
from skctl.kube.names import truncate_label_value as label_value
from skctl.kube.owners import OwnersCache, owner_keys
from skctl.kube.times import rfc3339
from skctl.sim import (
    KWOK_STAGE_COMPLETE_LABEL,
    KWOK_STAGE_COMPLETE_TIME_ANNOTATION,
    ORIGINAL_NAMESPACE_ANNOTATION,
    ORIGINAL_OWNER_ANNOTATION,
    PLACEMENT_ADDED_ANNOTATION,
    POD_SEQUENCE_ANNOTATION,
    POD_SPEC_HASH_ANNOTATION,
    SIMULATION_LABEL,
    VIRTUAL_LABEL,
    VIRTUAL_NODE_SELECTOR_KEY,
    VIRTUAL_NODE_SELECTOR_VALUE,
    VIRTUAL_NODE_TAINT_KEY,
)
from skctl.sim.lifecycle import completion_time
from skctl.sim.mutate import KWOK_TOLERATION, delay_annotations, on_virtual_nodes, without_placement
from skctl.trace.model import PodLifecycles
from skctl.trace.pods import (
    POD_GVK,
    PodCounter,
    lifecycle_owner,
    lookup_lifecycle,
    pod_spec_hash,
)

log = logging.getLogger("skctl.sim.pods")
JSON_PATCH = "application/json-patch+json"


@dataclass
class PodContext:
    """What the pod handler needs to know about the simulation."""

    sim_name: str
    ns_prefix: str
    speed: float
    lifecycles: PodLifecycles
    index: Mapping[str, Mapping[str, Any]]  # the trace index: gvk → {"ns/name": hash}
    delays: Mapping[str, str] | None = None
    reschedule_bare_pods: bool = False  # SimKube's --reschedule-interrupted-bare-pods
    # lifecycle owners (GVK, original "ns/name") that a HorizontalPodAutoscaler of the trace
    # scales: their pods get no completion time (see completion_patch)
    autoscaled: frozenset[Key] = frozenset()


def original_namespace(pod: Mapping[str, Any], ns_prefix: str) -> str:
    meta = pod.get("metadata") or {}
    annotated = (meta.get("annotations") or {}).get(ORIGINAL_NAMESPACE_ANNOTATION)
    if annotated:
        return str(annotated)
    ns = str(meta.get("namespace") or "")
    return ns[len(ns_prefix) + 1 :] if ns.startswith(ns_prefix + "-") else ns


def simulated_spec_hash(spec: Mapping[str, Any], added: str | None = None) -> int:
    """The recorded pod's hash for a simulated pod: the tracer's hash (skctl.trace.pods) of its
    spec without the driver's placement additions (`added`: the template's
    PLACEMENT_ADDED_ANNOTATION; see skctl.sim.mutate.without_placement)."""
    return pod_spec_hash(without_placement(spec, added))


def original_key(key: Key, ns: str, orig_ns: str) -> Key:
    """A simulation object's key as the trace names it (its original namespace)."""
    gvk, ns_name = key
    prefix = f"{ns}/"
    return (gvk, f"{orig_ns}/{ns_name[len(prefix):]}") if ns_name.startswith(prefix) else key


def trace_owner(pod: Mapping[str, Any], chain: list[Key], ctx: PodContext) -> Key | None:
    """The owner the pod's recorded lifecycles are keyed by, as (GVK, original "ns/name"):
    the tracer's rule (skctl.trace.pods.lifecycle_owner) applied to the simulation's owner
    chain, where "known" means the trace holds the object or lifecycles for it."""
    meta = pod.get("metadata") or {}
    ns = str(meta.get("namespace") or "")
    orig_ns = original_namespace(pod, ctx.ns_prefix)
    self_name = (meta.get("annotations") or {}).get(ORIGINAL_OWNER_ANNOTATION) or meta.get("name", "")
    pod_key = (POD_GVK, f"{ns}/{self_name}")

    def known(key: Key) -> bool:
        gvk, name = original_key(key, ns, orig_ns)
        return name in (ctx.index.get(gvk) or {}) or (gvk, name) in ctx.lifecycles

    owner = lifecycle_owner(pod_key, chain, known)
    return original_key(owner, ns, orig_ns) if owner is not None else None


def first_sight_patch(pod: Mapping[str, Any], ctx: PodContext, pod_hash: int, seq: int) -> list[dict[str, Any]]:
    """JSON patch operations that label and number a pod the driver sees for the first time."""
    meta = pod.get("metadata") or {}
    have = meta.get("annotations") or {}
    annotations = {
        ORIGINAL_NAMESPACE_ANNOTATION: original_namespace(pod, ctx.ns_prefix),
        **(ctx.delays if ctx.delays is not None else delay_annotations()),
    }
    annotations = {k: v for k, v in annotations.items() if k not in have}  # a template's values stay
    annotations[POD_SPEC_HASH_ANNOTATION] = str(pod_hash)
    annotations[POD_SEQUENCE_ANNOTATION] = str(seq)
    ops = set_keys(meta, "labels", {SIMULATION_LABEL: label_value(ctx.sim_name), VIRTUAL_LABEL: "true"})
    ops += set_keys(meta, "annotations", annotations)
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations")
    if not any((t or {}).get("key") == VIRTUAL_NODE_TAINT_KEY for t in tolerations or []):
        if tolerations is None:
            ops.append({"op": "add", "path": "/spec/tolerations", "value": [dict(KWOK_TOLERATION)]})
        else:
            ops.append({"op": "add", "path": "/spec/tolerations/-", "value": dict(KWOK_TOLERATION)})
    return ops


def placement_patch(pod: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Operations that move a scheduling-gated, unbound pod to the virtual nodes; None when
    the pod can no longer be moved (bound, not gated, or its `type` selector says otherwise)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or not spec.get("schedulingGates"):
        return None
    selector = spec.get("nodeSelector")
    if selector is None:
        return [{"op": "add", "path": "/spec/nodeSelector", "value": {VIRTUAL_NODE_SELECTOR_KEY: VIRTUAL_NODE_SELECTOR_VALUE}}]
    if VIRTUAL_NODE_SELECTOR_KEY in selector:
        return None  # only additions are allowed, and `type` is taken
    return [{"op": "add", "path": f"/spec/nodeSelector/{VIRTUAL_NODE_SELECTOR_KEY}", "value": VIRTUAL_NODE_SELECTOR_VALUE}]


def completion_patch(
    pod: Mapping[str, Any], ctx: PodContext, owner: Key | None, pod_hash: int, seq: int, now: datetime
) -> list[dict[str, Any]] | None:
    """The completion label and time for a Running pod whose recorded lifecycle finished.

    Not for the pods of an HPA's scale target: their recorded ends were the production HPA
    scaling down (as their owner's recorded replica counts, which the driver drops), and
    the simulation's HPA decides when they go; ending them at the recorded time would make
    their ReplicaSet replace them, churn the HPA would count as missing metrics."""
    if owner is None or owner in ctx.autoscaled:
        return None
    lifecycle = lookup_lifecycle(ctx.lifecycles, owner[0], owner[1], pod_hash, seq)
    when = completion_time(lifecycle, ctx.speed, now)
    if when is None:
        return None
    meta = pod.get("metadata") or {}
    return set_keys(meta, "labels", {KWOK_STAGE_COMPLETE_LABEL: "true"}) + set_keys(
        meta, "annotations", {KWOK_STAGE_COMPLETE_TIME_ANNOTATION: rfc3339(when)}
    )


CLONE_NAME = re.compile(r"^(.*)-clone-(\d+)$")
# metadata the API server sets: a clone is a new object (SimKube's sanitize_obj)
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                 "generation", "managedFields", "selfLink")
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                       KWOK_STAGE_COMPLETE_TIME_ANNOTATION)


def clone_name(name: str) -> str:
    """SimKube's name for a rescheduled bare pod: NAME-clone-1, then NAME-clone-2, ..."""
    match = CLONE_NAME.match(name)
    return f"{match.group(1)}-clone-{int(match.group(2)) + 1}" if match else f"{name}-clone-1"


def interrupted_bare_pod(pod: Mapping[str, Any]) -> bool:
    """A pod SimKube reschedules: no owner and still Running when it was deleted."""
    meta = pod.get("metadata") or {}
    return not meta.get("ownerReferences") and (pod.get("status") or {}).get("phase") == "Running"


def clone_of(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod to create for an interrupted bare pod: same spec and labels, a -clone-N name,
    unbound, no status, its lifecycle started afresh (no completion time), and the original
    pod's name in `static.simkube.io/original-owner` so its recorded lifecycle is found."""
    meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in SERVER_FIELDS}
    name = str(meta.get("name") or "")
    meta["name"] = clone_name(name)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != KWOK_STAGE_COMPLETE_LABEL}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROPPED_ANNOTATIONS}
    annotations.setdefault(ORIGINAL_OWNER_ANNOTATION, name)
    meta["labels"], meta["annotations"] = labels, annotations
    spec = {k: v for k, v in (pod.get("spec") or {}).items() if k != "nodeName"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def set_keys(meta: Mapping[str, Any], field: str, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """JSON patch operations that set `values` in metadata.labels/annotations, one key at a
    time (so a concurrent writer's other keys survive), creating the map when absent."""
    if not values:
        return []
    if meta.get(field) is None:
        return [{"op": "add", "path": f"/metadata/{field}", "value": dict(values)}]
    return [{"op": "add", "path": f"/metadata/{field}/{jsonpointer.escape(k)}", "value": v} for k, v in values.items()]


class PodHandler:
    """Applies the rules above to each pod event; safe to call from the watcher thread."""

    def __init__(
        self,
        kube: Kube,
        ctx: PodContext,
        owns_namespace: Callable[[str], bool],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.kube = kube
        self.ctx = ctx
        self.owns_namespace = owns_namespace
        self.now = now
        self.counter = PodCounter()
        self._numbers: dict[str, tuple[int, int, Key | None]] = {}  # uid → (hash, seq, lifecycle owner)
        self._completed: set[str] = set()
        self.owners = OwnersCache(self._read_object)
        self._lock = threading.Lock()
        self.refused: list[str] = []  # "ns/name" of pods deleted because they could reach a real node
        self._expected: set[str] = set()  # "ns/name" of pods the trace deletes (not interruptions)
        self.rescheduled: list[str] = []  # "ns/name" of the clones made for interrupted bare pods
        self.usage: Any = None  # skctl.sim.usage.UsageReplay when the trace carries usage

    def expect_delete(self, namespace: str, name: str) -> None:
        """The driver is about to delete this pod as the trace says: not an interruption."""
        with self._lock:
            self._expected.add(f"{namespace}/{name}")

    def handle(self, event_type: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace") or ""
        uid = meta.get("uid") or f"{ns}/{meta.get('name')}"
        if event_type == "DELETED":
            if self.usage is not None:
                self.usage.gone(ns, str(meta.get("name")))
            with self._lock:
                self._numbers.pop(uid, None)
                self._completed.discard(uid)
                expected = f"{ns}/{meta.get('name')}" in self._expected
                self._expected.discard(f"{ns}/{meta.get('name')}")
            if self.ctx.reschedule_bare_pods and not expected and self.owns_namespace(ns) and interrupted_bare_pod(pod):
                self._reschedule(pod)
            return
        if not self.owns_namespace(ns) or meta.get("deletionTimestamp"):
            return
        try:
            self._handle(uid, pod)
        except ApiError as exc:
            if exc.code != 404:  # a pod gone meanwhile needs nothing
                log.warning("could not patch pod %s/%s: %s", ns, meta.get("name"), exc)

    def _handle(self, uid: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        spec = pod.get("spec") or {}
        ops: list[dict[str, Any]] = []
        if not on_virtual_nodes(spec):
            move = placement_patch(pod)
            if move is None:
                self._refuse(pod)
                return
            ops.extend(move)
        with self._lock:
            numbered = self._numbers.get(uid)
        annotations = meta.get("annotations") or {}
        if numbered is None:
            owner = trace_owner(pod, self.owners.chain(object_key(POD_GVK, pod), owner_keys(pod)), self.ctx)
            if POD_SEQUENCE_ANNOTATION in annotations and POD_SPEC_HASH_ANNOTATION in annotations:
                # numbered by an earlier run of this driver (a restarted driver pod)
                pod_hash, seq = int(annotations[POD_SPEC_HASH_ANNOTATION]), int(annotations[POD_SEQUENCE_ANNOTATION])
            else:
                pod_hash = simulated_spec_hash(spec, annotations.get(PLACEMENT_ADDED_ANNOTATION))
                gvk, key = owner if owner is not None else ("", "")
                seq = self.counter.next(gvk, key, pod_hash)
                ops.extend(first_sight_patch(pod, self.ctx, pod_hash, seq))
            numbered = (pod_hash, seq, owner)
            with self._lock:
                self._numbers[uid] = numbered
            first = True
        else:
            first = False
        pod_hash, seq, owner = numbered
        labels = meta.get("labels") or {}
        running = (pod.get("status") or {}).get("phase") == "Running"
        if running and KWOK_STAGE_COMPLETE_LABEL not in labels and uid not in self._completed:
            done = completion_patch(_patched_view(pod, ops), self.ctx, owner, pod_hash, seq, self.now())
            if done is not None:
                ops += done
                self._completed.add(uid)
        if ops:
            self.kube.request(
                "PATCH",
                self.kube.resource("v1", "Pod").path(ns, name),
                body=ops,
                content_type=JSON_PATCH,
                what=f"patch of pod {ns}/{name}",
            )
        if first and self.usage is not None:
            # after the patch above: a JSON patch that creates the annotations map replaces it
            containers = len((pod.get("spec") or {}).get("containers") or []) or 1
            self.usage.seen(ns, name, owner, pod_hash, seq, containers)

    def _reschedule(self, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        clone = clone_of(pod)
        try:
            self.kube.request("POST", self.kube.resource("v1", "Pod").path(ns), body=clone,
                              what=f"creation of pod {ns}/{clone['metadata']['name']}")
        except ApiError as exc:
            log.warning(messages.BARE_POD_RESCHEDULE_FAILED.format(namespace=ns, pod=name, detail=exc))
            return
        log.info(messages.BARE_POD_RESCHEDULED.format(namespace=ns, pod=name, clone=clone["metadata"]["name"]))
        self.rescheduled.append(f"{ns}/{clone['metadata']['name']}")

    def _refuse(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        log.warning(
            "deleting pod %s/%s: it is not placed on the virtual nodes (no nodeSelector type=virtual) and can no "
            "longer be moved there; add its pod template path to the trace config's podSpecTemplatePaths",
            ns,
            name,
        )
        self.refused.append(f"{ns}/{name}")  # before the delete: whoever sees it gone sees it listed
        self.kube.delete("v1", "Pod", name, ns)

    def _read_object(self, gvk: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The owners cache's lookup: one object of the simulation cluster (an unknown or
        unreadable owner ends the chain)."""
        api_version, _, kind = gvk.rpartition(".")
        try:
            res = self.kube.resource(api_version, kind)
            return self.kube.get(api_version, kind, name, namespace if res.namespaced else None)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.debug("owner %s %s/%s not readable: %s", kind, namespace, name, exc)
            return None


def _patched_view(pod: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod's metadata as the pending label/annotation operations will leave it (so the
    next operations address maps that will exist by then). Only the two maps are copied and
    patched: the spec operations and the rest of the metadata (managedFields) are not read."""
    meta = pod.get("metadata") or {}
    maps = {field: meta[field] for field in _VIEWED if field in meta}
    wanted = [op for op in ops if op["path"].split("/")[1:3] in _VIEWED_PATHS]  # /metadata/labels[/KEY], ...
    view = jsonpatch.apply_patch({"metadata": maps}, wanted)
    return {**pod, "metadata": {**meta, **view["metadata"]}}


_VIEWED = ("labels", "annotations")
_VIEWED_PATHS = [["metadata", field] for field in _VIEWED]
