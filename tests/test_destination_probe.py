"""The destination pre-flight (storage.check_destination) against a service answering its
one request with a chosen status, for each object store's real client: access denied
(401/403) and a bucket in another region (S3's 301) pass, since the bucket exists and the
write decides; 404 is a missing bucket (exit 2); a service that accepts the connection and
never answers fails within the probe's own bound (PROBE_TIMEOUT), whatever the backend's
read timeouts and retries would allow."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from skctl import storage
from skctl.base.errors import InputError, OperationalError
from skctl.storage import backends

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    requests: list[str] = []

    def _answer(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        if self.status == 301:
            self.send_header("x-amz-bucket-region", "eu-west-1")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[type[_Answer]]:
    handler = type("Handler", (_Answer,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.port = server.server_address[1]  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def _point_at(scheme: str, port: int, monkeypatch: pytest.MonkeyPatch) -> str:
    endpoint = f"http://127.0.0.1:{port}"
    if scheme == "s3":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    elif scheme == "gs":
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    else:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint}/devstoreaccount1;"))
    return f"{scheme}://bucket/out.sktrace"


CASES = [
    ("s3", 403, None), ("gs", 403, None), ("az", 403, None),
    ("s3", 401, None), ("gs", 401, None), ("az", 401, None),
    ("s3", 301, None),
    ("s3", 404, "does not exist"), ("gs", 404, "does not exist"), ("az", 404, "does not exist"),
]


@pytest.mark.parametrize("scheme, status, refused", CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_the_probe_status_decides(
    answering: type[_Answer], monkeypatch: pytest.MonkeyPatch, scheme: str, status: int, refused: str | None
) -> None:
    answering.status = status
    url = _point_at(scheme, answering.port, monkeypatch)  # type: ignore[attr-defined]
    if refused is None:
        storage.check_destination(url)
    else:
        with pytest.raises(InputError, match=refused):
            storage.check_destination(url)
    # one request with the default retries; for a 301 botocore asks again in the bucket's region
    assert len(answering.requests) == (2 if status == 301 else 1), answering.requests


def test_a_write_refused_by_gcs_is_permission_denied(answering: type[_Answer], monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs raises a bare OSError("Forbidden: ...") for 403: the write says permission
    denied (exit 2), like S3 and Azure, not an operational failure."""
    answering.status = 403
    url = _point_at("gs", answering.port, monkeypatch)  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="permission denied"):
        storage.write_bytes(url, b"data", {"retries": 0})


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_a_silent_service_does_not_hold_the_probe(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    """A service that accepts the connection and never answers: the probe gives up after
    PROBE_TIMEOUT (set low here), with the backends' default read timeouts and retries
    (minutes to an hour) left as they are. The join is a hang guard, not a timing assertion."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
    monkeypatch.setattr(backends, "PROBE_TIMEOUT", 1.0)
    url = _point_at(scheme, listener.getsockname()[1], monkeypatch)
    outcome: list[BaseException] = []

    def check() -> None:
        try:
            storage.check_destination(url)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(120)
    listener.close()
    assert not worker.is_alive(), "the probe of a silent service did not end"
    assert len(outcome) == 1 and isinstance(outcome[0], OperationalError), outcome
    assert "cannot reach the storage service" in str(outcome[0]) and "no answer" in str(outcome[0])
