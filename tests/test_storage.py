"""skctl.storage against real backends: local disk, memory, and moto / gcp-storage-emulator /
Azurite on loopback (tests/fixtures/storage_servers.py). No mocks: every write goes to a
server, and atomicity is checked by listing the server with its own SDK."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skctl import storage
from skctl.base.errors import InputError, OperationalError
from skctl.cli import main as cli
from skctl.cli.output import PROGRESS_MIN_BYTES, progress_enabled, transfer_progress
from skctl.trace import load
from skctl.trace.model import Trace, new_event
from tests.fixtures.storage_servers import HOST, closed_port, list_objects
from tests.helpers import skctl, wait_for

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024

# The smallest upload part each service accepts, so a write of a bit more than this starts
# a real multipart / resumable / block upload before the injected failure.
PART_SIZE = {"s3": 5 * MiB, "gs": 256 * 1024, "az": 64 * 1024}


class Boom(Exception):
    """The data source's own failure (not storage's)."""


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture(params=["local", "memory", "s3", "gcs", "azure"])
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty place to write on each backend: a directory, or a bucket/container."""
    if request.param == "local":
        return str(tmp_path / "store")
    if request.param == "memory":
        return f"memory://skctl-test-{uuid.uuid4().hex[:12]}"
    fixture = {"s3": "s3_bucket_url", "gcs": "gcs_bucket_url", "azure": "azure_container_url"}[request.param]
    return request.getfixturevalue(fixture)


def listing(base: str, pending: bool = True) -> list[str]:
    """What is stored under `base`, seen from outside skctl.storage."""
    scheme = storage.scheme_of(base)
    if scheme == "":
        root = Path(base)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    if scheme == "memory":
        from fsspec.implementations.memory import MemoryFileSystem

        root = base.split("://", 1)[1]
        fs = MemoryFileSystem()
        return sorted(p.split(f"{root}/", 1)[1] for p in fs.find(root)) if fs.exists(root) else []
    return list_objects(base, pending=pending)


def part_options(base: str) -> dict[str, int]:
    """Small upload parts (and no retries against the GCS emulator: see test below)."""
    scheme = storage.scheme_of(base)
    options = {"block_size": PART_SIZE[scheme]} if scheme in PART_SIZE else {}
    if scheme == "gs":
        # gcp-storage-emulator answers 501 to cancelling a resumable upload (real GCS: 499),
        # and gcsfs retries 5xx for ~30 s; the clean-up is best effort either way.
        options["retries"] = 0
    return options


