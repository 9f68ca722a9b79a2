"""`skctl export --tracer-address` against a stand-in for SimKube's tracer.

The stand-in follows sk-tracer's `POST /export` (facts from acrlabs/simkube): the body
must deserialize as `ExportRequest` (start_ts, end_ts, export_path: required;
filters.excluded_namespaces: [string]; filters.excluded_labels: [LabelSelector object]),
else 422 as Rocket answers; the answer is a msgpack trace, or, for an s3/gs/az
export_path, nothing after the tracer wrote the trace there itself.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from skctl import storage
from skctl.cli.main import main
from skctl.trace import load, simkube
from skctl.trace.model import Trace, new_event

OBJ = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
       "spec": {"replicas": 2}}
TRACE = Trace(events=[new_event(100, [OBJ])], index={"apps/v1.Deployment": {"shop/web": 5}})


def _valid_selector(sel: object) -> bool:
    if not isinstance(sel, dict) or set(sel) - {"matchLabels", "matchExpressions"}:
        return False
    exprs = sel.get("matchExpressions") or []
    return all(isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("operator"), str)
               for e in exprs) and isinstance(sel.get("matchLabels") or {}, dict)


class SimKubeTracer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    req = json.loads(body)
                    ok = (isinstance(req.get("start_ts"), int) and isinstance(req.get("end_ts"), int)
                          and isinstance(req.get("export_path"), str)
                          and all(isinstance(n, str) for n in req["filters"]["excluded_namespaces"])
                          and all(_valid_selector(s) for s in req["filters"]["excluded_labels"]))
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    self.send_response(422)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.requests.append(req)
                data = simkube.encode(TRACE)
                if req["export_path"].split("://")[0] in ("s3", "gs", "az"):
                    storage.write_bytes(req["export_path"], data)
                    data = b""
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def simkube_tracer() -> Iterator[SimKubeTracer]:
    server = SimKubeTracer()
    yield server
    server.stop()


def test_export_from_simkubes_tracer_writes_its_msgpack(simkube_tracer: SimKubeTracer, tmp_path: Path) -> None:
    out = tmp_path / "t.sktrace"
    assert main(["export", "--tracer-address", simkube_tracer.url, "-s", "0", "-t", "200",
                 "--excluded-labels", "app!=x,!legacy", "--format", "msgpack", "-o", str(out)]) == 0
    trace, fmt = load.decode_any(out.read_bytes())
    assert fmt == "msgpack" and trace.events[0]["applied_objs"] == [OBJ]
    (req,) = simkube_tracer.requests
    assert req["filters"]["excluded_labels"] == [{"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["x"]}, {"key": "legacy", "operator": "DoesNotExist"}]}]
    # asked for the default CBOR: the msgpack answer is re-encoded
    cbor_out = tmp_path / "c.sktrace"
    assert main(["export", "--tracer-address", simkube_tracer.url, "-s", "0", "-t", "200", "-o", str(cbor_out)]) == 0
    assert load.decode_any(cbor_out.read_bytes())[1] == "cbor"


def test_tracer_writes_to_each_object_store(simkube_tracer: SimKubeTracer, object_store_url: str) -> None:
    dest = f"{object_store_url}/from-simkube.sktrace"
    assert main(["export", "--tracer-address", simkube_tracer.url, "-s", "0", "-t", "200",
                 "--tracer-writes", "-o", dest]) == 0
    assert simkube_tracer.requests[-1]["export_path"] == dest
    trace, fmt = load.decode_any(storage.read_bytes(dest))
    assert fmt == "msgpack" and trace.events[0]["applied_objs"] == [OBJ]


def test_tracer_writes_needs_a_cloud_output(simkube_tracer: SimKubeTracer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--tracer-address", simkube_tracer.url, "--tracer-writes",
                 "-o", str(tmp_path / "x")]) == 2
    assert "--tracer-writes needs a cloud --output" in capsys.readouterr().err


def test_selectors_a_label_selector_cannot_hold_are_input_errors(simkube_tracer: SimKubeTracer, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--tracer-address", simkube_tracer.url, "-s", "0", "-t", "200",
                 "--excluded-labels", "size>3", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--excluded-labels" in err and "LabelSelector" in err and not simkube_tracer.requests
