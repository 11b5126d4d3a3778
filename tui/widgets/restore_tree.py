"""The Restore screen's checkbox tree: the archive's items by section, with what this host has
now beside them (state, size in the archive, size here, what restoring it does to containers)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from ..core.restore_plan import RestorePlan, RestoreSelection
from ..humanfmt import human_bytes
from ..restore_choice import SECTIONS, RestoreChoice, section_of
from ..restore_text import effect_word, state_word
from .column_tree import ColumnTree
from .item_tree import BOXES

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


def matches(item_id: str, label: str, needle: str) -> bool:
    return needle in item_id.lower() or needle in label.lower()


class RestoreTree(ColumnTree[str]):
    """Rows carry item IDs (or section IDs); the RestoreChoice decides each box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_check", "Toggle", show=True),
        Binding("enter", "toggle_check", "Toggle", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"restoretree--section", "restoretree--muted"}

    class Changed(Message):
        """The ticked set changed."""

    def __init__(self, *, id: str | None = None) -> None:
        self.choice: RestoreChoice | None = None
        self.plan: RestorePlan | None = None
        # Each item restored alone (for the last column); filled in by a worker.
        self.alone: dict[str, RestoreSelection] = {}
        self.measured = False  # sizes here are all known: "…" becomes "?" (unreadable)
        self.header: Static | None = None  # the column titles above, kept aligned on resize
        self._rows: dict[str, TreeNode[str]] = {}
        super().__init__("items", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = False

    def populate(self, choice: RestoreChoice, filter_text: str = "") -> None:
        self.choice, self.plan = choice, choice.plan
        cursor = self.cursor_node.data if self.cursor_node else None
        self.clear()
        self._rows = {}
        needle = filter_text.strip().lower()
        sections = {key: self.root.add(Text(title), key, expand=True) for key, title in SECTIONS}
        for item in choice.plan.items:
            if item.id in choice.parent:
                continue
            kids = [choice.by_id[k] for k in choice.children.get(item.id, [])]
            shown = kids if not needle or matches(item.id, item.label, needle) else [
                k for k in kids if matches(k.id, k.label, needle)]
            if needle and not shown and not matches(item.id, item.label, needle):
                continue
            parent = sections[section_of(item)]
            if kids:
                node = parent.add(Text(item.label), item.id, expand=True)
                for kid in shown:
                    self._rows[kid.id] = node.add_leaf(Text(kid.label), kid.id)
            else:
                node = parent.add_leaf(Text(item.label), item.id)
            self._rows[item.id] = node
        for key, node in sections.items():
            if node.children:
                self._rows[key] = node
            else:
                node.remove()
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

    def visible_item_ids(self, node: TreeNode[str] | None = None) -> list[str]:
        out: list[str] = []
        for child in (node or self.root).children:
            if child.data and not child.data.startswith("section:"):
                out.append(child.data)
            out.extend(self.visible_item_ids(child) if child.children else [])
        return out

    def node_for(self, item_id: str) -> TreeNode[str] | None:
        return self._rows.get(item_id)

    def refresh_rows(self, item_ids: set[str] | None = None) -> None:
        if item_ids is None:
            for node in self._rows.values():
                node.refresh()
            return
        for item_id in item_ids:
            node = self._rows.get(item_id)
            while node is not None and node is not self.root:
                node.refresh()
                node = node.parent

    # ------------------------------------------------------------------ actions

    def action_toggle_check(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None or self.choice is None:
            return
        if node.data.startswith("section:"):
            self.choice.toggle_group(self.visible_item_ids(node))
            self.refresh_rows()
        else:
            self.choice.toggle(node.data)
            parent = self.choice.parent.get(node.data)
            self.refresh_rows({node.data, *self.choice.children.get(node.data, []),
                               *([parent] if parent else [])})
        self.post_message(self.Changed())

    # ------------------------------------------------------------------ drawing

    def row_name(self, node: TreeNode[str]) -> Text:
        key = node.data or ""
        if self.choice is None or not key:
            return super().row_name(node)
        if key.startswith("section:"):
            state = self.choice.group_state(self.visible_item_ids(self._rows.get(key)),
                                            include_core=True)
            return Text.assemble(BOXES[state], Text(str(node.label), style=(
                self.get_component_rich_style("restoretree--section", partial=True))))
        label = node.label if isinstance(node.label, Text) else Text(str(node.label))
        return Text.assemble(BOXES[self.choice.state(key)], label)

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
            here = (Text("-", style=muted) if item.status == "missing" else
                    Text("?" if self.measured else "…", style=muted) if now is None
                    else Text(human_bytes(now.bytes)))
        else:  # core/identity: it lives inside the database file
            archive, here = Text("-", style=muted), Text("-", style=muted)
        effect, effect_style = effect_word(self.alone.get(key), key)
        widths = [w for _, w in COLUMNS]
        return [(Text(word, style=style), widths[0]), (archive, widths[1]), (here, widths[2]),
                (Text(effect, style=effect_style), widths[3])]
