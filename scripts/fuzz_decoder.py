"""`make fuzz`: coverage-guided fuzzing of the trace decoders with atheris (libFuzzer).

The property is tests/fuzz_property.check_decoder (shared with the suite's hypothesis
tests): decode_any must decode or fail with InputError, and whatever decodes must
re-encode and summarise. Any other exception is a finding: libFuzzer stops and writes
the input to crash-<hash>.

    make fuzz                       # 10 minutes, corpus in .fuzz-corpus/
    .venv/bin/python scripts/fuzz_decoder.py -max_total_time=3600 .fuzz-corpus

The corpus is seeded with valid traces in every encoding. atheris comes from the
optional `fuzz` extra (pip install -e '.[fuzz]'). The hypothesis tests in
tests/test_fuzz.py cover the same properties in bounded time in the normal suite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for tests.fuzz_property

with atheris.instrument_imports():
    from skctl.base import settings
    from tests.fuzz_property import check_decoder, seeds


def seed_corpus(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds(events=20, objects=6).items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)


def main() -> None:
    settings.configure(settings.Settings(max_trace_bytes=16 * 1024 * 1024))  # keep every input's memory small
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    for directory in corpus:
        seed_corpus(directory)
    atheris.Setup(sys.argv, check_decoder)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
