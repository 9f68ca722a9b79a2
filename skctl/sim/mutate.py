"""Turn a traced object into its virtual twin for the simulation cluster.

What changes, and why (docs/run.md, docs/simkube.md):
- namespace → `<prefix>-<original>`, so the simulation never touches real namespaces;
- status and server-owned metadata (uid, resourceVersion, generation, timestamps,
  managedFields, selfLink) are dropped: server-side apply must not send them;
- ownerReferences: the owners' uids belong to the traced cluster, and a reference to an
  object that does not exist here makes the garbage collector delete the virtual object
  at once. A reference to an object the simulation applied (the driver's `owner_uid`
  knows the UID the API server gave its virtual twin) is rewritten to that UID, keeping
  `controller` and dropping `blockOwnerDeletion` (setting it needs delete rights on the
  owner's finalizers under OwnerReferencesPermissionEnforcement); every other is removed
  (the simulation's owners recreate what they own anyway);
- labels as SimKube sets them: `simkube.io/simulation=<name>`, `simkube.io/virtual=true`
  and `app.kubernetes.io/name=<object name>` (each value cut to 63 characters), so tools
  written for SimKube's simulations select the same objects;
- every pod template (config podSpecTemplatePaths, wildcards included, else the built-in
  paths): the simulation labels (skctl's addition: cleanup and stages can select the pods
  from birth), annotation `static.simkube.io/original-namespace`, the KWOK create/ready
  delay annotations SimKube's stages read, nodeSelector `type: virtual` merged into the
  recorded selector, the `kwok-provider` toleration appended once (what was added is noted
  in the annotation `skctl.io/placement-added`, so a pod's spec hash can leave out exactly
  the driver's additions and match the recorded pod's), container ports removed
  (a pod spec may repeat a port, which apply rejects; KWOK pods serve nothing), nodeName
  and the service-account token volume of a recorded bare pod removed (the node and the
  token belong to the traced cluster; the API server injects a fresh token volume).
Per-pod data (lifecycle, sequence number) cannot go on a shared template: the pod watcher
(skctl.sim.podwatch) adds it to each pod.

HorizontalPodAutoscalers (`autoscaling/v2`, tracked by default) move to the virtual namespace
like every namespaced object; their `scaleTargetRef` names the target by kind and name in
the HPA's own namespace, and names are kept, so it points at the target's virtual twin as
recorded. The scale target itself is applied without `spec.replicas` (`without_replicas`):
the simulation's HPA decides its replica count, as in production, and the recorded counts
(which were the production HPA's decisions) would overrule it at every recorded change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from skctl.kube.keys import Key, join_ns_name
from skctl.kube.names import truncate_label_value as label_value
from skctl.kube.owners import owner_key
from skctl.kube.pointers import iter_pod_templates
from skctl.sim import (
    APP_NAME_LABEL,
    KWOK_STAGE_CREATE_DELAY_ANNOTATION,
    KWOK_STAGE_CREATE_DELAY_JITTER_ANNOTATION,
    KWOK_STAGE_READY_DELAY_ANNOTATION,
    KWOK_STAGE_READY_DELAY_JITTER_ANNOTATION,
    ORIGINAL_NAMESPACE_ANNOTATION,
    PLACEMENT_ADDED_ANNOTATION,
    PLACEMENT_NODE_SELECTOR,
    PLACEMENT_TOLERATION,
    SIMULATION_LABEL,
    VIRTUAL_LABEL,
    VIRTUAL_NODE_SELECTOR_KEY,
    VIRTUAL_NODE_SELECTOR_VALUE,
    VIRTUAL_NODE_TAINT_KEY,
)
from skctl.trace.model import SERVER_SET_METADATA

DROPPED_METADATA = (*SERVER_SET_METADATA, "ownerReferences")
# an owner's key in the virtual namespace (skctl.kube.owners) → the simulation's UID of it, or None
OwnerLookup = Callable[[Key], "str | None"]
VIRTUAL_NODE_SELECTOR = {VIRTUAL_NODE_SELECTOR_KEY: VIRTUAL_NODE_SELECTOR_VALUE}
KWOK_TOLERATION = {"key": VIRTUAL_NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
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


def delay_annotations(create_delay_ms: int = 0, create_jitter_ms: int = 0, ready_delay_ms: int = 0,
                      ready_jitter_ms: int = 0) -> dict[str, str]:
    """The KWOK create/ready delays SimKube's pod-create and pod-ready stages read, in SimKube's
    form ("250ms"); SimKube's driver writes them on every pod, 0ms unless configured."""
    return {
        KWOK_STAGE_CREATE_DELAY_ANNOTATION: f"{int(create_delay_ms)}ms",
        KWOK_STAGE_CREATE_DELAY_JITTER_ANNOTATION: f"{int(create_jitter_ms)}ms",
        KWOK_STAGE_READY_DELAY_ANNOTATION: f"{int(ready_delay_ms)}ms",
        KWOK_STAGE_READY_DELAY_JITTER_ANNOTATION: f"{int(ready_jitter_ms)}ms",
    }


