"""Trace format version 3 (skctl.trace.format3) and the streaming export over it (skctl.trace.stream).

The streaming export must give the same trace as the in-memory export: its output, converted
to version 2, is byte-identical to what `export --format-version 2` (today's path) writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skctl import export as exporter
from skctl.base.errors import InputError
from skctl.cli.main import main
from skctl.trace import format3, load, simkube, synth
from skctl.trace.window import NO_FILTERS, ExportFilters

REFERENCES = ("dsb-scaling.sktrace", "bare-pods.sktrace", "cronjob.sktrace")


def v3(trace, compression: str | None = None) -> bytes:
    return load.encode_as(trace, "cbor", compression, version=3)


@pytest.mark.parametrize("compression", ["lzma", "zlib", "none"])
@pytest.mark.parametrize("events", [0, 1, format3.CHUNK_EVENTS, format3.CHUNK_EVENTS + 1, 9000])
def test_round_trip(events: int, compression: str) -> None:
    trace = synth.generate(max(events, 1), objects=30)
    trace.events = trace.events[:events]
    data = v3(trace, compression)
    back, fmt = load.decode_any(data)
    assert fmt == "cbor" and load.cbor_version(data) == 3
    assert back.to_document() == trace.to_document()
    reader = format3.Reader(format3.Source(data))
    assert reader.events == events and reader.compression == compression
    assert [c.count for c in reader.chunks] == [len(p) for p in format3.split_chunks(trace.events)]


@pytest.mark.parametrize("name", REFERENCES)
def test_reference_traces_survive_v3(reference_dir: Path, name: str) -> None:
    raw = (reference_dir / name).read_bytes()
    trace = load.decode_any(raw)[0]
    back = load.decode_any(v3(trace))[0]
    assert simkube.encode(back) == raw  # SimKube msgpack → v3 → msgpack: the same bytes
    assert load.encode_as(back, "cbor", version=2) == load.encode_as(trace, "cbor", version=2)


def test_default_compression_meets_the_size_target(reference_dir: Path) -> None:
    raw = (reference_dir / "dsb-scaling.sktrace").read_bytes()
    assert len(v3(load.decode_any(raw)[0])) / len(raw) <= 0.05


def test_reading_skips_chunks_outside_a_window() -> None:
    trace = synth.generate(3 * format3.CHUNK_EVENTS, objects=30)
    reader = format3.Reader(format3.Source(v3(trace)))
    assert len(reader.chunks) == 3
    middle = reader.chunks[1]
    inside = reader.chunks_overlapping(middle.first_ts + 1, middle.last_ts)
    assert 1 in inside and 2 not in inside or reader.chunks[2].first_ts < middle.last_ts
    assert 0 not in inside or reader.chunks[0].last_ts >= middle.first_ts + 1
    assert reader.chunks_overlapping(None, reader.chunks[0].first_ts) == []


# --- the streaming export gives today's trace ------------------------------------------------


def _both(tmp_path: Path, source_v3: Path, source_v2: Path, start: int, end: int, filters: ExportFilters) -> tuple:
    out3, out2 = tmp_path / "out3.sktrace", tmp_path / "out2.sktrace"
    r3 = exporter.export(exporter.ExportRequest(start, end, filters, output=str(out3), source_url=str(source_v3)))
    r2 = exporter.export(exporter.ExportRequest(start, end, filters, output=str(out2), source_url=str(source_v2),
                                                version=2))
    assert load.cbor_version(out3.read_bytes()) == 3 and load.cbor_version(out2.read_bytes()) == 2
    streamed = load.decode_any(out3.read_bytes())[0]
    assert load.encode_as(streamed, "cbor", version=2) == out2.read_bytes()
    assert (r3.events, r3.objects, r3.owners, r3.start_ts) == (r2.events, r2.objects, r2.owners, r2.start_ts)
    return r3, r2


FILTERS = [ExportFilters(), NO_FILTERS, ExportFilters.from_strings(["shop"], ["tier=db"])]


@pytest.mark.parametrize("name", REFERENCES)
def test_streaming_export_matches_on_reference_traces(reference_dir: Path, tmp_path: Path, name: str) -> None:
    trace = load.decode_any((reference_dir / name).read_bytes())[0]
    src3, src2 = tmp_path / "src3", tmp_path / "src2"
    src3.write_bytes(v3(trace))
    src2.write_bytes(load.encode_as(trace, "cbor", version=2))
    first, last = trace.events[0]["ts"], trace.events[-1]["ts"]
    for start, end in [(first, last + 1), (first + 1, last), (0, first), (last + 1, last + 100), (first, first + 1)]:
        for filters in FILTERS:
            _both(tmp_path, src3, src2, start, end, filters)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, int]:
    trace = synth.generate(100_000, objects=400)
    root = tmp_path_factory.mktemp("big")
    src3, src2 = root / "src3", root / "src2"
    src3.write_bytes(v3(trace))
    src2.write_bytes(load.encode_as(trace, "cbor", version=2))
    return src3, src2, trace.events[0]["ts"], trace.events[-1]["ts"]


@pytest.mark.parametrize(
    "window",
    ["all", "middle", "empty-after", "first-second"],
)
def test_streaming_export_matches_on_100k_events(big: tuple, tmp_path: Path, window: str) -> None:
    src3, src2, first, last = big
    span = last - first
    start, end = {
        "all": (0, last + 1),
        "middle": (first + span // 3, first + 2 * span // 3),
        "empty-before": (first - 100, first),
        "empty-after": (last + 1, last + 100),
        "first-second": (first, first + 1),
        "last-second": (last, last + 1),
    }[window]
    for filters in FILTERS[1:]:
        _both(tmp_path, src3, src2, start, end, filters)


def test_whole_chunks_inside_the_window_are_copied(big: tuple) -> None:
    from skctl.trace import stream

    src3, _src2, first, last = big
    reader = format3.Reader(format3.Source(src3.read_bytes()))
    job = stream.StreamingExport(reader, first, last + 1, NO_FILTERS)
    job.run()
    b"".join(job.chunks())
    assert job.copied >= len(reader.chunks) - 2  # all but the tail (and none re-encoded)
    filtered = stream.StreamingExport(reader, first, last + 1, ExportFilters.from_strings(["shop"], []))
    filtered.run()
    b"".join(filtered.chunks())
    assert filtered.copied == 0


# --- bad input -------------------------------------------------------------------------------


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture, data: bytes, *args: str) -> str:
    path = tmp_path / "bad.sktrace"
    path.write_bytes(data)
    capsys.readouterr()
    code = main([*args, str(path)] if args[0] == "xray" else [args[0], "--from", str(path), "-s", "0", "-t", "9999999999",
                                                              "-o", str(tmp_path / "out.sktrace")])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.sktrace").exists()
    return err


@pytest.fixture(scope="module")
def good() -> bytes:
    return v3(synth.generate(2 * format3.CHUNK_EVENTS + 10, objects=40))


@pytest.mark.parametrize("cut", [20, 200, 5000, -200, -20, -14, -5, -1])
def test_truncated_v3_refused(tmp_path: Path, capsys: pytest.CaptureFixture, good: bytes, cut: int) -> None:
    data = good[:cut]
    for command in ("export", "xray"):
        err = _refused(tmp_path, capsys, data, command, *(["--json"] if command == "xray" else []))
        assert "corrupt or truncated" in err or "not a trace" in err


def test_crafted_v3_refused(tmp_path: Path, capsys: pytest.CaptureFixture, good: bytes) -> None:
    reader = format3.Reader(format3.Source(good))
    chunk = reader.chunks[0]
    # a byte flipped inside the first chunk's compressed payload
    flipped = bytearray(good)
    flipped[chunk.offset + chunk.length // 2] ^= 0xFF
    assert "corrupt" in _refused(tmp_path, capsys, bytes(flipped), "export")
    # the footer pointing past the end
    footer = bytearray(good)
    footer[-8:] = (len(good) * 2).to_bytes(8, "big")
    assert "outside the file" in _refused(tmp_path, capsys, bytes(footer), "export")
    # an unknown compression name in the header
    renamed = good.replace(b"dlzma", b"dxxxx", 1)
    assert "compression" in _refused(tmp_path, capsys, renamed, "export")
    # a later file format version
    later = good[:12] + bytes([4]) + good[13:]
    assert "version" in _refused(tmp_path, capsys, later, "export")


def test_a_chunk_that_expands_too_far_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parts: list[bytes] = []
    writer = format3.Writer(parts.append, "zlib")
    import zlib

    import cbor2

    bomb = zlib.compress(cbor2.dumps([{"ts": 1, "applied_objs": [], "deleted_objs": [], "x": "a" * (80 * 1024**2)}]), 9)
    writer.add_raw(bomb, 1, 1, 1)
    writer.finish({"config": {"trackedObjects": {}}, "index": {}, "pod_lifecycles": {}})
    with pytest.raises(InputError, match="expands|limit"):
        format3.decode(b"".join(parts))


def test_convert_between_versions(tmp_path: Path, capsys: pytest.CaptureFixture, reference_dir: Path) -> None:
    src = reference_dir / "dsb-scaling.sktrace"
    a, b, c = tmp_path / "a.sktrace", tmp_path / "b.sktrace", tmp_path / "c.msgpack"
    assert main(["convert", str(src), str(a)]) == 0  # msgpack → CBOR, format 3 by default
    assert load.cbor_version(a.read_bytes()) == 3
    assert main(["convert", str(a), str(b), "--format-version", "2"]) == 0
    assert load.cbor_version(b.read_bytes()) == 2
    assert main(["convert", str(b), str(c)]) == 0  # CBOR → msgpack, as before
    assert c.read_bytes() == src.read_bytes()


# --- bounded memory --------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import resource, subprocess, sys
    code = subprocess.run(sys.argv[1:]).returncode
    print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")


def test_export_from_streams_in_bounded_memory(tmp_path: Path) -> None:
    """A 61,440-event trace: decoding it whole (what version 2 and `--format-version 2` do) and
    exporting most of it as a stream, each in a process of its own whose peak RSS is measured
    (no timing). The stream holds one chunk at a time, so it needs a fraction of the memory."""
    base = synth.generate(4096, objects=200)
    span = base.events[-1]["ts"] - base.events[0]["ts"] + 1
    source = tmp_path / "big.sktrace"
    with source.open("wb") as f:
        writer = format3.Writer(f.write)
        for n in range(15):
            writer.add_events([dict(e, ts=e["ts"] + n * span) for e in base.events])
        writer.finish(format3.sections_of(base))
    first = base.events[0]["ts"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def peak(*command: str) -> int:
        done = subprocess.run([sys.executable, "-c", _CHILD, sys.executable, *command], capture_output=True, text=True,
                              env=env, timeout=600)
        code, kib = map(int, done.stdout.split()[-2:])
        assert code == 0, done.stderr
        return kib

    streamed = peak("-m", "skctl", "export", "--from", str(source), "-s", str(first + span), "-t", str(first + 14 * span),
                    "--excluded-namespaces", "", "-o", str(tmp_path / "out.sktrace"))
    whole = peak("-c", f"from skctl.trace import load; assert len(load.read_trace({str(source)!r}).events) == 15 * 4096")
    out = format3.Reader(format3.Source((tmp_path / "out.sktrace").read_bytes()))
    assert out.events == 13 * 4096 + 1
    assert streamed * 2 < whole, f"streaming export peak {streamed} KiB, whole decode {whole} KiB"


def _v3_with_planted(updated_after: bool) -> tuple[bytes, int, int]:
    """A 3-chunk trace where the last object without owners applied in the second chunk
    holds bytes; with `updated_after`, a clean copy of it is applied by the next event.
    Returns the file, the planted event's number in its chunk and the start of the third chunk."""
    trace = synth.generate(3 * format3.CHUNK_EVENTS, objects=30)
    chunks = list(format3.split_chunks(trace.events))
    at = len(chunks[0]) + len(chunks[1]) - 2
    while not any(not o["metadata"].get("ownerReferences") for o in trace.events[at].get("applied_objs") or ()):
        at -= 1
    objs = trace.events[at]["applied_objs"]
    clean = next(o for o in objs if not o["metadata"].get("ownerReferences"))
    objs[objs.index(clean)] = {**clean, "spec": {**clean.get("spec", {}), "planted": b"\x00"}}
    if updated_after:
        trace.events[at + 1]["applied_objs"] = [clean]
        trace.events[at + 1]["deleted_objs"] = []
    data = v3(trace)
    return data, at - len(chunks[0]), format3.Reader(format3.Source(data)).chunks[2].first_ts


