"""scripts/perf_report.py: docs/performance.md is computed from the benches' JSON lines.

No timing here: a fixed set of figures goes in, and the medians, spreads, targets and
met/missed verdicts that come out are checked against values worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


def _load():  # noqa: ANN202 - a script module, loaded by path
    return load_script("perf_report")


def _rec(bench: str, section: str, name: str, value: float, run: int, target: str = "", unit: str = "",
         detail: str = "") -> dict:
    return {"bench": bench, "section": section, "name": name, "value": value, "target": target, "unit": unit,
            "detail": detail, "run": run}


META = {"cpu": "Test CPU 9000", "cores": 2, "ram_gib": 23.5, "python": "CPython 3.11.7",
        "os": "Debian GNU/Linux 12 (bookworm), Linux 6.1 x86_64", "started": 1_764_000_000.0,
        "finished": 1_764_003_600.0, "runs": 3, "load_before": [1.0, 2.0, 3.0], "load_after": [4.0, 5.0, 6.0],
        "commit": "abc1234"}

FIGURES = [
    # decode: runs 1.2, 1.9, 1.7 → median 1.7, over the ≤ 1.5 target: missed
    *(_rec("bench_codec", "generated trace", "decode: skctl / cbor2.loads", v, r, "<= 1.5", detail=f"run {r}")
      for r, v in enumerate([1.2, 1.9, 1.7])),
    # watch rate: 290, 31000 and 25000 → median 25,000 ≥ 20,000: met, although one run missed
    *(_rec("bench_sandbox", "sandbox", "watch events/s", v, r, ">= 20000")
      for r, v in enumerate([290.0, 31000.0, 25000.0])),
    # a strict bound: 1.5 is not < 1.5
    *(_rec("bench_tracer", "journal", "10h journal ÷ 1h journal", 1.5, r, "< 1.5") for r in range(3)),
    # no target: shown without a verdict
    *(_rec("bench_tracer", "journal", "1h journal: 10-minute window (ms)", v, r) for r, v in enumerate([10, 30, 20])),
    # an even number of runs: the median is the mean of the middle two
    *(_rec("bench_replay", "replay", "lateness p99 (ms)", v, r, "<= 50") for r, v in enumerate([40.0, 70.0])),
    # cost growth: two sizes and a ratio
    _rec("bench_growth", "growth: 10,000 watch events", "ingest seconds", 0.2, 0, unit=" s"),
    _rec("bench_growth", "growth: 10,000 watch events", "RSS per 100k stored events", 300.0, 0, unit=" MB"),
    _rec("bench_growth", "growth: 1,000,000 watch events", "ingest seconds", 21.0, 0, unit=" s"),
    _rec("bench_growth", "growth: 1,000,000 watch events", "RSS per 100k stored events", 250.0, 0, unit=" MB"),
    _rec("bench_growth", "growth: 10,000 → 1,000,000 watch events (1.0 = linear)", "ingest time ÷ (100 × at 10,000)",
         1.05, 0),
]


def test_each_figure_is_the_median_of_its_runs_judged_against_its_target() -> None:
    rows = {r["name"]: r for r in _load().summarise(FIGURES)}
    decode = rows["decode: skctl / cbor2.loads"]
    assert (decode["median"], decode["min"], decode["max"], decode["runs"], decode["met"]) == (1.7, 1.2, 1.9, 3, False)
    assert decode["detail"] == "run 2"  # from the run whose value is the median
    watch = rows["watch events/s"]
    assert (watch["median"], watch["min"], watch["met"]) == (25000.0, 290.0, True)
    assert rows["10h journal ÷ 1h journal"]["met"] is False
    assert rows["1h journal: 10-minute window (ms)"]["met"] is None
    assert rows["1h journal: 10-minute window (ms)"]["median"] == 20
    ingest = [(r["section"], r["median"], r["unit"]) for r in _load().summarise(FIGURES) if r["name"] == "ingest seconds"]
    assert ingest == [("growth: 10,000 watch events", 0.2, " s"), ("growth: 1,000,000 watch events", 21.0, " s")]
    lateness = rows["lateness p99 (ms)"]
    assert (lateness["median"], lateness["met"]) == (55.0, False)


def test_the_page_shows_medians_targets_verdicts_machine_and_growth(tmp_path: Path) -> None:
    perf = _load()
    jsonl = tmp_path / "bench.jsonl"
    failure = {"failure": {"bench": "bench_export", "run": 1, "exit": 1}}
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in reversed(FIGURES)) + json.dumps(failure) + "\n"
                     + json.dumps({"meta": META}) + "\n")
    out = tmp_path / "performance.md"
    assert perf.main(["render", "--jsonl", str(jsonl), "--out", str(out)]) == 0
    page = out.read_text()
    lines = page.splitlines()

    targets = lines[lines.index("## Targets"):lines.index("## Machine")]
    assert "| decode: skctl / cbor2.loads | generated trace | 1.700 | 1.200–1.900 | ≤ 1.5 | **missed** |" in targets
    assert "| watch events/s | sandbox | 25,000 | 290.0–31,000 | ≥ 20,000 | met |" in targets
    assert "| 10h journal ÷ 1h journal | journal | 1.500 | 1.500–1.500 | < 1.5 | **missed** |" in targets
    assert "| lateness p99 (ms) | replay | 55.0 | 40.0–70.0 | ≤ 50 | **missed** |" in targets
    assert not any("10-minute window" in line for line in targets)  # no target, not in this table
    assert "1 of 4 targets met." in targets
    verdicts = [line.split(" | ")[0] for line in targets if line.endswith(("| met |", "| **missed** |"))]
    assert verdicts == ["| decode: skctl / cbor2.loads", "| watch events/s", "| 10h journal ÷ 1h journal",
                        "| lateness p99 (ms)"]  # in the benches' order, whatever order the lines came in
    assert ("- `bench/bench_export.py` failed in run 2 (exit 1); its figures are the median of the other runs."
            in targets)

    notes = [line for line in targets if line.startswith("- ") and "(`bench_" in line]
    assert [line.split(" (`")[0] for line in notes] == ["- decode: skctl / cbor2.loads"]  # only figures shown

    assert "- CPU: Test CPU 9000, 2 cores" in lines
    assert "- Memory: 23.5 GiB" in lines
    assert ("- Measured: 2025-11-24 17:00 UTC, 3 runs of each bench (`bench_growth` 1, `bench_replay` 2), "
            "skctl commit abc1234") in lines
    assert "- Load average (1, 5, 15 min): 1.0, 2.0, 3.0 before, 4.0, 5.0, 6.0 after" in lines
    assert "make perf-report PERF_RUNS=3        # three rounds, then writes this page" in lines

    growth = lines[lines.index("## Cost growth"):lines.index("## Every figure")]
    sizes = [line for line in growth if line.startswith(("| 10,000 |", "| 1,000,000 |"))]
    assert len(sizes) == 2  # smallest first, whatever order the lines came in
    assert sizes[0].startswith("| 10,000 | 0.200 s | — | — | — | — | 300.0 MB |")
    assert sizes[1].startswith("| 1,000,000 | 21.0 s | — | — | — | — | 250.0 MB |")
    assert "| ingest time ÷ (100 × at 10,000) | 1.050 | 1.050–1.050 |" in growth

    every = lines[lines.index("## Every figure"):]
    assert "### Trace codec and start-up (`bench/bench_codec.py`)" in every
    assert "| 1h journal: 10-minute window (ms) | 20.0 | 10.0–30.0 | — |  |  |" in every
    assert "| decode: skctl / cbor2.loads | 1.700 | 1.200–1.900 | ≤ 1.5 | **missed** | run 2 |" in every


def test_report_appends_one_json_line_per_figure(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    perf = _load()
    import _common  # the bench helper perf_report put on sys.path

    jsonl = tmp_path / "bench.jsonl"
    monkeypatch.setenv("BENCH_JSON", str(jsonl))
    for run, value in enumerate([3.0, 1.0, 2.0]):
        monkeypatch.setenv("BENCH_RUN", str(run))
        _common.section("start-up")
        _common.report("pyz --version / python -c pass", value, "<= 4", detail=f"{value * 20:.0f} ms")
    records, metas, failures = perf.read(jsonl)
    assert metas == failures == []
    assert [(r["section"], r["run"], r["value"], r["target"]) for r in records] == [
        ("start-up", 0, 3.0, "<= 4"), ("start-up", 1, 1.0, "<= 4"), ("start-up", 2, 2.0, "<= 4")]
    (row,) = perf.summarise(records)
    assert (row["median"], row["met"], row["detail"]) == (2.0, True, "40 ms")


def test_replace_drops_only_the_rerun_benches_earlier_figures(tmp_path: Path) -> None:
    """`run --only tracer --replace`: the tracer's old figures and failures go, the others stay."""
    perf = _load()
    jsonl = tmp_path / "bench.jsonl"
    failure = {"failure": {"bench": "bench_tracer", "run": 0, "exit": 1}}
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in FIGURES) + json.dumps(failure) + "\n"
                     + json.dumps({"meta": META}) + "\n")
    assert perf.run(0, jsonl, ["tracer"], replace=True) == 0  # zero rounds: only the dropping
    records, metas, failures = perf.read(jsonl)
    assert failures == []
    assert {r["bench"] for r in records} == {"bench_codec", "bench_sandbox", "bench_replay", "bench_growth"}
    assert len(records) == len([r for r in FIGURES if r["bench"] != "bench_tracer"])
    assert metas[0] == META and len(metas) == 2  # the earlier rounds' meta, and this (empty) one's
