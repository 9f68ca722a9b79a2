"""Trace codec and distribution figures (issue: foundation).

- skctl trace bytes ÷ SimKube msgpack bytes for the same content (target ≤ 0.10; the
  default format 3 ≤ 0.05, its encode ≤ 1.5 × format 2's)
- skctl encode/decode seconds ÷ plain cbor2.dumps/loads of the same document (decode ≤ 1.5)
- format 3 (chunked): encode and decode ÷ plain cbor2, and `xray`'s summary of a format-3
  file, streamed chunk by chunk, ÷ decoding that file (target ≤ 1.5);
  `BENCH_CODEC_XRAY_EVENTS` sets its size (default 100,000 events)
- warm `python3 dist/skctl.pyz --version` ÷ `python3 -c pass` (target ≤ 4)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import cbor2
from _common import REFERENCE, ROOT, best_of, medians, report, section

from skctl.trace import codec, format3, load, simkube, synth
from skctl.trace.model import gc_paused
from skctl.xray import activity


def codec_figures(label: str, trace, msgpack_bytes: int) -> None:
    doc = trace.to_document()
    encoded = codec.encode(trace)
    plain = cbor2.dumps(doc)
    repeat = 5 if len(plain) < 10_000_000 else 2
    enc = best_of(lambda: codec.encode(trace), repeat)
    enc_base = best_of(lambda: cbor2.dumps(doc), repeat)
    dec = best_of(lambda: codec.decode(encoded), repeat)
    dec_base = best_of(lambda: cbor2.loads(plain), repeat)

    def loads_gc_paused() -> None:
        with gc_paused():
            cbor2.loads(plain)

    dec_base_nogc = best_of(loads_gc_paused, repeat)
    section(label)
    print(f"  {len(trace.events)} events")
    report("size: skctl bytes / SimKube msgpack bytes", len(encoded) / msgpack_bytes, "<= 0.10",
           detail=f"{len(encoded)} vs {msgpack_bytes} bytes")
    report("encode: skctl / cbor2.dumps", enc / enc_base, detail=f"{enc:.3f}s vs {enc_base:.3f}s")
    # what export writes by default now (format 3, lzma) against the old default (format 2, zlib)
    v3 = format3.encode(trace)
    enc3 = best_of(lambda: format3.encode(trace), repeat)
    report("size: format 3 default / SimKube msgpack bytes", len(v3) / msgpack_bytes, "<= 0.05",
           detail=f"{len(v3)} vs {msgpack_bytes} bytes")
    report("encode: format 3 default / format 2 zlib (the old default)", enc3 / enc, "<= 1.5",
           detail=f"{enc3:.3f}s vs {enc:.3f}s")
    report("decode: skctl / cbor2.loads", dec / dec_base, "<= 1.5", detail=f"{dec:.3f}s vs {dec_base:.3f}s")
    # skctl pauses the cyclic GC while decoding; this is the same comparison without that edge.
    report("decode: skctl / cbor2.loads with the GC paused too", dec / dec_base_nogc,
           detail=f"{dec:.3f}s vs {dec_base_nogc:.3f}s")


def format3_figures(trace) -> None:
    """Format 3 against plain cbor2, and xray's streamed summary against a plain decode."""
    doc = trace.to_document()
    plain = cbor2.dumps(doc)
    data = format3.encode(trace)
    section(f"format 3 (chunked), generated trace, {len(trace.events):,} events")
    enc = best_of(lambda: format3.encode(trace), 2)
    enc_base = best_of(lambda: cbor2.dumps(doc), 2)

    def loads_gc_paused() -> None:
        with gc_paused():
            cbor2.loads(plain)

    dec_base = best_of(loads_gc_paused, 2)
    dec = best_of(lambda: format3.decode(data), 2)

    def summary() -> None:
        with gc_paused():
            activity.streamed_report(format3.Reader(format3.Source(data)))

    xray = best_of(summary, 2)
    report("encode: format 3 / cbor2.dumps", enc / enc_base, detail=f"{enc:.3f}s vs {enc_base:.3f}s")
    report("decode: format 3 / cbor2.loads (GC paused)", dec / dec_base, "<= 1.5", detail=f"{dec:.3f}s vs {dec_base:.3f}s")
    report("xray summary (streamed) / decode of the same format-3 file", xray / dec, "<= 1.5",
           detail=f"{xray:.3f}s vs {dec:.3f}s")


def startup_figure() -> None:
    """Warm `python3 -I dist/skctl.pyz --version` against `python3 -I -c pass`, medians.

    The interpreter is the one the venv was made from: the venv's own python would load
    the editable skctl install and every .pth of the test dependencies. `site` can cost
    more than the rest of start-up (a .pth file that imports a package, say), which
    flatters the first ratio; the second takes `site` out of both sides (-S).
    """
    pyz = ROOT / "dist" / "skctl.pyz"
    if not pyz.exists():
        print("  dist/skctl.pyz missing: run `make pyz` (make bench does)")
        return
    section("start-up")
    python = getattr(sys, "_base_executable", sys.executable)
    with tempfile.TemporaryDirectory(prefix="skctl-bench-shiv-") as root:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIV_")}
        env["SHIV_ROOT"] = root

        def run(*args: str):
            return lambda: subprocess.run([python, *args], check=True, capture_output=True, env=env)

        for flags in (["-I"], ["-I", "-S"]):
            run(*flags, str(pyz), "--version")()  # unpack once, then compile the .pyc files
            run(*flags, str(pyz), "--version")()
        t = medians({
            "pyz": run("-I", str(pyz), "--version"),
            "py": run("-I", "-c", "pass"),
            "pyz -S": run("-I", "-S", str(pyz), "--version"),
            "py -S": run("-I", "-S", "-c", "pass"),
        }, repeat=15)
    ms = {k: f"{v * 1000:.1f} ms" for k, v in t.items()}
    report("startup: python -I pyz --version (warm) / python -I -c pass", t["pyz"] / t["py"], "<= 4",
           detail=f"medians of 15: {ms['pyz']} vs {ms['py']}")
    report("startup without site (-I -S on both sides)", t["pyz -S"] / t["py -S"], "<= 4",
           detail=f"{ms['pyz -S']} vs {ms['py -S']}")


def main() -> None:
    raw = (REFERENCE / "dsb-scaling.sktrace").read_bytes()
    codec_figures("dsb-scaling.sktrace (reference)", load.decode_any(raw)[0], len(raw))
    trace = synth.generate(100_000, objects=400)
    codec_figures("generated trace, 100k events", trace, len(simkube.encode(trace)))
    size = int(os.environ.get("BENCH_CODEC_XRAY_EVENTS", "100000"))
    if size != len(trace.events):
        trace = synth.generate(size, objects=400)
    format3_figures(trace)
    del trace
    startup_figure()


if __name__ == "__main__":
    main()
