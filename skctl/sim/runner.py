"""The cluster side of `skctl run` and `skctl delete`: apply, follow and remove simulations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.kube.api import ApiError, Kube
from skctl.sim import DEFAULT_SCHEDULE_TIMEOUT, FIELD_MANAGER, SIMULATION_LABEL, VIRTUAL_LABEL
from skctl.sim.driver import DriveOptions, Driver, DriveResult, Step, StepRecord, schedule
from skctl.sim.manifests import RunOptions
from skctl.sim.nodes import simulation_nodes_selector
from skctl.trace.model import Trace

POLL_SECONDS = 2.0
LOG_LINES = 20


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will do: its steps, the trace time they span and the wall time it takes."""

    steps: list[Step]
    span: float  # trace seconds from the first event to the last
    wall: float  # seconds the replay lasts at the chosen speed


def plan_replay(trace: Trace, opts: DriveOptions) -> ReplayPlan:
    """The steps of a replay of `trace` with `opts`, and how long it will run."""
    steps = schedule(trace, opts.speed, opts.duration)
    span = steps[-1].ts - steps[0].ts if steps else 0
    wall = (opts.duration if opts.duration is not None else span) / opts.speed
    return ReplayPlan(steps, span, wall)


def drive(
    kube: Kube, trace: Trace, opts: DriveOptions, on_step: Callable[[StepRecord], None] | None = None
) -> DriveResult:
    """Replay `trace` into the cluster; SIGTERM (the pod is deleted) and SIGINT stop it
    gracefully, so the cleanup of what the simulation created still runs. `on_step` sees
    each event once it is replayed (a live view, `skctl demo`)."""
    from skctl.base.signals import stop_on_signals

    driver = Driver(kube, trace, opts, on_step=on_step)
    with stop_on_signals(driver.stop):
        return driver.run()


def connect(kubeconfig: str | None, context: str | None) -> Kube:
    """A Kube for the chosen cluster, checked to be reachable (one cheap GET /version)."""
    from skctl.kube.client import connect as client_connect

    kube = Kube(client_connect(kubeconfig, context), field_manager=FIELD_MANAGER)
    try:
        kube.request("GET", "/version", what="version request")
    except ApiError as exc:
        if exc.code not in (401, 403, 404):
            raise
    except BaseException:
        kube.close()
        raise
    return kube


def apply_simulation(kube: Kube, opts: RunOptions, objects: list[dict[str, Any]], out: IO[str] | None = None) -> list[dict[str, Any]]:
    """Server-side apply every manifest in order; a rerun with the same options changes nothing."""
    applied = []
    for obj in objects:
        try:
            applied.append(kube.apply(obj))
        except ApiError as exc:
            if obj["kind"] == "Job" and exc.code == 422:
                # a Job's pod template is immutable: same name, different settings
                raise InputError(messages.RUN_JOB_CONFLICT.format(name=opts.name, namespace=opts.driver_namespace)) from exc
            raise
    if out is not None:
        print(
            messages.RUN_APPLIED.format(name=opts.name, count=len(applied), namespace=opts.driver_namespace, job=opts.name),
            file=out,
        )
    return applied


def _job_state(job: dict[str, Any]) -> tuple[str | None, str]:
    """('Complete'|'Failed'|None, reason)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"):
            kind = "Complete" if cond["type"] in ("Complete", "SuccessCriteriaMet") else "Failed"
            return kind, cond.get("reason") or cond.get("message") or cond["type"]
    return None, ""


def driver_log_tail(kube: Kube, namespace: str, name: str, lines: int = LOG_LINES) -> tuple[str | None, str]:
    """(pod name, last log lines) of the simulation's most recent driver pod, best effort."""
    try:
        pods = kube.list("v1", "Pod", namespace, label_selector=f"{SIMULATION_LABEL}={name}")
    except (ApiError, InputError):
        return None, ""
    if not pods:
        return None, ""
    pods.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    pod = pods[-1]["metadata"]["name"]
    try:
        text = kube.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
            query={"tailLines": lines},
            raw=True,
            what=f"logs of {pod}",
        )
    except ApiError:
        return pod, ""
    return pod, text or ""


def unschedulable_reason(pod: dict[str, Any]) -> str | None:
    """The scheduler's word on a pod it cannot place (its PodScheduled=False condition message,
    e.g. "0/4 nodes are available: ..."), or None for a pod that is placed or not yet judged."""
    status = pod.get("status") or {}
    if (pod.get("spec") or {}).get("nodeName") or status.get("phase") not in (None, "Pending"):
        return None
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return " ".join(str(cond.get("message") or cond.get("reason") or "Unschedulable").split())
    return None


