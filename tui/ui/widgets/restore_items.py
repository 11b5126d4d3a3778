"""The restore run's per-item list: one row per chosen item, its state and what it is doing.

A Static drawing a Rich table that always fits the width (the "now" column is cut with an
ellipsis), redrawn when a batch of events arrives: a few times a second at most.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.core.humanfmt import human_bytes
from tui.core.restore.plan import RestoreSelection
from tui.ui.widgets.item_progress import STATE_LOOK


class RestoreItems(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.order: list[str] = []
        self.sizes: dict[str, int] = {}
        self.states: dict[str, str] = {}
        self.details: dict[str, str] = {}
        self.active: str | None = None  # the item being worked on

    def set_selection(self, sel: RestoreSelection) -> None:
        for item in sel.items:
            self.order.append(item.id)
            self.sizes[item.id] = sum(t.size_archive.bytes for t in sel.targets[item.id])
            self.states[item.id] = "waiting"
            self.details[item.id] = ""
        self.update(self._table())

    def set_state(self, item_id: str, state: str, detail: str | None) -> None:
        """Call show() after a batch of these."""
        if item_id not in self.states:
            return
        if self.states[item_id] in ("done", "failed") and state == "waiting":
            return
        self.states[item_id] = state
        self.details[item_id] = detail or ""
        if state in ("stopping", "copying", "restarting"):
            self.active = item_id

    def show(self) -> None:
        self.update(self._table())

    def _table(self) -> Table:
        table = Table(expand=True, box=None, padding=(0, 1), show_edge=False, header_style="bold")
        table.add_column(" ", width=1, no_wrap=True)
        table.add_column("Item", ratio=2, no_wrap=True, overflow="ellipsis")
        table.add_column("State", width=10, no_wrap=True)
        table.add_column("Size", width=9, justify="right", no_wrap=True)
        table.add_column("Now", ratio=3, no_wrap=True, overflow="ellipsis")
        for item_id in self.order:
            state = self.states[item_id]
            mark, style = STATE_LOOK.get(state, ("?", ""))
            table.add_row(
                Text(mark, style=style),
                item_id,
                Text(state, style=style),
                human_bytes(self.sizes[item_id]),
                Text(self.details[item_id], style="red" if state == "failed" else "dim"),
            )
        return table
