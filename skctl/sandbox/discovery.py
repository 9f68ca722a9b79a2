"""The sandbox's resource registry: which REST resources exist, and the discovery documents.

Clients (kubectl, DynamicClient) find resources only through discovery, so the registry is
the single source of truth for routing too. Custom resources are added when a
CustomResourceDefinition is created, as on a real server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-skctl-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (e.g. apps/v1 deployments); `key` is what storage is keyed by."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def describe(self) -> dict:
        """Discovery entry (APIResource) for this resource."""
        out: dict = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        return out


def _r(
    group: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    all_cat: bool = False,
    version: str = "v1",
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=("all",) if all_cat else (),
        subresources=sub,
    )


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _r("", "Pod", "pods", short=("po",), sub=("status", "log"), all_cat=True),
    _r("", "Namespace", "namespaces", namespaced=False, short=("ns",), sub=("status",)),
    _r("", "Service", "services", short=("svc",), sub=("status",), all_cat=True),
    _r("", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "Secret", "secrets"),
    _r("", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _r("", "Node", "nodes", namespaced=False, short=("no",), sub=("status",)),
    _r("", "Event", "events", short=("ev",)),
    _r("", "Endpoints", "endpoints", short=("ep",)),
    _r("", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=("status",)),
    _r("", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",), sub=("status",)),
    _r("apps", "Deployment", "deployments", short=("deploy",), sub=("status", "scale"), all_cat=True),
    _r("apps", "ReplicaSet", "replicasets", short=("rs",), sub=("status", "scale"), all_cat=True),
    _r("apps", "StatefulSet", "statefulsets", short=("sts",), sub=("status", "scale"), all_cat=True),
    _r("apps", "DaemonSet", "daemonsets", short=("ds",), sub=("status",), all_cat=True),
    _r("apps", "ControllerRevision", "controllerrevisions"),
    _r("batch", "Job", "jobs", sub=("status",), all_cat=True),
    _r("batch", "CronJob", "cronjobs", short=("cj",), sub=("status",), all_cat=True),
    _r("rbac.authorization.k8s.io", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _r(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short=("crd", "crds"),
        sub=("status",),
    ),
    _r("coordination.k8s.io", "Lease", "leases"),
    _r("scheduling.k8s.io", "PriorityClass", "priorityclasses", namespaced=False, short=("pc",)),
    _r("policy", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), sub=("status",)),
    _r("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), sub=("status",),
       all_cat=True, version="v2"),
)

CRD_TYPE = next(r for r in BUILTIN_RESOURCES if r.plural == "customresourcedefinitions")
NAMESPACE_TYPE = next(r for r in BUILTIN_RESOURCES if r.plural == "namespaces")


def types_from_crd(crd: dict) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition, as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    out = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        subs = tuple(s for s in ("status", "scale") if s in (ver.get("subresources") or {}))
        out.append(
            ResourceType(
                group=spec.get("group") or "",
                version=ver.get("name") or "v1",
                kind=kind,
                plural=plural,
                singular=names.get("singular") or kind.lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subs,
            )
        )
    return out


@dataclass
class Registry:
    """Thread-safe map of (group, version, plural) → ResourceType, plus discovery documents."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _group_order: list[str] = field(default_factory=list)
    _crd_owned: dict[str, list[ResourceType]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_builtins(cls) -> Registry:
        reg = cls()
        for rtype in BUILTIN_RESOURCES:
            reg.add(rtype)
        return reg

    def add(self, rtype: ResourceType) -> None:
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
            if rtype.group not in self._group_order:
                self._group_order.append(rtype.group)

    def add_crd(self, crd: dict) -> list[ResourceType]:
        """Register (or re-register) the resources a CRD defines; returns them."""
        name = (crd.get("metadata") or {}).get("name", "")
        self.remove_crd(name)
        types = types_from_crd(crd)
        for rtype in types:
            self.add(rtype)
        with self._lock:
            self._crd_owned[name] = types
        return types

    def remove_crd(self, name: str) -> list[ResourceType]:
        with self._lock:
            types = self._crd_owned.pop(name, [])
            for rtype in types:
                self._types.pop((rtype.group, rtype.version, rtype.plural), None)
            groups = {g for g, _, _ in self._types}
            self._group_order = [g for g in self._group_order if g in groups]
        return types

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        """Any served version of the resource stored under `key`."""
        with self._lock:
            for rtype in self._types.values():
                if rtype.key == key:
                    return rtype
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rtype in self._types.values():
                if rtype.group == group and rtype.version == version and rtype.kind == kind:
                    return rtype
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def versions(self, group: str) -> list[str]:
        with self._lock:
            seen: list[str] = []
            for g, v, _ in self._types:
                if g == group and v not in seen:
                    seen.append(v)
        return seen

    # --- discovery documents ------------------------------------------------------------
    def api_versions(self, server_address: str) -> dict:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def api_group(self, group: str) -> dict | None:
        versions = self.versions(group)
        if not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def api_group_list(self) -> dict:
        with self._lock:
            groups = [g for g in self._group_order if g]
        docs = [doc for doc in (self.api_group(g) for g in groups) if doc]
        for doc in docs:
            del doc["kind"], doc["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": docs}

    def resource_list(self, group: str, version: str) -> dict | None:
        with self._lock:
            types = [r for (g, v, _), r in self._types.items() if g == group and v == version]
        if not types:
            return None
        resources = []
        for rtype in types:
            resources.append(rtype.describe())
            for sub in rtype.subresources:
                entry = {"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced}
                if sub == "scale":
                    entry.update(group="autoscaling", version="v1", kind="Scale")
                else:
                    entry["kind"] = rtype.kind
                entry["verbs"] = ["get"] if sub == "log" else SUB_VERBS
                resources.append(entry)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
