"""One journal per cluster (issue 20): a journal knows the cluster it records (the kube-system
namespace's UID and the server URL); another cluster's tracer is refused, an older journal
without identity is adopted. Two sandbox API servers are two clusters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest

from skctl.base.errors import InputError
from skctl.cli.main import main
from skctl.kube.api import Kube
from skctl.sandbox import SandboxServer
from skctl.trace.tracked import parse_config
from skctl.tracer import journal as journal_mod
from skctl.tracer.service import Tracer, TracerOptions, cluster_identity

CONFIG = parse_config({"trackedObjects": {"apps/v1.Deployment": {}}})


@pytest.fixture
def other() -> Iterator[SandboxServer]:
    with SandboxServer(bookmark_interval=0.2) as server:
        yield server


def kube_system_uid(server: SandboxServer) -> str:
    return str(server.store.get(server.store.resource("v1", "Namespace"), "", "kube-system")["metadata"]["uid"])


def run_once(server: SandboxServer, journal: Path) -> dict:
    tracer = Tracer(Kube(server.api_client()), TracerOptions(config=CONFIG, journal_dir=journal, port=0)).start()
    tracer.close()
    return journal_mod.read_meta(journal)


def test_identity_is_the_kube_system_uid_and_the_server(sandbox: SandboxServer, other: SandboxServer) -> None:
    ours, theirs = cluster_identity(Kube(sandbox.api_client())), cluster_identity(Kube(other.api_client()))
    assert ours == {"uid": kube_system_uid(sandbox), "server": sandbox.url}
    assert theirs["uid"] == kube_system_uid(other) != ours["uid"]  # each server is created with its own namespaces


def test_a_journal_of_another_cluster_is_refused_and_one_without_identity_adopted(
        sandbox: SandboxServer, other: SandboxServer, tmp_path: Path) -> None:
    journal = tmp_path / "j"
    meta = run_once(sandbox, journal)
    assert meta["cluster"] == {"uid": kube_system_uid(sandbox), "server": sandbox.url}
    assert run_once(sandbox, journal)["cluster"] == meta["cluster"]  # the same cluster again: fine
    segments = sorted(p.name for p in journal.iterdir())
    with pytest.raises(InputError) as refused:
        Tracer(Kube(other.api_client()), TracerOptions(config=CONFIG, journal_dir=journal, port=0)).start()
    text = str(refused.value)
    assert sandbox.url in text and other.url in text
    assert kube_system_uid(sandbox) in text and kube_system_uid(other) in text
    assert sorted(p.name for p in journal.iterdir()) == segments  # nothing written
    assert journal_mod.read_meta(journal)["cluster"] == meta["cluster"]
    # the lock was released: the right cluster still opens it
    assert run_once(sandbox, journal)["cluster"] == meta["cluster"]

    # a journal an older skctl wrote (no identity) is adopted by the first cluster that opens it
    (journal / journal_mod.META_NAME).write_bytes(cbor2.dumps({k: v for k, v in meta.items() if k != "cluster"}))
    assert run_once(other, journal)["cluster"] == {"uid": kube_system_uid(other), "server": other.url}
    with pytest.raises(InputError):
        Tracer(Kube(sandbox.api_client()), TracerOptions(config=CONFIG, journal_dir=journal, port=0)).start()


def test_the_trace_command_refuses_another_clusters_journal_in_one_line(
        sandbox: SandboxServer, other: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    journal = tmp_path / "j"
    first, second = sandbox.write_kubeconfig(tmp_path / "a"), other.write_kubeconfig(tmp_path / "b")
    args = ["--journal", str(journal), "--listen", "127.0.0.1:0", "--duration", "0.1"]
    assert main(["trace", "--kubeconfig", str(first), *args]) == 0
    capsys.readouterr()
    assert main(["trace", "--kubeconfig", str(second), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"belongs to the cluster at {sandbox.url}" in err and f"not to this one at {other.url}" in err
