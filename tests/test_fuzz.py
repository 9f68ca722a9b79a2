"""Issue 12, item 13: bounded fuzzing of every parser of untrusted input (hypothesis).

Property for each: any input parses, or fails with the documented error (InputError, or
SelectorError for selectors), and nothing else. For the trace decoders also: whatever they
accept, every later stage can handle (tests/fuzz_property.check_stages: xray, validate and
--fix, convert, export; issue 22, class 3). The
example counts keep the whole file to well under a minute; `make fuzz` runs the atheris
harness (scripts/fuzz_decoder.py) for longer runs.
"""

from __future__ import annotations

import copy
import json
import math
import zlib
from typing import Any

import cbor2
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skctl.base import settings as settings_mod
from skctl.base.errors import InputError
from skctl.base.timeparse import (
    MAX_DURATION,
    MAX_TS,
    MIN_DURATION,
    parse_duration,
    parse_time,
    resolve_window,
)
from skctl.kube.selectors import SelectorError, parse_selector, selector_from_json
from skctl.storage import urls
from skctl.trace import codec, synth
from skctl.trace.tracked import parse_config
from tests.fuzz_property import check_decoder, seeds

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_TRACE = synth.generate(events=8, objects=4)  # the trace seeds() encodes
SEEDS = list(seeds().values())


@pytest.fixture(autouse=True)
def _small_limits() -> Any:
    """A low size cap, so a generated bomb is refused after a few MiB instead of 64."""
    with settings_mod.using(max_trace_bytes=4 * 1024 * 1024):
        yield


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check_decoder(data)


@FUZZ
@given(st.sampled_from([codec.SELF_DESCRIBE, b"\x85", b"\xde\x00\x05", b"{"]), st.binary(max_size=1024))
def test_random_bytes_after_a_format_header(head: bytes, tail: bytes) -> None:
    check_decoder(head + tail)


@FUZZ
@given(st.sampled_from(range(len(SEEDS))), st.data())
def test_mutated_valid_traces(seed: int, data: st.DataObject) -> None:
    raw = bytearray(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del raw[at : at + data.draw(st.integers(1, 16))]
    check_decoder(bytes(raw))


@FUZZ
@given(st.integers(1, 5000), st.sampled_from(["cbor-array", "cbor-map", "msgpack-array", "json"]))
def test_deep_nesting(depth: int, kind: str) -> None:
    if kind == "cbor-array":
        data = codec.SELF_DESCRIBE + b"\xa1\x66events" + b"\x81" * depth + b"\x00"
    elif kind == "cbor-map":
        data = codec.SELF_DESCRIBE + b"\xa1\x61a" * depth + b"\x00"
    elif kind == "msgpack-array":
        data = b"\x81\xa6events" + b"\x91" * depth + b"\x00"
    else:
        data = b'{"events": ' + b"[" * depth + b"]" * depth + b"}"
    check_decoder(data)


@FUZZ
@given(
    st.sampled_from([b"\x5b", b"\x7b", b"\x9b", b"\xbb"]),  # CBOR byte/text string, array, map, 64-bit length
    st.integers(0, 2**64 - 1),
    st.binary(max_size=64),
)
def test_huge_declared_cbor_lengths(major: bytes, length: int, tail: bytes) -> None:
    check_decoder(codec.SELF_DESCRIBE + major + length.to_bytes(8, "big") + tail)


@FUZZ
@given(st.sampled_from([b"\xdd", b"\xdf", b"\xc6", b"\xdb"]), st.integers(0, 2**32 - 1), st.binary(max_size=64))
def test_huge_declared_msgpack_lengths(marker: bytes, length: int, tail: bytes) -> None:
    check_decoder(b"\x81\xa6events" + marker + length.to_bytes(4, "big") + tail)


@FUZZ
@given(st.integers(0, 2**20), st.sampled_from(["zlib", "lzma"]))
def test_compressed_payloads_of_any_size(size: int, name: str) -> None:
    body = b"\x00" * size
    import lzma

    payload = zlib.compress(body, 9) if name == "zlib" else lzma.compress(body, preset=0)
    check_decoder(codec.SELF_DESCRIBE + cbor2.dumps({"version": 2, "compression": name, "payload": payload}))


# Values a CBOR or msgpack document can hold, JSON-like or not.
_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=4) | st.just(cbor2.undefined) | st.builds(cbor2.CBORTag, st.integers(0, 300), st.text(max_size=3))
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | st.integers(0, 3), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.data())
def test_documents_with_planted_values(data: st.DataObject) -> None:
    doc = copy.deepcopy(_TRACE.to_document())
    target = data.draw(st.sampled_from(["spec", "metadata", "labels", "owner", "config", "index", "lifecycle", "ts"]))
    value = data.draw(_values)
    obj = data.draw(st.sampled_from([e["applied_objs"][0] for e in doc["events"] if e["applied_objs"]]))
    if target == "spec":
        obj.setdefault("spec", {})["fuzz"] = value
    elif target == "metadata":
        obj["metadata"][data.draw(st.sampled_from(["name", "namespace", "ownerReferences", "x"]))] = value
    elif target == "labels":
        obj["metadata"]["labels"] = {"a": value}
    elif target == "owner":
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": value}]
    elif target == "config":
        doc["config"] = {"trackedObjects": value}
    elif target == "index":
        doc["index"]["v1.Pod"] = value
    elif target == "lifecycle":
        next(iter(next(iter(doc["pod_lifecycles"].values())).values()))[0]["end_ts"] = value
    else:
        doc["events"][-1]["ts"] = value
    encoding = data.draw(st.sampled_from(["cbor", "msgpack"]))
    try:
        raw = codec.SELF_DESCRIBE + cbor2.dumps(doc) if encoding == "cbor" else msgpack.packb(
            doc | {"pod_lifecycles": {}}, use_bin_type=True, default=str
        )
    except (TypeError, ValueError, OverflowError):
        return  # the encoder itself cannot write this value
    check_decoder(raw)