def failing_source(size: int, exc: BaseException) -> Iterator[bytes]:
    """`size` bytes in two chunks, then `exc`: a writer that dies halfway."""
    yield os.urandom(size // 2)
    yield os.urandom(size - size // 2)
    raise exc


def small_trace() -> Trace:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }
    scaled = json.loads(json.dumps(deployment))
    scaled["spec"]["replicas"] = 5
    return Trace(
        config={"trackedObjects": {"apps/v1.Deployment": {"podSpecTemplatePaths": ["/spec/template"]}}},
        events=[
            new_event(1_700_000_000, applied=[deployment]),
            new_event(1_700_000_030, applied=[scaled]),
            new_event(1_700_000_060, deleted=[scaled]),
        ],
        index={"apps/v1.Deployment": {"shop/web": 1}},
    )


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


# --- write → read → overwrite → failed write, on every backend ---------------------------------


def test_write_read_overwrite(base_url: str) -> None:
    url = f"{base_url}/traces/t.sktrace"
    assert not storage.exists(url)
    storage.write_bytes(url, b"first")
    assert storage.read_bytes(url) == b"first"
    storage.write_bytes(url, b"second, longer" * 1000)
    assert storage.read_bytes(url) == b"second, longer" * 1000
    assert storage.exists(url)
    assert listing(base_url) == ["traces/t.sktrace"]


def test_empty_object(base_url: str) -> None:
    storage.write_bytes(f"{base_url}/empty", b"")
    assert storage.read_bytes(f"{base_url}/empty") == b""
    assert storage.exists(f"{base_url}/empty")


def test_write_accepts_chunks(base_url: str) -> None:
    url = f"{base_url}/chunked"
    storage.write_bytes(url, iter([b"a" * 10, bytearray(b"b" * 10), memoryview(b"c" * 10)]))
    assert storage.read_bytes(url) == b"a" * 10 + b"b" * 10 + b"c" * 10


def test_write_rejects_non_bytes_chunks(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        storage.write_bytes(str(tmp_path / "t"), iter([b"ok", "text"]))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("failure", [Boom("source died"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_failed_write_keeps_old_object(base_url: str, failure: BaseException) -> None:
    url = f"{base_url}/t.sktrace"
    storage.write_bytes(url, b"the old trace")
    options = part_options(base_url)
    # More than one part: the multipart/resumable/block upload has begun when the source dies.
    size = 2 * options.get("block_size", MiB) + 1000
    with pytest.raises(type(failure)):
        storage.write_bytes(url, failing_source(size, failure), options)
    gc.collect()  # an abandoned fsspec file commits in __del__ unless it was discarded
    assert storage.read_bytes(url) == b"the old trace"
    assert listing(base_url) == ["t.sktrace"]  # no temp file, no pending multipart upload


def test_failed_write_of_new_object_leaves_nothing(base_url: str) -> None:
    options = part_options(base_url)
    size = 2 * options.get("block_size", MiB) + 1000
    with pytest.raises(Boom):
        storage.write_bytes(f"{base_url}/new.sktrace", failing_source(size, Boom()), options)
    gc.collect()
    assert not storage.exists(f"{base_url}/new.sktrace")
    with pytest.raises(InputError):
        storage.read_bytes(f"{base_url}/new.sktrace")
    # Azure keeps staged blocks of a never-committed blob (unreadable, dropped by the
    # service after a week); everywhere else nothing at all is left.
    assert listing(base_url, pending=not base_url.startswith("az://")) == []


def test_multipart_write_round_trips(base_url: str) -> None:
    options = part_options(base_url)
    data = os.urandom(2 * options.get("block_size", MiB) + 12345)
    storage.write_bytes(f"{base_url}/big", data, options)
    assert storage.read_bytes(f"{base_url}/big", options) == data
    assert listing(base_url) == ["big"]


def test_multipart_write_to_missing_bucket(object_store_url: str) -> None:
    """The upload itself fails once parts are flowing: a one-line InputError, nothing left."""
    scheme = storage.scheme_of(object_store_url)
    url = f"{scheme}://skctl-missing-{uuid.uuid4().hex[:8]}/t.sktrace"
    with pytest.raises(InputError, match="does not exist") as info:
        storage.write_bytes(url, os.urandom(3 * PART_SIZE[scheme]), part_options(object_store_url))
    assert_one_line(str(info.value))
    assert list_objects(object_store_url) == []


# --- local files ---------------------------------------------------------------------------------


def test_local_url_forms(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "t.sktrace"
    storage.write_bytes(f"file://{path}", b"x")  # parent directories are created
    assert path.read_bytes() == b"x"
    assert storage.read_bytes(str(path)) == b"x"
    assert storage.read_bytes(f"file://localhost{path}") == b"x"
    assert storage.is_local(str(path)) and storage.is_local(f"file://{path}")
    assert not storage.is_local("s3://b/k")
    assert storage.local_path(f"file://{path}") == str(path)


def test_local_write_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        storage.write_bytes(str(tmp_path / "t"), b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "t").stat().st_mode & 0o777 == 0o640


def test_local_directory_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        storage.write_bytes(str(tmp_path), b"x")
    with pytest.raises(InputError, match="is a directory"):
        storage.read_bytes(str(tmp_path))


def test_local_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(InputError, match="could not write") as info:
        storage.write_bytes(str(tmp_path / "file" / "t.sktrace"), b"x")
    assert_one_line(str(info.value))
    with pytest.raises(InputError):
        storage.read_bytes(str(tmp_path / "file" / "t.sktrace"))


def test_local_interrupt_removes_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "t.sktrace"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        storage.write_bytes(str(target), failing_source(3 * MiB, KeyboardInterrupt()))
    assert os.listdir(tmp_path) == ["t.sktrace"] and target.read_bytes() == b"old"


# --- URLs and options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://host/t", "hdfs://nn/t", "http://example.invalid/t"],
)
def test_unknown_scheme(url: str) -> None:
    with pytest.raises(InputError, match="unsupported URL scheme") as info:
        storage.read_bytes(url)
    assert_one_line(str(info.value))
    with pytest.raises(InputError):
        storage.protocol_of(url)


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3://bucket", "s3:///key", "gs://bucket/", "gcs://", "az://container", "abfs:///k", "memory://",
     "file://host/x", "file://"],
)
def test_malformed_url(url: str) -> None:
    with pytest.raises(InputError) as info:
        storage.read_bytes(url)
    assert_one_line(str(info.value))
    with pytest.raises(InputError):
        storage.write_bytes(url, b"x")


def test_scheme_aliases() -> None:
    assert storage.protocol_of("gs://b/k") == storage.protocol_of("gcs://b/k") == "gcs"
    assert storage.protocol_of("az://c/k") == storage.protocol_of("abfs://c/k") == "abfs"
    assert storage.protocol_of("S3://b/k") == "s3"
    assert storage.protocol_of("relative/path") == "file"


def test_parse_storage_options() -> None:
    assert storage.parse_storage_options(["anon=true", "retries=2", "endpoint_url=http://h:1", "k=a=b"]) == {
        "anon": True,
        "retries": 2,
        "endpoint_url": "http://h:1",
        "k": "a=b",
    }
    assert storage.parse_storage_options(None) == {}
    for bad in ("novalue", "=x"):
        with pytest.raises(InputError, match="--storage-option"):
            storage.parse_storage_options([bad])


@pytest.mark.parametrize("options", [{"retries": -1}, {"retries": "many"}, {"block_size": 0}, {"stall_timeout": 0},
                                     {"stall_timeout": "1m"}, {"stall_timeout": True}, {"stall_timeout": 1e300},
                                     {"stall_timeout": 1e-320},
                                     # unbounded, a typo'd retry count retried an unreachable service for ever
                                     {"retries": 99999999999999999999}, {"retries": 101}])
def test_bad_skctl_options(options: dict) -> None:
    with pytest.raises(InputError, match="bad storage options"):
        storage.write_bytes("memory://x", b"x", options)


def test_retries_option_on_a_healthy_backend(object_store_url: str) -> None:
    """`retries` rebuilds/bounds each backend's retry machinery; normal traffic still works."""
    url = f"{object_store_url}/t"
    storage.write_bytes(url, b"x" * 1000, {"retries": 2, "stall_timeout": 0.5})
    assert storage.read_bytes(url, {"retries": 2, "stall_timeout": 0.5}) == b"x" * 1000
    assert storage.exists(url, {"retries": 0})


def test_unknown_backend_option_is_input_error(s3_bucket_url: str) -> None:
    with pytest.raises(InputError, match="bad storage options") as info:
        storage.write_bytes(f"{s3_bucket_url}/t", b"x", {"no_such_option": 1})
    assert_one_line(str(info.value))


# --- endpoints and credentials from options instead of the environment -----------------------------


def test_s3_endpoint_as_storage_option(s3_bucket_url: str, moto_server, monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment points at nothing; the option wins.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{HOST}:{closed_port()}")
    options = {"endpoint_url": moto_server.endpoint}
    storage.write_bytes(f"{s3_bucket_url}/t", b"via option", options)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert storage.read_bytes(f"{s3_bucket_url}/t", options) == b"via option"


def test_s3_credentials_as_storage_option(s3_bucket_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    options = {"key": "testing", "secret": "testing"}
    storage.write_bytes(f"{s3_bucket_url}/t", b"x", options)
    assert storage.read_bytes(f"{s3_bucket_url}/t", options) == b"x"


def test_gcs_endpoint_as_storage_option(gcs_bucket_url: str, gcs_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    options = {"endpoint_url": gcs_emulator.endpoint.removeprefix("http://")}  # host:port is enough
    storage.write_bytes(f"{gcs_bucket_url}/t", b"via option", options)
    assert storage.read_bytes(f"{gcs_bucket_url}/t", options) == b"via option"
    assert storage.read_bytes(f"gcs://{gcs_bucket_url[5:]}/t", options) == b"via option"


def test_azure_connection_string_as_storage_option(
    azure_container_url: str, azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = re.sub(r"127\.0\.0\.1:\d+", f"{HOST}:{closed_port()}", azurite.connection_string)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", broken)
    options = {"connection_string": azurite.connection_string}
    storage.write_bytes(f"{azure_container_url}/t", b"via option", options)
    assert storage.read_bytes(f"abfs://{azure_container_url[5:]}/t", options) == b"via option"


def test_azure_account_key_from_env(azure_account_key_url: str, azurite_tls, tmp_path: Path) -> None:
    """AZURE_STORAGE_ACCOUNT_NAME/_KEY (+ account_host), in a fresh process (see fixture)."""
    source = tmp_path / "t.sktrace"
    source.write_bytes(load.encode_as(small_trace(), "cbor"))
    # A stale connection string in the environment must not win over the account options.
    env = dict(os.environ, AZURE_STORAGE_CONNECTION_STRING=f"BlobEndpoint=http://{HOST}:{closed_port()}/x;")
    host = ["--storage-option", f"account_host={azurite_tls.account_host}", "--storage-option", "retries=0"]
    url = f"{azure_account_key_url}/t.msgpack"
    done = skctl("convert", str(source), url, *host, env=env)
    assert done.returncode == 0, done.stderr
    done = skctl("xray", "--json", url, *host, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["events"] == 3


# --- errors ---------------------------------------------------------------------------------------


def test_missing_object_is_input_error(base_url: str) -> None:
    storage.write_bytes(f"{base_url}/present", b"x")  # the bucket/directory exists
    with pytest.raises(InputError, match="no file at") as info:
        storage.read_bytes(f"{base_url}/absent.sktrace")
    assert_one_line(str(info.value))
    assert not storage.exists(f"{base_url}/absent.sktrace")


def test_missing_bucket(object_store_url: str) -> None:
    scheme = object_store_url.split("://")[0]
    bucket = f"skctl-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InputError, match="no file at"):
        storage.read_bytes(f"{scheme}://{bucket}/t")
    with pytest.raises(InputError, match=f"'{bucket}' does not exist") as info:
        storage.write_bytes(f"{scheme}://{bucket}/t", b"x")
    assert_one_line(str(info.value))


def point_at_closed_port(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    if url.startswith("s3://"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{HOST}:{port}")
    elif url.startswith("gs://"):
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{HOST}:{port}")
    else:
        conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", re.sub(r"127\.0\.0\.1:\d+", f"{HOST}:{port}", conn))


def test_unreachable_endpoint_is_operational_error(object_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at_closed_port(object_store_url, monkeypatch)
    url = f"{object_store_url}/t"
    options = {"retries": 0}  # fail at once instead of backing off
    with pytest.raises(OperationalError, match="cannot reach the storage service") as info:
        storage.read_bytes(url, options)
    assert_one_line(str(info.value))
    with pytest.raises(OperationalError, match="cannot reach the storage service"):
        storage.write_bytes(url, b"x", options)
    with pytest.raises(OperationalError):
        storage.exists(url, options)


def test_s3_without_credentials(s3_bucket_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for call in (lambda: storage.read_bytes(f"{s3_bucket_url}/t"), lambda: storage.write_bytes(f"{s3_bucket_url}/t", b"x")):
        with pytest.raises(InputError, match="no credentials .*AWS_ACCESS_KEY_ID") as info:
            call()
        assert_one_line(str(info.value))
    assert list_objects(s3_bucket_url) == []


def test_s3_anonymous_option_and_access_denied(s3_bucket_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """anon=true skips credentials altogether (public buckets). moto takes the anonymous
    upload but refuses to serve the private object anonymously: permission denied, exit 2."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage.write_bytes(f"{s3_bucket_url}/t", b"x", {"anon": True})
    with pytest.raises(InputError, match="permission denied") as info:
        storage.read_bytes(f"{s3_bucket_url}/t", {"anon": True})
    assert_one_line(str(info.value))


def test_azure_without_credentials() -> None:
    with pytest.raises(InputError, match="no credentials .*AZURE_STORAGE_CONNECTION_STRING") as info:
        storage.read_bytes("az://container/t")
    assert_one_line(str(info.value))


def test_azure_wrong_key_is_input_error(azure_container_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", re.sub(r"AccountKey=[^;]+", "AccountKey=d3Jvbmc=", conn))
    with pytest.raises(InputError, match="permission denied") as info:
        storage.write_bytes(f"{azure_container_url}/t", b"x", {"retries": 0})
    assert_one_line(str(info.value))


def test_gcs_missing_credentials_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No emulator: this would be real GCS, so it must fail before any request is made.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with pytest.raises(InputError, match="GOOGLE_APPLICATION_CREDENTIALS") as info:
        storage.read_bytes("gs://bucket/t")
    assert_one_line(str(info.value))


# --- progress --------------------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_decision() -> None:
    big, small = PROGRESS_MIN_BYTES, PROGRESS_MIN_BYTES - 1
    assert progress_enabled(small, enabled=True, stream=io.StringIO())  # forced on
    assert not progress_enabled(big, enabled=False, stream=FakeTTY())  # forced off
    assert not progress_enabled(big, stream=io.StringIO())  # not a TTY: off
    assert progress_enabled(big, stream=FakeTTY())
    assert progress_enabled(None, stream=FakeTTY())  # unknown size: could be long
    assert not progress_enabled(small, stream=FakeTTY())  # small: not worth a bar

    class Closed:
        def isatty(self) -> bool:
            raise ValueError("I/O operation on closed file")

    assert not progress_enabled(big, stream=Closed())


def test_progress_bar_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with transfer_progress("copying", 10, enabled=True) as advance:
        advance(4)
        advance(6)
    data = os.urandom(PROGRESS_MIN_BYTES + 1)
    bar = functools.partial(transfer_progress, enabled=True)
    storage.write_bytes(str(tmp_path / "t"), data, progress=bar)
    assert storage.read_bytes(str(tmp_path / "t"), progress=bar) == data
    assert capsys.readouterr().out == ""  # progress goes to stderr only


# --- the CLI against each object store ---------------------------------------------------------------


def test_cli_convert_and_xray(object_store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "t.sktrace"
    source.write_bytes(load.encode_as(small_trace(), "cbor"))
    remote_msgpack = f"{object_store_url}/traces/t.msgpack"
    remote_cbor = f"{object_store_url}/traces/t.sktrace"

    assert cli.main(["convert", str(source), remote_msgpack]) == 0
    assert cli.main(["convert", remote_msgpack, remote_cbor]) == 0  # store to store, back to CBOR
    capsys.readouterr()
    for url, fmt in ((remote_msgpack, "msgpack"), (remote_cbor, "cbor")):
        assert cli.main(["xray", "--json", url]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["format"] == fmt
        assert summary["events"] == 3 and summary["applied"] == 2 and summary["deleted"] == 1
        assert summary["objects"] == {"apps/v1.Deployment": {"objects": 1, "applied": 2, "deleted": 1}}
    assert list_objects(object_store_url) == ["traces/t.msgpack", "traces/t.sktrace"]


def test_cli_missing_object(object_store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["xray", f"{object_store_url}/absent.sktrace"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skctl: error: no file at ")
    assert_one_line(err)


def test_cli_unreachable_in_a_real_process(object_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 1 and exactly one line on stderr (gcsfs logs a traceback when it gives up)."""
    point_at_closed_port(object_store_url, monkeypatch)
    done = skctl("xray", f"{object_store_url}/t.sktrace", "--storage-option", "retries=0")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("skctl: error: cannot reach the storage service"), done.stderr
    assert_one_line(done.stderr.strip())


def test_cli_bad_scheme_and_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "t.sktrace"
    source.write_bytes(load.encode_as(small_trace(), "cbor"))
    assert cli.main(["convert", str(source), "ftp://host/t"]) == 2
    assert "unsupported URL scheme 'ftp'" in capsys.readouterr().err
    assert cli.main(["xray", str(source), "--storage-option", "oops"]) == 2
    assert "bad --storage-option 'oops'" in capsys.readouterr().err


@pytest.mark.parametrize("ending", ["success", "failure", "interrupt"])
def test_the_stall_watchdog_always_stops(object_store_url: str, ending: str) -> None:
    """After an upload, whichever way it ends, no watchdog is left running on fsspec's loop
    (the tracer uploads for days: one leaked per export would add up)."""
    from fsspec.asyn import get_loop, sync

    from skctl.storage import stall

    options = part_options(object_store_url)
    url = f"{object_store_url}/out.bin"
    if ending == "success":
        storage.write_bytes(url, os.urandom(1024), options)
    else:
        exc = Boom("source died") if ending == "failure" else KeyboardInterrupt()
        with pytest.raises(type(exc)):
            storage.write_bytes(url, failing_source(2 * 1024 * 1024, exc), options)

    async def watchdogs() -> list[str]:
        return [repr(t) for t in asyncio.all_tasks() if t.get_coro().cr_code.co_filename == stall.__file__]

    assert sync(get_loop(), watchdogs) == []


def test_the_stall_watchdog_without_a_transport_table() -> None:
    """A loop that is not CPython's selector loop (no `_transports`, e.g. uvloop): the
    watchdog is off, the upload runs as it is and its failure passes through; a transport
    without a kernel socket queue (not Linux, not a socket) counts its own buffer only."""
    from skctl.storage import stall

    class OtherLoop:
        def is_running(self) -> bool:
            return True

    with stall.stall_watchdog(OtherLoop(), 1) as watch:
        pass
    assert watch.stalled == 0
    with pytest.raises(Boom), stall.stall_watchdog(OtherLoop(), 1):
        raise Boom("the upload's own failure")

    class Piped:
        def get_write_buffer_size(self) -> int:
            return 7

        def get_extra_info(self, name: str) -> object:
            return None

    assert stall._unsent(Piped()) == 7


def test_abandoning_an_upload_cancels_its_own_tasks() -> None:
    """Ctrl-C reaches the caller while fsspec's `sync` leaves the coroutine running on the
    loop, where a backend's retry would open a new connection that stalls and holds the exit.
    Leaving the watch with an exception cancels the upload's tasks and the parts they
    gathered; a task started outside the watch, or under another upload's watch, runs on."""
    import concurrent.futures
    import threading

    from fsspec.asyn import get_loop, sync

    from skctl.storage import stall

    loop = get_loop()

    async def upload() -> None:
        await asyncio.gather(asyncio.sleep(3600), asyncio.sleep(3600))  # concurrent parts

    unwatched = asyncio.run_coroutine_threadsafe(asyncio.sleep(3600), loop)
    other_started, other_done = threading.Event(), threading.Event()
    others: list[concurrent.futures.Future[None]] = []

    def other_upload() -> None:
        with stall.stall_watchdog(loop, 600):
            others.append(asyncio.run_coroutine_threadsafe(upload(), loop))
            other_started.set()
            other_done.wait(30)

    worker = threading.Thread(target=other_upload)
    worker.start()
    try:
        assert other_started.wait(30)
        with pytest.raises(KeyboardInterrupt), stall.stall_watchdog(loop, 600):
            ours = asyncio.run_coroutine_threadsafe(upload(), loop)
            raise KeyboardInterrupt
        with pytest.raises(concurrent.futures.CancelledError):
            ours.result(10)

        async def pending_sleeps() -> int:
            return sum(1 for t in asyncio.all_tasks() if "sleep" in repr(t.get_coro()))

        assert not unwatched.done() and not others[0].done()
        assert sync(loop, pending_sleeps) == 3  # the unwatched one and the other upload's two parts
    finally:
        other_done.set()
        worker.join(30)
        unwatched.cancel()
        for future in others:
            future.cancel()


def test_unsent_counts_the_kernel_queue_alone() -> None:
    """A body small enough to leave the transport's buffer at once sits in the kernel's
    send queue when the peer stops reading: that is unsent data too (Linux)."""
    import socket

    from skctl.storage import stall

    if not sys.platform.startswith("linux"):
        pytest.skip("TIOCOUTQ is Linux's")
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        client.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError):
            while sent < 64 * 1024 * 1024:
                sent += client.send(b"x" * 65536)

        class Drained:  # the transport handed everything to the kernel
            def get_write_buffer_size(self) -> int:
                return 0

            def get_extra_info(self, name: str) -> object:
                return client if name == "socket" else None

        assert stall._unsent(Drained()) > 0
        received = 0
        while received < sent:
            received += len(accepted.recv(1 << 20))
        # read to the end by the peer: nothing unsent once the last acknowledgements come
        wait_for(lambda: stall._unsent(Drained()) == 0, "nothing left unsent", timeout=30, interval=0.01)
    finally:
        for s in (server, client, accepted):
            s.close()


def test_data_left_in_the_kernel_is_judged_by_its_own_upload_only() -> None:
    """A healthy upload whose peer pauses can have its last bytes in the kernel's send
    queue alone (no writer callback names its watch). Another upload's watchdog, even one
    that has seen a stall and drops after one poll, leaves that connection alone; the
    upload that opened it still judges it."""
    import socket
    import time

    from fsspec.asyn import get_loop

    from skctl.storage import stall

    if not sys.platform.startswith("linux"):
        pytest.skip("TIOCOUTQ is Linux's")
    loop = get_loop()
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.setblocking(False)
    with contextlib.suppress(BlockingIOError):  # the peer reads nothing: the kernel queue fills
        while True:
            client.send(b"x" * 65536)

    async def adopt() -> asyncio.Transport:
        transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=client)
        return transport

    def hang_guard(condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(condition())

    transport = None
    try:
        with stall.stall_watchdog(loop, 600) as healthy:
            transport = asyncio.run_coroutine_threadsafe(adopt(), loop).result(10)
            assert transport.get_write_buffer_size() == 0 and stall._unsent(transport) > 0
            with stall.stall_watchdog(loop, 1) as other:
                other.stalled = 1  # it has seen its own connection stall: one poll is its patience
                assert not hang_guard(transport.is_closing, 2)  # eight of its polls
            assert other.stalled == 1
            healthy.stalled = 1  # its own watchdog still judges it
            assert hang_guard(transport.is_closing, 30)
        assert healthy.stalled == 2
    finally:
        if transport is not None:
            loop.call_soon_threadsafe(transport.abort)
        for s in (server, accepted):
            s.close()
