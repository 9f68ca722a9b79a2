"""dist/skctl.pyz carries every runtime dependency: it runs on an interpreter that has none of them."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import msgpack
import pytest

from skctl import __version__
from skctl.trace import codec, synth

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "skctl.pyz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_zipapp.py"), "-o", str(out)], check=True, cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment without pip or any package: only the standard library."""
    env_dir = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import cbor2"], capture_output=True)
    assert probe.returncode != 0, "the bare interpreter must not see the project's dependencies"
    return python


def run_pyz(python: Path, pyz: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["SHIV_ROOT"] = str(home / "shiv")
    return subprocess.run([str(python), str(pyz), *args], capture_output=True, text=True, env=env, timeout=300)


def test_pyz_version_and_convert_without_installed_dependencies(
    pyz: Path, bare_python: Path, tmp_path: Path
) -> None:
    result = run_pyz(bare_python, pyz, "--version", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"skctl {__version__}"

    src = tmp_path / "in.sktrace"
    trace = synth.generate(events=40, objects=8)
    src.write_bytes(codec.encode(trace))
    out = tmp_path / "out.msgpack"
    result = run_pyz(bare_python, pyz, "convert", str(src), str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = msgpack.unpackb(out.read_bytes(), raw=False, strict_map_key=False, use_list=False)
    assert len(doc["events"]) == len(trace.events)

    result = run_pyz(bare_python, pyz, "xray", "--json", str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"events": 40' in result.stdout

    # the xray browser's library is packed (it is imported only when the browser runs)
    assert "site-packages/textual/app.py" in zipfile.ZipFile(pyz).namelist()
    result = run_pyz(bare_python, pyz, "xray", "--events", str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in trace.events)


def test_pyz_keeps_the_error_policy(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    result = run_pyz(bare_python, pyz, "xray", str(tmp_path / "missing"), home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("skctl: error: no file at")


def test_pyz_carries_the_cloud_and_kubernetes_backends(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    """Heavy libraries load only in the commands that need them; prove they are inside and import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(SHIV_ROOT=str(tmp_path / "shiv"), SHIV_INTERPRETER="1")
    code = "import kubernetes.client, s3fs, gcsfs, adlfs, rich, yaml, requests, msgpack, cbor2._cbor2; print('ok')"
    result = subprocess.run(
        [str(bare_python), str(pyz), "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_pyz_runs_the_demo(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    """`make demo` runs `python3 dist/skctl.pyz demo`: the sandboxes, tracer, exporter and driver
    all work from the single file on an interpreter with nothing installed."""
    result = run_pyz(bare_python, pyz, "demo", "--seconds", "3", "--speed", "20", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "recording and simulation match:" in result.stdout
    assert "DIFFERS" not in result.stdout
