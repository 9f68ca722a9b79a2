"""Issue 12, class 7: an API server that accepts TCP but never answers fails within
--request-timeout (all retries included), and an exec credential plugin that never answers
within --exec-timeout, each as one line with exit 1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from skctl.sandbox import SandboxServer
from tests.helpers import skctl, wait_for

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


def _trace(tmp_path: Path) -> str:
    from skctl.trace import codec, synth

    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(synth.generate(events=5, objects=3)))
    return str(path)


# every command that talks to a cluster; {trace} is a small valid trace file
CLUSTER_COMMANDS = [
    ["delete", "sim1"],
    ["run", "sim1", "--trace-path", "s3://b/t"],
    ["drive", "sim1", "--trace-path", "{trace}"],
    ["trace", "--duration", "10m", "--journal", "{journal}"],
]


@pytest.mark.parametrize("command", CLUSTER_COMMANDS, ids=[c[0] for c in CLUSTER_COMMANDS])
def test_a_silent_api_server_fails_within_the_request_timeout(tmp_path: Path, silent_server: int, command: list[str]) -> None:
    command = [a.format(trace=_trace(tmp_path), journal=tmp_path / "journal") for a in command]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{silent_server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    # Before the fix the same call took minutes (30 s read timeout x urllib3 retries x skctl
    # retries); the subprocess timeout is only the guard that turns a hang into a failure.
    result = skctl(*command, "--kubeconfig", str(kubeconfig), "--request-timeout", "2s", timeout=90)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Kubernetes API server" in lines[0], lines


PLUGIN = """#!/bin/sh
sleep 1000 &
echo $! > "$PIDFILE"
wait
"""


def _kubeconfig(tmp_path: Path, server: str, exec_config: dict[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({  # JSON is YAML
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"exec": exec_config}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }))
    return path


def _hanging_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A kubeconfig whose exec plugin (PLUGIN) never answers, and the file it writes its pid to.

    The command is relative: it runs from the kubeconfig's directory, as with the client alone."""
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(PLUGIN)
    plugin.chmod(0o755)
    pidfile = tmp_path / "plugin.pid"
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1", {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./plugin.sh",
        "env": [{"name": "PIDFILE", "value": str(pidfile)}],
    })
    return kubeconfig, pidfile


def _process_ended(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent that does not reap (PID 1 in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("command", CLUSTER_COMMANDS, ids=[c[0] for c in CLUSTER_COMMANDS])
def test_an_exec_plugin_that_never_answers_fails_within_the_exec_timeout(tmp_path: Path, command: list[str]) -> None:
    command = [a.format(trace=_trace(tmp_path), journal=tmp_path / "journal") for a in command]
    kubeconfig, pidfile = _hanging_plugin(tmp_path)
    # Before the fix skctl waited for the plugin forever; the subprocess timeout is only the guard.
    result = skctl(*command, "--kubeconfig", str(kubeconfig), "--exec-timeout", "2s", timeout=90)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "./plugin.sh" in lines[0] and "--exec-timeout (2s)" in lines[0], lines
    # the plugin's own child (the sleep) was killed with it: nothing is left running
    grandchild = int(pidfile.read_text())
    assert _process_ended(grandchild), f"the plugin's child {grandchild} is still running"


def test_a_quick_exec_plugin_still_provides_the_credentials(tmp_path: Path, silent_server: int) -> None:
    """The guard is transparent: the plugin's token reaches the client (the silent server
    then times out, which shows the request was made after the plugin answered)."""
    status = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "t"}}
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{silent_server}", {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "/bin/sh",
        "args": ["-c", f"echo '{json.dumps(status)}'"],
    })
    result = skctl("delete", "sim1", "--kubeconfig", str(kubeconfig), "--request-timeout", "1s", timeout=90)
    assert result.returncode == 1, result.stderr
    assert "cannot reach the Kubernetes API server" in result.stderr, result.stderr


