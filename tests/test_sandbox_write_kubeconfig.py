"""`sandbox --write-kubeconfig` writes by the rules of traces (issue 12, class 6): it never
replaces a FIFO, a symlink or a device, never leaves PATH.tmp behind, and keeps mode 0600."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from skctl.base.errors import InputError, OperationalError
from skctl.sandbox.kubeconfig import write_kubeconfig
from tests.helpers import ROOT

SERVER = "http://127.0.0.1:1"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".skctl-partial")))


def test_a_new_file_is_private(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "sub" / "kc", SERVER, token="t0ken")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "t0ken"
    assert _leftovers(path.parent) == []


def test_a_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.kubeconfig"
    target.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(target)
    write_kubeconfig(link, SERVER)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert yaml.safe_load(target.read_text())["clusters"][0]["cluster"]["server"] == SERVER


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_kubeconfig(fifo, SERVER)
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert yaml.safe_load(got[0])["clusters"][0]["cluster"]["server"] == SERVER
    assert _leftovers(tmp_path) == []


def test_a_directory_is_an_input_error(tmp_path: Path) -> None:
    # the message asked for "the path of a trace file"
    with pytest.raises(InputError, match="could not write the kubeconfig .*: it is a directory"):
        write_kubeconfig(tmp_path, SERVER)


def _small_file_limit() -> None:
    """For `preexec_fn`: files may grow to 64 bytes (`ulimit -f`); past that a write fails
    with EFBIG instead of killing the process (SIGXFSZ ignored). Works as root too."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


WRITE_IN_CHILD = """
import sys
from skctl.base.errors import OperationalError
from skctl.sandbox.kubeconfig import write_kubeconfig
try:
    write_kubeconfig(sys.argv[1], sys.argv[2])
except OperationalError as exc:
    print(exc)
"""


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("previous")
    # the kubeconfig is longer than the limit: writing the temporary file beside it fails midway
    child = subprocess.run([sys.executable, "-c", WRITE_IN_CHILD, str(path), SERVER], capture_output=True,
                           text=True, timeout=60, cwd=ROOT, preexec_fn=_small_file_limit,
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(f"could not write the kubeconfig {path}: File too large"), child.stdout
    assert path.read_text() == "previous" and _leftovers(tmp_path) == []


def test_a_full_disk_is_an_operational_error_naming_the_file() -> None:
    """Both callers (`skctl sandbox --write-kubeconfig`, `skctl demo`) get one clear line."""
    with pytest.raises(OperationalError, match="could not write the kubeconfig /dev/full: No space left on device"):
        write_kubeconfig("/dev/full", SERVER)
