"""The tracked objects a trace carries (`trace.config`): which kinds are tracked, where their
pod templates are, and lifecycles. This is part of the trace format; the recorder that
reads the config file is skctl.tracer (skctl.tracer.config.load_config).

The document is SimKube's tracer config, unchanged:

    trackedObjects:
      apps/v1.Deployment: {}
      batch/v1.CronJob:
        trackLifecycle: true
      batch.volcano.sh/v1alpha1.Job:
        podSpecTemplatePaths: ["/spec/tasks/*/template"]

`podSpecTemplatePaths` are JSON pointers (RFC 6901, skctl.kube.pointers) in which a `*` segment stands for
every element of an array, so one path can name all the templates of a multi-task
custom resource. The built-in kinds have known paths; a config value for one of them
that disagrees is rejected (it could only be a typo, and would silently send pods to
real nodes in a simulation).

The same config travels inside every trace (`trace.config`) and is what the driver uses
to find the pod templates it must mutate. One top-level key is skctl's own:
`startingState: false` turns off recording nodes and PriorityClasses (docs/tracer.md), and
`usageInterval: 30s` sets how often pod usage is sampled (a duration; skctl.tracer.usage);
SimKube's config reader ignores unknown top-level keys (only tracked-object entries deny them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.kube.keys import gvk_of
from skctl.kube.pointers import iter_pod_templates, split_pointer

# SPEC section 4. apps/v1.ReplicaSet is listed as "/spec": a path may name either the
# pod template itself or the object that holds it under `template` (see find_pod_templates),
# so "/spec" and "/spec/template" both reach the ReplicaSet's real template.
BUILTIN_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "batch/v1.CronJob": ("/spec/jobTemplate/spec/template",),
    "apps/v1.DaemonSet": ("/spec/template",),
    "apps/v1.Deployment": ("/spec/template",),
    "batch/v1.Job": ("/spec/template",),
    "apps/v1.StatefulSet": ("/spec/template",),
    "apps/v1.ReplicaSet": ("/spec",),
    "v1.Pod": ("",),
}

_KEYS = {"podSpecTemplatePaths", "podSpecTemplatePath", "trackLifecycle", "skipOwned"}
STARTING_STATE_KEY = "startingState"  # top level, skctl's: record nodes and PriorityClasses
USAGE_INTERVAL_KEY = "usageInterval"  # top level, skctl's: how often pod usage is sampled
DEFAULT_USAGE_INTERVAL = 30.0  # seconds, as the HPA controller sees usage
MIN_USAGE_INTERVAL = 1.0


@dataclass(frozen=True)
class TrackConfig:
    """How one GVK is tracked (SimKube's TrackConfig)."""

    pod_spec_template_paths: tuple[str, ...] = ()
    track_lifecycle: bool = False
    skip_owned: bool = False

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.pod_spec_template_paths:
            doc["podSpecTemplatePaths"] = list(self.pod_spec_template_paths)
        if self.track_lifecycle:
            doc["trackLifecycle"] = True
        if self.skip_owned:
            doc["skipOwned"] = True
        return doc


@dataclass
class TracerConfig:
    """The tracked objects, keyed by GVK string ("apps/v1.Deployment", "v1.Pod")."""

    tracked_objects: dict[str, TrackConfig] = field(default_factory=dict)
    # Record the starting state (nodes, PriorityClasses; skctl.trace.cluster). Turned off by the
    # top-level key `startingState: false` or `skctl trace --no-starting-state`.
    starting_state: bool = True
    # Seconds between PodMetrics samples (top-level `usageInterval`, `skctl trace --usage-interval`).
    usage_interval: float = DEFAULT_USAGE_INTERVAL

    def template_paths(self, gvk: str) -> tuple[str, ...]:
        """The pod template paths for a GVK: the configured ones, else the built-in ones."""
        tc = self.tracked_objects.get(gvk)
        if tc is not None and tc.pod_spec_template_paths:
            return tc.pod_spec_template_paths
        return BUILTIN_TEMPLATE_PATHS.get(gvk, ())

    def track_lifecycle(self, gvk: str) -> bool:
        tc = self.tracked_objects.get(gvk)
        return bool(tc and tc.track_lifecycle)

    def skip_owned(self, gvk: str) -> bool:
        tc = self.tracked_objects.get(gvk)
        return bool(tc and tc.skip_owned)

    def to_document(self) -> dict[str, Any]:
        """The `config` entry of a trace (same shape SimKube writes). `startingState: false`
        is written only when off: SimKube's config reader ignores unknown top-level keys."""
        doc: dict[str, Any] = {"trackedObjects": {gvk: tc.to_document() for gvk, tc in self.tracked_objects.items()}}
        if not self.starting_state:
            doc[STARTING_STATE_KEY] = False
        if self.usage_interval != DEFAULT_USAGE_INTERVAL:
            doc[USAGE_INTERVAL_KEY] = f"{self.usage_interval:g}s"
        return doc


def default_template_paths(gvk: str) -> tuple[str, ...]:
    return BUILTIN_TEMPLATE_PATHS.get(gvk, ())


def parse_config(doc: Any, source: str = "<config>", strict: bool = True) -> TracerConfig:
    """Validate a config document. `strict=False` (configs embedded in traces) tolerates
    unknown keys, so traces from a newer SimKube still replay."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise InputError(messages.CONFIG_BAD.format(source=source, detail="expected a mapping with trackedObjects"))
    if strict:
        unknown = set(doc) - {"trackedObjects", STARTING_STATE_KEY, USAGE_INTERVAL_KEY}
        if unknown:
            raise InputError(
                messages.CONFIG_BAD.format(source=source, detail=f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
            )
    tracked = doc.get("trackedObjects") or {}
    if not isinstance(tracked, Mapping):
        raise InputError(messages.CONFIG_BAD.format(source=source, detail="trackedObjects must be a mapping of GVK to settings"))
    result: dict[str, TrackConfig] = {}
    for gvk, settings in tracked.items():
        result[str(gvk)] = _parse_track_config(str(gvk), settings, source, strict)
    starting_state = doc.get(STARTING_STATE_KEY, True)
    if not isinstance(starting_state, bool):
        raise InputError(messages.CONFIG_BAD.format(source=source, detail=f"{STARTING_STATE_KEY} must be true or false"))
    return TracerConfig(result, starting_state=starting_state,
                        usage_interval=parse_usage_interval(doc.get(USAGE_INTERVAL_KEY), source))


def parse_usage_interval(value: Any, source: str = "--usage-interval") -> float:
    """`usageInterval`: a duration (`30s`, `1m`) or a number of seconds, at least one second."""
    from skctl.base.timeparse import parse_duration

    if value is None:
        return DEFAULT_USAGE_INTERVAL
    bad = InputError(messages.CONFIG_BAD.format(
        source=source, detail=f"{USAGE_INTERVAL_KEY} must be a duration of at least 1s, e.g. 30s or 1m"))
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad
    try:
        seconds = parse_duration(str(value))
    except InputError:
        raise bad from None
    if seconds < MIN_USAGE_INTERVAL:
        raise bad
    return seconds


def config_of_trace(trace: Any) -> TracerConfig:
    """The tracer config carried by a trace, read leniently."""
    return parse_config(getattr(trace, "config", None) or {}, "trace config", strict=False)


def _parse_track_config(gvk: str, settings: Any, source: str, strict: bool) -> TrackConfig:
    where = f"trackedObjects.{gvk}"
    if not _valid_gvk(gvk):
        raise InputError(
            messages.CONFIG_BAD.format(
                source=source, detail=f"'{gvk}' is not a GVK; write group/version.Kind, e.g. apps/v1.Deployment or v1.Pod"
            )
        )
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise InputError(messages.CONFIG_BAD.format(source=source, detail=f"{where} must be a mapping"))
    if strict:
        unknown = set(settings) - _KEYS
        if unknown:
            raise InputError(
                messages.CONFIG_BAD.format(
                    source=source,
                    detail=f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                    f"(known: {', '.join(sorted(_KEYS))})",
                )
            )
    paths = settings.get("podSpecTemplatePaths")
    if paths is None:
        paths = []
    single = settings.get("podSpecTemplatePath")  # SimKube's deprecated singular key
    if single is not None:
        if not isinstance(single, str):
            raise InputError(messages.CONFIG_BAD.format(source=source, detail=f"{where}.podSpecTemplatePath must be a string"))
        if isinstance(paths, (list, tuple)) and single not in paths:
            paths = [*paths, single]
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise InputError(messages.CONFIG_BAD.format(source=source, detail=f"{where}.podSpecTemplatePaths must be a list of strings"))
    for p in paths:
        try:
            split_pointer(p)
        except ValueError:
            raise InputError(
                messages.CONFIG_BAD.format(
                    source=source,
                    detail=f"{where}.podSpecTemplatePaths entry '{p}' is not a JSON pointer "
                    "(must start with '/' or be empty; '~' only as ~0 or ~1)",
                )
            ) from None
    builtin = BUILTIN_TEMPLATE_PATHS.get(gvk)
    if builtin is not None and paths and not _agrees(tuple(paths), builtin):
        raise InputError(
            messages.CONFIG_PATH_DISAGREES.format(source=source, gvk=gvk, paths=list(paths), builtin=list(builtin))
        )
    for key in ("trackLifecycle", "skipOwned"):
        if key in settings and not isinstance(settings[key], bool):
            raise InputError(messages.CONFIG_BAD.format(source=source, detail=f"{where}.{key} must be true or false"))
    return TrackConfig(
        pod_spec_template_paths=tuple(paths),
        track_lifecycle=bool(settings.get("trackLifecycle", False)),
        skip_owned=bool(settings.get("skipOwned", False)),
    )


def _valid_gvk(gvk: str) -> bool:
    api_version, dot, kind = gvk.rpartition(".")
    if not dot or not kind or not api_version or not kind[:1].isalpha():
        return False
    group, _, version = api_version.rpartition("/")
    return bool(version) and "/" not in group


def _canonical(path: str) -> str:
    return path[: -len("/template")] if path.endswith("/template") else path


def _agrees(paths: tuple[str, ...], builtin: tuple[str, ...]) -> bool:
    """Same templates as the built-in paths ("/spec" and "/spec/template" name the same one)."""
    return sorted(_canonical(p) for p in paths) == sorted(_canonical(p) for p in builtin) or sorted(paths) == sorted(
        builtin
    )


def find_pod_templates(
    obj: dict[str, Any], gvk: str | None = None, config: TracerConfig | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """All pod templates of an object, as (pointer, template) pairs, through the config's
    podSpecTemplatePaths (or the built-in defaults for the kind)."""
    gvk = gvk or gvk_of(obj)
    paths = (config or TracerConfig()).template_paths(gvk)
    return list(iter_pod_templates(obj, paths))
