"""Issue 12, class 3: a decodable trace that is not a valid trace is refused when it is read.

Each row plants one value in an otherwise valid generated trace, writes it in the encoding
that can carry that value, and runs `xray` and `convert` on it: both must end with exit 2
and one line naming the event and object (or the part of the trace) that is wrong,
instead of an internal error or a silently written file.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import msgpack
import pytest

from skctl.cli.main import main
from skctl.trace import simkube, synth
from skctl.trace.codec import SELF_DESCRIBE

Doc = dict[str, Any]
EVENT = 3  # event 3 applies Deployment svc-3 (synth.generate(events=6, objects=4), seed 7)
IN_OBJECT = (f"event {EVENT} ", "Deployment", "svc-3")


def base() -> Doc:
    return synth.generate(events=6, objects=4).to_document()


def in_spec(value: Any) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        doc["events"][EVENT]["applied_objs"][0]["spec"]["planted"] = {"deep": [value]}

    return plant


def nested(depth: int) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        value: Any = "bottom"
        for _ in range(depth):
            value = {"x": value}
        doc["events"][EVENT]["applied_objs"][0]["spec"]["planted"] = value

    return plant


def lifecycle_start(value: Any) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        pods = next(iter(doc["pod_lifecycles"].values()))
        next(iter(pods.values()))[0]["start_ts"] = value

    return plant


def owner_name(value: Any) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        meta = doc["events"][EVENT]["applied_objs"][0]["metadata"]
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Thing", "name": value, "uid": "u"}]

    return plant


def event_ts(value: Any) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        for event in doc["events"][EVENT:]:
            event["ts"] = value

    return plant


def setter(path: tuple[str, ...], value: Any) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return plant


def as_cbor(doc: Doc) -> bytes:
    return SELF_DESCRIBE + cbor2.dumps(doc)


def as_msgpack(doc: Doc) -> bytes:
    doc = dict(doc)
    doc["pod_lifecycles"] = {
        owner: {h: [simkube._to_tagged(lc) for lc in lcs] for h, lcs in pods.items()}
        for owner, pods in doc["pod_lifecycles"].items()
    }
    return msgpack.packb(doc, use_bin_type=True, default=lambda v: v)


def as_json(doc: Doc) -> bytes:
    doc = dict(doc)
    doc["pod_lifecycles"] = {}  # JSON cannot key them by integer pod hashes
    return json.dumps(doc).encode()


def json_text(text: str) -> Callable[[Doc], bytes]:
    """A JSON trace whose event 3 object carries `text` as raw JSON (what json.dumps cannot make)."""

    def build(doc: Doc) -> bytes:
        in_spec("@@PLANT@@")(doc)
        return as_json(doc).replace(b'"@@PLANT@@"', text.encode())

    return build


# (name, how to plant the value, encoder, words the error line must contain)
CASES: list[tuple[str, Callable[[Doc], Any], Callable[[Doc], bytes], tuple[str, ...]]] = [
    ("CBOR tag", in_spec(cbor2.CBORTag(4242, "x")), as_cbor, (*IN_OBJECT, "spec.planted.deep[0]", "CBOR tag 4242")),
    ("datetime", in_spec(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)), as_cbor, (*IN_OBJECT, "datetime")),
    ("set", in_spec({1, 2}), as_cbor, (*IN_OBJECT, "set")),
    ("decimal", in_spec(decimal.Decimal("1.5")), as_cbor, (*IN_OBJECT, "Decimal")),
    ("UUID", in_spec(uuid.UUID(int=7)), as_cbor, (*IN_OBJECT, "UUID")),
    ("undefined", in_spec(cbor2.undefined), as_cbor, (*IN_OBJECT, "undefined")),
    ("bytes (CBOR)", in_spec(b"\x00\x01"), as_cbor, (*IN_OBJECT, "byte string")),
    ("bytes (msgpack)", in_spec(b"\x00\x01"), as_msgpack, (*IN_OBJECT, "byte string")),
    ("msgpack ExtType", in_spec(msgpack.ExtType(5, b"x")), as_msgpack, (*IN_OBJECT, "msgpack extension")),
    ("non-string map key", in_spec({1: "one"}), as_cbor, (*IN_OBJECT, "map key 1")),
    ("non-string map key (msgpack)", in_spec({1: "one"}), as_msgpack, (*IN_OBJECT, "map key 1")),
    ("array as a map key", in_spec({("a", "b"): "x"}), as_cbor, (*IN_OBJECT, "map key")),
    ("integer beyond 64 bits", in_spec(2**70), as_cbor, (*IN_OBJECT, "does not fit in 64 bits")),
    ("negative integer beyond 64 bits", in_spec(-(2**64)), as_cbor, (*IN_OBJECT, "does not fit in 64 bits")),
    ("integer beyond 64 bits (JSON)", json_text(str(2**70)), lambda b: b, (*IN_OBJECT, "does not fit in 64 bits")),
    ("infinity", in_spec(float("inf")), as_cbor, (*IN_OBJECT, "not finite")),
    ("NaN", in_spec(float("nan")), as_cbor, (*IN_OBJECT, "not finite")),
    ("lone surrogate (JSON)", json_text('"\\ud800"'), lambda b: b, (*IN_OBJECT, "lone surrogate")),
    ("nesting 150 deep", nested(150), as_cbor, (*IN_OBJECT, "nests deeper than 100")),
    ("nesting 1000 deep (CBOR)", nested(1000), as_cbor, ("corrupt", "depth")),
    ("nesting 1000 deep (msgpack)", nested(1000), as_msgpack, ("nests too deep",)),
    ("nesting 100000 deep (JSON)", json_text("[" * 100_000 + "]" * 100_000), lambda b: b, ("nests too deep",)),
    ("owner reference name is a list", owner_name(["a", "b"]), as_cbor, (*IN_OBJECT, "ownerReferences[0]")),
    ("event time beyond 64 bits", event_ts(2**70), as_cbor, (f"event {EVENT} ", "out of range")),
    ("event time in milliseconds", event_ts(1_750_000_000_000_000), as_cbor, (f"event {EVENT} ", "out of range")),
    ("infinite lifecycle time", lifecycle_start(float("inf")), as_cbor, ("pod_lifecycles", "search/pod-1")),
    ("huge lifecycle time", lifecycle_start(2**62), as_cbor, ("pod_lifecycles", "search/pod-1")),
    ("infinite lifecycle time (msgpack)", lifecycle_start(float("inf")), as_msgpack, ("pod_lifecycles",)),
    ("mixed-type index keys", setter(("index", "v1.Pod"), {"a/b": 1, 2: 3}), as_cbor, ("index entry 'v1.Pod'",)),
    ("mixed-type top-level index keys", setter(("index", 5), {}), as_cbor, ("index entry 5",)),
    ("trackedObjects a list", setter(("config", "trackedObjects"), ["apps/v1.Deployment"]), as_cbor,
     ("config", "trackedObjects")),
    ("trackedObjects paths not a list", setter(("config", "trackedObjects"), {"apps/v1.Deployment": {"podSpecTemplatePaths": 5}}),
     as_cbor, ("config", "podSpecTemplatePaths")),
    ("trackedObjects with a set", setter(("config", "trackedObjects"), {"apps/v1.Deployment": {"x": {1}}}), as_cbor,
     ("config", "set")),
]


@pytest.mark.parametrize("command", ["xray", "convert"])
@pytest.mark.parametrize("name, plant, encode, words", CASES, ids=[c[0] for c in CASES])
def test_malformed_values_are_refused_when_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    command: str, name: str, plant: Callable[[Doc], Any], encode: Callable[[Any], bytes], words: tuple[str, ...],
) -> None:
    doc = base()
    built = plant(doc)
    data = encode(built if isinstance(built, bytes) else doc)
    src = tmp_path / "bad.trace"
    src.write_bytes(data)
    out = tmp_path / "out.trace"
    argv = ["xray", str(src)] if command == "xray" else ["convert", str(src), str(out)]

    assert main(argv) == 2, capsys.readouterr().err
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    assert not out.exists()


def test_the_unplanted_trace_reads_in_every_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for encode in (as_cbor, as_msgpack, as_json):
        src = tmp_path / "good.trace"
        src.write_bytes(encode(base()))
        assert main(["xray", str(src)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("value", [str(2**70), "-1", "1750000000000", "1.5", "nan"])
def test_example_refuses_a_start_time_no_trace_can_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    out = tmp_path / "x.sktrace"
    assert main(["example", "-o", str(out), f"--start-ts={value}"]) == 2
    assert "--start-ts" in capsys.readouterr().err
    assert not out.exists()


# --- issue 22, class 3: what every later stage assumes is checked when the trace is read ---


def in_template(path: tuple[Any, ...], value: Any) -> Callable[[Doc], None]:
    """Set a member of event 3's Deployment's pod template (`spec.template...`)."""
    return setter(("events", EVENT, "applied_objs", 0, "spec", "template", *path), value)  # type: ignore[arg-type]


def events_out_of_order(doc: Doc) -> None:
    doc["events"][EVENT], doc["events"][EVENT + 1] = doc["events"][EVENT + 1], doc["events"][EVENT]
    doc["events"][EVENT]["ts"] += 5


def config_path(pointer: str) -> Callable[[Doc], None]:
    def plant(doc: Doc) -> None:
        doc["config"]["trackedObjects"]["batch.volcano.sh/v1alpha1.Job"] = {"podSpecTemplatePaths": [pointer]}
        doc["events"][EVENT]["applied_objs"].append({
            "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "v", "namespace": "ns"},
            "spec": {"tasks": [{"template": {"spec": {"containers": [{"name": "c", "env": "x"}]}}}]}})

    return plant


def json_lifecycle_key(key: str) -> Callable[[Doc], bytes]:
    def build(doc: Doc) -> bytes:
        doc = dict(doc)
        doc["pod_lifecycles"] = {key: {"1": [{"start_ts": 1750000001, "end_ts": None}]}}
        return json.dumps(doc).encode()

    return build


def json_index_name(name: str) -> Callable[[Doc], bytes]:
    def build(doc: Doc) -> bytes:
        doc = dict(doc)
        doc["pod_lifecycles"] = {}
        doc["index"] = {"v1.Pod": {"@@NAME@@": 1}}
        return json.dumps(doc).encode().replace(b"@@NAME@@", name.encode())

    return build


def lifecycle_ends_without_start(doc: Doc) -> None:
    pods = next(iter(doc["pod_lifecycles"].values()))
    next(iter(pods.values()))[0].update(start_ts=None, end_ts=1_750_000_005)


TEMPLATE = (*IN_OBJECT, "pod template at /spec/template")
ROUND_TWO: list[tuple[str, Callable[[Doc], Any], Callable[[Doc], bytes], tuple[str, ...]]] = [
    ("containers a string", in_template(("spec", "containers"), "x"), as_cbor, (*TEMPLATE, "spec.containers", "a string")),
    ("a container an integer", in_template(("spec", "containers"), [5]), as_cbor, (*TEMPLATE, "containers[0]")),
    ("env a string", in_template(("spec", "containers", 0, "env"), "x"), as_cbor, (*TEMPLATE, "containers[0].env")),
    ("valueFrom a list", in_template(("spec", "containers", 0, "env"), [{"name": "A", "valueFrom": [1]}]), as_cbor,
     (*TEMPLATE, "env[0].valueFrom")),
    ("envFrom secretRef a string", in_template(("spec", "containers", 0, "envFrom"), [{"secretRef": "s"}]), as_cbor,
     (*TEMPLATE, "envFrom[0].secretRef")),
    ("volumes a string", in_template(("spec", "volumes"), "x"), as_cbor, (*TEMPLATE, "spec.volumes")),
    ("a volume an integer", in_template(("spec", "volumes"), [1]), as_cbor, (*TEMPLATE, "volumes[0]")),
    ("template spec a list", in_template(("spec",), [1]), as_cbor, (*TEMPLATE, "spec", "not a map")),
    ("template spec an integer", in_template(("spec",), 5), as_cbor, (*TEMPLATE, "spec", "not a map")),
    ("template labels a list", in_template(("metadata", "labels"), [1]), as_cbor, (*TEMPLATE, "metadata.labels")),
    ("events out of order", events_out_of_order, as_cbor, (f"event {EVENT + 1} ", "time order")),
    ("config pointer reaching a bad template", config_path("/spec/tasks/*/template"), as_cbor,
     (f"event {EVENT} ", "Job ns/v", "/spec/tasks/0/template", "env")),
    ("a 5000-digit integer", in_spec(10**5000), as_cbor, (*IN_OBJECT, "16610 bits", "does not fit in 64 bits")),
    ("a 5000-digit kind", setter(("events", EVENT, "applied_objs", 0, "kind"), 10**5000), as_cbor,  # type: ignore[arg-type]
     (f"event {EVENT} ", "string apiVersion and kind")),
    ("JSON lifecycle key of lists", json_lifecycle_key('[["v1.Pod"], "a/b"]'), lambda b: b,
     ("pod_lifecycles", "[GVK, ns/name] pair")),
    ("JSON lifecycle key of maps", json_lifecycle_key('[{"a": 1}, "x"]'), lambda b: b,
     ("pod_lifecycles", "[GVK, ns/name] pair")),
    ("JSON lifecycle key with a surrogate", json_lifecycle_key('["v1.Pod\\ud800", "a/b"]'), lambda b: b,
     ("pod_lifecycles", "lone surrogate")),
    ("JSON index name with a surrogate", json_index_name("a\\ud800"), lambda b: b, ("index entry", "lone surrogate")),
    ("a lifecycle that ends but never started", lifecycle_ends_without_start, as_cbor,
     ("pod_lifecycles", "search/pod-1", "never started")),
]
STAGES = {
    "xray": lambda src, out: ["xray", "--json", src],
    "xray --events": lambda src, out: ["xray", "--events", src],
    "validate": lambda src, out: ["validate", src],
    "validate --fix": lambda src, out: ["validate", src, "--fix", out],
    "convert": lambda src, out: ["convert", src, out],
    "convert --to cbor": lambda src, out: ["convert", src, out, "--to", "cbor"],
    "export": lambda src, out: ["export", "--from", src, "-s", "0", "-t", "+1d", "-o", out],
}


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("name, plant, encode, words", ROUND_TWO, ids=[c[0] for c in ROUND_TWO])
def test_every_stage_refuses_what_it_cannot_walk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    stage: str, name: str, plant: Callable[[Doc], Any], encode: Callable[[Any], bytes], words: tuple[str, ...],
) -> None:
    doc = base()
    built = plant(doc)
    src = tmp_path / "bad.trace"
    src.write_bytes(encode(built if isinstance(built, bytes) else doc))
    out = tmp_path / "out.trace"

    assert main(STAGES[stage](str(src), str(out))) == 2, capsys.readouterr().err
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0], err
    assert "is not a valid trace" in err[0] or "bad tracer config" in err[0], err[0]
    for word in words:
        assert word in err[0], err[0]
    assert not out.exists()


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("pointer", ["/spec/tasks/²/template", "/spec/tasks/١/template", "/spec/tasks/9/template"])
def test_a_pointer_index_that_is_no_ascii_number_reaches_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str, pointer: str) -> None:
    """A config pointer's array index is ASCII digits (RFC 6901); "²" or "١" name no element
    (the template with a bad `env` behind them is never reached), as an index past the end."""
    doc = base()
    config_path(pointer)(doc)
    src = tmp_path / "t.sktrace"
    src.write_bytes(as_cbor(doc))
    assert main(STAGES[stage](str(src), str(tmp_path / "out.trace"))) == 0, capsys.readouterr().err
