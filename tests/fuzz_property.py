"""The decoder property shared by the suite's hypothesis tests (tests/test_fuzz.py) and the
atheris harness (scripts/fuzz_decoder.py), so both fuzz exactly the same contract.

Every input goes through skctl.trace.load.decode_any, the one entry point every command
reads traces with. It must decode or fail with InputError; whatever decodes must also
re-encode in both formats and summarise, because later stages trust the reader.
"""

from __future__ import annotations

import json

from skctl.errors import InputError
from skctl.trace import codec, load, simkube, summary, synth


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
