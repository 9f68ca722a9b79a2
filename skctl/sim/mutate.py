"""Turn a traced object into its virtual twin for the simulation cluster.

What changes, and why (docs/run.md):
- namespace → `<prefix>-<original>`, so the simulation never touches real namespaces;
- status and server-owned metadata (uid, resourceVersion, generation, timestamps,
  managedFields, selfLink) are dropped: server-side apply must not send them;
- ownerReferences are dropped: the owners' uids belong to the traced cluster, and a
  reference to an object that does not exist here makes the garbage collector delete
  the virtual object at once; the simulation's owners recreate what they own anyway;
- labels `simkube.io/simulation=<name>` and `simkube.io/virtual=true` on the object and
  on every pod template, so cleanup and KWOK stages can select them;
- every pod template (config podSpecTemplatePaths, wildcards included, else the built-in
  paths): nodeSelector `type: virtual` (replacing any other: the pods must land on KWOK
  nodes), a toleration for the `kwok-provider` taint, container ports removed (a pod
  spec may repeat a port, which apply rejects; KWOK pods serve nothing), nodeName and the
  service-account token volume of a recorded bare pod removed (the node and the token
  belong to the traced cluster; the API server injects a fresh token volume);
- lifecycles: when the trace recorded finished lifecycles for the owner, the template gets
  `simkube.io/lifetime-seconds` (recorded seconds) and `simkube.io/pod-lifetime` (the same,
  divided by --speed, as a Go duration) which config/kwok/ stages read to end the pod.
"""

from __future__ import annotations

import statistics
from typing import Any

from skctl.sim import (
    LIFETIME_ANNOTATION,
    LIFETIME_SECONDS_ANNOTATION,
    ORIGINAL_NAMESPACE_ANNOTATION,
    SIMULATION_LABEL,
    VIRTUAL_LABEL,
)
from skctl.sim.timing import go_duration
from skctl.trace.config import iter_pod_templates

DROPPED_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
VIRTUAL_NODE_SELECTOR = {"type": "virtual"}
KWOK_TOLERATION = {"key": "kwok-provider", "operator": "Exists", "effect": "NoSchedule"}
_TOKEN_VOLUME_PREFIX = "kube-api-access-"


def clone_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (dicts, lists, scalars); several times faster than
    copy.deepcopy, which matters at hundreds of applies per second."""
    if isinstance(value, dict):
        return {k: clone_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_json(v) for v in value]
    return value


def virtual_namespace(prefix: str, namespace: str) -> str:
    return f"{prefix}-{namespace}"


def lifetimes_by_owner(pod_lifecycles: dict[tuple[str, str], dict[int, list[dict[str, Any]]]]) -> dict[tuple[str, str], float]:
    """(owner GVK, "ns/name") → recorded pod lifetime in seconds, from finished lifecycles.

    Every pod of a template gets the same annotation, so one number per owner: the median
    of its finished pods' lifetimes (robust to one straggler). Owners whose pods never
    finished in the trace get none: their pods run until the owner is deleted.
    """
    result: dict[tuple[str, str], float] = {}
    for owner, by_hash in pod_lifecycles.items():
        durations = [
            float(lc["end_ts"]) - float(lc["start_ts"])
            for lifecycles in by_hash.values()
            for lc in lifecycles
            if lc.get("start_ts") is not None and lc.get("end_ts") is not None and lc["end_ts"] >= lc["start_ts"]
        ]
        if durations:
            result[tuple(owner)] = float(statistics.median(durations))  # type: ignore[index]
    return result


def mutate_template(
    template: dict[str, Any],
    sim_name: str,
    original_ns: str | None,
    lifetime: float | None = None,
    speed: float = 1.0,
) -> None:
    """Patch one pod template (or bare pod) in place so its pods run on KWOK nodes."""
    meta = template.setdefault("metadata", None) or {}
    template["metadata"] = meta
    meta.pop("creationTimestamp", None)
    labels = meta.get("labels") or {}
    labels[SIMULATION_LABEL] = sim_name
    labels[VIRTUAL_LABEL] = "true"
    meta["labels"] = labels
    annotations = meta.get("annotations") or {}
    if original_ns:
        annotations[ORIGINAL_NAMESPACE_ANNOTATION] = original_ns
    if lifetime is not None:
        annotations[LIFETIME_SECONDS_ANNOTATION] = _seconds(lifetime)
        annotations[LIFETIME_ANNOTATION] = go_duration(lifetime / speed)
    if annotations:
        meta["annotations"] = annotations
    spec = template.get("spec")
    if not isinstance(spec, dict):
        spec = template["spec"] = {}
    spec["nodeSelector"] = dict(VIRTUAL_NODE_SELECTOR)
    tolerations = [t for t in (spec.get("tolerations") or []) if t != KWOK_TOLERATION]
    tolerations.append(dict(KWOK_TOLERATION))
    spec["tolerations"] = tolerations
    spec.pop("nodeName", None)
    token_volumes = {
        v.get("name")
        for v in spec.get("volumes") or []
        if str(v.get("name", "")).startswith(_TOKEN_VOLUME_PREFIX) and "projected" in v
    }
    if token_volumes:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in token_volumes]
        if not spec["volumes"]:
            del spec["volumes"]
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            container.pop("ports", None)
            if token_volumes and container.get("volumeMounts"):
                container["volumeMounts"] = [m for m in container["volumeMounts"] if m.get("name") not in token_volumes]
                if not container["volumeMounts"]:
                    del container["volumeMounts"]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def virtual_object(
    obj: dict[str, Any],
    *,
    sim_name: str,
    ns_prefix: str,
    template_paths: tuple[str, ...],
    namespaced: bool = True,
    lifetime: float | None = None,
    speed: float = 1.0,
) -> dict[str, Any]:
    """A mutated deep copy of `obj`, ready for server-side apply (see the module docstring)."""
    vobj = clone_json(obj)
    vobj.pop("status", None)
    meta = vobj.get("metadata") or {}
    vobj["metadata"] = meta
    for key in DROPPED_METADATA:
        meta.pop(key, None)
    original_ns = meta.get("namespace") or ("default" if namespaced else None)
    if namespaced:
        meta["namespace"] = virtual_namespace(ns_prefix, original_ns or "default")
    else:
        meta.pop("namespace", None)
    labels = meta.get("labels") or {}
    labels[SIMULATION_LABEL] = sim_name
    labels[VIRTUAL_LABEL] = "true"
    meta["labels"] = labels
    for _at, template in iter_pod_templates(vobj, template_paths):
        mutate_template(template, sim_name, original_ns, lifetime=lifetime, speed=speed)
    return vobj


def virtual_namespace_object(name: str, sim_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {SIMULATION_LABEL: sim_name, VIRTUAL_LABEL: "true"}},
    }
