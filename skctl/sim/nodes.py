"""KWOK nodes shaped like the recorded ones (`skctl drive --nodes trace`).

The trace's starting state (skctl.trace.cluster) records each node's capacity,
allocatable, labels, taints and cordon. The driver turns each into a node of the
simulation cluster (docs/run.md, "Starting state"):

- named `<virtual prefix>-<recorded name>` (cut and made unique with a hash when that is
  longer than a node name may be), so it cannot take the name of a real node; the
  recorded name is kept in the annotation `simkube.io/original-node`, and
  `kubernetes.io/hostname` is rewritten to the new name, as a kubelet would set it;
- labelled `type: virtual` (KWOK manages nodes with that label; the simulation's pods
  select it), `simkube.io/simulation=<name>` and `simkube.io/virtual=true` (cleanup and
  `skctl delete` find them by these), annotated `kwok.x-k8s.io/node: fake`;
- tainted with the recorded taints plus `kwok-provider=true:NoSchedule`, which every
  simulated pod tolerates and nothing else does;
- `status.capacity` and `status.allocatable` as recorded: written on create and through
  the status subresource afterwards (a node's main resource ignores status on update);
  KWOK keeps them and reports the node Ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from skctl.kube.api import APPLY_CONTENT_TYPE, Kube
from skctl.kube.names import DNS1123_SUBDOMAIN_MAX, is_dns1123_subdomain
from skctl.kube.names import truncate_label_value as label_value
from skctl.sim import (
    SIMULATION_LABEL,
    VIRTUAL_LABEL,
    VIRTUAL_NODE_SELECTOR_KEY,
    VIRTUAL_NODE_SELECTOR_VALUE,
    VIRTUAL_NODE_TAINT_KEY,
)

HOSTNAME_LABEL = "kubernetes.io/hostname"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
ORIGINAL_NODE_ANNOTATION = "simkube.io/original-node"
KWOK_TAINT = {"key": VIRTUAL_NODE_TAINT_KEY, "value": "true", "effect": "NoSchedule"}
_HASH_CHARS = 10


def virtual_node_name(prefix: str, name: str) -> str:
    """`<prefix>-<name>`; when that is not a valid node name (too long), its start and a hash
    of the whole, so two recorded names never meet in one virtual name."""
    full = f"{prefix}-{name}"
    if len(full) <= DNS1123_SUBDOMAIN_MAX and is_dns1123_subdomain(full):
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    head = full[: DNS1123_SUBDOMAIN_MAX - _HASH_CHARS - 1].rstrip("-.")
    return f"{head}-{digest}"


def node_manifest(recorded: Mapping[str, Any], sim_name: str, prefix: str) -> dict[str, Any]:
    """The node the driver applies for a recorded node (see the module doc)."""
    meta = recorded.get("metadata") or {}
    original = str(meta.get("name", ""))
    name = virtual_node_name(prefix, original)
    labels = dict(meta.get("labels") or {})
    labels[HOSTNAME_LABEL] = label_value(name)
    labels[VIRTUAL_NODE_SELECTOR_KEY] = VIRTUAL_NODE_SELECTOR_VALUE
    labels[SIMULATION_LABEL] = label_value(sim_name)
    labels[VIRTUAL_LABEL] = "true"
    spec_in = recorded.get("spec") or {}
    taints = [dict(t) for t in spec_in.get("taints") or () if isinstance(t, Mapping)]
    if not any(t.get("key") == VIRTUAL_NODE_TAINT_KEY for t in taints):
        taints.append(dict(KWOK_TAINT))
    spec: dict[str, Any] = {"taints": taints}
    if spec_in.get("unschedulable"):
        spec["unschedulable"] = True
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", ORIGINAL_NODE_ANNOTATION: original},
        },
        "spec": spec,
    }
    status = node_status(recorded)
    if status:
        node["status"] = status
    return node


def node_status(recorded: Mapping[str, Any]) -> dict[str, Any]:
    status = recorded.get("status") or {}
    return {k: dict(status[k]) for k in ("capacity", "allocatable") if status.get(k)}


def apply_node(kube: Kube, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create or update the node, then its capacity through the status subresource (the main
    resource keeps the old status on an update). Returns the node as the server has it."""
    applied = kube.apply(manifest)
    status = manifest.get("status")
    if status and ((applied.get("status") or {}).get("capacity") != status.get("capacity")
                   or (applied.get("status") or {}).get("allocatable") != status.get("allocatable")):
        name = manifest["metadata"]["name"]
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status}
        res = kube.resource("v1", "Node")
        applied = kube.request(
            "PATCH", res.path(None, name) + "/status",
            query={"fieldManager": kube.field_manager, "force": "true"},
            body=body, content_type=APPLY_CONTENT_TYPE, what=f"apply of the status of Node {name}",
        )
    return applied


def is_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or ()
    return any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def simulation_nodes_selector(sim_name: str) -> str:
    """The label selector of every node a simulation made."""
    return f"{SIMULATION_LABEL}={label_value(sim_name)},{VIRTUAL_LABEL}=true"
