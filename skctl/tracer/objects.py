"""What the tracer keeps of an object.

`sanitize` is the one place that decides what of an API object is recorded (SPEC
section 4). The pod rules (stable spec, hash, lifecycle, owner chains) live in
skctl.trace.pods, shared with the driver.
"""

from __future__ import annotations

from typing import Any

from skctl.trace.model import SERVER_SET_METADATA

Obj = dict[str, Any]

DROPPED_METADATA = SERVER_SET_METADATA
DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
SECRET_FIELDS = ("data", "stringData")


def sanitize(obj: Obj) -> Obj:
    """The recorded form of an API object: a new top-level dict and metadata, sharing the
    rest (the input is not changed). Drops status, server-managed metadata and the two
    noisy annotations, keeps ownerReferences (owner chains need them), never Secret data."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        new_meta = {k: v for k, v in meta.items() if k not in DROPPED_METADATA}
        annotations = meta.get("annotations")
        if annotations and any(a in annotations for a in DROPPED_ANNOTATIONS):
            kept = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
            if kept:
                new_meta["annotations"] = kept
            else:
                del new_meta["annotations"]
        out["metadata"] = new_meta
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        for key in SECRET_FIELDS:
            out.pop(key, None)
    return out