def place_on_virtual_nodes(spec: dict[str, Any]) -> list[str]:
    """Merge `type: virtual` into the pod spec's nodeSelector (a recorded `type` is
    overwritten, as SimKube does; other keys stay) and append the `kwok-provider`
    toleration unless one for that key is there already. Returns what was added
    (PLACEMENT_NODE_SELECTOR, PLACEMENT_TOLERATION): a recorded spec may carry either."""
    added = []
    selector = spec.get("nodeSelector")
    selector = dict(selector) if isinstance(selector, Mapping) else {}
    if selector.get(VIRTUAL_NODE_SELECTOR_KEY) != VIRTUAL_NODE_SELECTOR_VALUE:
        added.append(PLACEMENT_NODE_SELECTOR)
    selector.update(VIRTUAL_NODE_SELECTOR)
    spec["nodeSelector"] = selector
    tolerations = list(spec.get("tolerations") or [])
    if not any(isinstance(t, Mapping) and t.get("key") == VIRTUAL_NODE_TAINT_KEY for t in tolerations):
        tolerations.append(dict(KWOK_TOLERATION))
        added.append(PLACEMENT_TOLERATION)
    spec["tolerations"] = tolerations
    return added


def without_placement(spec: Mapping[str, Any], added: str | None = None) -> dict[str, Any]:
    """A copy of a pod spec with `place_on_virtual_nodes`'s additions undone: those named in
    `added` (the template's PLACEMENT_ADDED_ANNOTATION), or both when it is None (a pod made
    outside the patched templates, placed by the driver)."""
    parts = {PLACEMENT_NODE_SELECTOR, PLACEMENT_TOLERATION} if added is None else set(added.split(","))
    clean = dict(spec)
    if PLACEMENT_NODE_SELECTOR in parts:
        selector = dict(clean.get("nodeSelector") or {})
        if selector.get(VIRTUAL_NODE_SELECTOR_KEY) == VIRTUAL_NODE_SELECTOR_VALUE:
            selector.pop(VIRTUAL_NODE_SELECTOR_KEY)
        if selector:
            clean["nodeSelector"] = selector
        else:
            clean.pop("nodeSelector", None)
    if PLACEMENT_TOLERATION in parts:
        tolerations = [t for t in clean.get("tolerations") or [] if (t or {}).get("key") != VIRTUAL_NODE_TAINT_KEY]
        if tolerations:
            clean["tolerations"] = tolerations
        else:
            clean.pop("tolerations", None)
    return clean


def on_virtual_nodes(spec: Mapping[str, Any]) -> bool:
    """Can the scheduler only put a pod with this spec on a virtual node?"""
    selector = spec.get("nodeSelector") or {}
    return isinstance(selector, Mapping) and selector.get(VIRTUAL_NODE_SELECTOR_KEY) == VIRTUAL_NODE_SELECTOR_VALUE


