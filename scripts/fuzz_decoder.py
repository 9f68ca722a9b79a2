"""`make fuzz`: coverage-guided fuzzing of the trace decoders with atheris (libFuzzer).

Each input goes through skctl.trace.load.decode_any, the one entry point every command
reads traces with. It must decode, or fail with InputError; whatever decodes must also
re-encode in both formats and summarise (later stages trust the reader). Any other
exception is a finding: libFuzzer stops and writes the input to crash-<hash>.

    make fuzz                       # 10 minutes, corpus in .fuzz-corpus/
    .venv/bin/python scripts/fuzz_decoder.py -max_total_time=3600 .fuzz-corpus

The corpus is seeded with valid traces in every encoding. atheris comes from the
optional `fuzz` extra (pip install -e '.[fuzz]'). The hypothesis tests in
tests/test_fuzz.py cover the same properties in bounded time in the normal suite.
"""

from __future__ import annotations

import json
import os
import sys

import atheris

with atheris.instrument_imports():
    from skctl.errors import InputError
    from skctl.trace import codec, limits, load, simkube, summary, synth


def seed_corpus(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    trace = synth.generate(events=20, objects=6)
    seeds = {
        "zlib.sktrace": codec.encode(trace, "zlib"),
        "lzma.sktrace": codec.encode(trace, "lzma"),
        "none.sktrace": codec.encode(trace, "none"),
        "simkube.msgpack": simkube.encode(trace),
        "simkube.json": json.dumps(trace.to_document() | {"pod_lifecycles": {}}).encode(),
    }
    for name, data in seeds.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)


def one_input(data: bytes) -> None:
    try:
        trace, _fmt = load.decode_any(data, "fuzz")
    except InputError:
        return
    codec.encode(trace, "zlib")
    simkube.encode(trace)
    summary.summarize(trace)


def main() -> None:
    limits.configure(16 * 1024 * 1024)  # keep every input's memory small
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    for directory in corpus:
        seed_corpus(directory)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
