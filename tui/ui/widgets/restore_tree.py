"""The Restore screen's checkbox tree: the archive's items by section, with what this host has
now beside them (state, size in the archive, size here, what restoring it does to containers)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from tui.core.humanfmt import human_bytes
from tui.core.restore.plan import RestorePlan, RestoreSelection
from tui.ui.logic.restore_choice import SECTIONS, RestoreChoice, section_of
from tui.ui.logic.restore_text import effect_word, state_word
from tui.ui.logic.selection import CheckState
from tui.ui.widgets.check_tree import CheckTree

# (width of) state, size in the archive, size here now, effect on containers
COLUMNS = (("state", 8), ("archive", 9), ("here now", 9), ("", 9))


def column_header(width: int) -> Text:
    """The titles above the tree's columns, right-aligned like them."""
    cols = Text()
    for title, w in COLUMNS:
        cols.append(" " + title.rjust(w))
    text = Text("item".ljust(max(0, width - cols.cell_len)))
    text.append_text(cols)
    return text


class RestoreTree(CheckTree):
    """Rows carry item IDs (or section IDs); the RestoreChoice decides each box."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"restoretree--section", "restoretree--muted"}
    SECTION_CLASS = "restoretree--section"

    class Changed(Message):
        """The ticked set changed."""

    def __init__(self, *, id: str | None = None) -> None:
        self.choice: RestoreChoice | None = None
        self.plan: RestorePlan | None = None
        # Each item restored alone (for the last column); filled in by a worker.
        self.alone: dict[str, RestoreSelection] = {}
        self.measured = False  # sizes here are all known: "…" becomes "?" (unreadable)
        self.header: Static | None = None  # the column titles above, kept aligned on resize
        super().__init__(id=id)

    @property
    def model(self) -> RestoreChoice | None:
        return self.choice

    def section_state(self, ids: list[str]) -> CheckState:
        assert self.choice is not None
        return self.choice.group_state(ids, include_core=True)

    def populate(self, choice: RestoreChoice, filter_text: str = "") -> None:
        self.choice, self.plan = choice, choice.plan
        tops = [
            (i, [choice.by_id[k] for k in choice.children.get(i.id, [])])
            for i in choice.plan.items
            if i.id not in choice.parent
        ]
        cursor, needle = self.rebuild(SECTIONS, tops, section_of, filter_text, expand=True)
        target = self._rows.get(cursor or "")
        if needle and (target is None or (cursor or "").startswith("section:")):
            # Filtering looks for items: the first one shown, not a section.
            shown = self.visible_item_ids()
            target = self._rows[shown[0]] if shown else None
        # Reading last_line lays the new rows out, so the nodes know their line numbers (else
        # the cursor would land on line -1 and the screen would show another row's details).
        if self.last_line >= 0:
            self.move_cursor(target or self.root.children[0])

    def on_resize(self, _event: events.Resize) -> None:
        if self.header is not None:
            self.header.update(column_header(self.scrollable_content_region.width))

    def toggled_rows(self, item_id: str) -> set[str]:
        parent = self.choice.parent.get(item_id) if self.choice else None
        return super().toggled_rows(item_id) | ({parent} if parent else set())

    def row_columns(self, node: TreeNode[str]) -> list[tuple[Text, int]]:
        key = node.data or ""
        if self.choice is None or self.plan is None or not key or key.startswith("section:"):
            return []
        item = self.choice.by_id[key]
        muted = self.get_component_rich_style("restoretree--muted", partial=True)
        word, style = state_word(self.plan, item)
        if item.targets:
            archive = Text(human_bytes(item.size_archive.bytes))
            now = item.size_now
            here = (
                Text("-", style=muted)
                if item.status == "missing"
                else Text("?" if self.measured else "…", style=muted)
                if now is None
                else Text(human_bytes(now.bytes))
            )
        else:  # core/identity: it lives inside the database file
            archive, here = Text("-", style=muted), Text("-", style=muted)
        effect, effect_style = effect_word(self.alone.get(key), key)
        widths = [w for _, w in COLUMNS]
        return [
            (Text(word, style=style), widths[0]),
            (archive, widths[1]),
            (here, widths[2]),
            (Text(effect, style=effect_style), widths[3]),
        ]
