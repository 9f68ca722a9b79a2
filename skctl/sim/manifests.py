"""The objects `skctl run` applies: driver namespace, ServiceAccount, RBAC and the driver Job.

Pure functions from options to plain dicts, so `--dry-run`, the cluster path and the
tests all see the same manifests.

RBAC choice (docs/run.md): the driver gets exactly what a replay of the built-in
workload kinds needs — namespaces (create/patch/get/list/delete) and pods, deployments,
replicasets, statefulsets, daemonsets, jobs, cronjobs (create/patch/get/list/delete) —
and of the trace's starting state — priorityclasses and nodes (create/patch/get/list/delete)
and nodes/status (patch, the recorded capacity) — in a ClusterRole
`skctl-driver-workloads` labelled for aggregation. The role bound to
the driver, `skctl-driver`, aggregates every ClusterRole labelled
`simkube.io/aggregate-to-driver: "true"`, so a trace with custom resources (Volcano
Jobs, ...) is replayed by applying one small labelled ClusterRole for those kinds
instead of the driver holding a wildcard over every API group. `skctl run` does not read
the trace (it may live on a node or in a bucket), so it cannot compute the kinds itself.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.logs import DEFAULT_DRIVER_VERBOSITY, VERBOSITY_LEVELS
from skctl.base.timeparse import parse_duration
from skctl.kube.names import DNS1123_LABEL_MAX, is_dns1123_label, is_dns1123_subdomain
from skctl.sim import (  # noqa: F401 - the defaults are re-exported for callers of this module
    DEFAULT_DRIVER_NAMESPACE,
    DEFAULT_NODES,
    DEFAULT_PYZ,
    DEFAULT_PYZ_IMAGE,
    DEFAULT_SKCTL_IMAGE,
    DEFAULT_SPEED,
    DEFAULT_TRACE_PATH,
    DEFAULT_VIRTUAL_NS_PREFIX,
    DRIVER_LABEL,
    HOOKS_ENV,
    MAX_VIRTUAL_NS_PREFIX,
    NODES_SOURCES,
    PAUSED_ANNOTATION,
    SIMULATION_LABEL,
)
from skctl.sim.timing import LIFECYCLE_FLAGS, format_number, lifecycle_delays, parse_millis, parse_speed
from skctl.trace.shape import is_text

SERVICE_ACCOUNT = "skctl-driver"
MAX_COMPLETIONS = 2**31 - 1  # Job.spec.completions is an int32
CLUSTER_ROLE = "skctl-driver"
WORKLOADS_ROLE = "skctl-driver-workloads"
AGGREGATE_LABEL = "simkube.io/aggregate-to-driver"
MANAGED_BY = {"app.kubernetes.io/managed-by": "skctl"}

_NO_MOUNT_SCHEMES = ("memory",)

# (apiGroup, resources) the driver may create/patch/get/list/delete.
WORKLOAD_RESOURCES: list[tuple[str, list[str]]] = [
    ("", ["pods"]),
    ("apps", ["deployments", "replicasets", "statefulsets", "daemonsets"]),
    ("batch", ["jobs", "cronjobs"]),
    ("autoscaling", ["horizontalpodautoscalers"]),  # tracked by default (docs/run.md, "Autoscaling")
]
# The starting state (skctl.sim.nodes, `--nodes trace`; PriorityClasses always): the same verbs.
STATE_RESOURCES: list[tuple[str, list[str]]] = [
    ("scheduling.k8s.io", ["priorityclasses"]),
    ("", ["nodes"]),
]
OBJECT_VERBS = ["create", "patch", "get", "list", "delete"]
# Read-only, for the report recorder (skctl.report, `--report`): nodes and events to
# get/list/watch, and watch on the workload kinds (pods already have get/list/watch).
REPORT_READ_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes", "events"], "verbs": ["get", "list", "watch"]},
    *({"apiGroups": [group], "resources": list(resources), "verbs": ["watch"]}
      for group, resources in WORKLOAD_RESOURCES if group),
]
NAMESPACE_VERBS = ["create", "patch", "get", "list", "delete"]


@dataclass
class RunOptions:
    """Everything `skctl run` turns into manifests; see `skctl run --help`."""

    name: str
    trace_path: str = DEFAULT_TRACE_PATH
    duration: str | None = None
    speed: str | float = DEFAULT_SPEED  # as typed (`skctl run -s`) or a number (`skctl demo`); parse_speed checks it
    repetitions: int = 1
    driver_image: str | None = None
    driver_namespace: str = DEFAULT_DRIVER_NAMESPACE
    driver_secrets: list[str] = field(default_factory=list)
    skip_local_volume_mount: bool = False
    virtual_ns_prefix: str = DEFAULT_VIRTUAL_NS_PREFIX
    driver_verbosity: str = DEFAULT_DRIVER_VERBOSITY
    skctl_pyz: str | None = DEFAULT_PYZ
    storage_options: list[str] = field(default_factory=list)
    lifecycle: dict[str, str | int] = field(default_factory=dict)  # LIFECYCLE_FLAGS → milliseconds
    nodes: str = DEFAULT_NODES  # the driver's --nodes
    report: str | None = None  # `--report DEST` passed on to the driver (a URL the driver pod can write)
    start_paused: bool = False  # the Job starts with the pause annotation (skctl.sim.pause)
    hooks: dict[str, Any] = field(default_factory=dict)  # merged --hooks (skctl.sim.hooks), to the driver's env
    reschedule_bare_pods: bool = False  # `--reschedule-interrupted-bare-pods`, passed on to the driver

    @property
    def image(self) -> str:
        if self.driver_image:
            return self.driver_image
        return DEFAULT_PYZ_IMAGE if self.skctl_pyz else DEFAULT_SKCTL_IMAGE


def validate_name(name: str) -> str:
    if not is_dns1123_label(name):
        raise InputError(messages.RUN_BAD_NAME.format(name=name, max=DNS1123_LABEL_MAX))
    return name


def validate_repetitions(value: object) -> int:
    """A whole number of replays from 1 to MAX_COMPLETIONS (the Job's int32 completions)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COMPLETIONS:
        raise InputError(messages.RUN_BAD_REPETITIONS.format(value=value))
    return value


def validate_label(value: str, flag: str, max_len: int = DNS1123_LABEL_MAX) -> None:
    if len(value) > max_len:
        raise InputError(messages.RUN_LABEL_TOO_LONG.format(flag=flag, value=value, max_len=max_len))
    if not is_dns1123_label(value):
        raise InputError(messages.RUN_BAD_NAMESPACE.format(flag=flag, value=value))


def node_file_path(url: str, error: str = messages.RUN_BAD_TRACE_PATH) -> str | None:
    """The absolute node path a hostPath mount should expose for `url`, or None when the
    URL is not local (cloud storage: no mount). Unsafe or ambiguous paths are InputErrors."""
    from skctl import storage

    protocol = storage.protocol_of(url)  # unknown schemes are InputErrors here
    if protocol in _NO_MOUNT_SCHEMES:
        raise InputError(error.format(url=url, detail="memory:// lives inside one process; the driver pod cannot read it"))
    if protocol != "file":
        storage.check_url(url)  # the same bucket/object rules as every other command
        return None
    if "://" in url:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InputError(error.format(url=url, detail="file:// URLs take an absolute node path, e.g. file:///data/trace"))
        if "?" in url or "#" in url:  # even empty ones: urlsplit drops them, the driver would not
            raise InputError(error.format(url=url, detail="a file:// URL cannot carry ?query or #fragment parts"))
        path = parts.path
    else:
        path = url
    return _check_node_path(url, path, error)


def _check_node_path(url: str, path: str, error: str) -> str:
    if not path:
        raise InputError(error.format(url=url, detail="the path is empty; use e.g. file:///data/trace"))
    if not path.startswith("/"):
        raise InputError(error.format(url=url, detail="the path is relative; give an absolute node path, e.g. file:///data/trace"))
    if path.endswith("/"):
        raise InputError(error.format(url=url, detail="the path ends in '/', a directory; give the path of the file"))
    segments = path.split("/")[1:]
    if ".." in segments:
        raise InputError(error.format(url=url, detail="the path has '..' segments; give a plain absolute path"))
    if posixpath.normpath(path) != path or "." in segments:
        raise InputError(error.format(url=url, detail=f"the path is not normalised; write it as {posixpath.normpath(path)}"))
    if any(ch in path for ch in ("\0", "\n", "\r")):
        raise InputError(error.format(url=url, detail="the path contains control characters"))
    if not is_text(path):  # bytes a manifest (JSON) cannot carry: the mount would name another path
        raise InputError(error.format(url=url, detail="the path has bytes that are not UTF-8; rename the file"))
    return path


def validate_options(opts: RunOptions) -> None:
    """Reject bad input before anything is built or sent (exit 2)."""
    from skctl import storage

    validate_name(opts.name)
    validate_label(opts.driver_namespace, "--driver-namespace")
    # virtual namespaces are "<prefix>-<original ns>": the prefix must leave room for a name
    validate_label(opts.virtual_ns_prefix, "--virtual-ns-prefix", max_len=MAX_VIRTUAL_NS_PREFIX)
    parse_speed(opts.speed)
    if opts.nodes not in NODES_SOURCES:
        raise InputError(messages.RUN_BAD_NODES.format(value=opts.nodes, choices=", ".join(NODES_SOURCES)))
    if opts.duration is not None:
        parse_duration(opts.duration)
    validate_repetitions(opts.repetitions)
    storage.parse_storage_options(opts.storage_options)  # the driver would reject them only in the cluster
    lifecycle_delays(opts.lifecycle)
    image = opts.driver_image
    if image and (image.strip() != image or not is_text(image)):
        raise InputError(messages.RUN_BAD_IMAGE.format(image=image))
    for secret in opts.driver_secrets:
        if not is_dns1123_subdomain(secret):
            raise InputError(messages.RUN_BAD_SECRET.format(name=secret))
    if opts.driver_verbosity not in VERBOSITY_LEVELS:
        raise InputError(messages.RUN_BAD_NAMESPACE.format(flag="--driver-verbosity", value=opts.driver_verbosity))
    # checked even with --skip-local-volume-mount: the driver reads the same path
    node_file_path(opts.trace_path)
    if opts.skctl_pyz:
        if node_file_path(opts.skctl_pyz, messages.RUN_BAD_PYZ_PATH) is None:
            raise InputError(
                messages.RUN_BAD_PYZ_PATH.format(
                    url=opts.skctl_pyz, detail="the zipapp must be a file:// path on the node (or 'none' to use --driver-image)"
                )
            )


def sim_labels(name: str) -> dict[str, str]:
    return {SIMULATION_LABEL: name, **MANAGED_BY}


def driver_args(opts: RunOptions) -> list[str]:
    """`skctl drive ...` as the driver container runs it."""
    args = [
        "drive",
        opts.name,
        "--trace-path",
        opts.trace_path,
        "--speed",
        format_number(parse_speed(opts.speed)),
        "--virtual-ns-prefix",
        opts.virtual_ns_prefix,
        "-v",
        opts.driver_verbosity,
    ]
    if opts.duration is not None:
        args += ["--duration", str(opts.duration)]
    for flag in LIFECYCLE_FLAGS:
        millis = parse_millis(opts.lifecycle.get(flag, 0))
        if millis:
            args += [flag, str(millis)]
    for option in opts.storage_options:
        args += ["--storage-option", option]
    if opts.nodes != DEFAULT_NODES:
        args += ["--nodes", opts.nodes]
    if opts.report:
        args += ["--report", opts.report]
    if opts.reschedule_bare_pods:
        args.append("--reschedule-interrupted-bare-pods")
    if opts.driver_namespace != DEFAULT_DRIVER_NAMESPACE:  # where the driver finds its Job (pause)
        args += ["--driver-namespace", opts.driver_namespace]
    return args


def namespace(opts: RunOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opts.driver_namespace, "labels": dict(MANAGED_BY)}}