def mutate_template(
    template: dict[str, Any],
    sim_name: str,
    original_ns: str | None,
    delays: Mapping[str, str] | None = None,
) -> None:
    """Patch one pod template (or bare pod) in place so its pods run on KWOK nodes."""
    meta = template.setdefault("metadata", None) or {}
    template["metadata"] = meta
    meta.pop("creationTimestamp", None)
    labels = meta.get("labels") or {}
    labels[SIMULATION_LABEL] = label_value(sim_name)
    labels[VIRTUAL_LABEL] = "true"
    meta["labels"] = labels
    annotations = meta.get("annotations") or {}
    if original_ns:
        annotations[ORIGINAL_NAMESPACE_ANNOTATION] = original_ns
    annotations.update(delays if delays is not None else delay_annotations())
    spec = template.get("spec")
    if not isinstance(spec, dict):
        spec = template["spec"] = {}
    annotations[PLACEMENT_ADDED_ANNOTATION] = ",".join(place_on_virtual_nodes(spec))
    meta["annotations"] = annotations
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


def virtual_object(
    obj: dict[str, Any],
    *,
    sim_name: str,
    ns_prefix: str,
    template_paths: tuple[str, ...],
    namespaced: bool = True,
    delays: Mapping[str, str] | None = None,
    owner_uid: OwnerLookup | None = None,
) -> dict[str, Any]:
    """A mutated deep copy of `obj`, ready for server-side apply (see the module docstring).
    `owner_uid` finds the simulation's UID of an owner; without it every ownerReference goes."""
    vobj = clone_json(obj)
    vobj.pop("status", None)
    meta = vobj.get("metadata") or {}
    vobj["metadata"] = meta
    refs = meta.get("ownerReferences")
    for key in DROPPED_METADATA:
        meta.pop(key, None)
    original_ns = meta.get("namespace") or ("default" if namespaced else None)
    if namespaced:
        meta["namespace"] = virtual_namespace(ns_prefix, original_ns or "default")
    else:
        meta.pop("namespace", None)
    if refs and owner_uid is not None:
        kept = rewrite_owner_references(refs, meta.get("namespace"), owner_uid)
        if kept:
            meta["ownerReferences"] = kept
    labels = meta.get("labels") or {}
    labels[SIMULATION_LABEL] = label_value(sim_name)
    labels[APP_NAME_LABEL] = label_value(str(meta.get("name", "")))
    labels[VIRTUAL_LABEL] = "true"
    meta["labels"] = labels
    for _at, template in iter_pod_templates(vobj, template_paths):
        mutate_template(template, sim_name, original_ns, delays=delays)
    return vobj


HPA_GVKS = ("autoscaling/v2.HorizontalPodAutoscaler", "autoscaling/v1.HorizontalPodAutoscaler")


def scale_target(hpa: Mapping[str, Any]) -> Key | None:
    """(GVK, "ns/name") of what an HPA scales, in its own namespace; None when it names none."""
    ref = (hpa.get("spec") or {}).get("scaleTargetRef")
    meta = hpa.get("metadata") or {}
    if not isinstance(ref, Mapping) or not all(isinstance(ref.get(k), str) for k in ("apiVersion", "kind", "name")):
        return None
    return f"{ref['apiVersion']}.{ref['kind']}", join_ns_name(str(meta.get("namespace") or "default"), ref["name"])


def without_replicas(vobj: dict[str, Any]) -> dict[str, Any]:
    """The twin without `spec.replicas` (an HPA's scale target; see the module doc)."""
    spec = vobj.get("spec")
    if isinstance(spec, dict):
        spec.pop("replicas", None)
    return vobj


def rewrite_owner_references(refs: Any, namespace: str | None, owner_uid: OwnerLookup) -> list[dict[str, Any]]:
    """The references whose owner the simulation has, pointing at its UID there; the rest go."""
    kept = []
    for ref in refs if isinstance(refs, list) else ():
        if not isinstance(ref, Mapping):
            continue
        api_version, kind, name = ref.get("apiVersion"), ref.get("kind"), ref.get("name")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
            continue
        key = owner_key(ref, namespace)
        uid = owner_uid(key) if key is not None else None
        if uid is None:
            continue
        out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}
        if isinstance(ref.get("controller"), bool):
            out["controller"] = ref["controller"]
        kept.append(out)
    return kept


def virtual_namespace_object(name: str, sim_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {SIMULATION_LABEL: label_value(sim_name), APP_NAME_LABEL: label_value(name), VIRTUAL_LABEL: "true"},
        },
    }
