"""Third-party loggers and warnings stay quiet unless `-v debug` (issue 12, class 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

NOISE = """
import logging, warnings, sys
from skctl.base.logs import configure_logging
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