def service_account(opts: RunOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": opts.driver_namespace, "labels": dict(MANAGED_BY)},
    }


def workloads_role() -> dict[str, Any]:
    rules: list[dict[str, Any]] = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": list(NAMESPACE_VERBS)}]
    for group, resources in WORKLOAD_RESOURCES:
        rules.append({"apiGroups": [group], "resources": list(resources), "verbs": list(OBJECT_VERBS)})
    for group, resources in STATE_RESOURCES:
        rules.append({"apiGroups": [group], "resources": list(resources), "verbs": list(OBJECT_VERBS)})
    # the recorded capacity of a node the driver made: a node's main resource ignores status
    rules.append({"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]})
    # the pod watcher (skctl.sim.pods) numbers, times and places every simulated pod
    rules.append({"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]})
    rules.extend(dict(rule, verbs=list(rule["verbs"]), resources=list(rule["resources"])) for rule in REPORT_READ_RULES)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": WORKLOADS_ROLE, "labels": {AGGREGATE_LABEL: "true", **MANAGED_BY}},
        "rules": rules,
    }


def driver_role() -> dict[str, Any]:
    # rules are filled in by the cluster's aggregation controller from the labelled roles
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE, "labels": dict(MANAGED_BY)},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_LABEL: "true"}}]},
    }


