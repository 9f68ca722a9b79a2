"""The xray browser (Textual), driven headless with Textual's pilot: open, move, open an
object, jump between its versions, quit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static

from skctl.trace import load
from skctl.trace.model import Trace, new_event
from skctl.xray.browser import XrayApp


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


def test_xray_opens_the_browser_on_a_terminal(reference_dir: Path, tmp_path: Path) -> None:
    """`skctl xray TRACE` on a terminal (a pseudo-terminal here) opens the browser (its title
    and key bindings drawn); q quits, exit 0."""
    import fcntl
    import os
    import pty
    import re
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="30")
    proc = subprocess.Popen(
        [sys.executable, "-m", "skctl", "xray", str(reference_dir / "cronjob.sktrace")],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, close_fds=True,
    )
    os.close(slave)
    seen = b""

    def screen_text() -> bytes:  # what the terminal shows, without control sequences
        return re.sub(rb"\x1b(\[[0-9;?$>]*[A-Za-z~]|[()][A-Z0-9]|[=>])", b"", seen)

    try:
        deadline = time.monotonic() + 120  # a bound on a hang, not a timing assertion
        while b"next version" not in screen_text() and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        assert b"skctl xray" in screen_text() and b"next version" in screen_text(), screen_text()[-2000:]
        os.write(master, b"q")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
