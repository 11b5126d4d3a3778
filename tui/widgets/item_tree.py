"""The home screen's checkbox tree: Portal core items, apps with their mounts, unused volumes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets.tree import TreeNode

from ..core.model import Inventory, Item
from ..humanfmt import count, human_bytes
from ..selection import CheckState, Selection
from .column_tree import ColumnTree

SECTIONS = (("section:core", "Portal"), ("section:apps", "Apps"),
            ("section:volumes", "Unused volumes"))
BOXES: dict[CheckState, str] = {"on": "[x] ", "off": "[ ] ", "partial": "[-] "}
STATE_WORDS = {"exited": "stopped", "created": "stopped", "dead": "stopped",
               "no containers": "no containers", "unused": "unused"}
EXPAND_LIMIT = 15  # more apps than this start collapsed, so a big host stays readable


def state_word(item: Item) -> str:
    if item.id == "core/identity":
        return "PRIVATE KEY"
    state = item.state or ""
    if state.startswith("mixed: "):  # exited + created is still simply "stopped"
        words = {STATE_WORDS.get(s, s) for s in state[len("mixed: "):].split(", ")}
        return words.pop() if len(words) == 1 else "mixed"
    return STATE_WORDS.get(state, state)


def section_of(item: Item) -> str:
    if item.kind in ("core", "shared"):
        return "section:core"
    return "section:volumes" if item.kind == "volume" else "section:apps"


def matches(item: Item, needle: str) -> bool:
    return needle in item.id.lower() or needle in item.label.lower()


class ItemTree(ColumnTree[str]):
    """Rows carry item IDs (or section IDs); the Selection decides what each box shows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_check", "Toggle", show=True),
        Binding("enter", "toggle_check", "Toggle", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "itemtree--section", "itemtree--muted", "itemtree--key", "itemtree--running",
        "itemtree--paused", "itemtree--stopped", "itemtree--note",
    }

    class Changed(Message):
        """The checked set changed."""

    def __init__(self, *, id: str | None = None) -> None:
        self.selection: Selection | None = None
        self._rows: dict[str, TreeNode[str]] = {}
        super().__init__("items", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = False

    # ------------------------------------------------------------------ building

    def populate(self, inventory: Inventory, selection: Selection, filter_text: str = "") -> None:
        self.selection = selection
        cursor = self.cursor_node.data if self.cursor_node else None
        self.clear()
        self._rows = {}
        needle = filter_text.strip().lower()
        kids: dict[str, list[Item]] = {}
        for item in inventory.items:
            if item.parent:
                kids.setdefault(item.parent, []).append(item)
        sections = {key: self.root.add(Text(title), key, expand=True)
                    for key, title in SECTIONS}
        apps = [i for i in inventory.items if i.kind == "app"]
        expand = bool(needle) or len(apps) <= EXPAND_LIMIT
        for item in inventory.items:
            if item.parent:
                continue
            children = kids.get(item.id, [])
            shown = children if not needle or matches(item, needle) else [
                c for c in children if matches(c, needle)]
            if needle and not shown and not matches(item, needle):
                continue
            parent = sections[section_of(item)]
            if children:
                node = parent.add(Text(item.label), item.id, expand=expand)
                for child in shown:
                    self._rows[child.id] = node.add_leaf(Text(child.label), child.id)
            else:
                node = parent.add_leaf(Text(item.label), item.id)
            self._rows[item.id] = node
        for key, node in sections.items():
            if not node.children:
                node.remove()
            else:
                self._rows[key] = node
        target = self._rows.get(cursor or "") if cursor else None
        self.move_cursor(target or (self.root.children[0] if self.root.children else None))

    def visible_item_ids(self, node: TreeNode[str] | None = None) -> list[str]:
        """Item IDs of the rows under `node` (default: the whole tree) that the filter shows."""
        out: list[str] = []
        for child in (node or self.root).children:
            if child.data and not child.data.startswith("section:"):
                out.append(child.data)
            out.extend(self.visible_item_ids(child) if child.children else [])
        return out

    def refresh_rows(self, item_ids: set[str] | None = None) -> None:
        """Redraw rows (all, or these and their parents) after sizes or checks changed."""
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
        if node is None or node.data is None or self.selection is None:
            return
        if node.data.startswith("section:"):
            self.selection.toggle_group(self.visible_item_ids(node))
            self.refresh_rows()
        else:
            self.selection.toggle(node.data)
            # The row, its mounts, and (through refresh_rows) its app and section above it.
            self.refresh_rows({node.data, *self.selection.children.get(node.data, [])})
        self.post_message(self.Changed())

    # ------------------------------------------------------------------ drawing

    def _check_state(self, key: str) -> CheckState:
        assert self.selection is not None
        if key.startswith("section:"):
            node = self._rows.get(key)
            return self.selection.group_state(self.visible_item_ids(node) if node else [])
        return self.selection.state(key)

    def row_name(self, node: TreeNode[str]) -> Text:
        key = node.data or ""
        if self.selection is None or not key:
            return super().row_name(node)
        box = Text(BOXES[self._check_state(key)])
        if key.startswith("section:"):
            return Text.assemble(box, Text(str(node.label),
                                           style=self.get_component_rich_style(
                                               "itemtree--section", partial=True)))
        return Text.assemble(box, node.label if isinstance(node.label, Text)
                             else Text(str(node.label)))

    def row_columns(self, node: TreeNode[str]) -> list[tuple[Text, int]]:
        key = node.data or ""
        if self.selection is None or key.startswith("section:") or not key:
            return []
        item = self.selection.by_id[key]
        word = state_word(item)
        style_name = {"running": "itemtree--running", "paused": "itemtree--paused",
                      "stopped": "itemtree--stopped", "PRIVATE KEY": "itemtree--key"}.get(
            word, "itemtree--muted")
        state = Text(word, style=self.get_component_rich_style(style_name, partial=True))
        muted = self.get_component_rich_style("itemtree--muted", partial=True)
        if item.size is None:
            size, files = Text("…", style=muted), Text("", style=muted)
        else:
            size = Text(human_bytes(item.size.bytes))
            files = Text(f"{count(item.size.files)} file{'' if item.size.files == 1 else 's'}",
                         style=muted)
        return [(state, 11), (size, 9), (files, 12)]
