"""The sandbox's fake controllers: what a cluster's controllers and kubelets would do with
the objects the workload scenario (skctl.sandbox.scenario) writes.

Pods move along their lifecycle (Pending → Running → Succeeded, with startTime and
container start/finish times), Jobs and Volcano-like jobs count their finished pods,
Deployments get a ReplicaSet per pod template (named by its hash) and ReplicaSets their
pods, and both report the status a real controller would. Everything writes straight into
the store (no HTTP), so every watcher sees the events a real cluster would produce.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skctl.kube.names import NAME_SUFFIX_ALPHABET
from skctl.kube.times import now_rfc3339
from skctl.sandbox.discovery import ResourceType
from skctl.sandbox.errors import ApiError
from skctl.sandbox.store import Store


@dataclass
class _PodState:
    ns: str
    name: str
    phase: str = "Pending"
    since: int = 0
    run_for: int | None = None  # ticks Running before Succeeded; None runs until deleted
    owner: tuple[str, str] | None = None  # ("job"|"vcjob", name) for run-to-completion owners


def _image_id(image: str) -> str:
    repo = image.split(":")[0]
    return f"docker.io/library/{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _owner_ref(obj: dict, block: bool = True) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


class Controllers:
    """The controllers of one namespace of a sandbox store; `rng` makes their choices (node,
    pod IP, name suffixes, uids), so a seeded scenario writes the same objects every run."""

    def __init__(self, store: Store, rng: random.Random, namespace: str = "default",
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.rng = rng
        self.ns = namespace
        self.clock = clock or time.time
        self.tick = 0
        self._pods: dict[tuple[str, str], _PodState] = {}
        r = store.registry
        self.t_pod = self._builtin(r, "v1", "Pod")
        self.t_node = self._builtin(r, "v1", "Node")
        self.t_ns = self._builtin(r, "v1", "Namespace")
        self.t_deploy = self._builtin(r, "apps/v1", "Deployment")
        self.t_rs = self._builtin(r, "apps/v1", "ReplicaSet")
        self.t_job = self._builtin(r, "batch/v1", "Job")
        self.t_cj = self._builtin(r, "batch/v1", "CronJob")
        self.t_vcjob: ResourceType | None = None  # the Volcano-like job, once its CRD is served

    @staticmethod
    def _builtin(registry: object, api_version: str, kind: str) -> ResourceType:
        rtype = registry.by_kind(api_version, kind)  # type: ignore[attr-defined]
        assert rtype is not None
        return rtype

    # --- helpers -----------------------------------------------------------------------
    def _ts(self) -> str:
        return now_rfc3339(self.clock)

    def _uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _suffix(self, n: int = 5) -> str:
        return "".join(self.rng.choice(NAME_SUFFIX_ALPHABET) for _ in range(n))

    def _meta(self, name: str, labels: dict | None = None, owner: dict | None = None, ns: bool = True) -> dict:
        meta: dict = {"name": name, "uid": self._uid(), "creationTimestamp": self._ts()}
        if ns:
            meta["namespace"] = self.ns
        if labels:
            meta["labels"] = dict(labels)
        if owner is not None:
            meta["ownerReferences"] = [_owner_ref(owner)]
        return meta

    def _new_pod(self, name: str, labels: dict, image: str, owner: dict | None, restart: str,
                 run_for: int | None, owned_by: tuple[str, str] | None = None) -> None:
        pod = {
            "metadata": self._meta(name, labels, owner),
            "spec": {
                "containers": [{"name": "main", "image": image,
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                "restartPolicy": restart,
                "schedulerName": "default-scheduler",
                "terminationGracePeriodSeconds": 30,
            },
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        self.store.create(self.t_pod, pod)
        self._pods[(self.ns, name)] = _PodState(self.ns, name, since=self.tick, run_for=run_for, owner=owned_by)

    def _delete(self, rtype: ResourceType, name: str) -> None:
        try:
            self.store.delete(rtype, self.ns, name, propagation="Background")
        except ApiError:
            pass

    def _forget_missing_pods(self) -> None:
        for key in [k for k in self._pods if self.store.get_raw(self.t_pod, *k) is None]:
            del self._pods[key]

    # --- lifecycle -----------------------------------------------------------------------
    def _advance_pods(self) -> None:
        self._forget_missing_pods()
        for key, st in sorted(self._pods.items()):
            age = self.tick - st.since
            if st.phase == "Pending" and age >= 1:
                node = f"sandbox-node-{self.rng.randrange(3)}"
                ts = self._ts()

                def run(pod: dict, node: str = node, ts: str = ts) -> dict:
                    pod["spec"]["nodeName"] = node
                    pod["status"] = {
                        "phase": "Running", "qosClass": "Burstable", "startTime": ts, "hostIP": "10.0.0.1",
                        "podIP": f"10.244.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}",
                        "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts}
                                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                        "containerStatuses": [{
                            "name": "main", "image": pod["spec"]["containers"][0]["image"], "ready": True,
                            "imageID": _image_id(pod["spec"]["containers"][0]["image"]),
                            "containerID": f"containerd://{self._uid().replace('-', '')}",
                            "started": True, "restartCount": 0, "state": {"running": {"startedAt": ts}},
                        }],
                    }
                    return pod

                self.store.update(self.t_pod, *key, run)
                st.phase, st.since = "Running", self.tick
            elif st.phase == "Running" and st.run_for is not None and age >= st.run_for:
                ts = self._ts()

                def finish(pod: dict, ts: str = ts) -> dict:
                    status = pod["status"]
                    status["phase"] = "Succeeded"
                    for cond in status.get("conditions", []):
                        if cond["type"] in ("Ready", "ContainersReady"):
                            cond.update(status="False", reason="PodCompleted", lastTransitionTime=ts)
                    for cs in status.get("containerStatuses", []):
                        started = cs["state"].get("running", {}).get("startedAt", ts)
                        cs.update(ready=False, started=False, state={"terminated": {
                            "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": ts}})
                    return pod

                self.store.update(self.t_pod, *key, finish)
                st.phase, st.since = "Succeeded", self.tick
                if st.owner is not None:
                    self._owner_pod_done(*st.owner, ts)
        self._refresh_deployment_status()

    def _owner_pod_done(self, kind: str, name: str, ts: str) -> None:
        rtype = self.t_job if kind == "job" else self.t_vcjob
        if rtype is None or self.store.get_raw(rtype, self.ns, name) is None:
            return

        def done(obj: dict) -> dict:
            status = obj.setdefault("status", {})
            status["succeeded"] = status.get("succeeded", 0) + 1
            status["active"] = max(0, status.get("active", 1) - 1)
            want = (obj.get("spec") or {}).get("completions") or (obj.get("spec") or {}).get("minAvailable", 1)
            if status["succeeded"] >= want:
                if kind == "job":
                    status["completionTime"] = ts
                    status["conditions"] = [{"type": "Complete", "status": "True", "lastTransitionTime": ts}]
                else:
                    status["state"] = {"phase": "Completed", "lastTransitionTime": ts}
            return obj

        self.store.update(rtype, self.ns, name, done)

    def _refresh_deployment_status(self) -> None:
        running = {k for k, st in self._pods.items() if st.phase == "Running"}
        pods_by_rs: dict[str, list[tuple[str, str]]] = {}
        for pod in self.store.list(self.t_pod, self.ns)[1]:
            obj = pod[1]
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("kind") == "ReplicaSet":
                    pods_by_rs.setdefault(ref["name"], []).append(pod[0])
        for (_, rs_name), rs, _ in self.store.list(self.t_rs, self.ns)[1]:
            pods = pods_by_rs.get(rs_name, [])
            ready = sum(1 for p in pods if p in running)
            want = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                    "fullyLabeledReplicas": len(pods), "observedGeneration": rs["metadata"]["generation"]}
            if {k: rs.get("status", {}).get(k) for k in want} != want:
                self.store.update(self.t_rs, self.ns, rs_name, _status_to(want))
        for (_, dep_name), dep, _ in self.store.list(self.t_deploy, self.ns)[1]:
            rs_list = [obj for _, obj, _ in self.store.list(self.t_rs, self.ns)[1]
                       if any(r.get("uid") == dep["metadata"]["uid"]
                              for r in obj["metadata"].get("ownerReferences") or ())]
            current = self._template_hash(dep)
            total = sum(rs.get("status", {}).get("replicas", 0) for rs in rs_list)
            ready = sum(rs.get("status", {}).get("readyReplicas", 0) for rs in rs_list)
            updated = sum(rs.get("status", {}).get("replicas", 0) for rs in rs_list
                          if rs["metadata"]["labels"].get("pod-template-hash") == current)
            want = {"observedGeneration": dep["metadata"]["generation"], "replicas": total,
                    "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                    "unavailableReplicas": max(0, dep["spec"].get("replicas", 1) - ready)}
            if {k: dep.get("status", {}).get(k) for k in want} != want:
                self.store.update(self.t_deploy, self.ns, dep_name, _status_to(want))

    # --- deployments -------------------------------------------------------------------
    @staticmethod
    def _template_hash(dep: dict) -> str:
        import json

        digest = hashlib.sha256(json.dumps(dep["spec"]["template"], sort_keys=True).encode()).digest()
        return "".join(NAME_SUFFIX_ALPHABET[b % len(NAME_SUFFIX_ALPHABET)] for b in digest[:10])

    def _reconcile_deployment(self, name: str) -> None:
        dep = self.store.get(self.t_deploy, self.ns, name)
        if dep is None:
            return
        tmpl_hash = self._template_hash(dep)
        owned = [obj for _, obj, _ in self.store.list(self.t_rs, self.ns)[1]
                 if any(r.get("uid") == dep["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or ())]
        rs_name = f"{name}-{tmpl_hash}"
        if not any(rs["metadata"]["name"] == rs_name for rs in owned):
            template = dep["spec"]["template"]
            labels = {**template["metadata"].get("labels", {}), "pod-template-hash": tmpl_hash}
            rs = {
                "metadata": self._meta(rs_name, labels, dep),
                "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": template["spec"]}},
                "status": {"replicas": 0},
            }
            rs["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": str(len(owned) + 1)}
            owned.append(self.store.create(self.t_rs, rs))
        for rs in owned:
            want = dep["spec"].get("replicas", 1) if rs["metadata"]["name"] == rs_name else 0
            if rs["spec"].get("replicas") != want:
                rs = self.store.update(self.t_rs, self.ns, rs["metadata"]["name"], _replicas_to(want))
            self._reconcile_replicaset(rs["metadata"]["name"])

    def _reconcile_replicaset(self, name: str) -> None:
        rs = self.store.get(self.t_rs, self.ns, name)
        if rs is None:
            return
        pods = sorted(k[1] for k, obj, _ in self.store.list(self.t_pod, self.ns)[1]
                      if any(r.get("uid") == rs["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or ()))
        want = rs["spec"].get("replicas", 0)
        for pod_name in pods[want:]:
            self._delete(self.t_pod, pod_name)
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        for _ in range(want - len(pods)):
            self._new_pod(f"{name}-{self._suffix()}", rs["spec"]["template"]["metadata"]["labels"], image, rs,
                          "Always", None)


def _status_to(want: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A store.update mutation that sets the status to `want`."""
    return lambda obj: {**obj, "status": want}


def _replicas_to(want: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A store.update mutation that sets spec.replicas to `want`."""
    return lambda obj: {**obj, "spec": {**obj["spec"], "replicas": want}}
