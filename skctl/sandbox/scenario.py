"""A scripted, seeded workload: object churn that looks like controllers at work.

Writes straight into the sandbox store (no HTTP), so every watcher sees the events a real
cluster would produce: Deployments with ReplicaSets and Pods (ownerReferences
Deployment→ReplicaSet→Pod, rollouts on image change, scaling, cascading delete),
CronJobs spawning Jobs spawning Pods that run to completion, bare Pods, and a custom
resource (a Volcano-like `batch.volcano.sh/v1alpha1 Job`) that owns Pods. What the
cluster's controllers do with them is skctl.sandbox.controllers.

Time advances in ticks. Each tick first moves pods along their lifecycle and then performs
one scenario action chosen by a `random.Random(seed)`, so the sequence of actions and
names is the same for a given seed. `step()` runs one tick synchronously (tests);
`start(rate)` runs `rate` ticks per second in a background thread (CLI, demo).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from skctl.kube.times import now_rfc3339
from skctl.sandbox.controllers import Controllers
from skctl.sandbox.errors import ApiError
from skctl.sandbox.store import Store

VOLCANO_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "jobs.batch.volcano.sh"},
    "spec": {
        "group": "batch.volcano.sh",
        "scope": "Namespaced",
        "names": {"plural": "jobs", "singular": "job", "kind": "Job", "shortNames": ["vcjob", "vj"],
                  "listKind": "JobList"},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}

VOLCANO_GVK = "batch.volcano.sh/v1alpha1.Job"


def install_volcano_crd(store: Store, uid: str | None = None, timestamp: str | None = None) -> None:
    """Serve the Volcano-like custom resource (as installing Volcano would), unless already served.

    The generator's cluster needs it to make vcjobs; a simulation cluster needs it to replay them."""
    import json

    if store.registry.by_kind("batch.volcano.sh/v1alpha1", "Job") is not None:
        return
    crd = json.loads(json.dumps(VOLCANO_CRD))
    crd["metadata"].update(uid=uid or str(uuid.uuid4()), creationTimestamp=timestamp or now_rfc3339(store.clock))
    crd_type = store.registry.by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert crd_type is not None  # a built-in type
    with store.cond:
        store.create(crd_type, crd)


DEFAULT_RATE = 5.0  # workload actions per second
SCENARIOS: dict[str, dict[str, int]] = {
    "mixed": {"create_deployment": 3, "scale_deployment": 4, "rollout_deployment": 2, "delete_deployment": 1,
              "cronjob_tick": 3, "create_bare_pod": 2, "delete_bare_pod": 2, "create_vcjob": 2},
    "deployments": {"create_deployment": 3, "scale_deployment": 5, "rollout_deployment": 2,
                    "delete_deployment": 1},
    "cronjobs": {"cronjob_tick": 1},
    "pods": {"create_bare_pod": 1, "delete_bare_pod": 1},
    "volcano": {"create_vcjob": 1},
}
IMAGES = ("nginx:1.25", "nginx:1.26", "redis:7.2", "busybox:1.36", "python:3.12-slim")


@dataclass
class _Counters:
    deployments: int = 0
    cronjobs: int = 0
    jobs: int = 0
    bare: int = 0
    vcjobs: int = 0
    actions: dict[str, int] = field(default_factory=dict)


