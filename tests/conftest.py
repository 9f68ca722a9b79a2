"""Shared fixtures. Real-server fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import data

pytest_plugins = [
    "tests.fixtures.storage_servers",
    "tests.fixtures.sandbox",
]


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """SimKube's reference traces, in place in ../shared/reference/simkube (tests/helpers/data.py)."""
    return data.reference_dir()


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
