"""Synthetic but realistic traces: for the demo, `skctl example`, tests and benchmarks.

The objects look like what a real tracer stores after sanitising: Deployments with full
pod templates (resources, env, probes, volumes), CronJobs, bare Pods, and the pod
lifecycles of their pods. Deterministic for a given seed.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Advance, Progress, no_progress
from skctl.base.timeparse import MAX_TS
from skctl.kube.keys import ns_name
from skctl.trace.model import Obj, Trace, new_event
from skctl.trace.pods import pod_spec_hash, spec_hash

EXAMPLE_START_TS = 1_750_000_000
# `skctl example` bounds: a million events take minutes to generate; more would run for hours.
MAX_EVENTS = 1_000_000
MAX_OBJECTS = 100_000
STEPS = (0, 0, 1, 1, 2, 5)  # seconds between consecutive events
LIFECYCLE_START = (1, 30)  # a pod starts this many seconds after its owner's event...
LIFECYCLE_RUN = (5, 300)  # ...and runs this long
# The most a trace of n events can span: every step the longest, the last pod started and ended late.
_TAIL = LIFECYCLE_START[1] + LIFECYCLE_RUN[1]
NAMESPACES = ("shop", "payments", "search", "batch")
IMAGES = ("nginx:1.27.1", "ghcr.io/acme/api:2.14.0", "redis:7.4", "ghcr.io/acme/worker:5.1.3", "envoyproxy/envoy:v1.31.0")
CONFIG = {
    "trackedObjects": {
        "apps/v1.Deployment": {"podSpecTemplatePaths": ["/spec/template"]},
        "batch/v1.CronJob": {"podSpecTemplatePaths": ["/spec/jobTemplate/spec/template"], "trackLifecycle": True},
        "v1.Pod": {"podSpecTemplatePaths": [""], "trackLifecycle": True, "skipOwned": True},
    }
}


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    cpu = rng.choice(("100m", "250m", "500m", "1"))
    mem = rng.choice(("128Mi", "256Mi", "512Mi", "1Gi"))
    return {
        "name": name,
        "image": rng.choice(IMAGES),
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": rng.choice((80, 8080, 9090)), "name": "http", "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": rng.choice(("info", "debug"))},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        ],
        "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}},
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/etc/app", "name": "config", "readOnly": True}],
    }


def _pod_spec(rng: random.Random, app: str) -> dict[str, Any]:
    return {
        "containers": [_container(rng, app)] + ([_container(rng, "sidecar")] if rng.random() < 0.3 else []),
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}}],
    }


def deployment(rng: random.Random, ns: str, name: str, replicas: int) -> Obj:
    labels = {"app": name, "team": rng.choice(("core", "growth", "infra"))}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": {}},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(rng, name)},
        },
    }


def cronjob(rng: random.Random, ns: str, name: str) -> Obj:
    spec = _pod_spec(rng, name)
    spec["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}, "annotations": {}},
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}},
        },
    }


def bare_pod(rng: random.Random, ns: str, name: str) -> Obj:
    spec = _pod_spec(rng, name)
    spec["restartPolicy"] = "Never"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "annotations": {}}, "spec": spec}


PROGRESS_STEP = 1000  # events generated between two progress reports


def generate(events: int = 200, objects: int = 24, seed: int = 7, start_ts: int = EXAMPLE_START_TS,
             progress: Progress = no_progress) -> Trace:
    """A trace of `events` events over roughly `objects` live objects.

    Most events scale or re-image a Deployment; some create or delete objects; CronJobs
    and bare Pods carry pod lifecycles. Several events can share a second, as in a real trace.
    `progress` counts the events generated (a million take minutes).
    """
    with progress("generating", events) as advance:
        trace = _generate(events, objects, seed, start_ts, advance)
        advance(len(trace.events) % PROGRESS_STEP)
    return trace


def _generate(events: int, objects: int, seed: int, start_ts: int, advance: Advance) -> Trace:
    latest = MAX_TS - events * max(STEPS) - _TAIL
    if start_ts > latest:
        raise InputError(messages.EXAMPLE_TOO_LATE.format(start=start_ts, events=events, latest=max(latest, 0)))
    rng = random.Random(seed)
    trace = Trace(config=copy.deepcopy(CONFIG))
    live: dict[str, Obj] = {}
    ts = start_ts
    serial = 0

    def create() -> Obj:
        nonlocal serial
        serial += 1
        ns = rng.choice(NAMESPACES)
        roll = rng.random()
        if roll < 0.75:
            obj = deployment(rng, ns, f"svc-{serial}", rng.randint(1, 6))
        elif roll < 0.9:
            obj = cronjob(rng, ns, f"job-{serial}")
        else:
            obj = bare_pod(rng, ns, f"pod-{serial}")
        live[ns_name(obj) + "|" + obj["kind"]] = obj
        return obj

    for _ in range(max(1, objects // 2)):
        create()
    trace.events.append(new_event(ts, applied=[copy.deepcopy(o) for o in live.values()]))
    for o in live.values():
        _lifecycle(rng, trace, o, ts)

    while len(trace.events) < events:
        ts += rng.choice(STEPS)
        roll = rng.random()
        keys = list(live)
        if roll < 0.08 and len(live) < objects or not keys:
            obj = create()
            trace.events.append(new_event(ts, applied=[copy.deepcopy(obj)]))
            _lifecycle(rng, trace, obj, ts)
        elif roll < 0.12 and len(live) > 2:
            obj = live.pop(rng.choice(keys))
            trace.events.append(new_event(ts, deleted=[copy.deepcopy(obj)]))
        else:
            obj = live[rng.choice(keys)]
            if obj["kind"] == "Deployment":
                if rng.random() < 0.8:
                    obj["spec"]["replicas"] = rng.randint(0, 12)
                else:
                    obj["spec"]["template"]["spec"]["containers"][0]["image"] = rng.choice(IMAGES)
            else:
                obj["metadata"]["annotations"]["example.com/touched"] = str(ts)
            trace.events.append(new_event(ts, applied=[copy.deepcopy(obj)]))
            if obj["kind"] == "CronJob":  # another scheduled run; a bare pod runs once
                _lifecycle(rng, trace, obj, ts)
        if len(trace.events) % PROGRESS_STEP == 0:
            advance(PROGRESS_STEP)
    _index(trace, live)
    return trace


def _lifecycle(rng: random.Random, trace: Trace, obj: Obj, ts: int) -> None:
    if obj["kind"] not in ("CronJob", "Pod"):
        return
    key = (f"{obj['apiVersion']}.{obj['kind']}", ns_name(obj))
    template = obj["spec"]["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else obj
    pod_hash = pod_spec_hash(template.get("spec") or {})  # the tracer's key (skctl.trace.pods)
    runs = trace.pod_lifecycles.setdefault(key, {}).setdefault(pod_hash, [])
    start = ts + rng.randint(*LIFECYCLE_START)
    runs.append({"start_ts": start, "end_ts": start + rng.randint(*LIFECYCLE_RUN) if rng.random() < 0.9 else None})


def _index(trace: Trace, live: dict[str, Obj]) -> None:
    for obj in live.values():
        trace.index.setdefault(f"{obj['apiVersion']}.{obj['kind']}", {})[ns_name(obj)] = spec_hash(obj)
