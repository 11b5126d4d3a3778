"""A ColumnTree of checkboxes: rows keyed by item ID under section rows ("section:..."), each
box drawn from a checked-set model (a Selection or a RestoreChoice)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Protocol, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.ui.logic.selection import CheckSet, CheckState
from tui.ui.widgets.column_tree import ColumnTree

BOXES: dict[CheckState, str] = {"on": "[x] ", "off": "[ ] ", "partial": "[-] "}


class Row(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def label(self) -> str: ...


R = TypeVar("R", bound=Row)


def matches(item_id: str, label: str, needle: str) -> bool:
    return needle in item_id.lower() or needle in label.lower()


class CheckTree(ColumnTree[str]):
    """Subclasses give `model`, `section_state` and the component class of section names."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_check", "Toggle", show=True),
        Binding("enter", "toggle_check", "Toggle", show=False),
    ]
    SECTION_CLASS: ClassVar[str]
    NAME_KEEP = len(BOXES["on"])  # a long name is cut in its middle, never its box

    class Changed(Message):
        """The checked set changed (each subclass names its own, for its handler name)."""

    def __init__(self, *, id: str | None = None) -> None:
        self._rows: dict[str, TreeNode[str]] = {}
        super().__init__("items", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = False

    @property
    def model(self) -> CheckSet | None:
        raise NotImplementedError

    def section_state(self, ids: list[str]) -> CheckState:
        raise NotImplementedError

    # ------------------------------------------------------------------ building

    def rebuild(
        self,
        sections: Sequence[tuple[str, str]],
        tops: Iterable[tuple[R, list[R]]],
        section_of: Callable[[R], str],
        filter_text: str,
        expand: bool,
    ) -> tuple[str | None, str]:
        """Rows for (item, its children) pairs under their sections, those the filter keeps;
        returns the cursor's row key before and the filter's needle."""
        cursor = self.cursor_node.data if self.cursor_node else None
        self.clear()
        self._rows = {}
        needle = filter_text.strip().lower()
        nodes = {key: self.root.add(Text(title), key, expand=True) for key, title in sections}
        for item, kids in tops:
            shown = (
                kids
                if not needle or matches(item.id, item.label, needle)
                else [k for k in kids if matches(k.id, k.label, needle)]
            )
            if needle and not shown and not matches(item.id, item.label, needle):
                continue
            parent = nodes[section_of(item)]
            if kids:
                node = parent.add(Text(item.label), item.id, expand=expand)
                for kid in shown:
                    self._rows[kid.id] = node.add_leaf(Text(kid.label), kid.id)
            else:
                node = parent.add_leaf(Text(item.label), item.id)
            self._rows[item.id] = node
        for key, node in nodes.items():
            if node.children:
                self._rows[key] = node
            else:
                node.remove()
        return cursor, needle

    def visible_item_ids(self, node: TreeNode[str] | None = None) -> list[str]:
        """Item IDs of the rows under `node` (default: the whole tree) that the filter shows."""
        out: list[str] = []
        for child in (node or self.root).children:
            if child.data and not child.data.startswith("section:"):
                out.append(child.data)
            out.extend(self.visible_item_ids(child) if child.children else [])
        return out

    def node_for(self, item_id: str) -> TreeNode[str] | None:
        return self._rows.get(item_id)

    def refresh_rows(self, item_ids: set[str] | None = None) -> None:
        """Redraw rows (all, or these and their parents) after sizes or checks changed."""
        if item_ids is None:
            for row in self._rows.values():
                row.refresh()
            return
        for item_id in item_ids:
            node = self._rows.get(item_id)
            while node is not None and node is not self.root:
                node.refresh()
                node = node.parent

    # ------------------------------------------------------------------ actions

    def toggled_rows(self, item_id: str) -> set[str]:
        """The rows to redraw after toggling this one (refresh_rows adds their parents)."""
        model = self.model
        return {item_id, *(model.children.get(item_id, []) if model else [])}

    def action_toggle_check(self) -> None:
        node = self.cursor_node
        model = self.model
        if node is None or node.data is None or model is None:
            return
        if node.data.startswith("section:"):
            ids = self.visible_item_ids(node)
            if ids and not any(model.in_groups(i) for i in ids):
                self.notify(model.why_not(ids[0]) or "Nothing here can be ticked.")
                return
            model.toggle_group(ids)
            self.refresh_rows()
        else:
            reason = model.why_not(node.data)
            if reason is not None:  # ticking it would only fail later, after b
                self.notify(reason, severity="warning")
                return
            model.toggle(node.data)
            self.refresh_rows(self.toggled_rows(node.data))
        self.post_message(self.Changed())

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        """A click on a row (the box or the name) toggles it, as mouse users expect.

        Textual's Tree selects the clicked row; enter is bound to the toggle here, so this
        message only comes from clicks. A click on the expand arrow only expands."""
        event.stop()
        self.action_toggle_check()

    # ------------------------------------------------------------------ drawing

    def row_name(self, node: TreeNode[str]) -> Text:
        key = node.data or ""
        model = self.model
        if model is None or not key:
            return super().row_name(node)
        if key.startswith("section:"):
            row = self._rows.get(key)
            state = self.section_state(self.visible_item_ids(row) if row else [])
            return Text.assemble(
                BOXES[state],
                Text(
                    str(node.label),
                    style=(self.get_component_rich_style(self.SECTION_CLASS, partial=True)),
                ),
            )
        label = node.label if isinstance(node.label, Text) else Text(str(node.label))
        return Text.assemble(BOXES[model.state(key)], label)
