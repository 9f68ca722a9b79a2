"""`skctl demo`: record → export → xray → run --dry-run → replay → compare, no cluster needed.

The loop is skctl.demo.pipeline.run_demo; this module parses the flags and shows its progress: a
live bar on a terminal, a plain line per step otherwise (logs, tests, CI).
"""

from __future__ import annotations

import argparse

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: command modules load on every start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from rich.progress import Progress, TaskID

    from skctl.demo.pipeline import DemoView
    from skctl.export import ExportResult
    from skctl.sim.driver import DriveResult, StepRecord
    from skctl.sim.runner import ReplayPlan


def demo_seconds(text: str) -> float:
    """`skctl demo --seconds`: a duration (`20`, `90s`, `2m`) from 1 s to skctl.demo.pipeline.MAX_SECONDS."""
    from skctl.base.timeparse import parse_duration
    from skctl.demo.pipeline import MAX_SECONDS

    try:
        value = parse_duration(text)
    except InputError:
        value = -1.0
    if not 1 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(messages.DEMO_BAD_SECONDS.format(value=text, max=f"{MAX_SECONDS / 60:g}m"))
    return value


def demo_keep(text: str) -> str:
    """`skctl demo --keep DIR`: a directory name; an empty one (`--keep ''`, an unset
    variable) is refused rather than taken as the current directory (what the directory
    holds is checked when the demo starts)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(messages.DEMO_KEEP_EMPTY)
    return text


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.demo import pipeline as demo  # constants only; the sandboxes and the tracer load in run()

    p = sub.add_parser("demo", parents=[parent], help=COMMANDS["demo"], description=messages.DEMO_DESCRIPTION)
    p.add_argument("--seconds", type=demo_seconds, default=demo.DEFAULT_SECONDS, metavar="N",
                   help=f"how long to record the production workload, e.g. 20, 90s, 2m; at most "
                   f"{demo.MAX_SECONDS / 60:g}m (default: {demo.DEFAULT_SECONDS:g})")
    p.add_argument("--speed", type=argtypes.speed, default=demo.DEFAULT_SPEED, metavar="X",
                   help="replay speed-up factor, as skctl drive --speed (default: %(default)g)")
    p.add_argument("--keep", type=demo_keep, metavar="DIR",
                   help="keep the trace, journal, kubeconfigs, tracer config and manifests in DIR (new, empty, "
                   "or made by an earlier demo); default: a temporary directory, removed at the end")
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from skctl.demo.pipeline import DemoOptions, run_demo

    view = _View(sys.stdout.isatty())
    try:
        result = run_demo(DemoOptions(seconds=args.seconds, speed=args.speed, keep=args.keep), view)
    finally:
        view.close()
    if result.kept:
        from skctl.base.text import printable

        print(printable(messages.DEMO_KEPT.format(path=result.workdir)), flush=True)
    return 0


def _View(tty: bool) -> DemoView:  # noqa: N802 - a class made on demand: skctl.demo.pipeline loads only in run()
    """The terminal view: headings per step, the export line, xray's tables, the manifests,
    the replay (a live bar on a terminal, a line per event otherwise) and the comparison."""
    from rich.text import Text

    from skctl.base.text import printable_lines
    from skctl.base.timeparse import iso
    from skctl.cli.commands.xray import render
    from skctl.cli.output import console, safe_text
    from skctl.demo.compare import DELETES, OBJECTS, VERSIONS, Comparison
    from skctl.demo.pipeline import DemoView
    from skctl.sim.timing import format_number

    out = console()

    def say(text: str | Text) -> None:
        """One line, never wrapped (it greps, and a log keeps it whole); text from the user or
        a trace is passed as a safe Text."""
        out.print(text, soft_wrap=True)

    class View(DemoView):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task: TaskID | None = None
            self.shown_second = -1
            self.applied = 0
            self.deleted = 0
            self.worst = 0.0

        def heading(self, text: str) -> None:
            out.print()
            out.rule(safe_text(text, "bold"), align="left")

        def bar(self, description: str, total: float) -> None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.close()
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                                     TimeElapsedColumn(), console=out, transient=False)
            self.progress.start()
            self.task = self.progress.add_task(description, total=total, detail="")

        def close(self) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

        def started(self, production_url: str, simulation_url: str, workdir: Path, kept: bool) -> None:
            say(f"production  {production_url}  (workload: Deployments scaling and rolling out, a CronJob "
                      "spawning Jobs, bare pods, a Volcano-like custom resource)")
            say(f"simulation  {simulation_url}")
            say(safe_text(f"files       {workdir}" + ("" if kept else "  (temporary, removed at the end)")))

        def recording(self, elapsed: float, seconds: float, status: dict[str, Any]) -> None:
            if self.shown_second < 0:
                self.heading(f"1. record production for {seconds:g}s (skctl trace)")
                if tty:
                    self.bar("recording", seconds)
            self.shown_second = max(self.shown_second, 0)
            detail = f"{status['events']} events, {status['live_objects']} live objects"
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=min(elapsed, seconds), detail=detail)
            elif int(elapsed) > self.shown_second:
                self.shown_second = int(elapsed)
                say(f"recording {min(elapsed, seconds):.0f}/{seconds:g}s: {detail}")

        def recorded(self, status: dict[str, Any]) -> None:
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=self.progress.tasks[0].total)
            self.close()
            kinds = ", ".join(f"{g} {n}" for g, n in sorted(status["events_per_kind"].items())) or "none"
            say(safe_text(messages.DEMO_RECORDED.format(changes=status["events"], kinds=kinds)))

        def exported(self, result: ExportResult, path: Path) -> None:
            self.heading("2. export the window (skctl export)")
            say(safe_text(messages.EXPORT_DONE.format(
                events=result.events, objects=result.objects, owners=result.owners, start=iso(result.start_ts),
                end=iso(result.end_ts), url=result.destination, size=result.size, fmt=result.fmt)))
            say(messages.DEMO_EVENTS_ARE_SECONDS)

        def xray(self, report: dict[str, Any], url: str) -> None:
            self.heading("3. what the trace holds (skctl xray --no-browse)")
            render(report, url)

        def manifests(self, text: str, path: Path, kept: bool) -> None:
            self.heading("4. what skctl run --dry-run would apply to a kind + KWOK cluster")
            if not kept:
                say(messages.DEMO_MANIFESTS_TEMPORARY)
            say(Text(printable_lines(text.rstrip("\n"))))

        def replay_started(self, plan: ReplayPlan, speed: float) -> None:
            self.heading(f"5. replay on the simulation at speed {format_number(speed)} (skctl drive)")
            say(messages.DRIVE_START.format(name="demo", events=len(plan.steps), span=plan.span,
                                                  speed=format_number(speed), wall=plan.wall))
            if tty:
                self.bar("replaying", len(plan.steps))

        def replay_step(self, record: StepRecord, total: int) -> None:
            self.applied += len(record.applied)
            self.deleted += len(record.deleted)
            self.worst = max(self.worst, record.lateness)
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, advance=1, detail=f"{self.applied} applied, {self.deleted} deleted, "
                                     f"late at most {self.worst * 1000:.0f} ms")
                return
            late = max(0.0, record.lateness) * 1000
            say(f"event {record.index + 1}/{total} (ts {record.ts}): applied {len(record.applied)}, "
                      f"deleted {len(record.deleted)}, {late:.0f} ms late")

        def replay_done(self, result: DriveResult) -> None:
            self.close()
            say(messages.DRIVE_DONE.format(name="demo", events=result.events, applied=result.applies,
                                                 deleted=result.deletes))

        def compared(self, comparison: Comparison) -> None:
            from rich import box
            from rich.table import Table

            self.heading("6. recorded in production vs applied in the simulation")
            table = Table(box=box.SIMPLE_HEAD)
            for column in ("", "kind", "recorded", "simulation", ""):
                table.add_column(column, justify="left" if column in ("", "kind") else "right")
            titles = {OBJECTS: "objects", VERSIONS: "versions", DELETES: "deletes"}
            last = None
            for row in comparison.rows:
                table.add_row(titles[row.section] if row.section != last else "", safe_text(row.gvk),
                              str(row.recorded), str(row.simulated), "ok" if row.matches else "DIFFERS")
                last = row.section
            out.print(table)
            if comparison.lifecycles:  # shown, not compared (docs/getting-started.md)
                say(messages.DEMO_LIFECYCLES_NOT_COMPARED)
                for gvk, count in comparison.lifecycles.items():
                    say(safe_text(f"  {gvk}: {count}"))
            for failure in comparison.failures:
                say(safe_text(f"replay failure: {failure}"))
            if comparison.ok:
                say(messages.DEMO_MATCH.format(objects=comparison.total(OBJECTS), versions=comparison.total(VERSIONS),
                                               deletes=comparison.total(DELETES)))

    return View()
