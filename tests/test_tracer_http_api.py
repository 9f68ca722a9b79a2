"""Issue 22, classes 1 and 2: the tracer's HTTP API can never stop the recording, and every
error it meets is an answer (400/413/422 with a one-line JSON reason) or a debug line,
never a traceback on the tracer's stderr."""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from skctl.base.timeparse import MAX_TS
from skctl.sandbox import SandboxServer
from skctl.sandbox.scenario import WorkloadGenerator
from skctl.trace import codec
from skctl.tracer.server import max_connections
from tests.helpers import ROOT, tracer_url, wait_for

FD_LIMIT = 128  # the tracer's RLIMIT_NOFILE in these tests: far fewer than the connections opened


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture
def tracer_process(sandbox: SandboxServer, sandbox_kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`skctl trace` as a process with a low file-descriptor limit; stopped with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "skctl", "trace", "--kubeconfig", str(sandbox_kubeconfig), "--journal",
         str(tmp_path / "journal"), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=_low_fd_limit,
    )
    try:
        yield proc, tracer_url(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _events(url: str) -> int:
    return int(requests.get(url + "/status", timeout=10).json()["events"])


def _export(url: str) -> bytes:
    answer = requests.post(url + "/export", json={"start_ts": 0, "end_ts": 2**40, "filters": {
        "excluded_namespaces": [], "excluded_labels": []}}, headers={"Accept": "application/cbor"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.content


HOSTILE_OPENINGS = {
    "idle": b"",
    "half a request line": b"POST /exp",
    "headers never ended": b"POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n",
    "half a body": b"POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"start_ts\"",
    "a TLS ClientHello": bytes.fromhex("160301002f0100002b0303") + b"\x00" * 32,
}


@pytest.mark.parametrize("opening", list(HOSTILE_OPENINGS), ids=list(HOSTILE_OPENINGS))
def test_more_stuck_connections_than_descriptors_never_stop_the_recording(
        opening: str, sandbox: SandboxServer, tracer_process: tuple[subprocess.Popen, str]) -> None:
    proc, url = tracer_process
    gen = WorkloadGenerator(sandbox.store, seed=3, scenario="deployments")
    gen.run(5)
    wait_for(lambda: _events(url) > 0, "first events", timeout=60, process=proc)
    host, port = url.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(FD_LIMIT * 2):  # twice what the tracer could hold open
            sock = socket.create_connection((host, int(port)), timeout=10)
            if HOSTILE_OPENINGS[opening]:
                sock.sendall(HOSTILE_OPENINGS[opening])
            held.append(sock)
        before = _events(url)  # answered although the stuck connections are still open
        gen.run(20)  # the cluster changes while they are held
        wait_for(lambda: _events(url) > before, "the tracer to record the new changes", timeout=60, process=proc)
        assert requests.get(url + "/healthz", timeout=10).text == "ok\n"
        assert codec.decode(_export(url)).events
    finally:
        for sock in held:
            sock.close()
    assert proc.poll() is None, "the tracer died"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Too many open files" not in err and "Traceback" not in err


def test_the_connection_cap_leaves_room_for_the_journal_and_the_watches() -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert max_connections(limit=10**6, reserve=64) <= soft - 64
    assert max_connections(limit=3, reserve=0) == 3
    assert max_connections(limit=10, reserve=10**9) == 1  # never zero: the API still answers


# --- class 2: every error is an answer -----------------------------------------------------

BAD_REQUESTS = {
    "nested JSON": (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    "not JSON": (b"{nope", 400, "not JSON"),
    "a 5000-digit number": (b'{"start_ts": ' + b"9" * 5000 + b', "end_ts": 1}', 400, "not JSON"),
    "start before 1970": (json.dumps({"start_ts": -5, "end_ts": 10}).encode(), 422, "outside 1970-01-01"),
    "start after 9999": (json.dumps({"start_ts": MAX_TS + 1, "end_ts": MAX_TS + 5}).encode(), 422,
                         "outside 1970-01-01"),
    "a huge start": (json.dumps({"start_ts": 10**300, "end_ts": 10**301}).encode(), 422, "outside 1970-01-01"),
    "end before start": (json.dumps({"start_ts": 50, "end_ts": -10**300}).encode(), 422, "before end_ts"),
    "string times": (json.dumps({"start_ts": "0", "end_ts": 10}).encode(), 422, "integer"),
    "filters not an object": (json.dumps({"start_ts": 0, "end_ts": 10, "filters": [1]}).encode(), 422, "filters"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
def test_bad_export_requests_get_one_line_json_reasons(case: str, tracer_process: tuple[subprocess.Popen, str]) -> None:
    proc, url = tracer_process
    body, status, reason = BAD_REQUESTS[case]
    for accept in ("application/cbor", "application/msgpack"):
        answer = requests.post(url + "/export", data=body, headers={"Accept": accept}, timeout=30)
        assert answer.status_code == status, answer.text[:300]
        error = answer.json()["error"]
        assert reason in error and "\n" not in error and len(error) < 1000
    assert requests.get(url + "/healthz", timeout=10).text == "ok\n"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


RAW_REQUESTS = {
    "an absurd Content-Length": (b"POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
                                 413),
    "a Content-Length over the limit": (b"POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    "Arabic-Indic digits as Content-Length": (
        "POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: ١٢\r\n\r\n{}".encode(), 400),
    "no Content-Length": (b"POST /export HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    "a garbage request line": (b"\x16\x03\x01 nonsense\r\n\r\n", 400),
    "an unknown method": (b"BREW /export HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    "an unknown path": (b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    "a request line over 64 KiB": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
}


@pytest.mark.parametrize("case", list(RAW_REQUESTS), ids=list(RAW_REQUESTS))
def test_malformed_http_gets_a_json_answer(case: str, tracer_process: tuple[subprocess.Popen, str]) -> None:
    proc, url = tracer_process
    raw, status = RAW_REQUESTS[case]
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                break
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), answer[:300]
    error = json.loads(body)["error"]
    assert error and "\n" not in error
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("fmt", ["application/cbor", "application/msgpack"])
def test_clients_that_leave_before_the_answer_are_not_tracebacks(
        fmt: str, sandbox: SandboxServer, tracer_process: tuple[subprocess.Popen, str]) -> None:
    proc, url = tracer_process
    WorkloadGenerator(sandbox.store, seed=5, scenario="deployments").run(20)
    wait_for(lambda: _events(url) > 0, "first events", timeout=60, process=proc)
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"start_ts": 0, "end_ts": 2**40}).encode()
    for _ in range(20):
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        sock.sendall(b"POST /export HTTP/1.1\r\nHost: x\r\nAccept: " + fmt.encode() + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        sock.close()
    half = socket.create_connection((host, int(port)), timeout=10)
    half.sendall(b"POST /export HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
    half.close()  # gone in the middle of its body
    assert codec.decode(_export(url)).events
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err and "Error" not in err, err
