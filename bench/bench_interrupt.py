"""How soon Ctrl-C ends a command busy with a big trace (issue 21: target <= 1 s).

Generates a trace (BENCH_INTERRUPT_EVENTS, default 100,000 events, zlib), then runs real
`skctl` processes and sends SIGINT at points spread over the work, timing each from the
signal to the process's exit (status 130 and the one line "interrupted" checked):

- during the decode of the source (`skctl xray`: `load.decode_any`), at 10 % ... 90 % of an
  uninterrupted decode;
- during `skctl export --from` (`exporter.export`: read, decode, window, encode, compress,
  write), at 10 % ... 90 % of an uninterrupted export.

The figure is the worst of those points; the median is printed beside it.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, report, section
from bench_export import generate

from skctl.trace import codec

EVENTS = int(os.environ.get("BENCH_INTERRUPT_EVENTS", "100000"))
POINTS = (0.1, 0.3, 0.5, 0.7, 0.9)

# skctl as a process, printing "started" and "finished" around the timed work (the decode, or the export)
PROGRAM = """import sys
from skctl.trace import load
from skctl import export as exporter
target = {target}
real = getattr(target, {name!r})
def timed(*args, **kwargs):
    print("started", flush=True)
    result = real(*args, **kwargs)
    print("finished", flush=True)
    return result
setattr(target, {name!r}, timed)
from skctl.cli.entry import main
sys.argv = ["skctl", *{argv!r}]
sys.exit(main())
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # even when the bench runs under nohup


def _run(argv: list[str], target: str, name: str, after: float | None) -> tuple[float, float | None]:
    """(seconds the work took, from SIGINT to exit when `after` is given); the second is None
    when the command had finished its work first (exit 0: its result was in place)."""
    program = PROGRAM.format(target=target, name=name, argv=argv)
    proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, preexec_fn=_default_sigint)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("started"):
            break
    begun = time.monotonic()
    if after is None:
        assert proc.stdout.readline().startswith("finished")
        took = time.monotonic() - begun
        _out, err = proc.communicate()
        assert proc.returncode == 0, err
        return took, 0.0
    time.sleep(after)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate()
    ended = time.monotonic()
    if proc.returncode == 0:
        return ended - begun, None
    assert proc.returncode == 130 and err.strip().splitlines()[-1:] == ["skctl: interrupted"], (proc.returncode, err)
    return ended - begun, ended - sent


def _figure(label: str, argv: list[str], target: str, name: str) -> None:
    whole, _ = _run(argv, target, name, None)
    measured = {point: _run(argv, target, name, whole * point)[1] for point in POINTS}
    delays = [d for d in measured.values() if d is not None]
    shown = ", ".join(f"{p:.0%}: " + ("done" if d is None else f"{d:.2f} s") for p, d in measured.items())
    report(f"{label}: SIGINT to exit (worst point)", max(delays), "<= 1", unit=" s",
           detail=f"median {statistics.median(delays):.2f} s of {len(delays)} points; uninterrupted {whole:.1f} s; {shown}")


def main() -> None:
    section(f"Ctrl-C: a {EVENTS:,}-event trace (zlib)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.sktrace"
        source.write_bytes(codec.encode(generate(EVENTS, max(100, EVENTS // 100))))
        out = str(Path(tmp) / "out.sktrace")
        _figure("decode", ["xray", "--json", str(source)], "load", "decode_any")
        _figure("export --from", ["export", "--from", str(source), "-s", "0", "-t", "+1000d", "-o", out],
                "exporter", "export")


if __name__ == "__main__":
    main()
