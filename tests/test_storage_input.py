"""Issue 12, classes 10 and 11: bad storage input and bad flags are input errors (exit 2),
refused before any work, with one URL validation shared by every command.

No row reaches a storage service: each is refused from the URL, the options or the
environment alone (the endpoint, where one is needed, is a closed loopback port).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec, synth
from tests.fixtures.storage_servers import closed_port

BAD_URLS = ["s3://bucket", "s3:///k", "s3://b/dir/", "gs:///k", "az://c/", "gcs://b"]


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.sktrace"
    path.write_bytes(codec.encode(synth.generate(events=5, objects=3)))
    return path


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", ["run", "convert", "example", "export"])
def test_every_command_refuses_the_same_urls(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str], command: str, url: str
) -> None:
    argv = {
        "run": ["run", "sim1", "--trace-path", url, "--kubeconfig", str(tmp_path / "none")],
        "convert": ["convert", str(trace_file), url],
        "example": ["example", "-o", url],
        "export": ["export", "--from", str(trace_file), "-s", "0", "-t", "now", "-o", url],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("malformed URL" in err[0] or "is a directory" in err[0]), err
    assert "kubeconfig" not in err[0]  # refused before looking for a cluster


@pytest.mark.parametrize("command", ["convert", "export"])
@pytest.mark.parametrize("where", ["directory", "under a file"])
def test_a_local_destination_that_cannot_be_written_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, where: str
) -> None:
    missing = tmp_path / "missing.sktrace"  # the source does not exist: the destination must fail first
    (tmp_path / "afile").write_bytes(b"x")
    dest = tmp_path if where == "directory" else tmp_path / "afile" / "sub" / "out.sktrace"
    argv = ["convert", str(missing), str(dest)] if command == "convert" else \
        ["export", "--from", str(missing), "-s", "0", "-t", "now", "-o", str(dest)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no file at" not in err
    assert ("is a directory" in err) if where == "directory" else ("is not a directory" in err), err


def _flags(tmp: Path) -> list[tuple[str, list[str], str]]:
    return [
        ("delete: bad driver namespace", ["delete", "sim1", "--driver-namespace", "Bad NS"], "DNS-1123"),
        ("run: bad driver namespace", ["run", "sim1", "--driver-namespace", "Bad NS"], "DNS-1123"),
        ("sandbox: bad workload namespace", ["sandbox", "--workload-namespace", "Bad NS!"], "DNS-1123"),
        ("sandbox: NaN workload rate", ["sandbox", "--workload-rate", "nan"], "greater than 0"),
        ("drive: vanishing speed", ["drive", "sim1", "--speed", "1e-320", "--trace-path", str(tmp / "t")], "--speed"),
        ("run: vanishing speed", ["run", "sim1", "--speed", "1e-320"], "--speed"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_bad_flag_values_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int) -> None:
    _name, argv, word = _flags(tmp_path)[index]
    assert main([*argv, "--kubeconfig", str(tmp_path / "none")] if argv[0] != "sandbox" else argv) == 2
    err = capsys.readouterr().err
    assert word in err and "kubeconfig" not in err, err


def _storage_rows() -> list[tuple[str, str, list[str], dict[str, str], str]]:
    endpoint = f"endpoint_url=http://127.0.0.1:{closed_port()}"
    return [
        ("invalid bucket name", "s3://Bad_Bucket!/k", ["--storage-option", endpoint], {}, 'Invalid bucket name "Bad_Bucket!"'),
        ("endpoint not a URL", "s3://b/k", ["--storage-option", "endpoint_url=notaurl"], {}, "Invalid endpoint: notaurl"),
        ("config_kwargs not a map", "s3://b/k", ["--storage-option", "config_kwargs=5", "--storage-option", endpoint], {},
         "config_kwargs must be a JSON object"),
        ("AWS_ENDPOINT_URL garbage", "s3://b/k", [], {"AWS_ENDPOINT_URL": "::::"}, "Invalid endpoint: ::::"),
        ("file name too long", "LONG", [], {}, "the file name is too long"),
        ("non-JSON GOOGLE_APPLICATION_CREDENTIALS", "gs://b/k", [], {"GOOGLE_APPLICATION_CREDENTIALS": "KEYFILE"},
         "is not readable JSON"),
        ("garbage Azure connection string", "az://ctr/k", [], {"AZURE_STORAGE_CONNECTION_STRING": "garbage"},
         "no credentials for az://ctr/k"),
    ]


@pytest.mark.parametrize("index", range(7))
def test_bad_storage_input_is_exit_2(
    tmp_path: Path, trace_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    _name, url, flags, env, words = _storage_rows()[index]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    for key, value in env.items():
        if value == "KEYFILE":
            (tmp_path / "key.json").write_text("not json")
            value = str(tmp_path / "key.json")
        monkeypatch.setenv(key, value)
    if url == "LONG":
        url = str(tmp_path / ("a" * 300))
    assert main(["convert", str(trace_file), url, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def _writers(source: str, dest: str, tmp: Path) -> dict[str, list[str]]:
    """Every command that writes a trace, reading from `source` (where it reads one)."""
    return {
        "convert": ["convert", source, dest],
        "export": ["export", "--from", source, "-s", "0", "-t", "now", "-o", dest],
        "example": ["example", "-o", dest],
        "validate --fix": ["validate", source, "--fix", dest],
        "trace --output": ["trace", "--output", dest, "--duration", "1s", "--journal", str(tmp / "journal"),
                           "--kubeconfig", str(tmp / "no-kubeconfig")],
    }


@pytest.mark.parametrize("command", ["convert", "export", "example", "validate --fix", "trace --output"])
def test_a_missing_bucket_is_refused_before_any_work(
    tmp_path: Path, object_store_url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """The destination's bucket or container is checked with one request before the source
    is read (the source does not exist: reading it first would say "no file at"), the trace
    generated or the cluster contacted (the kubeconfig does not exist)."""
    scheme, bucket = object_store_url.split("://")
    missing = f"{scheme}://{bucket}-gone"
    argv = _writers(str(tmp_path / "missing.sktrace"), f"{missing}/out.sktrace", tmp_path)[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"the bucket or container '{bucket}-gone' does not exist" in err[0], err


@pytest.mark.parametrize("command", ["convert", "export", "example", "validate --fix"])
def test_an_unreachable_destination_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    argv = _writers(str(tmp_path / "missing.sktrace"), "s3://b/out.sktrace", tmp_path)[command]
    argv += ["--storage-option", f"endpoint_url=http://127.0.0.1:{closed_port()}", "--storage-option", "retries=0"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the storage service" in err[0], err


def test_an_existing_bucket_passes_the_check(tmp_path: Path, object_store_url: str, trace_file: Path) -> None:
    """The check says yes to a bucket that is there (each emulator answers its probe)."""
    from skctl import storage

    storage.check_destination(f"{object_store_url}/out.sktrace")
    assert main(["convert", str(trace_file), f"{object_store_url}/out.sktrace"]) == 0


@pytest.mark.parametrize("command", ["convert", "export", "example"])
def test_dash_is_not_a_file_named_dash(
    tmp_path: Path, trace_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`-o -` means standard output to a Unix user: refused with the way to get it
    (/dev/stdout) instead of silently writing a file named "-"."""
    monkeypatch.chdir(tmp_path)
    argv = {"convert": ["convert", str(trace_file), "-"],
            "export": ["export", "--from", str(trace_file), "-s", "0", "-t", "now", "-o", "-"],
            "example": ["example", "-o", "-"]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/dev/stdout" in err[0], err
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("container", ["Bad_Name", "ab", "a--b", "-ab", "x" * 64])
def test_an_invalid_azure_container_name_is_bad_input_like_s3_and_gcs(container: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.sktrace"
    src.write_bytes(codec.encode(synth.generate(events=3, objects=2)))
    assert main(["convert", str(src), f"az://{container}/t.msgpack"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an Azure container name" in err[0], err


def test_a_valid_azure_container_name_passes_the_url_check() -> None:
    from skctl.storage import urls

    for name in ("traces", "a1-b2", "abc", "x" * 63, "$root"):
        assert urls.check_url(f"az://{name}/t.msgpack") == "abfs"
