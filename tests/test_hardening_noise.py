"""Issue 12, class 8: third-party loggers and warnings stay quiet unless -v debug, and a
failing exec credential plugin stops skctl with the plugin's error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NOISE = """
import logging, warnings, sys
from skctl.logs import configure_logging
configure_logging(sys.argv[1])
logging.getLogger("asyncio").error("Task exception was never retrieved\\nTraceback (most recent call last): ...")
logging.getLogger("aiohttp.client").error("Unclosed client session")
logging.error("exec: process returned 1")  # the kubernetes client logs on the root logger
warnings.warn("urllib3 would like a server", FutureWarning)
logging.getLogger("skctl.storage").warning("skctl's own warning")
"""

# (level, lines that must appear, lines that must not)
CASES = [
    ("warn", ["skctl's own warning"], ["Task exception", "Unclosed client session", "exec: process", "FutureWarning"]),
    ("info", ["skctl's own warning"], ["Task exception", "Unclosed client session", "exec: process", "FutureWarning"]),
    ("debug", ["skctl's own warning", "Task exception", "Unclosed client session", "exec: process", "FutureWarning"], []),
]


@pytest.mark.parametrize("level, shown, hidden", CASES, ids=[c[0] for c in CASES])
def test_third_party_noise_only_at_debug(level: str, shown: list[str], hidden: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", NOISE, level], capture_output=True, text=True, cwd=ROOT, check=True)
    for text in shown:
        assert text in result.stderr, result.stderr
    for text in hidden:
        assert text not in result.stderr, result.stderr


def test_a_failing_exec_plugin_stops_with_its_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: /bin/sh,"
        " args: ['-c', 'echo plugin says no >&2; exit 3']}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    result = subprocess.run([sys.executable, "-m", "skctl", "delete", "sim1", "--kubeconfig", str(kubeconfig)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "credential plugin failed" in lines[0] and "plugin says no" in lines[0]
