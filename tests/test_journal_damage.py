"""Issue 22, class 9: a damaged journal record is skipped with a warning, never a crash.

Each row writes a checksum-valid record of the wrong shape (as a broken or foreign writer
would) between good ones, through the journal's own writer; `skctl export --from DIR`
must answer (exit 0, the good records exported, one warning naming the damage) and a
tracer must start on the journal (against the sandbox API server). A FIFO named like a
segment is skipped without blocking.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from skctl.cli.main import main
from skctl.sandbox import SandboxServer
from skctl.trace import load
from skctl.trace.tracked import parse_config
from skctl.tracer import journal as journal_mod
from skctl.tracer.store import REC_CLUSTER, REC_EVENT, REC_LIFECYCLE, REC_OWNERS, REC_SNAPSHOT, TraceStore
from tests.helpers import ROOT, tracer_url, wait_for

CONFIG = parse_config({"trackedObjects": {"apps/v1.Deployment": {"trackLifecycle": True}}})
T0 = 1_750_000_000


def dep(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}


DAMAGED: dict[str, tuple[str, int, Any]] = {
    "event payload a list": (REC_EVENT, T0 + 2, [1, 2]),
    "event objects a string": (REC_EVENT, T0 + 2, {"a": "x"}),
    "event object without a name": (REC_EVENT, T0 + 2, {"a": [{"apiVersion": "v1", "kind": "X", "metadata": {}}]}),
    "event object with a set": (REC_EVENT, T0 + 2, {"a": [{**dep("z"), "spec": {"x": {1, 2}}}]}),
    "event at a negative time": (REC_EVENT, -5, {"a": [dep("z")]}),
    "event in year 10000": (REC_EVENT, 253_402_300_800, {"a": [dep("z")]}),
    "lifecycle without an owner": (REC_LIFECYCLE, T0 + 2, {"p": "ns/p", "h": 1, "s": T0}),
    "lifecycle hash a string": (REC_LIFECYCLE, T0 + 2, {"o": ["apps/v1.Deployment", "ns/a"], "h": "1"}),
    "lifecycle start a string": (REC_LIFECYCLE, T0 + 2, {"o": ["apps/v1.Deployment", "ns/a"], "h": 1, "s": "now"}),
    "owners key an integer": (REC_OWNERS, T0 + 2, {"k": 5, "r": []}),
    "owners refs of maps": (REC_OWNERS, T0 + 2, {"k": ["v1.X", "ns/x"], "r": [{"a": 1}]}),
    "cluster object a number": (REC_CLUSTER, T0 + 2, {"a": [5]}),
    "snapshot objects a map": (REC_SNAPSHOT, T0 + 2, {"objects": {"a": 1}}),
    "snapshot object not a pair": (REC_SNAPSHOT, T0 + 2, {"objects": [[1, 2, 3]]}),
    "snapshot lifecycles of lists": (REC_SNAPSHOT, T0 + 2, {"objects": [], "lifecycles": [[1]]}),
}


def damaged_journal(directory: Path, record: tuple[str, int, Any]) -> None:
    """A journal of Deployments a (T0), then the damaged record, then b (T0 + 5)."""
    clock = [float(T0)]
    store = TraceStore(CONFIG, clock=lambda: clock[0])
    journal = journal_mod.Journal(directory, retention=10**9, clock=lambda: clock[0])
    journal.open(store)
    store.applied("apps/v1.Deployment", dep("a"), ts=T0)
    journal.append(*record)
    clock[0] = T0 + 5
    store.applied("apps/v1.Deployment", dep("b"), ts=T0 + 5)
    journal.close()


@pytest.mark.parametrize("name", list(DAMAGED))
def test_export_from_a_journal_skips_a_damaged_record(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture, name: str) -> None:
    directory = tmp_path / "j"
    damaged_journal(directory, DAMAGED[name])
    out = tmp_path / "out.sktrace"
    assert main(["export", "--from", str(directory), "-s", str(T0), "-t", str(T0 + 10), "--excluded-namespaces", "",
                 "-o", str(out)]) == 0, capsys.readouterr().err
    assert "Traceback" not in capsys.readouterr().err
    kind, ts, _payload = DAMAGED[name]
    if not (kind == REC_EVENT and ts >= T0 + 10):  # an event after the window is never decoded
        assert "damaged" in caplog.text and "skipped" in caplog.text, caplog.text
    names = sorted(obj["metadata"]["name"] for _ts, _a, obj in load.read_trace(str(out)).iter_objects())
    assert names == ["a", "b"]


def test_a_fifo_named_like_a_segment_is_skipped_not_waited_for(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "j"
    damaged_journal(directory, (REC_EVENT, T0 + 2, {"a": [dep("c")]}))
    os.mkfifo(directory / "seg-1750000001-9999999999.skj")
    (directory / "seg-1750000002-9999999998.skj").mkdir()
    out = tmp_path / "out.sktrace"
    assert main(["export", "--from", str(directory), "-s", str(T0), "-t", str(T0 + 10), "--excluded-namespaces", "",
                 "-o", str(out)]) == 0, capsys.readouterr().err
    assert "not a regular file" in caplog.text
    names = {obj["metadata"]["name"] for _ts, _a, obj in load.read_trace(str(out)).iter_objects()}
    assert names == {"a", "b", "c"}


@pytest.mark.parametrize("name", ["event object without a name", "lifecycle hash a string", "snapshot objects a map",
                                  "event in year 10000"])
def test_a_tracer_starts_on_a_journal_with_damaged_records(
        sandbox: SandboxServer, sandbox_kubeconfig: Path, tmp_path: Path, name: str) -> None:
    directory = tmp_path / "j"
    damaged_journal(directory, DAMAGED[name])
    # the journal was written without a cluster identity: the sandbox adopts it
    config = tmp_path / "config.yaml"
    config.write_text("trackedObjects:\n  apps/v1.Deployment:\n    trackLifecycle: true\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "skctl", "trace", "--kubeconfig", str(sandbox_kubeconfig), "--journal", str(directory),
         "--listen", "127.0.0.1:0", "-c", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = tracer_url(proc)
        status: Callable[[], dict[str, Any]] = lambda: requests.get(url + "/status", timeout=10).json()  # noqa: E731
        wait_for(lambda: status()["watches"]["apps/v1.Deployment"]["state"] == "watching", "watching", timeout=60, process=proc)
        assert requests.get(url + "/healthz", timeout=10).text == "ok\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err  # (the warning came before the "listening on" line tracer_url read)