class WorkloadGenerator(Controllers):
    """Deterministic object churn in one namespace of a sandbox store (see module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        seed: int = 0,
        scenario: str = "mixed",
        namespace: str = "default",
        clock: Callable[[], float] | None = None,
        max_deployments: int = 4,
        max_replicas: int = 4,
        max_bare_pods: int = 6,
        nodes: int = 3,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        import random

        super().__init__(store, random.Random(seed), namespace, clock)
        self.scenario = scenario
        self.max_deployments = max_deployments
        self.max_replicas = max_replicas
        self.max_bare_pods = max_bare_pods
        self.counters = _Counters()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._setup(nodes)

    def _setup(self, nodes: int) -> None:
        with self.store.cond:
            if not self.store.namespace_exists(self.ns):
                self.store.create(self.t_ns, {"metadata": self._meta(self.ns, ns=False), "status": {"phase": "Active"}})
            for i in range(nodes):
                name = f"sandbox-node-{i}"
                if self.store.get_raw(self.t_node, "", name) is None:
                    self.store.create(self.t_node, {
                        "metadata": self._meta(name, {"type": "kwok", "kubernetes.io/hostname": name}, ns=False),
                        "spec": {},
                        "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                                   "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                                   "conditions": [{"type": "Ready", "status": "True"}]},
                    })
            if self.scenario in ("mixed", "volcano"):
                install_volcano_crd(self.store, uid=self._uid(), timestamp=self._ts())
        self.t_vcjob = self.store.registry.by_kind("batch.volcano.sh/v1alpha1", "Job")

    def _deployments(self) -> list[str]:
        return [k[1] for k, _, _ in self.store.list(self.t_deploy, self.ns)[1]]

    def create_deployment(self) -> str:
        if len(self._deployments()) >= self.max_deployments:
            return self.scale_deployment()
        self.counters.deployments += 1
        name = f"web-{self.counters.deployments}"
        labels = {"app": name, "skctl.dev/workload": "sandbox"}
        dep = {
            "metadata": self._meta(name, labels),
            "spec": {
                "replicas": self.rng.randint(1, self.max_replicas),
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "main", "image": self.rng.choice(IMAGES)}]}},
            },
            "status": {},
        }
        self.store.create(self.t_deploy, dep)
        self._reconcile_deployment(name)
        return f"create deployment {name}"

    def scale_deployment(self) -> str:
        deps = self._deployments()
        if not deps:
            return self.create_deployment()
        name = self.rng.choice(deps)
        replicas = self.rng.randint(0, self.max_replicas)
        self.store.update(self.t_deploy, self.ns, name,
                          lambda o: {**o, "spec": {**o["spec"], "replicas": replicas}})
        self._reconcile_deployment(name)
        return f"scale deployment {name} to {replicas}"

    def rollout_deployment(self) -> str:
        deps = self._deployments()
        if not deps:
            return self.create_deployment()
        name = self.rng.choice(deps)
        image = self.rng.choice(IMAGES)

        def set_image(o: dict) -> dict:
            o["spec"]["template"]["spec"]["containers"][0]["image"] = image
            return o

        self.store.update(self.t_deploy, self.ns, name, set_image)
        self._reconcile_deployment(name)
        return f"roll out deployment {name} with {image}"

    def delete_deployment(self) -> str:
        deps = self._deployments()
        if not deps:
            return self.create_deployment()
        name = self.rng.choice(deps)
        self._delete(self.t_deploy, name)
        self._forget_missing_pods()
        return f"delete deployment {name}"

    # --- cronjobs / jobs ---------------------------------------------------------------
    def cronjob_tick(self) -> str:
        cjs = [k[1] for k, _, _ in self.store.list(self.t_cj, self.ns)[1]]
        if not cjs:
            self.counters.cronjobs += 1
            name = f"cron-{self.counters.cronjobs}"
            self.store.create(self.t_cj, {
                "metadata": self._meta(name, {"app": name}),
                "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Allow",
                         "successfulJobsHistoryLimit": 2,
                         "jobTemplate": {"spec": {"completions": 1, "template": {"spec": {
                             "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}},
                "status": {},
            })
            return f"create cronjob {name}"
        name = cjs[0]
        cj = self.store.get(self.t_cj, self.ns, name)
        assert cj is not None
        self.counters.jobs += 1
        job_name = f"{name}-{28000000 + self.counters.jobs}"
        ts = self._ts()
        job = self.store.create(self.t_job, {
            "metadata": self._meta(job_name, {"app": name, "job-name": job_name}, cj),
            "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                     "template": {"metadata": {"labels": {"job-name": job_name}},
                                  "spec": cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]}},
            "status": {"active": 1, "startTime": ts},
        })
        self.store.update(self.t_cj, self.ns, name, lambda o: {**o, "status": {
            "lastScheduleTime": ts, "active": [{"kind": "Job", "name": job_name, "namespace": self.ns,
                                                "uid": job["metadata"]["uid"], "apiVersion": "batch/v1"}]}})
        self._new_pod(f"{job_name}-{self._suffix()}", {"job-name": job_name}, "busybox:1.36", job, "Never",
                      self.rng.randint(1, 3), ("job", job_name))
        finished = sorted(k[1] for k, obj, _ in self.store.list(self.t_job, self.ns)[1]
                          if obj.get("status", {}).get("completionTime"))
        keep = cj["spec"].get("successfulJobsHistoryLimit", 2)
        for old in finished[:-keep] if keep else finished:
            self._delete(self.t_job, old)
        self._forget_missing_pods()
        return f"cronjob {name} starts job {job_name}"

    # --- bare pods ---------------------------------------------------------------------
    def _bare_pods(self) -> list[str]:
        return [k[1] for k, obj, _ in self.store.list(self.t_pod, self.ns)[1]
                if not obj["metadata"].get("ownerReferences")]

    def create_bare_pod(self) -> str:
        if len(self._bare_pods()) >= self.max_bare_pods:
            return self.delete_bare_pod()
        self.counters.bare += 1
        name = f"bare-{self.counters.bare}"
        run_for = self.rng.choice([None, 2, 4])
        self._new_pod(name, {"app": "bare"}, self.rng.choice(IMAGES), None,
                      "Never" if run_for else "Always", run_for)
        return f"create pod {name}"

    def delete_bare_pod(self) -> str:
        pods = self._bare_pods()
        if not pods:
            return self.create_bare_pod()
        name = self.rng.choice(pods)
        self._delete(self.t_pod, name)
        self._forget_missing_pods()
        return f"delete pod {name}"

    # --- custom resource ---------------------------------------------------------------
    def create_vcjob(self) -> str:
        rtype = self.t_vcjob
        if rtype is None:
            return "skip vcjob (CRD absent)"
        existing = sorted(k[1] for k, obj, _ in self.store.list(rtype, self.ns)[1]
                          if obj.get("status", {}).get("state", {}).get("phase") == "Completed")
        for old in existing[:-2]:
            self._delete(rtype, old)
        self.counters.vcjobs += 1
        name = f"vcjob-{self.counters.vcjobs}"
        replicas = self.rng.randint(1, 3)
        vcjob = self.store.create(rtype, {
            "metadata": self._meta(name, {"app": name}),
            "spec": {"minAvailable": replicas, "schedulerName": "volcano", "queue": "default",
                     "tasks": [{"name": "worker", "replicas": replicas, "template": {"spec": {
                         "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}]},
            "status": {"state": {"phase": "Running"}, "running": replicas},
        })
        for i in range(replicas):
            self._new_pod(f"{name}-worker-{i}", {"volcano.sh/job-name": name}, "busybox:1.36", vcjob, "Never",
                          self.rng.randint(1, 4), ("vcjob", name))
        self._forget_missing_pods()
        return f"create vcjob {name} with {replicas} pods"

    # --- driving -----------------------------------------------------------------------
    def step(self) -> str:
        """One tick: advance pod lifecycles, then one scenario action. Returns what it did."""
        with self.store.cond:
            self.tick += 1
            self._advance_pods()
            weights = SCENARIOS[self.scenario]
            action = self.rng.choices(list(weights), weights=list(weights.values()))[0]
            what = getattr(self, action)()
            self.counters.actions[action] = self.counters.actions.get(action, 0) + 1
            self._refresh_deployment_status()
            return what

    def run(self, steps: int) -> list[str]:
        return [self.step() for _ in range(steps)]

    def start(self, rate: float = DEFAULT_RATE) -> WorkloadGenerator:
        """Run `rate` ticks per second in a daemon thread until `stop()`."""
        interval = 1.0 / max(rate, 0.001)

        def loop() -> None:
            next_at = time.monotonic()
            while not self._stop.is_set() and not self.store.closed:
                try:
                    self.step()
                except ApiError as exc:  # e.g. a test deleted the namespace under us
                    self.errors.append(exc.message)
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

        self._thread = threading.Thread(target=loop, name="skctl-sandbox-workload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
