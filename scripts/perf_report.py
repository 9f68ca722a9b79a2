"""Run the benchmarks several times and write docs/performance.md from their figures.

    scripts/perf_report.py run --runs 3 [--only codec,growth] [--out build/bench.jsonl]
    scripts/perf_report.py render [--in build/bench.jsonl] [--out docs/performance.md]
    scripts/perf_report.py all --runs 3      # both (what `make perf-report` does)

`run` starts every bench/bench_*.py once per round, round after round (so a noisy minute on
the shared machine hits one run of each figure rather than every run of one), with
`BENCH_JSON` pointing at the JSON-lines file: each `report()` appends a line there
(bench/_common.py). It also writes a `meta` line with the machine and the load average.
`render` groups the lines by figure and writes, for each, the median over the runs, the
min-max, the target and whether the median meets it. Nothing in the report is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _common import fmt, meets  # noqa: E402

DEFAULT_JSONL = ROOT / "build" / "bench.jsonl"
DEFAULT_DOC = ROOT / "docs" / "performance.md"

# What each bench measures, in the order the report shows them.
BENCHES = {
    "bench_codec": "Trace codec and start-up",
    "bench_sandbox": "Sandbox API server",
    "bench_export": "`skctl export --from` a 1M-event trace",
    "bench_tracer": "Tracer",
    "bench_growth": "Cost growth: 10k, 100k and 1M watch events",
    "bench_tracer_memory": "Tracer memory and restart",
    "bench_replay": "Replay against the sandbox",
    "bench_e2e": "Replay and tracing on the real control plane",
    "bench_report": "Report recorder (`skctl drive --report`)",
    "bench_interrupt": "Ctrl-C on a big trace",
}

# What limits a figure, shown under "Notes" when the figure is on the page. These explain
# the measurement; the numbers themselves always come from the JSON lines.
NOTES = {
    ("bench_interrupt", "decode: SIGINT to exit (worst point)"):
        "A version 2 trace is one CBOR document. Stopped mid-way, cbor2 would free what it has decoded "
        "so far, one object at a time, before returning (about 1 s per 100,000 events on this machine); "
        "so the decode runs in a worker that Ctrl-C abandons (`skctl.base.signals.stoppable`), and what is "
        "left is the wait for its next 1 MiB read and the exit itself, which frees nothing.",
    ("bench_codec", "decode: skctl / cbor2.loads"):
        "On the 19-event reference trace about half of skctl's decode is validating the whole document "
        "once (issue 12, class 3: every later stage can then trust it), which plain `cbor2.loads` does "
        "not do; on 100k events the string references make skctl's decode cheaper than plain CBOR's.",
    ("bench_export", "--from file: (read+decode+window+encode+write) / encode"):
        "The source is format 3, streamed chunk by chunk, but every chunk up to the window's end is still "
        "decoded (the chunks before the window to fold the state at its start) and checked (those before "
        "the window structurally only): here that is twice the events the output holds, and decoding and "
        "checking an event each cost about what encoding it does. Whole chunks the filters leave alone are "
        "copied without decoding their output again; this bench's filters touch every chunk.",
    ("bench_replay", "sustained applies/s ÷ raw SSA loop rate"):
        "At `--speed 10` the trace asks for about 320 writes/s, well under what the sandbox takes, so this "
        "is the due rate over the raw rate; the driver's own overhead is the full-speed ratio below it.",
    ("bench_e2e", "driver applies/s at speed 10 ÷ raw SSA loop"):
        "On 2 shared cores the API server, etcd, the controllers and KWOK take 10–20 applies/s on either "
        "side, so this ratio follows whichever side the other jobs on the machine slowed more.",
    ("bench_growth", "ingest ÷ json.loads of the same lines"):
        "The tracer encodes every object it records (CBOR, zlib level 1), which is what keeps a held "
        "update near 1 KiB (`bench_tracer_memory`); that costs about 0.25x `json.loads` at every size. "
        "What used to grow with the recording no longer does: a journal snapshot copies the held bytes "
        "and tests only the lifecycles still running, and the collector does not walk objects held as "
        "bytes (the cost-growth section gives both shares per size).",
    ("bench_tracer_memory", "seconds until the API answers with the whole recording"):
        "A journal written by this skctl (version 2): the restart keeps the encoded objects without "
        "decoding them and checks them in the background. A version 1 journal (written before 2026-12) "
        "is decoded and encoded object by object until its old segments leave the retention window: "
        "18 s for 200 MB on the machine below (12.5 s before the change, at 0.13 of the RSS).",
}

# --- machine ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU, cores, memory, Python and OS of this machine (no host names)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 2**20
    except OSError:
        pass
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "ram_gib": round(ram, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{os_name}, {platform.system()} {platform.release()} {platform.machine()}",
    }


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=False)
        return out.stdout.strip()
    except OSError:
        return ""


# --- run --------------------------------------------------------------------------------


def bench_files(only: Iterable[str] | None = None) -> list[Path]:
    files = sorted((ROOT / "bench").glob("bench_*.py"), key=lambda p: list(BENCHES).index(p.stem)
                   if p.stem in BENCHES else len(BENCHES))
    if only:
        wanted = {f"bench_{name.removeprefix('bench_')}" for name in only}
        files = [f for f in files if f.stem in wanted]
    return files


def run(runs: int, out: Path, only: Iterable[str] | None = None, append: bool = False, replace: bool = False) -> int:
    """Run each bench `runs` times (round-robin); returns the number of failed bench runs.
    `append` keeps the file's earlier figures; `replace` also drops those of the benches run
    now (to measure one bench again after a change to it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = bench_files(only)
    if not append and not replace:
        out.write_text("")
    elif replace and out.exists():
        again = {f.stem for f in files}
        kept = [line for line in out.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("bench", json.loads(line).get("failure", {}).get("bench"))
                not in again]
        out.write_text("".join(line + "\n" for line in kept))
    started = time.time()
    load0 = os.getloadavg()
    failures = 0
    first_run = _next_run(out)
    for r in range(first_run, first_run + runs):
        for path in files:
            print(f"== {path.relative_to(ROOT)} (run {r + 1 - first_run} of {runs})", flush=True)
            env = {**os.environ, "BENCH_JSON": str(out), "BENCH_RUN": str(r)}
            code = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, check=False).returncode
            if code != 0:
                print(f"== {path.name} failed (exit {code})", flush=True)
                failures += 1
                with out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"failure": {"bench": path.stem, "run": r, "exit": code}}) + "\n")
    meta = {"meta": {**machine(), "started": started, "finished": time.time(), "runs": runs,
                     "load_before": [round(x, 2) for x in load0],
                     "load_after": [round(x, 2) for x in os.getloadavg()], "commit": _commit()}}
    with out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(meta) + "\n")
    return failures


