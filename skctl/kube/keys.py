"""Object keys, one shape everywhere: (GVK, "ns/name"), a cluster-scoped object (GVK, "name").

The GVK is `group/version.Kind` ("apps/v1.Deployment", core group "v1.Pod"). This is the
form SimKube's trace index and `pod_lifecycles` use, so the tracer, the export window, the
driver, xray and the owner chains (skctl.kube.owners) all key objects this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Key = tuple[str, str]  # (GVK, "ns/name" or "name")


def gvk_of(obj: Mapping[str, Any]) -> str:
    """'apps/v1.Deployment' of an object (its apiVersion and kind)."""
    return f"{obj.get('apiVersion', '')}.{obj.get('kind', '')}"


def split_gvk(gvk: str) -> tuple[str, str, str]:
    """'apps/v1.Deployment' → ('apps', 'v1', 'Deployment'); 'v1.Pod' → ('', 'v1', 'Pod')."""
    api_version, _, kind = gvk.rpartition(".")
    group, _, version = api_version.rpartition("/")
    return group, version, kind


def join_ns_name(namespace: str | None, name: Any) -> str:
    """"ns/name", or "name" when there is no namespace (a cluster-scoped object)."""
    return f"{namespace}/{name}" if namespace else str(name)


def split_ns_name(ns_name: str) -> tuple[str, str]:
    """"ns/name" → ("ns", "name"); "name" → ("", "name") (a name never holds a '/')."""
    ns, _, name = ns_name.rpartition("/")
    return ns, name


def ns_name(obj: Mapping[str, Any]) -> str:
    """The "ns/name" of an object (cluster-scoped: "name")."""
    meta = obj.get("metadata") or {}
    return join_ns_name(meta.get("namespace"), meta.get("name", ""))


def object_key(gvk: str, obj: Mapping[str, Any]) -> Key:
    """(GVK, "ns/name") of a namespaced object, (GVK, "name") of a cluster-scoped one."""
    return gvk, ns_name(obj)


def key_of(obj: Mapping[str, Any]) -> Key:
    """`object_key` with the GVK the object names itself."""
    return gvk_of(obj), ns_name(obj)


def cluster_key(obj: Mapping[str, Any]) -> Key:
    """(GVK, "name") of an object of a cluster-scoped kind: a namespace it wrongly carries
    (a hand-made trace's Node) is not part of its identity."""
    meta = obj.get("metadata") or {}
    return gvk_of(obj), str(meta.get("name", ""))
