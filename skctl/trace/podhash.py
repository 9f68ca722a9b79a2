"""The stable pod-spec hash that keys `pod_lifecycles` (SPEC section 4).

The spec without what differs between two pods of one template for reasons that do not
change how the pod behaves: nodeName, serviceAccount(Name), container ports and the
service-account token volume with its mounts (as SimKube's `stable_spec`; a list left
empty counts as absent). The hash is
`spec_hash`'s: the first 8 bytes of SHA-256 over canonical JSON, stable everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skctl.trace.window import spec_hash

TOKEN_VOLUME_PREFIX = "kube-api-access"


def stable_pod_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pod spec with the per-pod fields removed (see the module doc)."""
    stable = dict(spec)
    for key in ("nodeName", "serviceAccount", "serviceAccountName"):
        stable.pop(key, None)
    _filter(stable, "volumes")
    for key in ("containers", "initContainers"):
        if key not in stable:
            continue
        containers = []
        for container in stable.get(key) or []:
            container = dict(container)
            _filter(container, "volumeMounts")
            if key == "containers":
                container.pop("ports", None)
            containers.append(container)
        stable[key] = containers
    return stable


def pod_spec_hash(spec: Mapping[str, Any]) -> int:
    """Unsigned 64-bit hash of `stable_pod_spec(spec)`."""
    return spec_hash({"spec": stable_pod_spec(spec)})


def _filter(holder: dict[str, Any], key: str) -> None:
    """Drop the token entries from holder[key]; an empty list is the same as none (the
    driver removes a list it emptied)."""
    if key in holder:
        kept = [entry for entry in holder.get(key) or [] if not _token(entry)]
        if kept:
            holder[key] = kept
        else:
            del holder[key]


def _token(entry: Any) -> bool:
    return isinstance(entry, Mapping) and str(entry.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
