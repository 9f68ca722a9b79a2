"""The decoder property shared by the suite's hypothesis tests (tests/test_fuzz.py) and the
atheris harness (scripts/fuzz_decoder.py), so both fuzz exactly the same contract.

Every input goes through skctl.trace.load.decode_any, the one entry point every command
reads traces with. It must decode or fail with InputError; whatever decodes must also
re-encode in both formats and summarise, because later stages trust the reader.
"""

from __future__ import annotations

import json

from skctl.base.errors import InputError
from skctl.trace import codec, load, simkube, synth
from skctl.trace.model import Trace
from skctl.xray import summary


def seeds(events: int = 8, objects: int = 4) -> dict[str, bytes]:
    """One small valid trace in every encoding the reader accepts."""
    trace = synth.generate(events=events, objects=objects)
    return {
        "zlib.sktrace": codec.encode(trace, "zlib"),
        "lzma.sktrace": codec.encode(trace, "lzma"),
        "none.sktrace": codec.encode(trace, "none"),
        "simkube.msgpack": simkube.encode(trace),
        "simkube.json": json.dumps(trace.to_document() | {"pod_lifecycles": {}}).encode(),
    }


def check_decoder(data: bytes) -> None:
    """Decode, or InputError; anything else (or a later stage failing) is a finding."""
    try:
        trace, _fmt = load.decode_any(data, "fuzz")
    except InputError:
        return
    codec.encode(trace, "zlib")
    simkube.encode(trace)
    summary.summarize(trace)
    check_stages(trace)


def check_stages(trace: Trace) -> None:
    """Every later stage on a trace the reader accepted: xray (summary, timeline, event
    list, each object's history), validate and validate --fix, convert to both formats,
    and export of a window inside and around it, re-read. None may fail; InputError is
    allowed only where a command answers the user's own flags (never here)."""
    from skctl.trace import validate, window
    from skctl.xray import activity

    activity.report(trace, summary=True, events=True, key=None, width=None)
    try:
        activity.report(trace, summary=True, events=False, key=None, width=1)
    except InputError:  # one bucket per second over a long span: refused, as --bucket 1s is
        span = trace.time_range()
        assert span is not None and span[1] - span[0] >= activity.MAX_EXPLICIT_BUCKETS
    for _gvk, name in activity.object_keys(trace)[:5]:
        activity.report(trace, summary=False, events=False, key=name)
    findings, fixed = validate.check(trace, fix=True)
    assert fixed is not None
    validate.check(fixed)
    for fmt in ("cbor", "msgpack"):
        for t in (trace, fixed):
            load.decode_any(load.encode_as(t, fmt), "fuzz")
    times = [e["ts"] for e in trace.events] or [0]
    for lo, hi in ((min(times), max(times) + 1), (0, shape_max_ts() + 1), (times[len(times) // 2], max(times) + 1)):
        if lo < hi:
            cut = window.export_window(trace, lo, hi, window.NO_FILTERS)
            cut_default = window.export_window(trace, lo, hi)
            for fmt in ("cbor", "msgpack"):
                load.decode_any(load.encode_as(cut, fmt), "fuzz")
                load.decode_any(load.encode_as(cut_default, fmt), "fuzz")


def shape_max_ts() -> int:
    from skctl.trace.shape import TS_MAX

    return TS_MAX