def role_binding(opts: RunOptions) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{CLUSTER_ROLE}-{opts.driver_namespace}", "labels": dict(MANAGED_BY)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": opts.driver_namespace}],
    }


def job(opts: RunOptions) -> dict[str, Any]:
    """The driver Job: one pod per repetition, one at a time, never retried."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if not opts.skip_local_volume_mount:
        trace_node_path = node_file_path(opts.trace_path)
        if trace_node_path is not None:
            volumes.append({"name": "trace", "hostPath": {"path": trace_node_path, "type": "File"}})
            mounts.append({"name": "trace", "mountPath": trace_node_path, "readOnly": True})
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    if opts.hooks:
        import json

        env.append({"name": HOOKS_ENV, "value": json.dumps(opts.hooks, sort_keys=True)})
    if opts.skctl_pyz:
        pyz_path = node_file_path(opts.skctl_pyz, messages.RUN_BAD_PYZ_PATH)
        assert pyz_path is not None  # validate_options guarantees a local path
        volumes.append({"name": "skctl-pyz", "hostPath": {"path": pyz_path, "type": "File"}})
        mounts.append({"name": "skctl-pyz", "mountPath": pyz_path, "readOnly": True})
        command = ["python3", pyz_path]
        # shiv unpacks the zipapp under $HOME by default; /tmp is writable whoever the image runs as.
        env.append({"name": "SHIV_ROOT", "value": "/tmp/shiv"})
    else:
        command = ["skctl"]
    container: dict[str, Any] = {
        "name": "driver",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "args": driver_args(opts),
        "env": env,
    }
    if opts.driver_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in opts.driver_secrets]
    if mounts:
        container["volumeMounts"] = mounts
    pod_spec: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        # cleanup of the virtual namespaces runs on SIGTERM; give it time before SIGKILL
        "terminationGracePeriodSeconds": 120,
        "containers": [container],
    }
    if volumes:
        pod_spec["volumes"] = volumes
    labels = sim_labels(opts.name)
    meta: dict[str, Any] = {"name": opts.name, "namespace": opts.driver_namespace, "labels": labels}
    if opts.start_paused:
        from skctl.sim.pause import now_text

        meta["annotations"] = {PAUSED_ANNOTATION: now_text()}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "completions": opts.repetitions,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": {**labels, DRIVER_LABEL: "true"}},
                "spec": pod_spec,
            },
        },
    }


def build_manifests(opts: RunOptions) -> list[dict[str, Any]]:
    """All objects of a simulation, in the order they must be applied."""
    validate_options(opts)
    return [namespace(opts), service_account(opts), workloads_role(), driver_role(), role_binding(opts), job(opts)]


def render(manifests: list[dict[str, Any]], fmt: str = "yaml") -> str:
    """Multi-document YAML, or JSON as a v1 List (what `kubectl apply -f` accepts)."""
    if fmt == "json":
        import json

        return json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}, indent=2) + "\n"
    import yaml

    return yaml.safe_dump_all(manifests, sort_keys=False, default_flow_style=False)
