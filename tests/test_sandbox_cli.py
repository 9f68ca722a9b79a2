"""`skctl sandbox` as a command: argument errors, signals, TLS + token + workload end to end."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config

from skctl.cli.main import main
from tests.fixtures.sandbox import start_sandbox_process

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--host", "10.1.2.3"], "not a loopback address"),
        (["--port", "70000"], "out of range"),
        (["--workload-rate", "0"], "--workload-rate: '0' must be a number greater than 0"),
        (["--workload-rate", "nan"], "--workload-rate"),
        (["--port", "http"], "--port: 'http' is out of range"),
        (["--max-history", "0"], "--max-history: '0' must be a whole number of at least 1"),
        (["--bookmark-interval", "-1"], "--bookmark-interval"),
        # 1e300 dropped every watch connection (Condition.wait overflowed in the handler)
        (["--bookmark-interval", "1e300"], "--bookmark-interval: duration '1e300' is out of range"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", *args]) == 2
    assert needle in capsys.readouterr().err


def test_unknown_workload_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--workload", "chaos"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_names_what_works_instead_of_protobuf_generators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "kubectl create -f FILE or kubectl apply -f FILE" in text and "protobuf" in text


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signals(tmp_path: Path, sig: int, code: int) -> None:
    sp = start_sandbox_process(tmp_path)
    assert sp.url.startswith("http://127.0.0.1:")
    assert "skctl-sandbox" in sp.kubeconfig.read_text()
    sp.proc.send_signal(sig)
    _, err = sp.proc.communicate(timeout=20)
    assert sp.proc.returncode == code, err
    assert "Traceback" not in err


def test_tls_token_and_workload_end_to_end(tmp_path: Path) -> None:
    sp = start_sandbox_process(tmp_path, "--tls", "--token", "tok", "--workload", "mixed",
                               "--workload-rate", "100", "--workload-seed", "4")
    try:
        assert sp.url.startswith("https://")
        api = config.new_client_from_config(config_file=str(sp.kubeconfig))
        core = client.CoreV1Api(api)
        w_rv = core.list_namespaced_pod("default").metadata.resource_version
        from kubernetes import watch

        w = watch.Watch()
        for event in w.stream(core.list_namespaced_pod, "default", resource_version=w_rv, timeout_seconds=30):
            if event["type"] == "ADDED":
                w.stop()
        assert w.resource_version is not None
    finally:
        sp.proc.terminate()
        try:
            sp.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sp.proc.kill()
    assert sp.proc.returncode == 0
