"""`skctl report show|diff`: summarise a simulation report, compare two, check SLO gates."""

from __future__ import annotations

import argparse
import sys

from skctl.base import messages
from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS
from skctl.cli.commands.flags import add_storage_option_flag


def slo_gate(text: str) -> object:
    """An `--slo` gate of one report (skctl.report.slo), parsed before anything runs."""
    from skctl.report.slo import parse

    return argtypes.checked(parse, text)


def slo_diff_gate(text: str) -> object:
    """An `--slo` gate of `report diff`: may name `baseline.` and `candidate.` metrics."""
    from skctl.report.slo import parse

    return argtypes.checked(lambda t: parse(t, diff=True), text)


def add_gate_flags(parser: argparse.ArgumentParser, diff: bool = False) -> None:
    """`--slo EXPR` (repeatable) and `--junit FILE`: shared by drive, report show and diff."""
    example = "candidate.pod_startup_p99<=1.1*baseline.pod_startup_p99" if diff else "pod_startup_p99<=5s"
    parser.add_argument("--slo", action="append", default=[], metavar="EXPR",
                        type=slo_diff_gate if diff else slo_gate,
                        help=f"a gate the report must pass, e.g. {example} (repeatable; see docs/report.md); "
                        "a violated gate exits 1")
    parser.add_argument("--junit", metavar="FILE", help="write the gates' results as JUnit XML to FILE (or URL)")


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        parents=[parent],
        help=COMMANDS["report"],
        description="Read the report a replay wrote (`skctl drive --report DEST`): `show` summarises one, `diff` "
        "compares a baseline run with a candidate run metric by metric. Both check --slo gates (exit 1 on a "
        "violation) and write their results as JUnit XML with --junit. See docs/report.md.",
    )
    actions = p.add_subparsers(dest="report_action", metavar="ACTION", parser_class=type(p), required=True)
    show = actions.add_parser("show", parents=[parent], help="summarise a report",
                              description="Print the summary of a report (report.json, or the directory holding it).")
    show.add_argument("report", metavar="REPORT", help="report.json, its directory, or its URL")
    show.add_argument("--json", action="store_true", help="print the metrics (and gate results) as JSON")
    add_gate_flags(show)
    add_storage_option_flag(show)
    diff = actions.add_parser("diff", parents=[parent], help="compare a baseline report with a candidate",
                              description="Every metric of two reports side by side with its change and a verdict "
                              "(better, worse, same within 5% or half a point for shares, changed). --html writes a page with both runs' time "
                              "series overlaid.")
    diff.add_argument("baseline", metavar="BASELINE", help="the baseline run's report")
    diff.add_argument("candidate", metavar="CANDIDATE", help="the candidate run's report")
    diff.add_argument("--json", action="store_true", help="print the comparison (and gate results) as JSON")
    diff.add_argument("--html", metavar="FILE", help="write the comparison page (series overlaid) to FILE (or URL)")
    add_gate_flags(diff, diff=True)
    add_storage_option_flag(diff)
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from skctl import storage
    from skctl.report import document, gates, summary
    from skctl.report.diff import compare

    options = storage.parse_storage_options(args.storage_option)
    for path in (args.junit, getattr(args, "html", None)):
        if path:
            storage.check_destination(path, options)
    if args.report_action == "show":
        doc = document.read(args.report, options)
        runs = {"candidate": doc["metrics"]}
        results = gates.evaluate_all(args.slo, runs)
        if args.json:
            print(json.dumps({"metrics": doc["metrics"], "complete": doc["complete"],
                              "gates": gates.as_json(results)}, indent=1))
        else:
            print("\n".join(summary.report_lines(doc)))
    else:
        base = document.read(args.baseline, options)
        cand = document.read(args.candidate, options)
        rows = compare(base, cand)
        results = gates.evaluate_all(args.slo, {"baseline": base["metrics"], "candidate": cand["metrics"]})
        if args.json:
            print(json.dumps({"rows": rows, "gates": gates.as_json(results)}, indent=1))
        else:
            print("\n".join(summary.diff_lines(rows)))
        if args.html:
            from skctl.report.html import render_diff

            storage.write_bytes(args.html, render_diff(base, cand, rows).encode(), options)
            from skctl.base.text import printable

            print(printable(messages.REPORT_DIFF_WRITTEN.format(html=args.html)), file=sys.stderr if args.json else sys.stdout)
    return finish_gates(results, args.junit, options, quiet=args.json)


def finish_gates(results: list, junit: str | None, options: dict, quiet: bool = False) -> int:
    """Print the gates' outcomes (one stderr line per violation), write --junit; 1 if any failed."""
    from skctl.report import gates, summary

    if junit:
        gates.write_junit(results, junit, options)
    out, err = summary.gate_lines(results)
    if not quiet and out:
        print("\n".join(out))
    for line in err:
        print(line, file=sys.stderr)
    return 1 if err else 0
