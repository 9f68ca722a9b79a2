"""Differential conformance: the same scripted operations against the sandbox and a real API server.

Each scenario runs through the official client (raw calls, as skctl makes them) or kubectl, in a
fresh namespace on both servers, and reduces what happened to a comparable outcome: status codes,
the fields that matter, watch event types in order. A scenario whose outcomes differ must be listed
in docs/sandbox.md's table of checked differences (by its id), and a listed id whose outcomes now
agree fails too, so the list stays honest both ways.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Cluster
from tests.helpers import deployment

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sandbox.md"
DIFF_ROW = re.compile(r"^\|\s*`(?P<id>[a-z0-9-]+)`\s*\|")
DIFF_SECTION = "## Checked against a real API server"

Outcome = list[Any]


@dataclass
class Target:
    """One server as the scenarios see it: raw calls through the official client, kubectl, compaction."""

    name: str
    api: Any  # kubernetes.client.ApiClient
    kubeconfig: Path
    kubectl_bin: str
    compact: Callable[[], None]
    ns: str = ""
    cleanup: list[str] = field(default_factory=list)

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any, content_type: str,
              timeout: float) -> Any:
        from urllib.parse import urlencode

        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        req = self.api.param_serialize(method=method, resource_path=url, header_params=headers,
                                       # the client JSON-encodes bodies of JSON content types itself
                                       body=body if "json" in content_type or body is None else json.dumps(body),
                                       auth_settings=["BearerToken"])
        return self.api.call_api(*req, _request_timeout=timeout)

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        resp = self._send(method, path, query, body, content_type, 30)
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data

    def watch(self, path: str, query: dict[str, Any], seconds: float = 3.0) -> tuple[int, list[dict[str, Any]]]:
        """A watch read until it ends (timeoutSeconds): (status, events)."""
        q = {"watch": "true", "timeoutSeconds": int(seconds), **query}
        resp = self._send("GET", path, q, None, "", seconds + 10)
        if resp.status != 200:
            resp.read()
            return resp.status, []
        events, buf = [], b""
        for chunk in resp.response.stream(4096, decode_content=True):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    events.append(json.loads(line))
        resp.response.release_conn()
        return resp.status, events

    def kubectl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", "-n", self.ns, *args],
                              capture_output=True, text=True, timeout=60)


def cm(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": {"k": "v"}}


APPLY = "application/apply-patch+yaml"
WEB: dict[str, Any] = {"image": "nginx:1.27", "labels": {"tier": "web"}}  # every Deployment here: one image, one label


def deps(t: Target) -> str:
    return f"/apis/apps/v1/namespaces/{t.ns}/deployments"


def cms(t: Target) -> str:
    return f"/api/v1/namespaces/{t.ns}/configmaps"


def rv(obj: Any) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))


def reason(status: int, body: Any) -> tuple[int, str]:
    return status, (body or {}).get("reason", "") if isinstance(body, dict) else ""


def types(events: list[dict[str, Any]]) -> list[str]:
    """Event types in order, repeats folded: how many status updates controllers make is not the point."""
    out: list[str] = []
    for e in events:
        if e["type"] != "BOOKMARK" and (not out or out[-1] != e["type"]):
            out.append(e["type"])
    return out


# Objects a real cluster's controllers add to every namespace (the root CA bundle) are not the point.
CONTROLLER_MADE = {"kube-root-ca.crt"}


def ours(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["object"].get("metadata", {}).get("name") not in CONTROLLER_MADE]


# --- scenarios: each returns a comparable outcome ------------------------------------------------

def ssa_conflict(t: Target) -> Outcome:
    q = {"fieldManager": "alice"}
    a = t.call("PATCH", f"{deps(t)}/web", deployment("web", replicas=1, **WEB), q, APPLY)
    b = t.call("PATCH", f"{deps(t)}/web", deployment("web", replicas=2, **WEB), {"fieldManager": "bob"}, APPLY)
    c = t.call("PATCH", f"{deps(t)}/web", deployment("web", replicas=2, **WEB), {"fieldManager": "bob", "force": "true"}, APPLY)
    managers = sorted(m["manager"] for m in (c[1]["metadata"].get("managedFields") or [])
                      if m["manager"] in ("alice", "bob"))
    return [a[0], reason(*b), c[0], c[1]["spec"]["replicas"], managers]


# Run against the API server without a watch cache, where etcd compaction expires resourceVersions
# (see the real_cluster_uncached fixture).
NEEDS_UNCACHED = {"watch_expired_resource_version"}


def ssa_managed_fields_in_body(t: Target) -> Outcome:
    body = deployment("mf", **WEB)
    body["metadata"]["managedFields"] = [{"manager": "someone", "operation": "Apply", "apiVersion": "apps/v1",
                                          "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    return [reason(*t.call("PATCH", f"{deps(t)}/mf", body, {"fieldManager": "skctl"}, APPLY))]


def watch_expired_resource_version(t: Target) -> Outcome:
    first = t.call("POST", cms(t), cm("a"))
    t.call("POST", cms(t), cm("b"))
    # a watch from a's version starts at the next revision (b's); compacting at b's own revision
    # would keep that one, so write once more: the compaction then always passes the start
    t.call("POST", cms(t), cm("c"))
    t.compact()
    status, events = t.watch(cms(t), {"resourceVersion": rv(first[1])}, seconds=2)
    # a real server answers 200 and then an ERROR event carrying a 410 Status
    codes = [e["object"].get("code") for e in events if e["type"] == "ERROR"]
    return [status, codes[:1]]


def namespace_terminating(t: Target) -> Outcome:
    ns = f"term-{uuid.uuid4().hex[:6]}"
    t.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    t.call("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("x"))
    d = t.call("DELETE", f"/api/v1/namespaces/{ns}")
    phase = (d[1] or {}).get("status", {}).get("phase")
    created = t.call("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("y"))
    gone = _eventually_status(t, f"/api/v1/namespaces/{ns}", 404)
    return [d[0], phase, reason(*created), gone]


def _eventually_status(t: Target, path: str, want: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if t.call("GET", path)[0] == want:
            return True
        time.sleep(0.3)
    return False


def _delete_with(t: Target, policy: str) -> Outcome:
    created = t.call("POST", deps(t), deployment("gone", **WEB))
    start = rv(created[1])
    holder: dict[str, Any] = {}
    w = threading.Thread(target=lambda: holder.setdefault("w", t.watch(deps(t), {"resourceVersion": start}, 4)))
    w.start()
    time.sleep(0.5)
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy}
    d = t.call("DELETE", f"{deps(t)}/gone", body)
    meta = (d[1] or {}).get("metadata", {})
    w.join()
    _status, events = holder["w"]
    return [d[0], sorted(meta.get("finalizers") or []), bool(meta.get("deletionTimestamp")), types(events)]


def delete_foreground(t: Target) -> Outcome:
    return _delete_with(t, "Foreground")


def delete_orphan(t: Target) -> Outcome:
    return _delete_with(t, "Orphan")


def defaulting(t: Target) -> Outcome:
    _s, d = t.call("POST", deps(t), deployment("dflt", **WEB))
    spec = d["spec"]
    pod = spec["template"]["spec"]
    return [spec.get("revisionHistoryLimit"), spec.get("progressDeadlineSeconds"),
            (spec.get("strategy") or {}).get("type"), pod.get("restartPolicy"), pod.get("dnsPolicy"),
            pod["containers"][0].get("imagePullPolicy"), pod["containers"][0].get("terminationMessagePath")]


def validation(t: Target) -> Outcome:
    bad = deployment("bad", **WEB)
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    return [reason(*t.call("POST", deps(t), bad))]


def kubectl_generators(t: Target) -> Outcome:
    r = t.kubectl("create", "configmap", "gen", "--from-literal=a=b")
    return [r.returncode, t.call("GET", f"{cms(t)}/gen")[0]]


def kubectl_delete_server_dry_run(t: Target) -> Outcome:
    t.call("POST", cms(t), cm("keep"))
    r = t.kubectl("delete", "configmap", "keep", "--dry-run=server")
    return [r.returncode, t.call("GET", f"{cms(t)}/keep")[0]]


def create_dry_run(t: Target) -> Outcome:
    s, _b = t.call("POST", cms(t), cm("dry"), {"dryRun": "All"})
    return [s, t.call("GET", f"{cms(t)}/dry")[0]]


def scale_subresource(t: Target) -> Outcome:
    t.call("POST", deps(t), deployment("sc", **WEB))
    s, scale = t.call("GET", f"{deps(t)}/sc/scale")
    scale["spec"]["replicas"] = 3
    scale["metadata"].pop("resourceVersion", None)  # unconditional: controllers update the Deployment meanwhile
    put = t.call("PUT", f"{deps(t)}/sc/scale", scale)
    return [s, put[0], t.call("GET", f"{deps(t)}/sc")[1]["spec"]["replicas"]]


def watch_leaving_selector(t: Target) -> Outcome:
    created = t.call("POST", cms(t), cm("sel", {"pick": "yes"}))
    holder: dict[str, Any] = {}
    q = {"resourceVersion": rv(created[1]), "labelSelector": "pick=yes"}
    w = threading.Thread(target=lambda: holder.setdefault("w", t.watch(cms(t), q, 3)))
    w.start()
    time.sleep(0.5)
    t.call("PATCH", f"{cms(t)}/sel", {"metadata": {"labels": {"pick": "no"}}}, None, "application/merge-patch+json")
    w.join()
    events = [e for e in ours(holder["w"][1]) if e["type"] != "BOOKMARK"]
    return [[(e["type"], e["object"]["metadata"].get("labels")) for e in events]]


def initial_events_bookmark(t: Target) -> Outcome:
    t.call("POST", cms(t), cm("ie"))
    _s, plain = t.watch(cms(t), {"allowWatchBookmarks": "true"}, seconds=2)
    _s, listed = t.watch(cms(t), {"allowWatchBookmarks": "true", "sendInitialEvents": "true",
                                  "resourceVersionMatch": "NotOlderThan"}, seconds=2)

    def marks(events: list[dict[str, Any]]) -> list[str]:
        return [e["type"] for e in events if e["type"] == "ADDED" or (e["type"] == "BOOKMARK" and (
            e["object"]["metadata"].get("annotations") or {}).get("k8s.io/initial-events-end") == "true")]

    return [marks(ours(plain)), marks(ours(listed))]


def list_items_kind(t: Target) -> Outcome:
    t.call("POST", cms(t), cm("li"))
    _s, listed = t.call("GET", cms(t))
    item = next(i for i in listed["items"] if i["metadata"]["name"] == "li")
    return [listed.get("kind"), item.get("kind"), item.get("apiVersion")]


SCENARIOS: dict[str, Callable[[Target], Outcome]] = {
    "ssa-conflict": ssa_conflict,
    "ssa-managed-fields-in-body": ssa_managed_fields_in_body,
    "watch-expired-resource-version": watch_expired_resource_version,
    "namespace-terminating": namespace_terminating,
    "delete-foreground": delete_foreground,
    "delete-orphan": delete_orphan,
    "defaulting": defaulting,
    "validation": validation,
    "kubectl-generators-protobuf": kubectl_generators,
    "kubectl-delete-server-dry-run": kubectl_delete_server_dry_run,
    "create-dry-run": create_dry_run,
    "scale-subresource": scale_subresource,
    "watch-leaving-selector": watch_leaving_selector,
    "initial-events-bookmark": initial_events_bookmark,
    "list-items-kind": list_items_kind,
}


def documented_differences() -> set[str]:
    text = DOC.read_text() if DOC.exists() else ""
    if DIFF_SECTION not in text:
        return set()
    section = text.split(DIFF_SECTION, 1)[1].split("\n## ", 1)[0]
    return {m.group("id") for line in section.splitlines() if (m := DIFF_ROW.match(line))}


# --- fixtures ------------------------------------------------------------------------------------

def _new_ns(t: Target) -> None:
    t.ns = f"conf-{uuid.uuid4().hex[:8]}"
    status, body = t.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": t.ns}})
    assert status == 201, (t.name, body)


def _real(cluster: Cluster) -> Target:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    return Target("real", client.ApiClient(cfg), cluster.kubeconfig, str(cluster.bin_dir / "kubectl"),
                  lambda: (cluster.compact_etcd(), None)[1])


@pytest.fixture(scope="module")
def real_target(real_cluster: Cluster) -> Target:
    return _real(real_cluster)


@pytest.fixture(scope="module")
def real_uncached_target(real_cluster_uncached: Cluster) -> Target:
    return _real(real_cluster_uncached)


@pytest.fixture(scope="module")
def sandbox_target(real_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from skctl.sandbox import SandboxServer

    server = SandboxServer(bookmark_interval=0.2).start()
    kc = server.write_kubeconfig(tmp_path_factory.mktemp("conf") / "sandbox.kubeconfig")
    try:
        yield Target("sandbox", server.api_client(), kc, str(real_cluster.bin_dir / "kubectl"),
                     lambda: (server.faults.compact(), None)[1])
    finally:
        server.stop()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_sandbox_matches_real_server_or_says_so(scenario: str, real_target: Target, sandbox_target: Target,
                                                request: pytest.FixtureRequest) -> None:
    if SCENARIOS[scenario].__name__ in NEEDS_UNCACHED:
        real_target = request.getfixturevalue("real_uncached_target")
    outcomes = {}
    for t in (real_target, sandbox_target):
        _new_ns(t)
        outcomes[t.name] = SCENARIOS[scenario](t)
    listed = scenario in documented_differences()
    if outcomes["real"] == outcomes["sandbox"]:
        assert not listed, f"{scenario} now behaves as on a real server: remove it from {DOC.name}"
    else:
        assert listed, (f"{scenario} differs and is not listed in {DOC.name} ({DIFF_SECTION}): "
                        f"real {outcomes['real']!r}, sandbox {outcomes['sandbox']!r}")


def test_every_listed_difference_is_a_scenario() -> None:
    unknown = documented_differences() - set(SCENARIOS)
    assert not unknown, f"{DOC.name} lists differences no scenario checks: {sorted(unknown)}"
