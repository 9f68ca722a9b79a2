"""Trace validation: SimKube's rules (`skctl validate`), their findings, and fixes.

The rules and their codes are SimKube's, so a code means the same in both tools:

| code  | name                      | finding |
| W0000 | status_field_populated    | an applied object carries a `status` (even an empty one) |
| E0001 | service_account_missing   | a pod template names a ServiceAccount the trace never applies |
| E0002 | envvar_secret_missing     | an env var or envFrom names a Secret the trace never applies |
| E0003 | envvar_configmap_missing  | the same for a ConfigMap |
| E0004 | volume_secret_missing     | a volume names a Secret the trace never applies |
| E0005 | volume_configmap_missing  | the same for a ConfigMap |
| E0100 | usage_series_invalid      | skctl's own: the `usage` section (skctl.trace.usage) has a key it does not know, sample times that do not increase, a negative value, or an owner the trace does not record |

As in SimKube, the trace is walked in order; a resource counts as present from the event
that applies it (the same event included) until one deletes it, in the namespace of the
object that needs it; pod templates are found through the trace config's paths (the
built-in ones included). Two deliberate differences (docs/simkube.md): the ServiceAccount
`default` is never missing (every namespace gets one from the controller manager), and an
env var's Secret is the one `secretKeyRef.name` names (SimKube reads `.key`).

`fix` answers a corrected copy: status dropped; references to missing resources removed
(the ServiceAccount fields, the env/envFrom entries, the volumes and their mounts), so
the pods can be created. Only the objects that change are copied.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.kube.keys import gvk_of, ns_name
from skctl.kube.pointers import iter_pod_templates
from skctl.trace import usage
from skctl.trace.model import Trace
from skctl.trace.tracked import config_of_trace


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    type: str  # "Warning" or "Error", SimKube's words
    help: str


_MISSING_HELP = (
    "A pod needs a {kind} {what} that is not in the trace. The simulation cannot create the pod "
    "while the {kind} does not exist."
)
RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("W0000", "status_field_populated", "Warning",
             "An applied object carries a status field. Status belongs to the object's controller and is not "
             "applied in a simulation; it only makes the trace bigger. Harmless, but worth removing."),
        Rule("E0001", "service_account_missing", "Error", _MISSING_HELP.format(kind="ServiceAccount", what="resource")),
        Rule("E0002", "envvar_secret_missing", "Error", _MISSING_HELP.format(kind="Secret", what="environment variable")),
        Rule("E0003", "envvar_configmap_missing", "Error",
             _MISSING_HELP.format(kind="ConfigMap", what="environment variable")),
        Rule("E0004", "volume_secret_missing", "Error", _MISSING_HELP.format(kind="Secret", what="volume")),
        Rule("E0005", "volume_configmap_missing", "Error", _MISSING_HELP.format(kind="ConfigMap", what="volume")),
        Rule("E0100", "usage_series_invalid", "Error",
             "skctl's own rule: the trace's recorded pod usage (its `usage` section) has a key skctl does not "
             "know, sample times that do not increase, a negative CPU or memory value, or an owner the trace "
             "records nothing of. The driver would replay wrong or unreachable usage."),
    )
}
FIXES = {
    "W0000": "drop the object's status",
    "E0001": "remove serviceAccount/serviceAccountName from the pod template (its pods use the default one)",
    "E0002": "remove the env and envFrom entries that name the missing Secret",
    "E0003": "remove the env and envFrom entries that name the missing ConfigMap",
    "E0004": "remove the Secret volume and its volumeMounts",
    "E0005": "remove the ConfigMap volume and its volumeMounts",
    "E0100": "drop the unknown keys, the owners the trace does not record and every pod series with a bad sample",
}


@dataclass(frozen=True)
class Finding:
    """One failed check: where (event index, its ts, the object's position among the
    event's applied objects) and what (code, object, the missing resource)."""

    event: int
    ts: int
    obj: int
    code: str
    gvk: str
    name: str
    missing: str | None = None
    detail: str | None = None  # what is wrong, for findings not about a missing resource (E0100)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_code(text: str) -> str:
    """'E0001', 'e1', 'W0' → the canonical code; InputError for anything else."""
    m = re.fullmatch(r"([WwEe])(\d{1,4})", text.strip())
    code = f"{m.group(1).upper()}{int(m.group(2)):04d}" if m else None
    if code not in RULES:
        raise InputError(messages.VALIDATE_UNKNOWN_CODE.format(code=text, codes=", ".join(RULES)))
    return code


def _references(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, Any, Any]]:
    """(code, kind, name, container list, item) for every resource a pod spec names; the
    last two say where the reference lives so a fix can remove it."""
    for field in ("serviceAccountName", "serviceAccount"):
        name = spec.get(field)
        if isinstance(name, str) and name and name != "default":
            yield "E0001", "ServiceAccount", name, spec, field
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            for env in container.get("env") or []:
                source = (env or {}).get("valueFrom") or {}
                for ref, code, kind in (("secretKeyRef", "E0002", "Secret"), ("configMapKeyRef", "E0003", "ConfigMap")):
                    name = (source.get(ref) or {}).get("name")
                    if name:
                        yield code, kind, name, container.get("env"), env
            for env_from in container.get("envFrom") or []:
                for ref, code, kind in (("secretRef", "E0002", "Secret"), ("configMapRef", "E0003", "ConfigMap")):
                    name = ((env_from or {}).get(ref) or {}).get("name")
                    if name:
                        yield code, kind, name, container.get("envFrom"), env_from
    for volume in spec.get("volumes") or []:
        name = ((volume or {}).get("secret") or {}).get("secretName")
        if name:
            yield "E0004", "Secret", name, spec.get("volumes"), volume
        name = ((volume or {}).get("configMap") or {}).get("name")
        if name:
            yield "E0005", "ConfigMap", name, spec.get("volumes"), volume