# First call: a token that is already inside the client's refresh margin (5 minutes), so the
# client runs the plugin again before the first request; later calls fail or never answer.
REFRESH_PLUGIN = """#!/bin/sh
if [ ! -e "$STATE" ]; then
  touch "$STATE"
  expiry=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)
  echo '{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",'
  echo " \\"status\\": {\\"token\\": \\"t\\", \\"expirationTimestamp\\": \\"$expiry\\"}}"
  exit 0
fi
LATER
"""


@pytest.mark.parametrize(("later", "expected"), [
    ("exec sleep 1000", "gave no answer within --exec-timeout (2s)"),
    ("echo 'token revoked: log in again' >&2; exit 3", "exec: process returned 3. token revoked: log in again"),
], ids=["hangs", "fails"])
def test_a_token_refresh_is_guarded_and_its_failure_reported(
    tmp_path: Path, silent_server: int, later: str, expected: str
) -> None:
    """Before the fix a refresh that failed was only logged and the request went out with the
    expired token: here the silent server's timeout was reported instead of the plugin."""
    plugin = tmp_path / "refresh plugin.sh"  # a space in the path, run relative to the kubeconfig
    plugin.write_text(REFRESH_PLUGIN.replace("LATER", later))
    plugin.chmod(0o755)
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{silent_server}", {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./refresh plugin.sh",
        "env": [{"name": "STATE", "value": str(tmp_path / "state")}],
    })
    result = skctl("delete", "sim1", "--kubeconfig", str(kubeconfig), "--exec-timeout", "2s", "--request-timeout", "3s",
                   timeout=90)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert (tmp_path / "state").exists()


def test_an_exec_plugin_timing_out_with_a_terminal_on_stdin_only(tmp_path: Path) -> None:
    """`skctl ... > file` in a terminal: the client is not interactive (its stdout is no
    terminal) and captures the plugin's stderr, while stdin is still the terminal. The guard
    follows the client's choice, so the plugin's child, which holds that stderr, is killed
    with it and the client is not left waiting for it."""
    import os
    import pty

    kubeconfig, pidfile = _hanging_plugin(tmp_path)
    controller, terminal = pty.openpty()
    left_running = False
    try:
        result = subprocess.run(
            [sys.executable, "-m", "skctl", "delete", "sim1", "--kubeconfig", str(kubeconfig), "--exec-timeout", "2s"],
            stdin=terminal, capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(controller)
        if pidfile.exists() and not _process_ended(int(pidfile.read_text())):
            left_running = True
            os.kill(int(pidfile.read_text()), 9)
    assert not left_running, "the plugin's child is still running"
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--exec-timeout (2s)" in lines[0], lines


def test_a_watch_survives_a_failed_token_refresh(tmp_path: Path, sandbox: SandboxServer) -> None:
    """A long-lived watch (the tracer, the driver's pod watch) whose token refresh fails backs
    off and runs the plugin again, with the plugin's message as its last error. Before the
    fix the guard's error escaped the watch thread with a traceback and the watch was gone."""

    from skctl.kube.client import connect
    from skctl.kube.watch import ListWatch

    plugin = tmp_path / "plugin.sh"
    plugin.write_text(REFRESH_PLUGIN.replace("LATER", "echo 'token revoked: log in again' >&2; exit 3"))
    plugin.chmod(0o755)
    kubeconfig = _kubeconfig(tmp_path, sandbox.url, {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./plugin.sh",
        "env": [{"name": "STATE", "value": str(tmp_path / "state")}],
    })
    watch = ListWatch(connect(str(kubeconfig)), "/api/v1/pods", lambda kind, obj: None, lambda items: None, name="pods")
    watch.start()
    thread = watch._thread
    assert thread is not None
    try:
        wait_for(lambda: "token revoked" in watch.stats.last_error or not thread.is_alive(),
                 "the refresh failure reported", timeout=30)
        assert thread.is_alive(), "the watch thread died"
        assert "token revoked: log in again" in watch.stats.last_error
    finally:
        watch.stop()
        watch.join(10)
