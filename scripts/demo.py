#!/usr/bin/env python3
"""`make demo`: the main job end to end on an embedded default, using dist/skctl.pyz.

Everything runs through the single-file build, as a user would run it on a machine that
has only Python: write the embedded example trace, convert it to SimKube's format and
back, inspect it, cut a window out of it, show the driver Job `skctl run` would launch,
then replay the window against a loopback sandbox cluster and check that the simulation
cleaned up after itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYZ = ROOT / "dist" / "skctl.pyz"
WORK = ROOT / "build" / "demo"
START = 1_750_000_000  # the example trace's first second (skctl.trace.synth.EXAMPLE_START_TS)


def skctl(*args: str, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    print(f"\n$ skctl {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, str(PYZ), *args], check=True, text=True, capture_output=quiet)
    return result


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    print("\n$ skctl sandbox --port 0 --write-kubeconfig kubeconfig &", flush=True)
    kubeconfig = WORK / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(PYZ), "sandbox", "--port", "0", "--write-kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("demo: the sandbox did not start")
        time.sleep(0.1)
    url = next(line.split()[-1] for line in proc.stdout if "http://" in line)  # type: ignore[union-attr]
    print(f"sandbox API server at {url}")
    return proc, url


def namespaces(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/namespaces", timeout=10) as resp:
        return sorted(item["metadata"]["name"] for item in json.load(resp)["items"])


def main() -> int:
    if not PYZ.exists():
        sys.exit("demo: dist/skctl.pyz is missing; run `make demo` (it builds it first)")
    WORK.mkdir(parents=True, exist_ok=True)
    os.chdir(WORK)

    # 1. A trace, in both formats.
    skctl("example", "-o", "example.sktrace", "--events", "300")
    skctl("convert", "example.sktrace", "example.simkube.msgpack")
    skctl("convert", "example.simkube.msgpack", "roundtrip.sktrace", "--to", "cbor")
    skctl("xray", "roundtrip.sktrace")

    # 2. Cut a three-minute window out of it (objects alive at its start become one event).
    skctl(
        "export", "--from", "example.sktrace", "-s", str(START + 60), "-t", str(START + 240),
        "--excluded-namespaces", "batch", "-o", "window.sktrace",
    )
    skctl("xray", "window.sktrace")

    # 3. What `skctl run` would apply to a real cluster (kind + KWOK, see docs/run.md).
    manifests = skctl("run", "demo", "--trace-path", "file:///data/window.sktrace", "--dry-run", quiet=True).stdout
    kinds = [line.split(":", 1)[1].strip() for line in manifests.splitlines() if line.startswith("kind:")]
    print(f"{len(kinds)} manifests: {', '.join(kinds)}")

    # 4. Replay the window, 60x faster than recorded, against a loopback cluster.
    sandbox, url = start_sandbox()
    try:
        skctl("-v", "info", "drive", "demo", "--trace-path", "window.sktrace", "--speed", "60",
              "--kubeconfig", "kubeconfig")
        left = [ns for ns in namespaces(url) if ns.startswith("virtual-")]
        print(f"\nnamespaces after the simulation: {', '.join(namespaces(url))}")
        if left:
            sys.exit(f"demo: the simulation left namespaces behind: {left}")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
    print(f"\ndemo: done; files are in {WORK}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(f"demo: step failed with exit status {exc.returncode}: {' '.join(map(str, exc.cmd[2:]))}")
