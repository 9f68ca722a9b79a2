"""`make controlplane` refuses clearly when it cannot build (the build itself runs in make e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import binaries

ROOT = Path(__file__).resolve().parent.parent


def test_missing_go_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "SKCTL_CONTROLPLANE_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "tests/e2e/binaries.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "needs Go 1.26 or newer" in r.stderr and "Traceback" not in r.stderr


def test_too_old_go_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\necho go1.21.5\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "SKCTL_CONTROLPLANE_CACHE": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "tests/e2e/binaries.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "Go 1.21 is too old" in r.stderr and "install Go 1.26" in r.stderr


def test_short_disk_is_refused_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "NEEDED_FREE_BYTES", 1 << 62)
    with pytest.raises(binaries.BuildError, match="GiB free under .*SKCTL_CONTROLPLANE_CACHE"):
        binaries.check_space(tmp_path)


def test_the_cache_key_follows_the_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = binaries.pins_key()
    assert binaries.bin_dir() == binaries.cache_root() / key / "bin"
    monkeypatch.setattr(binaries, "KWOK_VERSION", "v9.9.9")
    assert binaries.pins_key() != key
    monkeypatch.setenv("SKCTL_CONTROLPLANE_CACHE", str(tmp_path))
    assert binaries.bin_dir().parent.parent == tmp_path and not binaries.is_built()
