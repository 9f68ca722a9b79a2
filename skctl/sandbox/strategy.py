"""What a real server's registry strategies do to a write before it is stored: validation
(metadata types, names, CRDs) and defaulting (fresh status, namespace and secret defaults,
metadata.generation). Plain functions of the object; the store calls them under its lock.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from skctl.kube.names import is_dns1123_label, is_dns1123_subdomain
from skctl.sandbox import errors
from skctl.sandbox.discovery import CRD_TYPE, NAMESPACE_TYPE, ResourceType

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
SECRET_KEY = ("", "secrets")
# Kinds whose registry strategy never sets metadata.generation (built-in groups only;
# custom resources always have it).
_NO_GENERATION_GROUPS = ("rbac.authorization.k8s.io", "coordination.k8s.io", "scheduling.k8s.io")
FRESH_STATUS: dict[str, dict] = {
    "Pod": {"phase": "Pending", "qosClass": "BestEffort"},
    "Namespace": {"phase": "Active"},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0},
    "PodDisruptionBudget": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
    "PersistentVolume": {"phase": "Pending"},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "Service": {"loadBalancer": {}},
}


def tracks_generation(rtype: ResourceType) -> bool:
    """Whether the kind's strategy sets metadata.generation (bumped when the spec changes)."""
    if rtype.group == "":
        return rtype.kind == "Pod"
    if rtype.group == "apps":
        return rtype.kind != "ControllerRevision"
    return rtype.group not in _NO_GENERATION_GROUPS


def spec_part(obj: dict) -> dict:
    """Everything but metadata and status: a change here is a new generation."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def sets_resource_version(value: Any) -> bool:
    """Whether a create body carries a resourceVersion a real server refuses (a non-zero integer)."""
    try:
        return int(str(value)) != 0
    except ValueError:
        return False


def checked_metadata(obj: dict) -> dict:
    """obj["metadata"] (created if absent), after the type checks the real server's decoding
    does: a 400 here keeps malformed objects out of the store, where selectors would trip on them."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise errors.bad_request(f"metadata.{field} must be a map of strings to strings")
    owners = meta.get("ownerReferences")
    if owners is not None and not (isinstance(owners, list) and all(isinstance(o, dict) for o in owners)):
        raise errors.bad_request("metadata.ownerReferences must be a list of objects")
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)):
        raise errors.bad_request("metadata.finalizers must be a list of strings")
    return meta


def validate_name(rtype: ResourceType, name: Any) -> None:
    """The kind's name rule (422 otherwise): RBAC path segments, namespace DNS labels, else DNS subdomains."""
    if not isinstance(name, str) or not name:
        raise errors.invalid(
            rtype.kind, rtype.group, "", "metadata.name", "Required value: name or generateName is required"
        )
    if rtype.group == "rbac.authorization.k8s.io":
        ok = "/" not in name and "%" not in name and name not in (".", "..")
    elif rtype.key == NAMESPACE_TYPE.key:  # a namespace name is a DNS label: no dots, 63 at most
        ok = is_dns1123_label(name)
    else:
        ok = is_dns1123_subdomain(name)
    if not ok:
        raise errors.invalid(
            rtype.kind,
            rtype.group,
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )


def check_crd(obj: dict, ts: str) -> None:
    """Validate a CustomResourceDefinition and give it the status of one whose names were
    accepted at `ts` (the apiextensions controllers' part, at once)."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    name = obj["metadata"]["name"]
    problems = []
    if not spec.get("group"):
        problems.append(("spec.group", "Required value"))
    if not names.get("plural") or not names.get("kind"):
        problems.append(("spec.names", "Required value: plural and kind are required"))
    if not spec.get("versions"):
        problems.append(("spec.versions", "Required value: must have exactly one version marked as storage"))
    if spec.get("group") and names.get("plural") and name != f"{names['plural']}.{spec['group']}":
        problems.append(("metadata.name", "Invalid value: must be spec.names.plural+\".\"+spec.group"))
    if problems:
        field, problem = problems[0]
        raise errors.invalid("CustomResourceDefinition", CRD_TYPE.group, name, field, problem)
    accepted = dict(names)
    accepted.setdefault("singular", names["kind"].lower())
    accepted.setdefault("listKind", names["kind"] + "List")
    obj["status"] = {
        "acceptedNames": accepted,
        "storedVersions": [v.get("name") for v in spec["versions"] if v.get("storage")] or [],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts},
        ],
    }


def fresh_status(rtype: ResourceType) -> dict | None:
    """The status a real server gives a new object (Go zero values of required fields)."""
    if rtype.group not in ("", "apps", "batch", "policy", "apiextensions.k8s.io"):
        return None
    return json.loads(json.dumps(FRESH_STATUS.get(rtype.kind, {})))


def apply_defaults(rtype: ResourceType, obj: dict, creating: bool) -> None:
    """What a real server's defaulting and conversion add to every write of these kinds."""
    meta = obj["metadata"]
    if rtype.key == NAMESPACE_TYPE.key:
        if creating:
            spec = obj.setdefault("spec", {})
            if isinstance(spec, dict) and "finalizers" not in spec:
                spec["finalizers"] = ["kubernetes"]
        if meta.get("name"):
            meta["labels"] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: meta["name"]}
    elif rtype.key == SECRET_KEY:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            current = obj.get("data")
            data: dict = current if isinstance(current, dict) else {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        if not obj.get("type"):
            obj["type"] = "Opaque"