_TRACKED_KINDS = ("ServiceAccount", "Secret", "ConfigMap")


def check(trace: Trace, fix: bool = False, events: Iterable[dict[str, Any]] | None = None,
          ) -> tuple[list[Finding], Trace | None]:
    """Every finding in trace order, and with `fix` the corrected trace (else None).
    `events` replaces trace.events (a stream of chunks, read once: xray's streamed summary)."""
    config = config_of_trace(trace)
    present: dict[str, set[str]] = {kind: set() for kind in _TRACKED_KINDS}
    findings: list[Finding] = []
    out_events: list[dict[str, Any]] | None = [] if fix else None
    for index, event in enumerate(trace.events if events is None else events):
        ts = event["ts"]
        applied = event.get("applied_objs") or []
        for obj in applied:
            if obj.get("kind") in present:
                present[obj["kind"]].add(ns_name(obj))
        for obj in event.get("deleted_objs") or []:
            if obj.get("kind") in present:
                present[obj["kind"]].discard(ns_name(obj))
        new_applied = []
        changed = False
        for position, obj in enumerate(applied):
            gvk, key = gvk_of(obj), ns_name(obj)
            found = _check_object(obj, config.template_paths(gvk), present)
            findings.extend(Finding(index, ts, position, code, gvk, key, missing) for code, missing in found)
            if fix and found:
                obj = _fixed(obj, config.template_paths(gvk), present)
                changed = True
            new_applied.append(obj)
        if out_events is not None:
            out_events.append({**event, "applied_objs": new_applied} if changed else event)
    section = usage.section_of(trace)
    known = _known_owners(trace) if section is not None else set()
    if section is not None:
        for problem in usage.findings(section, known.__contains__):
            owner = problem["owner"] or ["", ""]
            # not an event's: event -1; obj is the pod's position in its owner's list (-1: the owner or section)
            findings.append(Finding(-1, problem["ts"] or 0, problem["pod"] if problem["pod"] is not None else -1,
                                    "E0100", owner[0], owner[1], detail=problem["problem"]))
    if out_events is None:
        return findings, None
    extra = dict(trace.extra)
    if section is not None:
        cleaned = usage.fixed(section, known.__contains__)
        if cleaned is None:
            extra.pop(usage.USAGE_KEY, None)
        else:
            extra[usage.USAGE_KEY] = cleaned
    fixed = Trace(config=trace.config, events=out_events, index=trace.index, pod_lifecycles=trace.pod_lifecycles,
                  version=trace.version, extra=extra)
    return findings, fixed


def _known_owners(trace: Trace) -> set[tuple[str, str]]:
    """Owners the trace records: objects it applies, index entries, lifecycle owners."""
    known = {(gvk_of(obj), ns_name(obj)) for _ts, _action, obj in trace.iter_objects()}
    known.update((gvk, name) for gvk, names in trace.index.items() for name in names)
    known.update(tuple(owner) for owner in trace.pod_lifecycles)  # type: ignore[misc]
    return known


def _check_object(obj: dict[str, Any], paths: tuple[str, ...], present: dict[str, set[str]]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    if obj.get("status") is not None:
        found.append(("W0000", None))
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    for _at, template in iter_pod_templates(obj, paths):
        spec = template.get("spec") if isinstance(template, dict) else None
        if not isinstance(spec, dict):
            continue
        for code, kind, name, _where, _item in _references(spec):
            if f"{ns}/{name}" not in present[kind]:
                found.append((code, f"{kind} {ns}/{name}"))
    return found


def _fixed(obj: dict[str, Any], paths: tuple[str, ...], present: dict[str, set[str]]) -> dict[str, Any]:
    fixed = copy.deepcopy(obj)
    fixed.pop("status", None)
    ns = (fixed.get("metadata") or {}).get("namespace") or ""
    for _at, template in iter_pod_templates(fixed, paths):
        spec = template.get("spec") if isinstance(template, dict) else None
        if not isinstance(spec, dict):
            continue
        dropped_volumes = set()
        for code, kind, name, where, item in list(_references(spec)):
            if f"{ns}/{name}" in present[kind]:
                continue
            if code == "E0001":
                where.pop(item, None)
            elif isinstance(where, list) and item in where:
                where.remove(item)
                if code in ("E0004", "E0005") and isinstance(item.get("name"), str):
                    dropped_volumes.add(item["name"])
        for key in ("containers", "initContainers"):
            for container in spec.get(key) or []:
                if dropped_volumes and container.get("volumeMounts"):
                    container["volumeMounts"] = [m for m in container["volumeMounts"]
                                                 if not isinstance(m, dict) or m.get("name") not in dropped_volumes]
    return fixed


def counts(findings: list[Finding]) -> dict[str, int]:
    """Findings per code, in code order (warnings first, as SimKube sorts them)."""
    result: dict[str, int] = {}
    for code in RULES:
        n = sum(1 for f in findings if f.code == code)
        if n:
            result[code] = n
    return result


def failing_events(findings: list[Finding]) -> list[dict[str, Any]]:
    """One row per event with findings: its index, ts and codes (what `skctl xray` marks)."""
    rows: dict[int, dict[str, Any]] = {}
    for f in findings:
        if f.event < 0:
            continue  # not an event's (E0100: the usage section)
        row = rows.setdefault(f.event, {"event": f.event, "ts": f.ts, "codes": []})
        if f.code not in row["codes"]:
            row["codes"].append(f.code)
    return [rows[i] for i in sorted(rows)]
