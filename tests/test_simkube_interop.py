"""SimKube v2 msgpack traces convert to skctl CBOR and back without losing anything."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from skctl.cli.main import main
from skctl.trace import codec, load, simkube
from skctl.trace.model import Trace
from tests.helpers import REFERENCE_TRACES, data


def _logical(data: bytes) -> object:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=False)


@pytest.mark.parametrize("name", REFERENCE_TRACES)
def test_reference_traces_round_trip_through_cbor(reference_dir: Path, name: str, tmp_path: Path) -> None:
    original = (reference_dir / name).read_bytes()
    cbor_path, back_path = tmp_path / "t.cbor", tmp_path / "t.msgpack"
    assert main(["convert", str(reference_dir / name), str(cbor_path)]) == 0
    assert load.sniff(cbor_path.read_bytes()) == "cbor"
    assert main(["convert", str(cbor_path), str(back_path), "--to", "msgpack"]) == 0
    assert _logical(back_path.read_bytes()) == _logical(original)


def test_lifecycle_variants_map_both_ways(reference_dir: Path) -> None:
    trace = simkube.decode((reference_dir / "bare-pods.sktrace").read_bytes())
    running = trace.pod_lifecycles[("v1.Pod", "testing/bare-pod-1781282630")]
    assert list(running.values()) == [[{"start_ts": 1781282631, "end_ts": None}]]
    finished = trace.pod_lifecycles[("v1.Pod", "testing/bare-pod-1781282449")]
    assert list(finished.values()) == [[{"start_ts": 1781282468, "end_ts": 1781282480}]]


def test_empty_lifecycle_variant_round_trips() -> None:
    trace = Trace(pod_lifecycles={("batch/v1.Job", "ns/j"): {7: [{"start_ts": None, "end_ts": None}]}})
    raw = simkube.encode(trace)
    assert _logical(raw)["pod_lifecycles"] == {("batch/v1.Job", "ns/j"): {7: ("Empty",)}}
    assert simkube.decode(raw).pod_lifecycles == trace.pod_lifecycles
    assert codec.decode(codec.encode(simkube.decode(raw))).pod_lifecycles == trace.pod_lifecycles


def test_simkube_json_rendering_is_readable(reference_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xray", "--json", str(reference_dir / "trace.json")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "json"
    assert summary["objects"] == {"apps/v1.Deployment": {"objects": 2, "applied": 1, "deleted": 1}}


def test_simkube_version_1_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "v1.sktrace"
    path.write_bytes(msgpack.packb({"version": 1, "config": {}, "events": [], "index": {}, "pod_lifecycles": {}}))
    assert main(["xray", str(path)]) == 2
    err = capsys.readouterr().err
    assert "version 1" in err and err.count("\n") == 1


def test_reference_traces_skip_without_shared_but_fail_where_required(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """A plain clone has no ../shared: those tests skip, saying why. CI sets
    SKCTL_REFERENCE_REQUIRED=1 (.ci/run), where the same absence is a failure, not a skip."""
    monkeypatch.setattr(data, "REFERENCE_DIR", tmp_path / "absent")
    monkeypatch.delenv("SKCTL_REFERENCE_REQUIRED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="absent"):
        data.reference_dir()
    monkeypatch.setenv("SKCTL_REFERENCE_REQUIRED", "1")
    with pytest.raises(pytest.fail.Exception, match="SKCTL_REFERENCE_REQUIRED"):
        data.reference_dir()
    monkeypatch.setattr(data, "REFERENCE_DIR", tmp_path)
    assert data.reference_dir() == tmp_path
