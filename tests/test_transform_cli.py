"""`skctl transform`, `skctl export --transform` (local and through a tracer's export request)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from kubernetes import client

from skctl.cli.main import main
from skctl.trace import load
from skctl.trace.model import Trace, new_event
from tests.helpers import deployment, wait_for
from tests.test_tracer import cluster, mentions, start_tracer  # noqa: F401 - fixture


def _obj(name: str, ns: str = "shop") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"replicas": 1}}


def _write(tmp_path: Path, trace: Trace, name: str = "in.sktrace") -> Path:
    path = tmp_path / name
    path.write_bytes(load.encode_as(trace, "cbor"))
    return path


PROGRAM = 'remove(status);\ndelete(metadata.name == "db");\nmodify(@t >= 1m, metadata.labels.late = "yes");\n'


@pytest.mark.parametrize("form", ["program-flag", "simkube"])
def test_transform_both_command_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    source = _write(tmp_path, Trace(events=[new_event(100, [_obj("web"), _obj("db")]), new_event(200, [_obj("web")])]))
    (tmp_path / "p.skel").write_text(PROGRAM)
    out = tmp_path / "out.sktrace"
    argv = (["transform", str(source), str(out), "--program", str(tmp_path / "p.skel")] if form == "program-flag"
            else ["trans", str(source), str(tmp_path / "p.skel"), "-o", str(out)])
    assert main(argv) == 0, capsys.readouterr().err
    trace = load.read_trace(str(out))
    objs = [(e["ts"], o) for e in trace.events for o in e["applied_objs"]]
    assert [o["metadata"]["name"] for _ts, o in objs] == ["web", "web"]
    assert not any("status" in o for _ts, o in objs)
    assert [o["metadata"].get("labels") for _ts, o in objs] == [None, {"late": "yes"}]
    assert "transformed 2 events into 2" in capsys.readouterr().out


def test_transform_simkube_default_output_is_beside_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path, Trace(events=[new_event(100, [_obj("web")])]))
    (tmp_path / "p.skel").write_text("remove(status);")
    assert main(["transform", str(source), str(tmp_path / "p.skel")]) == 0
    (written,) = [p for p in tmp_path.iterdir() if p.name.startswith("in.sktrace.")]
    assert written.name[len("in.sktrace."):].isdigit() and len(written.name) == len("in.sktrace.") + 14


@pytest.mark.parametrize("text, expected", [
    ("remove(status", "ends inside a command"),
    ("remove(sta%tus);", "line 1, column 11"),
    ("remove($x := spec.a[*] | exists($y), $x);", "$y is not present"),
])
def test_bad_programs_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                          expected: str) -> None:
    source = _write(tmp_path, Trace(events=[new_event(100, [_obj("web")])]))
    (tmp_path / "bad.skel").write_text(text)
    for argv in (["transform", str(source), str(tmp_path / "o"), "--program", str(tmp_path / "bad.skel")],
                 ["transform", str(source), str(tmp_path / "bad.skel"), "-o", str(tmp_path / "o")],
                 ["export", "--from", str(source), "--transform", str(tmp_path / "bad.skel"), "-o", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_program_and_both_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path, Trace(events=[new_event(100, [_obj("web")])]))
    assert main(["transform", str(source), str(tmp_path / "o"), "--program", str(tmp_path / "none.skel")]) == 2
    assert "no transform program at" in capsys.readouterr().err
    (tmp_path / "p.skel").write_text("remove(status);")
    assert main(["transform", str(source), "x", "--program", str(tmp_path / "p.skel"), "-o", "y"]) == 2
    assert "give the output once" in capsys.readouterr().err


def test_export_from_a_file_applies_the_transform_before_the_window(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Relative times count from the export's start; objects alive before it are transformed,
    then flattened into the starting event (SimKube's tracer does the same)."""
    source = _write(tmp_path, Trace(events=[new_event(100, [_obj("web"), _obj("db")]), new_event(300, [_obj("api")]),
                                            new_event(500, [_obj("late")])]))
    (tmp_path / "p.skel").write_text('delete(metadata.name == "db");\nremove(@t >= 100s, status);\n')
    out = tmp_path / "w.sktrace"
    assert main(["export", "--from", str(source), "-s", "200", "-t", "600", "--excluded-namespaces", "",
                 "--transform", str(tmp_path / "p.skel"), "-o", str(out)]) == 0, capsys.readouterr().err
    trace = load.read_trace(str(out))
    got = {o["metadata"]["name"]: ("status" in o, e["ts"]) for e in trace.events for o in e["applied_objs"]}
    assert got == {"web": (True, 200), "api": (False, 300), "late": (False, 500)}


def test_tracer_applies_the_request_transform(cluster, tmp_path: Path,  # noqa: F811 - the fixture
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, api = cluster
    apps = client.AppsV1Api(api)
    tracer = start_tracer(sandbox, tmp_path)
    host, port = tracer.address
    url = f"http://{host}:{port}"
    try:
        apps.create_namespaced_deployment("shop", deployment("web"))
        apps.create_namespaced_deployment("shop", deployment("db"))
        wait_for(lambda: len(tracer.store.live) >= 2, what="both deployments")
        (tmp_path / "p.skel").write_text('delete(metadata.name == "db");\nmodify(spec.replicas = 7);\n')
        out = tmp_path / "t.sktrace"
        assert main(["export", "--tracer-address", url, "-s", "0", "-t", "+1h", "--excluded-namespaces", "",
                     "--transform", str(tmp_path / "p.skel"), "-o", str(out)]) == 0, capsys.readouterr().err
        trace = load.read_trace(str(out))
        assert sorted(n for _a, n in mentions(trace)) == ["web"]
        assert {o["spec"]["replicas"] for e in trace.events for o in e["applied_objs"]} == {7}
        assert trace.index["apps/v1.Deployment"].keys() == {"shop/web"}
        # SimKube's request with the field, answered by skctl's tracer; a bad program is 422, one line
        plain = requests.post(url + "/export", json={"start_ts": 0, "end_ts": 2**40, "export_path": "",
                                                     "filters": {"excluded_namespaces": []},
                                                     "transform": "delete(*);"}, timeout=5)
        assert plain.status_code == 200 and load.decode_any(plain.content)[0].events[1:] == []
        bad = requests.post(url + "/export", json={"start_ts": 0, "end_ts": 9, "transform": "remove(status"}, timeout=5)
        assert bad.status_code == 422 and "ends inside a command" in bad.json()["error"]
        bad = requests.post(url + "/export", json={"start_ts": 0, "end_ts": 9, "transform": 5}, timeout=5)
        assert bad.status_code == 422 and "transform must be a string" in bad.json()["error"]
    finally:
        tracer.close()


def test_export_sends_the_program_text_in_simkubes_field(tmp_path: Path) -> None:
    import responses

    from skctl import export as exporter
    from skctl.trace import codec, skel

    program = skel.parse('remove(status); # sanitise\n')
    with responses.RequestsMock() as mock:
        mock.post("http://tracer.test:7777/export", body=codec.encode(Trace(events=[new_event(1, [_obj("w")])])),
                  content_type="application/cbor")
        exporter.export(exporter.ExportRequest(start_ts=0, end_ts=5, output=str(tmp_path / "o"),
                                               tracer_address="http://tracer.test:7777", transform=program))
        assert json.loads(mock.calls[0].request.body)["transform"] == program.source
