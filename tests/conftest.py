"""Shared fixtures. Real-server fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.storage_servers",
    "tests.fixtures.sandbox",
]

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT.parent / "shared" / "reference" / "simkube"
REFERENCE_TRACES = ["cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"]


@pytest.fixture
def reference_dir() -> Path:
    """../shared/reference/simkube, or skip: a plain clone has no ../shared."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference traces not found at {REFERENCE_DIR} (../shared is absent)")
    return REFERENCE_DIR


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the developer's real kubeconfig and cloud credentials."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    for var in list(os.environ):
        if var.startswith(("AWS_", "AZURE_STORAGE_")) or var in ("STORAGE_EMULATOR_HOST",):
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def interrupts_handled() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in this process for the test, as in an interactive
    Python, and SIGHUP has its default action (which skctl's command scope turns into an
    interrupt). A suite started in the background inherits SIGINT ignored, under `nohup`
    SIGHUP too, and Python leaves them so: an in-process interrupt test would see nothing."""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGHUP: signal.signal(signal.SIGHUP, signal.SIG_DFL)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        from skctl.base.signals import release_parked

        release_parked()  # an interrupted decode's worker ends instead of holding its memory
