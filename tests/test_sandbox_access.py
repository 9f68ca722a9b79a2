"""The sandbox's access rules and SelfSubjectAccessReview (skctl.sandbox.access), over real HTTP.

The shapes are the real API server's: a review is created (201) and answered in
`status.allowed`, echoing its spec; a request the rules do not allow is 403 Forbidden worded
as the RBAC authorizer words it. tests/e2e/test_run_drive.py asks the real server the same.
"""

from __future__ import annotations

import json

import pytest
import requests

from skctl.sandbox.access import SSAR_PATH, AccessRules
from skctl.sandbox.server import SandboxServer


def review(sandbox: SandboxServer, attributes: dict | None = None, spec: dict | None = None) -> requests.Response:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": spec if spec is not None else {"resourceAttributes": attributes}}
    return requests.post(sandbox.url + SSAR_PATH, json=body, timeout=5)


def test_without_rules_everything_is_allowed(sandbox: SandboxServer) -> None:
    r = review(sandbox, {"verb": "delete", "group": "apps", "resource": "deployments"})
    assert r.status_code == 201
    doc = r.json()
    assert doc["kind"] == "SelfSubjectAccessReview" and doc["apiVersion"] == "authorization.k8s.io/v1"
    assert doc["spec"] == {"resourceAttributes": {"verb": "delete", "group": "apps", "resource": "deployments"}}
    assert doc["status"] == {"allowed": True}


def test_reviews_answer_from_the_rules(sandbox: SandboxServer) -> None:
    sandbox.access = AccessRules([
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"], "resourceNames": ["one"]},
    ])
    cases = [
        ({"verb": "patch", "group": "apps", "resource": "deployments"}, True),
        ({"verb": "create", "group": "apps", "resource": "deployments"}, False),
        ({"verb": "get", "group": "", "resource": "deployments"}, False),  # another group
        ({"verb": "get", "group": "", "resource": "pods", "subresource": "log"}, True),
        ({"verb": "get", "group": "", "resource": "pods"}, False),  # a subresource grant is not the resource
        ({"verb": "list", "group": "example.com", "resource": "widgets"}, True),
        ({"verb": "delete", "group": "", "resource": "configmaps", "name": "one"}, True),
        ({"verb": "delete", "group": "", "resource": "configmaps", "name": "two"}, False),
        ({"verb": "delete", "group": "", "resource": "configmaps"}, False),  # every name: not granted
    ]
    for attributes, expected in cases:
        r = review(sandbox, attributes)
        assert r.status_code == 201 and r.json()["status"]["allowed"] is expected, attributes


def test_bad_reviews_are_refused_as_a_real_server_refuses_them(sandbox: SandboxServer) -> None:
    r = review(sandbox, spec={})
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    assert "exactly one of nonResourceAttributes or resourceAttributes must be specified" in r.json()["message"]
    both = {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/api", "verb": "get"}}
    assert review(sandbox, spec=both).status_code == 422
    assert requests.get(sandbox.url + SSAR_PATH, timeout=5).status_code == 405


def test_requests_the_rules_do_not_allow_are_forbidden(sandbox: SandboxServer) -> None:
    sandbox.access = AccessRules([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]},
                                  {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    apply = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sim"}}
    url = f"{sandbox.url}/api/v1/namespaces/sim?fieldManager=t"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    # an apply that would create the object needs create too, as on a real server
    r = requests.patch(url, data=json.dumps(apply), headers=headers, timeout=5)
    assert r.status_code == 403
    assert r.json()["reason"] == "Forbidden" and r.json()["details"] == {"kind": "namespaces", "name": "sim"}
    assert r.json()["message"] == ('namespaces "sim" is forbidden: User "sandbox" cannot create resource "namespaces" '
                                   'in API group "" at the cluster scope')
    sandbox.store.create(sandbox.registry.lookup("", "v1", "namespaces"), apply)
    assert requests.patch(url, data=json.dumps(apply), headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{sandbox.url}/api/v1/pods", timeout=5).status_code == 200
    r = requests.get(f"{sandbox.url}/api/v1/namespaces/sim/pods?watch=true", timeout=5)
    assert r.status_code == 403
    assert r.json()["message"] == ('pods is forbidden: User "sandbox" cannot watch resource "pods" in API group "" '
                                   'in the namespace "sim"')
    # discovery is not a resource: open to everyone, as on a real server
    assert requests.get(f"{sandbox.url}/apis/apps/v1", timeout=5).status_code == 200


@pytest.mark.parametrize("method,name,watch,verb", [
    ("GET", "x", False, "get"), ("GET", None, False, "list"), ("GET", None, True, "watch"), ("POST", None, False, "create"),
    ("PUT", "x", False, "update"), ("PATCH", "x", False, "patch"), ("DELETE", "x", False, "delete"),
    ("DELETE", None, False, "deletecollection"),
])
def test_request_verbs(method: str, name: str | None, watch: bool, verb: str) -> None:
    from skctl.sandbox.access import request_verb

    assert request_verb(method, name, watch) == verb
