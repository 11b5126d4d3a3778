"""The progress screen's per-item list: one row per plan step, its state and size."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.core.humanfmt import human_bytes
from tui.core.model import Inventory
from tui.core.plan import Plan

# state -> (mark, style); plain characters and ANSI colour names work in 16 colours.
STATE_LOOK: dict[str, tuple[str, str]] = {
    "waiting": ("·", "dim"),
    "stopping": ("■", "yellow"),
    "pausing": ("■", "yellow"),
    "copying": ("▶", "bold cyan"),
    "restarting": ("↻", "yellow"),
    "done": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "cancelled": ("-", "yellow"),
}


def visible_item_count(plan: Plan) -> int:
    """Items as the home screen counts them: an app with all its mounts is one item."""
    ids = {i.id for i in plan.items}
    return sum(1 for i in plan.items if not (i.parent and i.parent in ids))


def step_size(plan_step_ids: list[str], inventory: Inventory) -> int | None:
    """A step's first item holds it all (an app its mounts, the database the identity); only
    a partly selected app, whose step lists just some mounts, is a sum."""
    items = [inventory.get(i) for i in plan_step_ids]
    head = items[0]
    chosen = items if head is not None and head.kind == "mount" else [head]
    if any(i is None or i.size is None for i in chosen):
        return None
    return sum(i.size.bytes for i in chosen if i is not None and i.size is not None)


class ItemProgress(DataTable[Text]):
    """Rows keyed by each step's first item ID; events for any ID of a step land on its row."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=False)
        self._row_of: dict[str, str] = {}
        self.states: dict[str, str] = {}

    def set_plan(self, plan: Plan, inventory: Inventory) -> None:
        self.add_column(" ", key="mark", width=1)
        self.add_column("Item", key="item")
        self.add_column("State", key="state", width=10)  # fits "restarting", "cancelled"
        self.add_column("Size", key="size", width=9)
        for step in plan.steps:
            key = step.item_ids[0]
            for item_id in step.item_ids:
                self._row_of[item_id] = key
            item = inventory.get(key)
            label = item.id if item is not None else step.label
            if len(step.item_ids) > 1 and item is not None and item.kind == "mount":
                label += f" (+{len(step.item_ids) - 1} mounts)"
            size = step_size(step.item_ids, inventory)
            self.states[key] = "waiting"
            mark, style = STATE_LOOK["waiting"]
            self.add_row(
                Text(mark, style=style),
                Text(label),
                Text("waiting", style=style),
                Text(human_bytes(size) if size is not None else "…", justify="right"),
                key=key,
            )

    def set_state(self, item_id: str, state: str) -> None:
        key = self._row_of.get(item_id)
        if key is None or self.states.get(key) == state:
            return
        if self.states.get(key) in ("done", "failed", "cancelled") and state == "waiting":
            return
        self.states[key] = state
        mark, style = STATE_LOOK.get(state, ("?", ""))
        self.update_cell(key, "mark", Text(mark, style=style))
        self.update_cell(key, "state", Text(state, style=style))
        if state in ("stopping", "pausing", "copying"):
            self.move_cursor(row=self.get_row_index(key))