def _json_document(doc: dict[str, Any]) -> bytes:
    """SimKube's JSON rendering: lifecycle keys as JSON arrays in strings."""
    lifecycles = {json.dumps(list(k)) if isinstance(k, tuple) else str(k): {str(h): v for h, v in pods.items()}
                  if isinstance(pods, dict) else pods for k, pods in doc["pod_lifecycles"].items()}
    return json.dumps(doc | {"pod_lifecycles": lifecycles}, default=str).encode()


def _fresh(value: Any) -> Any:
    """A copy of the containers in `value` (its scalars, CBOR's undefined included, are shared)."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _plant(node: Any, data: st.DataObject, value: Any) -> None:
    """Replace one member somewhere under `node` (a random walk down maps and lists) with `value`."""
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        node[key] = _fresh(value)  # never the same object twice (no cycles)
        return


# Values that broke later stages before (issue 22, class 3), next to the general ones.
_huge = st.integers(4301, 4400).map(lambda digits: 10**digits)  # str() refuses these
_hostile = _values | _huge | st.sampled_from(["x", 5, [5], [["x"]], {"a": 1}, -(10**30), "\ud800", "²", "١٢",
                                               None, [], {}, 1.5, True])


@FUZZ
@given(st.data())
def test_structure_aware_mutations_reach_every_later_stage(data: st.DataObject) -> None:
    """Whatever the shape check accepts, xray, validate (--fix), convert and export handle."""
    doc = copy.deepcopy(_TRACE.to_document())
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(["object", "template", "order", "config", "lifecycle", "index", "ts"]))
        if target == "object":
            event = data.draw(st.sampled_from([e for e in doc["events"] if e["applied_objs"]]))
            _plant(data.draw(st.sampled_from(event["applied_objs"])), data, data.draw(_hostile))
        elif target == "template":
            objs = [o for e in doc["events"] for o in e["applied_objs"] if isinstance(o.get("spec"), dict)]
            if objs:
                spec = data.draw(st.sampled_from(objs))["spec"]
                _plant(spec.get("template") if isinstance(spec.get("template"), dict) else spec, data,
                       data.draw(_hostile))
        elif target == "order":
            i, j = data.draw(st.integers(0, len(doc["events"]) - 1)), data.draw(st.integers(0, len(doc["events"]) - 1))
            doc["events"][i], doc["events"][j] = doc["events"][j], doc["events"][i]
        elif target == "config":
            gvk = data.draw(st.sampled_from([*doc["config"]["trackedObjects"], "batch.volcano.sh/v1alpha1.Job",
                                             "/v1.Secret", "v1.Secret"]))
            entry = doc["config"]["trackedObjects"].setdefault(gvk, {})
            entry["podSpecTemplatePaths"] = [data.draw(st.sampled_from(
                ["/spec/tasks/²/template", "/spec/tasks/١/template", "/spec/tasks/*/template", "/spec/0", "", "~"]))]
        elif target == "lifecycle":
            owner = data.draw(st.sampled_from(list(doc["pod_lifecycles"])))
            if data.draw(st.booleans()):
                doc["pod_lifecycles"][data.draw(st.sampled_from([(owner[0], 5), ("x", "y"), "a|b"]))] = \
                    doc["pod_lifecycles"].pop(owner)
            else:
                lc = next(iter(doc["pod_lifecycles"][owner].values()))[0]
                lc[data.draw(st.sampled_from(["start_ts", "end_ts"]))] = data.draw(_hostile)
        elif target == "index":
            doc["index"][data.draw(st.sampled_from(["v1.Pod", "\ud800", "x"]))] = {data.draw(_hostile.filter(
                lambda v: isinstance(v, str))) if data.draw(st.booleans()) else "ns/n": data.draw(_hostile)}
        else:
            doc["events"][data.draw(st.integers(0, len(doc["events"]) - 1))]["ts"] = data.draw(
                st.sampled_from([-1, 0, MAX_TS, MAX_TS + 1, 2**64]) | _huge)
    encoding = data.draw(st.sampled_from(["cbor", "msgpack", "json"]))
    try:
        if encoding == "cbor":
            raw = codec.SELF_DESCRIBE + cbor2.dumps(doc)
        elif encoding == "msgpack":
            raw = msgpack.packb(doc | {"pod_lifecycles": {}}, use_bin_type=True, default=str)
        else:
            raw = _json_document(doc)
    except (TypeError, ValueError, OverflowError):
        return  # the encoder itself cannot write this value
    check_decoder(raw)


# --- the other parsers of untrusted text ----------------------------------------------------


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.text(max_size=30) | st.sampled_from(["trackedObjects", "apps/v1.Deployment", "v1.Pod",
                                                                 "podSpecTemplatePaths", "trackLifecycle"]),
                        inner, max_size=4),
                    max_leaves=15))
def test_tracer_config_parser(doc: Any) -> None:
    for strict in (True, False):
        try:
            parse_config(doc, "fuzz", strict=strict)
        except InputError:
            pass


_time_text = st.text(max_size=30) | st.from_regex(r"[+-]?[0-9.]{1,12}(ns|us|ms|s|m|h|d|w)?([0-9]{1,3}[smh])?", fullmatch=True) \
    | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?)?", fullmatch=True)


@FUZZ
@given(_time_text, _time_text)
def test_times_and_durations(start: str, end: str) -> None:
    for text in (start, end):
        try:
            value = parse_time(text, 1_750_000_000.0, "--start-time", now=1_750_000_000.0)
            assert math.isfinite(value) and 0 <= value <= MAX_TS
        except InputError:
            pass
        try:
            assert MIN_DURATION <= parse_duration(text) <= MAX_DURATION
        except InputError:
            pass
    try:
        lo, hi = resolve_window(start, end, now=1_750_000_000.0)
        assert lo <= hi
    except InputError:
        pass


@FUZZ
@given(st.sampled_from(["", "file://", "s3://", "gs://", "gcs://", "az://", "abfs://", "memory://", "http://", "S3://"])
       .flatmap(lambda scheme: st.text(max_size=30).map(lambda rest: scheme + rest)),
       st.lists(st.text(max_size=20), max_size=3))
def test_storage_urls_and_options(url: str, pairs: list[str]) -> None:
    try:
        protocol = urls.protocol_of(url)
        if protocol == "file":
            urls.local_path(url)
        else:
            urls.split_remote(url, protocol)
    except InputError:
        pass
    try:
        urls.parse_storage_options(pairs)
    except InputError:
        pass


_selector_text = st.text(max_size=40) | st.from_regex(
    r"(!?[a-z./-]{0,12}( ?(=|==|!=|in|notin) ?\(?[a-z0-9,.-]{0,12}\)?)?,?){1,3}", fullmatch=True
)


@FUZZ
@given(_selector_text, st.recursive(st.none() | st.text(max_size=10) | st.integers(),
                                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                        st.sampled_from(["matchLabels", "matchExpressions", "key", "operator",
                                                         "values", "x"]), inner, max_size=3), max_leaves=10))
def test_label_selectors(text: str, obj: Any) -> None:
    try:
        parse_selector(text)
    except SelectorError:
        pass
    try:
        selector_from_json(obj)
    except (SelectorError, InputError):
        pass
