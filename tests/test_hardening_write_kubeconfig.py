"""`sandbox --write-kubeconfig` writes by the rules of traces (issue 12, class 6): it never
replaces a FIFO, a symlink or a device, never leaves PATH.tmp behind, and keeps mode 0600."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import yaml

from skctl.base.errors import InputError, OperationalError
from skctl.sandbox.kubeconfig import write_kubeconfig

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


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("previous")
    os.chmod(tmp_path, 0o500)  # the temporary file beside it cannot be created
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user that ignores directory permissions")
        with pytest.raises(OperationalError, match=f"could not write the kubeconfig {path}: Permission denied"):
            write_kubeconfig(path, SERVER)
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_text() == "previous" and _leftovers(tmp_path) == []


def test_a_full_disk_is_an_operational_error_naming_the_file() -> None:
    """Both callers (`skctl sandbox --write-kubeconfig`, `skctl demo`) get one clear line."""
    with pytest.raises(OperationalError, match="could not write the kubeconfig /dev/full: No space left on device"):
        write_kubeconfig("/dev/full", SERVER)
