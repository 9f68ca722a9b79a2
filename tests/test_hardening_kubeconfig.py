"""Issue 12, class 9: a malformed kubeconfig is exit 2 with what is wrong, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.cli import main

GOOD_CLUSTER = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
GOOD_USER = {"name": "u", "user": {"token": "t"}}
GOOD_CONTEXT = {"name": "x", "context": {"cluster": "c", "user": "u"}}


def kubeconfig(clusters: object = None, users: object = None, contexts: object = None) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [GOOD_CLUSTER] if clusters is None else clusters,
        "users": [GOOD_USER] if users is None else users,
        "contexts": [GOOD_CONTEXT] if contexts is None else contexts,
    }


# (name, kubeconfig document, words the one error line must contain)
CASES = [
    ("server is a number", kubeconfig(clusters=[{"name": "c", "cluster": {"server": 5}}]), ("cluster 'c'", "'server' must be a string")),
    ("user is a string", kubeconfig(users=[{"name": "u", "user": "x"}]), ("user 'u'", "'user' must be a mapping")),
    ("token is a list", kubeconfig(users=[{"name": "u", "user": {"token": ["a"]}}]), ("user 'u'", "'token' must be a string")),
    ("context cluster is a map", kubeconfig(contexts=[{"name": "x", "context": {"cluster": {"a": 1}, "user": "u"}}]),
     ("context 'x'", "'cluster' must be a string")),
    ("clusters is a map", kubeconfig(clusters={"c": {}}), ("'clusters' is not a list",)),
    ("entry without a name", kubeconfig(users=[{"user": {}}]), ("an entry of 'users' has no name",)),
    ("gcp auth provider without credentials",
     kubeconfig(users=[{"name": "u", "user": {"auth-provider": {"name": "gcp", "config": {}}}}]), ("auth provider failed",)),
    ("not a mapping", ["a", "b"], ("is not a mapping",)),
]


@pytest.mark.parametrize("name, doc, words", CASES, ids=[c[0] for c in CASES])
def test_malformed_kubeconfig_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    name: str, doc: object, words: tuple[str, ...],
) -> None:
    import yaml

    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth: do not probe a metadata server
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert main(["delete", "sim1", "--kubeconfig", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0], err
    for word in words:
        assert word in err[0], err[0]
