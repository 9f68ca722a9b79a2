"""skctl.trace.steps: (de)compression in bounded steps gives the one-shot calls' results."""

from __future__ import annotations

import lzma
import os
import zlib

import pytest

from skctl.trace import steps

ONE_SHOT = {"zlib": lambda data: zlib.compress(data, 6), "lzma": lambda data: lzma.compress(data, preset=6)}
DECOMPRESSORS = {"zlib": zlib.decompressobj, "lzma": lzma.LZMADecompressor}


def _body() -> bytes:
    """Several input steps of half-compressible data."""
    return b"".join(os.urandom(64) + b"kind: Deployment " * 64 for _ in range(3 * steps.IN_STEP // 1000))


@pytest.mark.parametrize("name", ["zlib", "lzma"])
def test_compress_in_steps_writes_the_one_shot_bytes(name: str) -> None:
    body = _body()
    assert len(body) > 2 * steps.IN_STEP
    reported: list[int] = []
    assert steps.compress(name, body, reported.append) == ONE_SHOT[name](body)
    assert sum(reported) == len(body) and max(reported) <= steps.IN_STEP


@pytest.mark.parametrize("name", ["zlib", "lzma"])
def test_expand_reads_the_whole_stream_and_counts_what_follows(name: str) -> None:
    body = _body()
    trailing = os.urandom(steps.IN_STEP + 5)  # more than one step of it: some never fed
    out, unused = steps.expand(DECOMPRESSORS[name](), ONE_SHOT[name](body) + trailing, limit=len(body))
    assert bytes(out) == body and unused == len(trailing)


@pytest.mark.parametrize("name", ["zlib", "lzma"])
def test_expand_stops_just_past_the_limit(name: str) -> None:
    body = bytes(64 * steps.OUT_STEP // 8)  # zeros: a bomb in miniature
    decompressor = DECOMPRESSORS[name]()
    out, unused = steps.expand(decompressor, ONE_SHOT[name](body), limit=steps.OUT_STEP + 3)
    assert len(out) == steps.OUT_STEP + 4 and not decompressor.eof and unused == 0


@pytest.mark.parametrize("name", ["zlib", "lzma"])
def test_expand_of_a_cut_stream_is_not_at_its_end(name: str) -> None:
    packed = ONE_SHOT[name](_body())
    decompressor = DECOMPRESSORS[name]()
    steps.expand(decompressor, packed[: len(packed) // 2], limit=10 * len(packed) * 100)
    assert not decompressor.eof
