"""Issue 12, class 7: an API server that accepts TCP but never answers fails within
--request-timeout (all retries included), as one line with exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections, reads, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("command", [["delete", "sim1"], ["run", "sim1", "--trace-path", "s3://b/t"]])
def test_a_silent_api_server_fails_within_the_request_timeout(tmp_path: Path, silent_server: int, command: list[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{silent_server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    # Before the fix the same call took minutes (30 s read timeout x urllib3 retries x skctl
    # retries); the subprocess timeout is only the guard that turns a hang into a failure.
    result = subprocess.run(
        [sys.executable, "-m", "skctl", *command, "--kubeconfig", str(kubeconfig), "--request-timeout", "2s"],
        capture_output=True, text=True, cwd=ROOT, timeout=90,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Kubernetes API server" in lines[0], lines
