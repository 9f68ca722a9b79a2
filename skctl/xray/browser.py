"""`skctl xray` on a terminal: an interactive trace browser built on Textual.

Left, every object mention of the trace (skctl.xray.activity.event_rows), with the
validation marks column when marks are given; right, for the row opened with Enter, the
object as recorded at that point and the unified diff from its previous version. All the
facts come from skctl.xray.activity; this module only lays them out. Textual is imported
only here, and this module only when the browser runs, so start-up stays fast.

Keys: arrows/PgUp/PgDn move, Enter opens the object, n/p jump to the same object's
next/previous version, Tab switches pane, q quits.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from skctl.base.text import printable, printable_lines
from skctl.trace.model import Trace
from skctl.xray import activity

DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(lines: list[str]) -> Text:
    """A unified diff as one rich Text, coloured by line kind, trace strings escaped."""
    text = Text()
    for line in lines:
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        text.append(printable(line) + "\n", style=style)
    return text


class XrayApp(App[None]):
    """Events on the left; the opened object and its diff to the previous version on the right."""

    TITLE = "skctl xray"
    CSS = """
    #events { width: 3fr; }
    #detail { width: 2fr; }
    #object-pane, #diff-pane { height: 1fr; border: round $primary; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("q", "quit", "quit"),
        Binding("n", "same_object(1)", "next version"),
        Binding("p", "same_object(-1)", "previous version"),
    ]

    def __init__(self, trace: Trace, url: str, marks: activity.Marks = activity.NO_MARKS) -> None:
        super().__init__()
        self.trace = trace
        self.url = url
        self.rows = activity.event_rows(trace, marks)
        self.previous = activity.previous_rows(self.rows)
        self.show_marks = any(row["marks"] for row in self.rows)
        self.opened: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
            with Vertical(id="detail"):
                with VerticalScroll(id="object-pane"):
                    yield Static(Text("Enter opens the highlighted object"), id="object")
                with VerticalScroll(id="diff-pane"):
                    yield Static(Text(""), id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = printable(self.url)
        table = self.query_one("#events", DataTable)
        columns = ["event", "time", "+s", "action", "GVK", "object"] + (["marks"] if self.show_marks else [])
        table.add_columns(*columns)
        for i, row in enumerate(self.rows):
            cells = [str(row["event"]), row["time"], str(row["offset_seconds"]), row["action"], printable(row["gvk"]), printable(row["object"])]
            if self.show_marks:
                cells.append(", ".join(map(printable, row["marks"])))
            table.add_row(*(Text(cell) for cell in cells), key=str(i))
        self.query_one("#object-pane").border_title = "object"
        self.query_one("#diff-pane").border_title = "diff to previous version"
        table.focus()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.open_row(int(str(message.row_key.value)))

    def open_row(self, index: int) -> None:
        """Show row `index`'s object as recorded and its diff to the object's previous version."""
        row = self.rows[index]
        before_index = self.previous[index]
        before = self.rows[before_index] if before_index is not None else None
        self.opened = index
        self.query_one("#object-pane").border_title = printable(
            f"{row['gvk']} {row['object']} @ {row['time']} (event {row['event']}, {row['action']})"
        )
        self.query_one("#object", Static).update(Text(printable_lines(activity.object_yaml(activity.row_object(self.trace, row)))))
        self.query_one("#diff-pane").border_title = (
            "diff to previous version" if before is not None else "first version (diff to nothing)"
        )
        self.query_one("#diff", Static).update(diff_text(activity.mention_diff(self.trace, row, before)))

    def action_same_object(self, step: int) -> None:
        """Jump to the next (1) or previous (-1) version of the opened object, and open it."""
        if self.opened is None:
            return
        key = (self.rows[self.opened]["gvk"], self.rows[self.opened]["object"])
        i = self.opened + step
        while 0 <= i < len(self.rows):
            if (self.rows[i]["gvk"], self.rows[i]["object"]) == key:
                self.query_one("#events", DataTable).move_cursor(row=i)
                self.open_row(i)
                return
            i += step