def _driver_pods(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    try:
        return kube.list("v1", "Pod", namespace, label_selector=f"{SIMULATION_LABEL}={name}")
    except ApiError:
        return []  # best effort: the Job's own status still decides


def wait_for_job(
    kube: Kube,
    opts: RunOptions,
    out: IO[str],
    poll: float = POLL_SECONDS,
    timeout: float | None = None,
    schedule_timeout: float = DEFAULT_SCHEDULE_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow the driver Job until it completes (0) or fails (1), printing progress.

    A Job counts a Pending pod as active, but a driver pod the scheduler cannot place never
    runs: its reason is printed once (and again when it changes), and after it has stayed
    unschedulable for `schedule_timeout` seconds the wait gives up (OperationalError, exit 1).
    """
    ns, name = opts.driver_namespace, opts.name
    print(messages.RUN_WAITING.format(namespace=ns, job=name, completions=opts.repetitions), file=out, flush=True)
    last = None
    deadline = None if timeout is None else clock() + timeout
    stuck: dict[str, tuple[float, str]] = {}  # pod name -> (first seen unschedulable, reason)
    while True:
        job = kube.get("batch/v1", "Job", name, ns)
        if job is None:
            raise OperationalError(messages.RUN_JOB_VANISHED.format(namespace=ns, job=name))
        status = job.get("status") or {}
        progress = (status.get("succeeded", 0), status.get("active", 0), status.get("failed", 0))
        if progress != last:
            last = progress
            print(
                messages.RUN_PROGRESS.format(
                    namespace=ns, job=name, succeeded=progress[0], active=progress[1], failed=progress[2], completions=opts.repetitions
                ),
                file=out,
                flush=True,
            )
        state, reason = _job_state(job)
        if state is not None:
            pod, logs = driver_log_tail(kube, ns, name)
            if pod and logs.strip():
                print(messages.RUN_LOG_HEADER.format(pod=pod), file=out)
                for line in logs.rstrip("\n").splitlines()[-LOG_LINES:]:
                    print(f"  {line}", file=out)
            if state == "Complete":
                print(messages.RUN_JOB_SUCCEEDED.format(name=name, succeeded=progress[0], completions=opts.repetitions), file=out)
                return 0
            raise OperationalError(messages.RUN_JOB_FAILED.format(name=name, namespace=ns, job=name, reason=reason))
        if progress[1]:
            _check_scheduling(kube, opts, out, stuck, schedule_timeout, clock())
        if deadline is not None and clock() > deadline:
            raise OperationalError(messages.RUN_WAIT_TIMEOUT.format(namespace=ns, job=name, timeout=f"{timeout:g}s"))
        sleep(poll)


def _check_scheduling(
    kube: Kube, opts: RunOptions, out: IO[str], stuck: dict[str, tuple[float, str]], bound: float, now: float
) -> None:
    """Note the driver pods the scheduler cannot place; give up on one stuck longer than `bound`."""
    ns = opts.driver_namespace
    seen: dict[str, tuple[float, str]] = {}
    for pod in _driver_pods(kube, ns, opts.name):
        reason = unschedulable_reason(pod)
        if reason is None:
            continue
        pod_name = str((pod.get("metadata") or {}).get("name"))
        since, before = stuck.get(pod_name, (now, None))
        seen[pod_name] = (since, reason)
        if reason != before:
            print(messages.RUN_UNSCHEDULABLE.format(namespace=ns, pod=pod_name, reason=reason), file=out, flush=True)
        if now - since >= bound:
            raise OperationalError(messages.RUN_SCHEDULE_TIMEOUT.format(
                namespace=ns, pod=pod_name, timeout=f"{bound:g}s", reason=reason.rstrip("."), name=opts.name))
    stuck.clear()
    stuck.update(seen)  # a pod placed (or gone) meanwhile starts afresh if it is ever stuck again


def virtual_namespaces(kube: Kube, name: str) -> list[dict[str, Any]]:
    items = kube.list("v1", "Namespace", label_selector=f"{SIMULATION_LABEL}={name},{VIRTUAL_LABEL}=true")
    return sorted(items, key=lambda item: str(item["metadata"]["name"]))


def delete_simulation(kube: Kube, name: str, driver_namespace: str) -> tuple[list[str], list[str]]:
    """Delete the driver Job (its pods go with it), every virtual namespace of `name` and
    the nodes its driver made from the trace's starting state (`--nodes trace`).

    Returns (what was deleted now, namespaces already Terminating from an earlier delete:
    deleting them again would say nothing true). Nothing left at all is an OperationalError.
    """
    deleted: list[str] = []
    terminating: list[str] = []
    if kube.delete("batch/v1", "Job", name, driver_namespace, propagation="Background"):
        deleted.append(f"Job {driver_namespace}/{name}")
    for item in virtual_namespaces(kube, name):
        ns = item["metadata"]["name"]
        if item["metadata"].get("deletionTimestamp"):
            terminating.append(ns)
        elif kube.delete("v1", "Namespace", ns, propagation="Background"):
            deleted.append(f"namespace {ns}")
    try:
        nodes = kube.list("v1", "Node", label_selector=simulation_nodes_selector(name))
    except ApiError as exc:
        if exc.code != 403:
            raise
        nodes = []  # not allowed to see nodes: this user cannot have made any either
    for node in nodes:
        if kube.delete("v1", "Node", node["metadata"]["name"]):
            deleted.append(f"node {node['metadata']['name']}")
    if not deleted and not terminating:
        raise OperationalError(messages.DELETE_MISSING.format(name=name, namespace=driver_namespace))
    return deleted, terminating
