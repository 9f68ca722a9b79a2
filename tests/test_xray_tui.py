"""The xray browser (Textual), driven headless with Textual's pilot: open, move, open an
object, jump between its versions, quit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static

from skctl.trace import load
from skctl.trace.model import Trace, new_event
from skctl.xray_tui import XrayApp


def content(app: XrayApp, widget_id: str) -> str:
    value = app.query_one(widget_id, Static).content
    assert isinstance(value, Text)  # never a markup string
    return value.plain


def test_browse_reference_trace(reference_dir: Path) -> None:
    trace, _ = load.decode_any((reference_dir / "dsb-scaling.sktrace").read_bytes())

    async def drive() -> None:
        app = XrayApp(trace, "dsb-scaling.sktrace")
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one("#events", DataTable)
            assert table.row_count == 46  # every object mention: 27 at the start, then 19 scalings
            assert content(app, "#object") == "Enter opens the highlighted object"
            # row 27 is the 28th mention: event 2, social-graph-service scaled 1 -> 3
            for _ in range(27):
                await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()
            assert app.opened == 27
            yaml_text = content(app, "#object")
            assert "  name: social-graph-service\n" in yaml_text and "  replicas: 3\n" in yaml_text
            diff = content(app, "#diff").splitlines()
            assert diff[:2] == [
                "--- dsb/social-graph-service @ 2024-03-19T23:48:58Z (event 1, applied)",
                "+++ dsb/social-graph-service @ 2024-03-19T23:56:01Z (event 2, applied)",
            ]
            assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
                "-  replicas: 1",
                "+  replicas: 3",
            ]
            await pilot.press("n")  # the same Deployment's next version: scaled back to 1 at event 9
            await pilot.pause()
            assert app.opened is not None and app.rows[app.opened]["event"] == 9
            assert table.cursor_row == app.opened
            assert "+  replicas: 1" in content(app, "#diff").splitlines()
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(drive())


def test_marks_column_and_escaped_strings() -> None:
    evil = "[b]x[/b]\x1b[31m"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns", "name": evil}, "spec": {}}
    trace = Trace(events=[new_event(5, [pod]), new_event(6, [], [pod])])

    async def drive() -> None:
        app = XrayApp(trace, "t", marks={(0, 0): ["W0000"]})
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#events", DataTable)
            assert [str(c.label) for c in table.columns.values()][-1] == "marks"
            assert table.get_row_at(0)[-1].plain == "W0000"
            assert table.get_row_at(0)[5].plain == "ns/[b]x[/b]\\x1b[31m"
            await pilot.press("enter")
            await pilot.pause()
            assert "name: \"[b]x[/b]\\e[31m\"" in content(app, "#object")
            assert content(app, "#diff").startswith("--- /dev/null\n")
            await pilot.press("q")

    asyncio.run(drive())
