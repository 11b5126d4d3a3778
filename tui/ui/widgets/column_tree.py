"""A Tree whose rows end in right-aligned columns (sizes, states), like a file manager's list.

Textual's Tree draws one label per row; this pads each label to the widget's width so the
columns line up at every depth and every terminal size, truncating the name instead of the
numbers (in its middle, so its end stays readable) when space runs short.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.ui.logic.shorten import shorten_middle_text

T = TypeVar("T")


class ColumnTree(Tree[T], Generic[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,plus", "expand", "Expand", show=False),
        Binding("left,minus", "collapse", "Collapse", show=False),
    ]
    DEFAULT_CSS = """
    ColumnTree {
        scrollbar-gutter: stable;
    }
    """

    NAME_KEEP: ClassVar[int] = 0  # leading characters of a name never cut (a checkbox)

    # The screen's filter box: "/" focuses it here, at once. Bindings run only after a key
    # has bubbled up to the App, by which time the keys typed after "/" would be gone.
    filter_input: Widget | None = None

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if event.character == "/" and self.filter_input is not None and focused is self:
            event.stop()
            event.prevent_default()
            self.screen.set_focus(self.filter_input)
            return
        if focused is not None and focused is not self:
            # Typed ahead of a focus change ("/" and the filter text in one burst, as a fast
            # typist or a paste over SSH sends it): the key belongs to the new focus.
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        await super()._on_key(event)

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        """Collapse an open folder, or go up to the parent of anything else."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # Columns are (text, width); subclasses fill them in.
    def row_name(self, node: TreeNode[T]) -> Text:
        return node.label.copy() if isinstance(node.label, Text) else Text(str(node.label))

    def row_columns(self, node: TreeNode[T]) -> list[tuple[Text, int]]:
        return []

    def _row_depth(self, node: TreeNode[T]) -> int:
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        return depth + (1 if self.show_root and node is not self.root else 0)

    def render_label(self, node: TreeNode[T], base_style: Style, style: Style) -> Text:
        if node.allow_expand:
            prefix = Text(
                self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE, style=base_style
            )
        else:
            prefix = Text("  " if self._row_depth(node) == 0 else "", style=base_style)
        name = self.row_name(node)
        columns = Text()
        columns_width = 0
        for text, width in self.row_columns(node):
            text = text.copy()
            text.truncate(width, overflow="ellipsis")
            text.pad_left(width - text.cell_len)
            columns.append(" ")
            columns.append_text(text)
            columns_width += width + 1
        content_width = self.scrollable_content_region.width
        if content_width > 0:
            guides = self._row_depth(node) * self.guide_depth
            room = max(4, content_width - guides - prefix.cell_len - columns_width - 1)
            # Cut in the middle: sibling paths differ at their end.
            name = shorten_middle_text(name, room, keep=self.NAME_KEEP)
            name.truncate(room, pad=True)
        label = Text.assemble(prefix, name, columns)
        label.stylize(style)
        return label
