"""`skctl export` against a running tracer's HTTP API (requests, exercised with `responses`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from skctl.base.errors import InputError, OperationalError
from skctl.cli.main import main
from skctl.trace import codec, load
from skctl.trace.model import Trace, new_event
from skctl.trace.window import ExportFilters
from skctl.tracer import client as tracer_client
from tests.fixtures.storage_servers import closed_port

TRACER = "http://tracer.test:7777"
EXPORT_URL = f"{TRACER}/export"


def trace_bytes(compression: str = "zlib") -> bytes:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": 2}}
    trace = Trace(
        events=[new_event(100, [obj]), new_event(150, [], [obj])],
        index={"apps/v1.Deployment": {"shop/web": 5}},
        pod_lifecycles={("apps/v1.Deployment", "shop/web"): {9: [{"start_ts": 101, "end_ts": None}]}},
    )
    return codec.encode(trace, compression)


def export_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["export", "--tracer-address", TRACER, "-s", "100", "-t", "200", "-o", str(tmp_path / "out.sktrace"), *extra]


@responses.activate
def test_posts_the_window_and_writes_the_bytes_as_received(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    body = load.encode_as(codec.decode(trace_bytes()), "cbor", None, 3)  # what skctl's tracer sends when asked
    responses.post(EXPORT_URL, body=body, content_type="application/cbor")
    code = main(export_args(tmp_path, "--excluded-namespaces", "kube-system,monitoring",
                            "--excluded-labels", "app=x", "--excluded-labels", "tier in (db)"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out.sktrace").read_bytes() == body
    assert captured.out.startswith("exported 2 events, 1 objects, 1 pod-lifecycle owners")
    (call,) = responses.calls
    # SimKube's ExportRequest: export_path always present, selectors as LabelSelector objects
    assert json.loads(call.request.body) == {
        "start_ts": 100,
        "end_ts": 200,
        "export_path": "file:///dev/null",
        "filters": {
            "excluded_namespaces": ["kube-system", "monitoring"],
            "excluded_labels": [
                {"matchLabels": {"app": "x"}},
                {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
            ],
        },
    }
    assert "application/cbor; version=3" in call.request.headers["Accept"]
    assert call.request.headers["Content-Type"] == "application/json"


@responses.activate
def test_a_version_2_answer_from_an_older_tracer_is_written_as_version_3(tmp_path: Path) -> None:
    responses.post(EXPORT_URL, body=trace_bytes(), content_type="application/cbor")
    assert main(export_args(tmp_path)) == 0
    data = (tmp_path / "out.sktrace").read_bytes()
    assert load.cbor_version(data) == 3
    assert load.decode_any(data)[0].to_document() == codec.decode(trace_bytes()).to_document()
    assert main(export_args(tmp_path, "--format-version", "2")) == 0
    assert (tmp_path / "out.sktrace").read_bytes() == trace_bytes()  # asked for version 2: as received


@pytest.mark.parametrize(("accept", "wanted"), [
    ("application/cbor; version=3, application/msgpack;q=0.5", (True, 3)),
    ("application/cbor, application/msgpack;q=0.5", (True, 2)),  # skctl before format 3
    ("application/msgpack", (False, 2)),  # SimKube's client
    ("", (False, 2)),
])
def test_the_tracer_answers_the_format_version_asked_for(accept: str, wanted: tuple[bool, int]) -> None:
    from skctl.tracer.server import _wanted

    assert _wanted(accept) == wanted


@responses.activate
def test_default_filters_are_sent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    responses.post(EXPORT_URL, body=trace_bytes())
    assert main(export_args(tmp_path)) == 0
    sent = json.loads(responses.calls[0].request.body)["filters"]
    assert "kube-system" in sent["excluded_namespaces"] and "default" in sent["excluded_namespaces"]
    assert sent["excluded_labels"] == []


@responses.activate
def test_default_tracer_address(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    responses.post("http://localhost:7777/export", body=trace_bytes())
    assert main(["export", "-o", str(tmp_path / "o.sktrace")]) == 0
    sent = json.loads(responses.calls[0].request.body)
    assert sent["end_ts"] - sent["start_ts"] == 1800


@responses.activate
def test_reencodes_when_format_or_compression_is_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    responses.post(EXPORT_URL, body=trace_bytes("zlib"))
    assert main(export_args(tmp_path, "--format", "msgpack")) == 0
    data = (tmp_path / "out.sktrace").read_bytes()
    trace, fmt = load.decode_any(data)
    assert fmt == "msgpack" and len(trace.events) == 2
    assert main(export_args(tmp_path, "--compression", "none", "--format-version", "2")) == 0
    assert (tmp_path / "out.sktrace").read_bytes() == trace_bytes("none")
    assert main(export_args(tmp_path, "--compression", "none")) == 0
    data = (tmp_path / "out.sktrace").read_bytes()
    assert load.cbor_version(data) == 3 and data == load.encode_as(codec.decode(trace_bytes()), "cbor", "none", 3)


def test_bare_host_port_means_http() -> None:
    assert tracer_client.tracer_export_url("localhost:7777") == "http://localhost:7777/export"
    assert tracer_client.tracer_export_url("https://t.example/base/") == "https://t.example/base/export"
    with pytest.raises(InputError):
        tracer_client.tracer_export_url("ftp://x")


def one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@responses.activate
@pytest.mark.parametrize(
    "status,body,exit_code,needles",
    [
        (400, "bad filters: unknown selector op\n", 2, ["rejected the export request", "HTTP 400", "bad filters: unknown selector op"]),
        (404, "", 2, ["HTTP 404", "Not Found"]),
        (500, "store\nexploded", 1, ["failed to export", "HTTP 500", "store exploded", "tracer's logs"]),
        (503, "x" * 5000, 1, ["HTTP 503", "..."]),
    ],
)
def test_http_errors_show_the_body_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, status: int, body: str,
                                                exit_code: int, needles: list[str]) -> None:
    responses.post(EXPORT_URL, body=body, status=status)
    assert main(export_args(tmp_path)) == exit_code
    line = one_line(capsys)
    for needle in needles:
        assert needle in line
    assert len(line) < 700
    assert not (tmp_path / "out.sktrace").exists()


@responses.activate
@pytest.mark.parametrize(
    "error,needle",
    [
        (requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused"),
         "cannot reach the tracer at http://tracer.test:7777/export (connection refused)"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "did not answer within 60s"),
        (requests.exceptions.ReadTimeout("read timed out"), "did not answer within 60s"),
    ],
)
def test_unreachable_and_timeouts_are_operational(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  error: Exception, needle: str) -> None:
    responses.post(EXPORT_URL, body=error)
    assert main(export_args(tmp_path)) == 1
    assert needle in one_line(capsys)
    assert not (tmp_path / "out.sktrace").exists()


@responses.activate
@pytest.mark.parametrize(
    "body,content_type,needle",
    [
        (b"<html>proxy login</html>", "text/html", "not a CBOR trace (text/html"),
        (b"", "application/cbor", "not a CBOR trace (an empty body"),
        (b"\xd9", "application/cbor", "not a CBOR trace"),
        (trace_bytes()[:-10], "application/cbor", "sent an unusable trace"),
    ],
)
def test_non_trace_answers_are_operational_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                             body: bytes, content_type: str, needle: str) -> None:
    out = tmp_path / "out.sktrace"
    out.write_bytes(b"old")
    responses.post(EXPORT_URL, body=body, content_type=content_type)
    assert main(export_args(tmp_path)) == 1
    assert needle in one_line(capsys)
    assert out.read_bytes() == b"old"


def test_connection_refused_for_real(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["export", "--tracer-address", f"127.0.0.1:{port}", "-o", str(tmp_path / "o")]) == 1
    assert "connection refused" in one_line(capsys)


@responses.activate
def test_fetch_from_tracer_library_call() -> None:
    body = trace_bytes()
    responses.post(EXPORT_URL, body=body, headers={"Content-Length": str(len(body))})
    got = tracer_client.fetch_from_tracer(TRACER, 1, 2, ExportFilters.from_strings([], ["a"]), timeout=5)
    assert got == body
    responses.post(EXPORT_URL, status=502, body="bad gateway")
    with pytest.raises(OperationalError):
        tracer_client.fetch_from_tracer(TRACER, 1, 2, ExportFilters(), timeout=5)


def test_errors_keep_their_cause_for_debug(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The one line is the same at every verbosity; -v debug also shows what caused it."""
    args = ["export", "--tracer-address", f"http://127.0.0.1:{closed_port()}", "-o", str(tmp_path / "t")]
    assert main(args) == 1
    quiet = capsys.readouterr().err
    assert main(["-v", "debug", *args]) == 1
    loud = capsys.readouterr().err
    assert len(quiet.strip().splitlines()) == 1 and quiet.startswith("skctl: error: ")
    assert loud.strip().splitlines()[-1] == quiet.strip()
    assert "direct cause of the following exception" in loud and "requests.exceptions.ConnectionError" in loud
