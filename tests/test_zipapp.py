"""dist/skctl.pyz carries every runtime dependency: it runs on an interpreter that has none of them.

Its launcher (scripts/pyz_main.py) finds shiv's unpacked site-packages without opening the
archive, unpacks it once (safely when several processes start together, under a private
temporary directory when HOME is read-only), and `--version` loads no library.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import msgpack
import pytest

from skctl import __version__
from skctl.trace import codec, synth
from tests.fixtures.scripts import load_script

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
    assert list((tmp_path / "shiv").glob("skctl.pyz_*/site-packages/textual/app.py"))
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


# --- the launcher ------------------------------------------------------------------------

HEAVY = ("kubernetes", "cbor2", "fsspec", "rich", "textual", "requests", "botocore", "yaml")


def imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "SHIV_"))}
    env.update(extra)
    return env


def launch(python: Path | str, pyz: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the pyz with `-X importtime`, so that `imported(result.stderr)` says what it loaded."""
    cmd = [str(python), "-I", "-X", "importtime", str(pyz), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("import time:")]


def test_pyz_version_and_help_load_no_library(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv"))
    cold = launch(bare_python, pyz, "--version", env=env)
    assert cold.returncode == 0, cold.stderr
    assert "zipfile" in imported(cold.stderr)  # the first run unpacks
    warm = launch(bare_python, pyz, "--version", env=env)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.strip() == f"skctl {__version__}"
    modules = imported(warm.stderr)
    assert "skctl.cli.entry" in modules  # the probe sees the run
    # answered before the CLI loads; the archive is not opened again
    loaded = {m for m in modules if m.split(".")[0] in HEAVY or m in ("argparse", "skctl.cli.main", "zipfile", "_bootstrap")}
    assert loaded == set()

    helped = launch(bare_python, pyz, "--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert "usage: skctl" in helped.stdout
    assert {m for m in imported(helped.stderr) if m.split(".")[0] in HEAVY} == set()


def _load_builder():  # scripts/build_zipapp.py is a script, not a package module
    return load_script("build_zipapp")


def build_small(tmp_path_factory: pytest.TempPathFactory, greeting: str = "hello") -> Path:
    """A tiny app built the way skctl.pyz is (shiv, then nested), with a .pth file in its site-packages."""
    site = tmp_path_factory.mktemp("small-site")
    (site / "hello_app.py").write_text(
        f"import sys\n\ndef main():\n    import pthmod\n    print({greeting!r}, pthmod.VALUE, *sys.argv[1:])\n    return 3\n"
    )
    (site / "extra").mkdir()
    (site / "extra" / "pthmod.py").write_text("VALUE = 'via-pth'\n")
    (site / "hello.pth").write_text("extra\n")
    out = tmp_path_factory.mktemp("small-dist") / "hello.pyz"
    _load_builder().build(site, out, entry_point="hello_app:main")
    return out


@pytest.fixture(scope="module")
def small_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small(tmp_path_factory)


def test_warm_start_uses_the_unpacked_copy_without_opening_the_archive(small_pyz: Path, tmp_path: Path) -> None:
    root = tmp_path / "shiv"
    env = clean_env(SHIV_ROOT=str(root))
    cold = launch(sys.executable, small_pyz, "a", "b", env=env)
    assert (cold.returncode, cold.stdout) == (3, "hello via-pth a b\n"), cold.stderr
    assert "zipfile" in imported(cold.stderr)
    [site] = root.glob("hello.pyz_*/site-packages")
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [site.parent.name]  # no .tmp left
    sentinel = site / "sentinel"
    sentinel.write_text("kept")

    warm = launch(sys.executable, small_pyz, "c", env=env)
    assert (warm.returncode, warm.stdout) == (3, "hello via-pth c\n"), warm.stderr
    assert not imported(warm.stderr) & {"zipfile", "_bootstrap", "shutil", "tempfile"}
    assert sentinel.exists(), "a warm start must not unpack again"

    forced = launch(sys.executable, small_pyz, env={**env, "SHIV_FORCE_EXTRACT": "1"})
    assert (forced.returncode, forced.stdout) == (3, "hello via-pth\n"), forced.stderr
    assert not sentinel.exists(), "SHIV_FORCE_EXTRACT unpacks again, as with shiv"


def test_a_new_build_never_runs_the_old_copy(
    small_pyz: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same file name, new contents: a new build id, so a new copy beside the old one."""
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv"))
    assert launch(sys.executable, small_pyz, env=env).stdout == "hello via-pth\n"
    rebuilt = build_small(tmp_path_factory, greeting="hi")
    assert rebuilt.name == small_pyz.name
    assert launch(sys.executable, rebuilt, env=env).stdout == "hi via-pth\n"
    assert launch(sys.executable, small_pyz, env=env).stdout == "hello via-pth\n"
    assert len(list((tmp_path / "shiv").glob("hello.pyz_*/site-packages"))) == 2


def test_concurrent_first_runs_unpack_once(small_pyz: Path, tmp_path: Path) -> None:
    root = tmp_path / "shiv"
    env = clean_env(SHIV_ROOT=str(root))
    cmd = [sys.executable, "-I", str(small_pyz)]
    procs = [subprocess.Popen([*cmd, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(6)]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    for i, ((out, err), code) in enumerate(results):
        assert (code, out) == (3, f"hello via-pth {i}\n"), err
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [next(root.glob("hello.pyz_*")).name]


def test_read_only_home_unpacks_into_a_private_temporary_directory(small_pyz: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = clean_env(HOME=str(blocker / "home"), TMPDIR=str(tmp))  # ~/.shiv cannot be created
    result = launch(sys.executable, small_pyz, env=env)
    assert (result.returncode, result.stdout) == (3, "hello via-pth\n"), result.stderr
    fallback = tmp / f"skctl-shiv-{os.getuid()}"
    assert list(fallback.glob("hello.pyz_*/site-packages/hello_app.py"))
    assert fallback.stat().st_mode & 0o777 == 0o700

    fallback.chmod(0o777)  # someone else could have written there: never run code from it
    result = launch(sys.executable, small_pyz, env=env)
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("skctl: error: cannot unpack") and "not a private directory" in line
    assert line.endswith("set SHIV_ROOT to a writable directory")


def test_an_unwritable_shiv_root_is_one_line(small_pyz: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = launch(sys.executable, small_pyz, env=clean_env(SHIV_ROOT=str(blocker / "shiv")))
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("skctl: error: cannot unpack") and "Not a directory" in line
    assert line.endswith("set SHIV_ROOT to a writable directory")


def test_a_copy_that_lost_files_is_unpacked_again(small_pyz: Path, tmp_path: Path) -> None:
    """A temporary-file cleaner or a user deleted files from the unpacked copy: the next start
    unpacks it again instead of failing with a traceback."""
    root = tmp_path / "shiv"
    env = clean_env(SHIV_ROOT=str(root))
    assert launch(sys.executable, small_pyz, env=env).returncode == 3
    [site] = root.glob("hello.pyz_*/site-packages")
    for lost in (site / "hello_app.py", site / "extra" / "pthmod.py"):  # the entry point, then what it imports
        lost.unlink()
        result = launch(sys.executable, small_pyz, "x", env=env)
        assert (result.returncode, result.stdout) == (3, "hello via-pth x\n"), result.stderr
        assert lost.exists()


def test_pyz_with_a_damaged_copy_keeps_the_error_policy(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv"))
    assert launch(bare_python, pyz, "--version", env=env).returncode == 0
    [site] = (tmp_path / "shiv").glob("skctl.pyz_*/site-packages")
    (site / "skctl" / "cli" / "main.py").unlink()  # lost before the command starts: unpacked again
    helped = launch(bare_python, pyz, "--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert "usage: skctl" in helped.stdout
    assert (site / "skctl" / "cli" / "main.py").exists()

    src = tmp_path / "in.sktrace"
    src.write_bytes(codec.encode(synth.generate(events=4, objects=2)))
    for path in sorted((site / "rich").rglob("*"), reverse=True):  # lost while the command runs: one line
        path.rmdir() if path.is_dir() else path.unlink()
    result = launch(bare_python, pyz, "xray", str(src), env=env)
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("skctl: error: part of skctl's installation is missing") and "named 'rich" in line
    assert "SHIV_FORCE_EXTRACT=1" in line


def test_pyz_runs_the_exec_credential_plugin_under_its_time_limit(pyz: Path, bare_python: Path, tmp_path: Path) -> None:
    """skctl.kube.exec_guard runs by file path: from the pyz it is the unpacked copy's file."""
    plugin = tmp_path / "plugin.sh"
    plugin.write_text("#!/bin/sh\nexec sleep 1000\n")
    plugin.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin.sh}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv"))
    result = launch(bare_python, pyz, "delete", "sim1", "--kubeconfig", str(kubeconfig), "--exec-timeout", "2s", env=env)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result)
    assert "./plugin.sh gave no answer within --exec-timeout (2s)" in line


def test_another_python_or_machine_is_one_line(small_pyz: Path, tmp_path: Path) -> None:
    """The compiled wheels inside load only on the Python minor version and machine that built
    the pyz (a python:3.12 image, an arm64 node): say so instead of failing later, in some
    command, on a compiled module that seems to be missing."""
    import zipfile

    other = tmp_path / "hello.pyz"
    with zipfile.ZipFile(small_pyz) as src, zipfile.ZipFile(other, "w") as dest:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "__main__.py":
                text = data.decode()
                assert "\nBUILT_FOR = '3." in text, "the build records the interpreter"
                data = re.sub(r"\nBUILT_FOR = '[^']*'", "\nBUILT_FOR = '2.7 linux pdp11'", text).encode()
            dest.writestr(info, data)
    result = launch(sys.executable, other, env=clean_env(SHIV_ROOT=str(tmp_path / "shiv")))
    assert result.returncode == 1
    [line] = error_lines(result)
    assert line.startswith("skctl: error: ") and "was built for Python 2.7 linux pdp11 and this is Python 3." in line
    assert not (tmp_path / "shiv").exists(), "nothing is unpacked"


def test_pyz_drive_report_show_and_diff(pyz: Path, bare_python: Path, tmp_path: Path, sandbox_kubeconfig: Path,
                                        reference_dir: Path) -> None:
    """The report path from the single file: drive --report against the sandbox, then show and diff with gates."""
    trace = reference_dir / "dsb-scaling.sktrace"
    result = run_pyz(bare_python, pyz, "drive", "zip", "--kubeconfig", str(sandbox_kubeconfig), "--trace-path",
                     str(trace), "--speed", "500", "--duration", "10m", "--report", str(tmp_path / "rep"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rep" / "report.html").read_text().startswith("<!DOCTYPE html>")
    result = run_pyz(bare_python, pyz, "report", "show", str(tmp_path / "rep"), "--slo", "driver_failed_applies==0",
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "report of simulation zip: complete" in result.stdout and "SLO ok: driver_failed_applies==0" in result.stdout
    result = run_pyz(bare_python, pyz, "report", "diff", str(tmp_path / "rep"), str(tmp_path / "rep"), "--html",
                     str(tmp_path / "diff.html"), "--junit", str(tmp_path / "j.xml"), "--slo",
                     "candidate.driver_lateness_p99<0*baseline.driver_lateness_p99", home=tmp_path)
    assert result.returncode == 1 and "SLO violated: candidate.driver_lateness_p99<0*baseline" in result.stderr
    assert (tmp_path / "diff.html").is_file() and "<failure" in (tmp_path / "j.xml").read_text()
