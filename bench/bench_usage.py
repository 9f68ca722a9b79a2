"""Usage section size (issue 24): what recorded pod usage costs in a trace.

1,000 pods for one hour sampled every 30 s (120 samples each), in 20 owners of 50 pods. CPU
wanders around a per-owner base (a random walk, in millicores), memory creeps (bytes, whole
KiB as metrics-server reports). Two layouts, each encoded by the trace codec (skctl CBOR,
compressed as by default and uncompressed), as the growth of an otherwise empty trace:

- per pod (what skctl records, skctl.trace.usage): one series per pod;
- per-owner quantiles (the alternative weighed in docs/trace-format.md): per owner and
  sample time, the pod count and p50/p90/max of CPU and memory.

Figures: kilobytes per 1,000 pods per hour of trace; the per-pod/quantile ratio.
"""

from __future__ import annotations

import random
import statistics
import sys

from _common import ROOT, report, section

sys.path.insert(0, str(ROOT))

from skctl.trace import codec, usage  # noqa: E402
from skctl.trace.model import Trace, new_event  # noqa: E402

PODS, OWNERS, HOUR, INTERVAL = 1000, 20, 3600, 30
T0 = 1_750_000_000


def per_pod() -> list[tuple[tuple[str, str], int, list[int], list[int], list[int]]]:
    rng = random.Random(24)
    out = []
    for i in range(PODS):
        owner = ("apps/v1.Deployment", f"shop/web-{i % OWNERS}")
        base = 100 + 50 * (i % OWNERS)
        cpu, mem = base, (200 << 20) + rng.randrange(0, 50 << 20) // 1024 * 1024
        t, cs, ms = [], [], []
        for k in range(HOUR // INTERVAL):
            cpu = max(1, cpu + rng.randint(-25, 25))
            mem += rng.randrange(0, 256) * 1024
            t.append(T0 + k * INTERVAL + rng.randint(0, 2))
            cs.append(cpu)
            ms.append(mem)
        out.append((owner, 1000 + i % OWNERS, t, cs, ms))
    return out


def quantiles(entries: list) -> dict:
    owners: dict = {}
    for owner, h, _t, cs, ms in entries:
        by_time = owners.setdefault((owner, h), {})
        for k, (c, m) in enumerate(zip(cs, ms, strict=True)):
            by_time.setdefault(k, []).append((c, m))
    out = []
    for (owner, h), by_time in owners.items():
        row: dict = {"owner": list(owner), "hash": h, "t": [], "pods": [], "cpu": [], "mem": []}
        for k in sorted(by_time):
            cs = sorted(c for c, _ in by_time[k])
            ms = sorted(m for _, m in by_time[k])
            row["t"].append(T0 + k * INTERVAL)
            row["pods"].append(len(cs))
            for key, vs in (("cpu", cs), ("mem", ms)):
                row[key].extend([int(statistics.median(vs)), vs[int(0.9 * (len(vs) - 1))], vs[-1]])
        out.append(row)
    return {"interval": INTERVAL, "owners": out}


def size(extra: dict, compression: str) -> int:
    empty = Trace(events=[new_event(T0)])
    with_section = Trace(events=[new_event(T0)], extra=extra)
    return len(codec.encode(with_section, compression)) - len(codec.encode(empty, compression))


def main() -> None:
    entries = per_pod()
    pods = {"usage": usage.build(entries, INTERVAL)}
    quant = {"usage": quantiles(entries)}
    section(f"usage section: {PODS} pods x 1 h at {INTERVAL} s ({PODS * HOUR // INTERVAL} samples), {OWNERS} owners")
    for compression in ("zlib", "none"):
        a, b = size(pods, compression), size(quant, compression)
        report(f"per pod, {compression}: KB per 1,000 pods per hour", a / 1000, unit=" KB")
        report(f"per-owner quantiles, {compression}: KB per 1,000 pods per hour", b / 1000, unit=" KB")
        report(f"per pod / quantiles, {compression}", a / b, detail=f"{a} / {b} bytes")


if __name__ == "__main__":
    main()
