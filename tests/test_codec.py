"""The CBOR trace codec: every variant the writer produces is read back, and rejected input is reported."""

from __future__ import annotations

import cbor2
import msgpack
import pytest

from skctl.base.errors import InputError
from skctl.trace import COMPRESSIONS, codec, load, simkube, synth
from skctl.trace.model import Trace, new_event


@pytest.fixture(scope="module")
def trace() -> Trace:
    return synth.generate(events=300, objects=30, seed=3)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_variant_round_trips(trace: Trace, compression: str) -> None:
    data = codec.encode(trace, compression)
    assert data.startswith(b"\xd9\xd9\xf7"), "self-describe tag 55799 must lead the file"
    back = codec.decode(data)
    assert back.to_document() == trace.to_document()
    assert load.sniff(data) == "cbor"


def test_uncompressed_variant_uses_string_references(trace: Trace) -> None:
    data = codec.encode(trace, "none")
    plain = cbor2.dumps(trace.to_document())
    assert data[3:5] == b"\xd9\x01", "expected tag 256 (stringref namespace) after the self-describe tag"
    assert len(data) < len(plain) / 2


def test_compressed_trace_is_far_smaller_than_simkube_msgpack(trace: Trace) -> None:
    assert len(codec.encode(trace)) < 0.1 * len(simkube.encode(trace))


def test_lifecycle_keys_and_u64_hashes_survive(trace: Trace) -> None:
    big = 2**64 - 1
    trace.pod_lifecycles[("v1.Pod", "ns/p")] = {big: [{"start_ts": 1, "end_ts": None}]}
    trace.index["v1.Pod"] = {"ns/p": big}
    back = codec.decode(codec.encode(trace))
    assert back.pod_lifecycles[("v1.Pod", "ns/p")] == {big: [{"start_ts": 1, "end_ts": None}]}
    assert back.index["v1.Pod"]["ns/p"] == big


def test_extra_metadata_keys_are_kept_and_ignored() -> None:
    t = Trace(events=[new_event(5)], extra={"recorded_by": "tracer-a"})
    back = codec.decode(codec.encode(t))
    assert back.extra == {"recorded_by": "tracer-a"}
    assert back.events == [new_event(5)]


@pytest.mark.parametrize("compression", ["zlib", "none"])
def test_unknown_version_is_rejected_with_the_version_named(compression: str) -> None:
    data = codec.encode(Trace(version=99), compression)
    with pytest.raises(InputError, match="version 99"):
        codec.decode(data, "t.sktrace")


def test_unknown_compression_is_rejected() -> None:
    data = codec.SELF_DESCRIBE + cbor2.dumps({"version": 2, "compression": "zstd", "payload": b"x"})
    with pytest.raises(InputError, match="compression 'zstd'"):
        codec.decode(data)


@pytest.mark.parametrize("cut", [4, 10, 50, -1])
def test_truncated_traces_are_corrupt(trace: Trace, cut: int) -> None:
    for compression in COMPRESSIONS:
        data = codec.encode(trace, compression)
        with pytest.raises(InputError, match="corrupt or truncated"):
            codec.decode(data[:cut])


def test_damaged_payload_is_corrupt(trace: Trace) -> None:
    data = bytearray(codec.encode(trace))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(InputError):
        codec.decode(bytes(data))


@pytest.mark.parametrize(
    "doc, detail",
    [
        ([1, 2], "not a map"),
        ({"version": 2, "config": {}, "events": [], "index": {}}, "pod_lifecycles"),
        ({"version": 2, "config": {}, "events": [{"ts": "x"}], "index": {}, "pod_lifecycles": {}}, "event 0"),
    ],
)
def test_wrong_shape_is_reported(doc: object, detail: str) -> None:
    with pytest.raises(InputError, match=detail):
        codec.decode(codec.SELF_DESCRIBE + cbor2.dumps(doc))


def test_sniff_tells_formats_apart(trace: Trace) -> None:
    assert load.sniff(simkube.encode(trace)) == "msgpack"
    assert load.sniff(b'{"version": 2}') == "json"
    assert load.sniff(b"hello") is None
    with pytest.raises(InputError, match="empty"):
        load.decode_any(b"", "e")
    with pytest.raises(InputError, match="not a trace"):
        load.decode_any(b"PK\x03\x04 not a trace", "z")


def test_example_command_writes_a_deterministic_trace(tmp_path) -> None:  # noqa: ANN001
    from skctl.cli.main import main

    a, b = tmp_path / "a.sktrace", tmp_path / "b.sktrace"
    assert main(["example", "-o", str(a), "--events", "120", "--seed", "5"]) == 0
    assert main(["example", "-o", str(b), "--events", "120", "--seed", "5"]) == 0
    assert a.read_bytes() == b.read_bytes()
    trace = codec.decode(a.read_bytes())
    assert len(trace.events) == 120
    assert [e["ts"] for e in trace.events] == sorted(e["ts"] for e in trace.events)
    assert trace.pod_lifecycles, "CronJobs and bare Pods in the example carry lifecycles"


def _doc(**overrides: object) -> dict:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    doc = {"version": 2, "config": {}, "events": [{"ts": 1, "applied_objs": [pod], "deleted_objs": []}],
           "index": {}, "pod_lifecycles": {}}
    doc.update(overrides)
    return doc


MALFORMED = {
    "object-not-a-map": (_doc(events=[{"ts": 1, "applied_objs": [1, "x"], "deleted_objs": []}]), "not an object"),
    "namespace-a-list": (
        _doc(events=[{"ts": 1, "applied_objs": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ["a"]}}]}]),
        "namespace",
    ),
    "no-name": (_doc(events=[{"ts": 1, "applied_objs": [{"apiVersion": "v1", "kind": "Pod", "metadata": {}}]}]),
                "metadata.name"),
    "labels-not-strings": (
        _doc(events=[{"ts": 1, "deleted_objs": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": 1}}}]}]),
        "labels",
    ),
    "index-a-list": (_doc(index={"v1.Pod": [1]}), "index entry"),
    "lifecycles-a-list": (_doc(pod_lifecycles={("v1.Pod", "a/b"): [1]}), "pod_lifecycles"),
    "lifecycle-key-3": (_doc(pod_lifecycles={("v1.Pod", "a/b", "c"): {}}), "pair"),
    "lifecycle-bad-ts": (_doc(pod_lifecycles={("v1.Pod", "a/b"): {1: [{"start_ts": "x"}]}}), "lifecycle"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("command", ["xray", "convert"])
def test_decodable_but_malformed_traces_are_input_errors(case: str, command: str, tmp_path, capsys) -> None:  # noqa: ANN001
    from skctl.cli.main import main

    doc, word = MALFORMED[case]
    src = tmp_path / "bad.sktrace"
    src.write_bytes(codec.SELF_DESCRIBE + cbor2.dumps(doc))
    out = tmp_path / "out"
    args = ["xray", str(src)] if command == "xray" else ["convert", str(src), str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a valid trace" in err and word in err and err.count("\n") == 1
    assert not out.exists()


def test_envelope_with_a_non_string_compression_is_rejected() -> None:
    data = codec.SELF_DESCRIBE + cbor2.dumps({"version": 2, "compression": ["zlib"], "payload": b""})
    with pytest.raises(InputError, match="compression"):
        codec.decode(data)


def test_malformed_simkube_lifecycles_are_input_errors() -> None:
    raw = msgpack.packb({"version": 2, "config": {}, "events": [], "index": {},
                         "pod_lifecycles": {("v1.Pod", "a/b"): [1]}})
    with pytest.raises(InputError, match="pod_lifecycles"):
        simkube.decode(raw)