def test_chunks_before_the_window_get_the_structural_check_and_what_is_written_the_full_one(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a bad value in an object that is still alive at the window's start: written out, refused
    data, _at, start = _v3_with_planted(updated_after=False)
    path = tmp_path / "bad.sktrace"
    path.write_bytes(data)
    out = tmp_path / "out.sktrace"
    assert main(["export", "--from", str(path), "-s", str(start), "-t", "9999999999", "-o", str(out),
                 "--excluded-namespaces", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "state at the window's start" in err[0] and "byte string" in err[0], err
    assert not out.exists()
    # the same value replaced before the window: nothing of it is written, the export runs
    data, at, start = _v3_with_planted(updated_after=True)
    path.write_bytes(data)
    assert main(["export", "--from", str(path), "-s", str(start), "-t", "9999999999", "-o", str(out),
                 "--excluded-namespaces", ""]) == 0, capsys.readouterr().err
    assert load.read_trace(str(out)).events  # and the output reads back, fully checked
    # inside the window, the chunk's full check refuses it with the chunk and event
    out.unlink()
    assert main(["export", "--from", str(path), "-s", "0", "-t", "9999999999", "-o", str(out),
                 "--excluded-namespaces", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"chunk 1: event {at} " in err[0] and "byte string" in err[0], err
    assert not out.exists()