def _next_run(path: Path) -> int:
    records = read(path)[0] if path.exists() else []
    return max((r["run"] for r in records), default=-1) + 1


# --- render -----------------------------------------------------------------------------


def read(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(figure records, meta records, failed bench runs) of a JSON-lines file."""
    records, metas, failures = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        if "meta" in doc:
            metas.append(doc["meta"])
        elif "failure" in doc:
            failures.append(doc["failure"])
        else:
            records.append(doc)
    return records, metas, failures


def summarise(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure (bench, section, name) in first-seen order: median, min, max,
    runs, target, met, and the detail of the run whose value is the median's nearest."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["bench"], rec.get("section", ""), rec["name"]), []).append(rec)
    rows = []
    for (bench, sect, name), recs in groups.items():
        values = [float(r["value"]) for r in recs]
        median = statistics.median(values)
        nearest = min(recs, key=lambda r: abs(float(r["value"]) - median))
        target = recs[-1].get("target", "")
        rows.append({"bench": bench, "section": sect, "name": name, "median": median, "min": min(values),
                     "max": max(values), "runs": len(values), "unit": recs[-1].get("unit", ""),
                     "target": target, "met": meets(median, target), "detail": nearest.get("detail", "")})
    return rows


def _target(text: str) -> str:
    """"<= 1.5" → "≤ 1.5", ">= 20000" → "≥ 20,000"."""
    op, _, bound = text.strip().partition(" ")
    op = {"<=": "≤", ">=": "≥"}.get(op, op)
    try:
        number = float(bound)
    except ValueError:
        return f"{op} {bound}".strip()
    return f"{op} {number:,.0f}" if number >= 1000 and number.is_integer() else f"{op} {bound}"


def _value(row: dict[str, Any], key: str = "median") -> str:
    return fmt(row[key]) + row["unit"]


def _spread(row: dict[str, Any]) -> str:
    return f"{fmt(row['min'])}–{fmt(row['max'])}{row['unit']}"


def _met(row: dict[str, Any]) -> str:
    return "—" if row["met"] is None else "met" if row["met"] else "**missed**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(records: list[dict[str, Any]], meta: dict[str, Any], failures: Sequence[dict[str, Any]] = ()) -> str:
    """The whole docs/performance.md for these figures, this machine, and the bench runs that
    failed (they are named: a median over fewer runs must say so)."""
    order = list(BENCHES)
    rows = sorted(summarise(records), key=lambda r: order.index(r["bench"]) if r["bench"] in order else len(order))
    per_bench: dict[str, set[int]] = {}
    for rec in records:
        per_bench.setdefault(rec["bench"], set()).add(rec.get("run", 0))
    counts = {bench: len(runs) for bench, runs in per_bench.items()}
    usual = statistics.mode(counts.values()) if counts else 0
    odd = ", ".join(f"`{b}` {counts[b]}" for b in sorted(counts, key=lambda b: order.index(b) if b in order else len(order))
                    if counts[b] != usual)
    runs = f"{usual} runs of each bench" + (f" ({odd})" if odd else "")
    when = dt.datetime.fromtimestamp(meta["finished"], dt.timezone.utc) if meta.get("finished") else None
    out = [
        "# Performance",
        "",
        "Every figure of `make bench`, as the median of several runs, with its target and whether",
        "the median meets it. This page is generated by `scripts/perf_report.py` from the figures",
        "the benches wrote (`make perf-report`); do not edit it by hand.",
        "",
        "Figures are ratios against a baseline measured in the same run wherever one exists (the",
        "machines are shared and noisy, so absolute times say little); the absolute numbers are in",
        "the last column, taken from the run nearest the median.",
        "",
        "## Targets",
        "",
        "| figure | of | median | min–max | target | |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if row["target"]:
            out.append(f"| {_cell(row['name'])} | {_cell(row['section'])} | {_value(row)} | "
                       f"{_spread(row)} | {_target(row['target'])} | {_met(row)} |")
    met = sum(1 for r in rows if r["met"])
    targeted = sum(1 for r in rows if r["met"] is not None)
    out += ["", f"{met} of {targeted} targets met.", ""]
    for fail in failures:
        out.append(f"- `bench/{fail['bench']}.py` failed in run {fail['run'] + 1} (exit {fail['exit']}); "
                   "its figures are the median of the other runs.")
    if failures:
        out.append("")
    notes = [(key, text) for key, text in NOTES.items() if any((r["bench"], r["name"]) == key for r in rows)]
    if notes:
        out += ["Notes:", ""]
        out += [f"- {_cell(name)} (`{bench}`): {text}" for (bench, name), text in notes]
        out.append("")

    out += ["## Machine", ""]
    if meta:
        out += [
            f"- CPU: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores",
            f"- Memory: {meta.get('ram_gib', '?')} GiB",
            f"- Python: {meta.get('python', '?')}",
            f"- OS: {meta.get('os', '?')}",
        ]
        if when:
            out.append(f"- Measured: {when:%Y-%m-%d %H:%M} UTC, {runs}"
                       + (f", skctl commit {meta['commit']}" if meta.get("commit") else ""))
        if meta.get("load_before"):
            out.append(f"- Load average (1, 5, 15 min): {', '.join(map(str, meta['load_before']))} before, "
                       f"{', '.join(map(str, meta.get('load_after', [])))} after")
    out += [
        "",
        "The machine is shared: other jobs (test suites of other work in progress) ran beside the",
        "benchmarks, so single runs vary, by 2× or more for the figures that depend on a server",
        "keeping pace (replay, the real control plane). The median and the min–max of each figure",
        "show how much; ratios to a same-run baseline vary far less than absolute times.",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make bench                          # every bench once; prints each figure and a summary",
        "make bench BENCH_RUNS=5             # five rounds; the summary shows medians",
        "make perf-report PERF_RUNS=3        # three rounds, then writes this page",
        "make perf-report BENCH_ONLY=codec,growth  # only some benches (the page then has only them)",
        "```",
        "",
        "`make bench` builds the pyz first (the start-up figure runs it). The raw figures are in",
        "`build/bench.jsonl`, one JSON line per figure per run; `.venv/bin/python",
        "scripts/perf_report.py render` writes this page again from that file. The export bench",
        "needs about 7 GB of memory and the cost-growth bench about 1.2 GB at 1M events;",
        "`BENCH_GROWTH_SIZES=10000,100000` runs fewer sizes. `bench_e2e` needs the real control",
        "plane (`make controlplane`) and prints a skip line without it.",
        "",
    ]

    growth = [r for r in rows if r["bench"] == "bench_growth"]
    if growth:
        out += _growth_table(growth)

    out += ["## Every figure", ""]
    for bench, title in [*BENCHES.items(), *((b, b) for b in dict.fromkeys(r["bench"] for r in rows)
                                              if b not in BENCHES)]:
        mine = [r for r in rows if r["bench"] == bench]
        if not mine:
            continue
        out += [f"### {title} (`bench/{bench}.py`)", ""]
        for sect in dict.fromkeys(r["section"] for r in mine):
            if sect:
                out += [f"**{_cell(sect)}**", ""]
            out += ["| figure | median | min–max | target | | detail (run nearest the median) |",
                    "| --- | --- | --- | --- | --- | --- |"]
            for row in (r for r in mine if r["section"] == sect):
                out.append(f"| {_cell(row['name'])} | {_value(row)} | {_spread(row)} | "
                           f"{_target(row['target']) or '—'} | {_met(row) if row['target'] else ''} | "
                           f"{_cell(row['detail'])} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _growth_table(rows: list[dict[str, Any]]) -> list[str]:
    """Ingest and export per size side by side (medians), then the growth ratios."""
    by_size: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["section"].startswith("growth: ") and "→" not in row["section"]:
            by_size.setdefault(row["section"].removeprefix("growth: ").removesuffix(" watch events"), {})[row["name"]] = row
    columns = [
        ("ingest seconds", "ingest"),
        ("ingest watch events/s", "events/s"),
        ("ingest ÷ json.loads of the same lines", "÷ json.loads"),
        ("share of the ingest in journal segment snapshots", "share in snapshots"),
        ("share of the ingest in the cyclic garbage collector", "share in GC"),
        ("RSS per 100k stored events", "RSS per 100k stored"),
        ("peak RSS of the ingest", "peak RSS, ingest"),
        ("export from the recording: window+encode+write seconds", "export (window+encode+write)"),
        ("export --from FILE seconds", "export --from FILE"),
        ("export --from FILE: peak RSS", "peak RSS, --from"),
    ]
    out = [
        "## Cost growth",
        "",
        "The tracer's ingest (watch-event lines through json.loads, the store and the journal) and",
        "export at three sizes, each size in a process of its own so its peak RSS is its own",
        "(`bench/bench_growth.py`; medians). \"Stored\" events are the applied or deleted objects the",
        "recording keeps: owned pods and ReplicaSets are followed but not stored, as configured.",
        "At 10k events the per-event memory is mostly fixed costs (journal buffers, the allocator's",
        "arenas); compare 100k with 1M. The two shares are the parts of the ingest that grow with",
        "the recording: segment snapshots (each writes every live object) and the cyclic collector.",
        "",
        "| watch events | " + " | ".join(c[1] for c in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    def events(size: str) -> float:
        digits = size.replace(",", "")
        return float(digits) if digits.isdigit() else float("inf")

    for size, figures in sorted(by_size.items(), key=lambda item: events(item[0])):
        cells = [_value(figures[name]) if name in figures else "—" for name, _ in columns]
        out.append(f"| {size} | " + " | ".join(cells) + " |")
    out.append("")
    ratios = [r for r in rows if "→" in r["section"]]
    if ratios:
        out += [f"{_cell(ratios[0]['section'].removeprefix('growth: '))}: the cost per event at the larger size ÷ "
                "at the smaller one.", "", "| figure | median | min–max |", "| --- | --- | --- |"]
        out += [f"| {_cell(r['name'])} | {_value(r)} | {_spread(r)} |" for r in ratios]
        out.append("")
    return out


def print_summary(records: list[dict[str, Any]]) -> None:
    """The medians on the terminal, after a multi-run `make bench`."""
    rows = summarise(records)
    print("\n== medians" if any(r["runs"] > 1 for r in rows) else "\n== summary")
    section = None
    for row in rows:
        if (row["bench"], row["section"]) != section:
            section = (row["bench"], row["section"])
            print(f"  {row['section'] or row['bench']}")
        target = f"   target {row['target']}  {'ok' if row['met'] else 'MISSED'}" if row["met"] is not None else ""
        spread = f" [{fmt(row['min'])}–{fmt(row['max'])}]" if row["runs"] > 1 else ""
        print(f"    {row['name'][:58]:<58} {_value(row):>12}{spread}{target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "render", "all"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma list of benches, e.g. codec,growth")
    parser.add_argument("--jsonl", type=Path, default=DEFAULT_JSONL)
    parser.add_argument("--out", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--append", action="store_true", help="add runs to the JSON-lines file")
    parser.add_argument("--replace", action="store_true",
                        help="like --append, but first drop the earlier figures of the benches run now")
    args = parser.parse_args(argv)
    only = [o for o in args.only.split(",") if o.strip()]
    failures = 0
    if args.action in ("run", "all"):
        failures = run(args.runs, args.jsonl, only, append=args.append, replace=args.replace)
        print_summary(read(args.jsonl)[0])
    if args.action in ("render", "all"):
        records, metas, failed = read(args.jsonl)
        meta = metas[-1] if metas else {**machine(), "finished": time.time()}
        if len(metas) > 1:  # rounds appended with --append: from the first start to the last end
            meta = {**meta, "started": metas[0].get("started"), "load_before": metas[0].get("load_before")}
        args.out.write_text(render(records, meta, failed))
        print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
