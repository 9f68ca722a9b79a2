"""Replay pre-flight, permissions: may this identity make every call the replay will make?

Asked of the API server itself with SelfSubjectAccessReview (authorization.k8s.io/v1), one
review per (verb, API group, resource), before the first write, so a missing permission
fails the run at once with the fix in one line instead of as 403s hours into a replay. The
verbs are the ones the driver really uses (skctl.sim.driver, skctl.sim.pods):

- every replayed kind: `create` and `patch` (server-side apply creates with both), `get`
  (cluster-scoped objects are checked before they are claimed; the pod handler reads pods'
  owners); `delete` when the trace deletes objects of that kind, and for cluster-scoped
  kinds (cleanup deletes what the run created; namespaced ones go with their namespace);
- namespaces: create, patch, get, list, delete (virtual namespaces and cleanup);
- pods, when the driver watches them: list and watch (the pod watcher), patch (numbering,
  completion, placement) and delete (a pod that would reach a real node);
- the trace's starting state: PriorityClasses as a replayed cluster-scoped kind; with
  `--nodes trace`, nodes (create, patch, get, list, delete) and `nodes/status` (patch: the
  recorded capacity).

Every review is cluster-wide (no namespace): the driver creates the virtual namespaces itself
(deleting leftovers first), so nothing but a cluster-wide grant can reach inside them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.kube.api import ApiError, Kube, Resource
from skctl.sim.manifests import AGGREGATE_LABEL, CLUSTER_ROLE

log = logging.getLogger("skctl.sim.access")
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
REPLAY_VERBS = ("create", "patch", "get")
NAMESPACE_VERBS = ("create", "patch", "get", "list", "delete")
POD_WATCH_VERBS = ("list", "watch", "patch", "delete")
NODE_VERBS = ("create", "patch", "get", "list", "delete")
PARALLEL_REVIEWS = 8
MAX_NAMED = 3  # missing permissions named in the message; the kubectl fix covers all of them
EXTRA_ROLE = f"{CLUSTER_ROLE}-extra"


@dataclass(frozen=True, order=True)
class Permission:
    """One (API group, resource, verb) the replay needs."""

    group: str
    resource: str
    verb: str


def needed(kinds: Iterable[tuple[Resource, bool]], watch_pods: bool, make_nodes: bool = False) -> list[Permission]:
    """What a replay needs of `kinds` ((resource, whether the trace deletes some)), the virtual
    namespaces, with `watch_pods` the pod watcher and with `make_nodes` the trace's nodes;
    sorted, without duplicates."""
    wanted = {Permission("", "namespaces", verb) for verb in NAMESPACE_VERBS}
    if watch_pods:
        wanted |= {Permission("", "pods", verb) for verb in POD_WATCH_VERBS}
    if make_nodes:
        wanted |= {Permission("", "nodes", verb) for verb in NODE_VERBS}
        wanted.add(Permission("", "nodes/status", "patch"))
    for res, deletes in kinds:
        if (res.group, res.plural) == ("", "namespaces"):
            continue  # recorded namespaces are not replayed: virtual ones stand in for them
        verbs = REPLAY_VERBS + (("delete",) if deletes or not res.namespaced else ())
        wanted |= {Permission(res.group, res.plural, verb) for verb in verbs}
    return sorted(wanted)


def allowed(kube: Kube, perm: Permission) -> bool | None:
    """The server's answer for `perm` cluster-wide; None when it cannot review (SSAR not served,
    or the identity may not ask: a check that cannot be made must not block the replay)."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": perm.verb, "group": perm.group, "resource": perm.resource}},
    }
    try:
        answer = kube.request("POST", SSAR_PATH, body=body, what="SelfSubjectAccessReview")
    except ApiError as exc:
        if exc.code in (403, 404, 405):
            log.debug("no SelfSubjectAccessReview for %s: %s", perm, exc)
            return None
        raise
    return bool(((answer or {}).get("status") or {}).get("allowed"))


def check(kube: Kube, permissions: list[Permission]) -> None:
    """InputError naming what is missing and how to grant it, if anything is."""
    if not permissions:
        return
    with ThreadPoolExecutor(min(PARALLEL_REVIEWS, len(permissions)), thread_name_prefix="ssar") as pool:
        answers = list(pool.map(lambda perm: allowed(kube, perm), permissions))
    if None in answers:
        log.warning(messages.DRIVE_ACCESS_UNCHECKED)
        return
    missing = [perm for perm, ok in zip(permissions, answers, strict=True) if not ok]
    if missing:
        raise InputError(describe(missing))


def describe(missing: list[Permission]) -> str:
    """The one line for `missing`: what, and the ClusterRole that adds it to the driver's."""
    by_resource: dict[tuple[str, str], list[str]] = {}
    for perm in missing:
        by_resource.setdefault((perm.group, perm.resource), []).append(perm.verb)
    named = [
        f"{', '.join(verbs)} {resource} (API group \"{group}\")"
        for (group, resource), verbs in list(by_resource.items())[:MAX_NAMED]
    ]
    more = len(by_resource) - len(named)
    verbs = sorted({perm.verb for perm in missing})
    resources = [f"{resource}.{group}" if group else resource for group, resource in by_resource]
    return messages.DRIVE_FORBIDDEN.format(
        missing="; ".join(named) + (f"; and {more} more resource(s)" if more else ""),
        role=CLUSTER_ROLE,
        label=AGGREGATE_LABEL,
        extra=EXTRA_ROLE,
        verbs=",".join(verbs),
        resources=",".join(resources),
    )
