"""The home screen's checkbox tree: Portal core items, apps with their mounts, unused volumes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.widgets.tree import TreeNode

from tui.core.humanfmt import count, human_bytes
from tui.core.model import Inventory, Item
from tui.ui.logic.selection import CheckState, Selection
from tui.ui.widgets.check_tree import CheckTree

SECTIONS = (
    ("section:core", "Portal"),
    ("section:apps", "Apps"),
    ("section:volumes", "Unused volumes"),
)
STATE_WORDS = {
    "exited": "stopped",
    "created": "stopped",
    "dead": "stopped",
    "no containers": "no containers",
    "unused": "unused",
}
NEEDS_DOCKER = "needs Docker"  # the state of what cannot be backed up while Docker is away
EXPAND_LIMIT = 15  # more apps than this start collapsed, so a big host stays readable


def state_word(item: Item) -> str:
    if item.id == "core/identity":
        return "PRIVATE KEY"
    state = item.state or ""
    if state.startswith("mixed: "):  # exited + created is still simply "stopped"
        words = {STATE_WORDS.get(s, s) for s in state[len("mixed: ") :].split(", ")}
        return words.pop() if len(words) == 1 else "mixed"
    return STATE_WORDS.get(state, state)


def section_of(item: Item) -> str:
    if item.kind in ("core", "shared"):
        return "section:core"
    return "section:volumes" if item.kind == "volume" else "section:apps"


class ItemTree(CheckTree):
    """Rows carry item IDs (or section IDs); the Selection decides what each box shows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "itemtree--section",
        "itemtree--muted",
        "itemtree--key",
        "itemtree--running",
        "itemtree--paused",
        "itemtree--stopped",
        "itemtree--note",
    }
    SECTION_CLASS = "itemtree--section"

    class Changed(Message):
        """The checked set changed."""

    def __init__(self, *, id: str | None = None) -> None:
        self.selection: Selection | None = None
        super().__init__(id=id)

    @property
    def model(self) -> Selection | None:
        return self.selection

    def section_state(self, ids: list[str]) -> CheckState:
        assert self.selection is not None
        return self.selection.group_state(ids)

    def populate(self, inventory: Inventory, selection: Selection, filter_text: str = "") -> None:
        self.selection = selection
        kids: dict[str, list[Item]] = {}
        for item in inventory.items:
            if item.parent:
                kids.setdefault(item.parent, []).append(item)
        apps = [i for i in inventory.items if i.kind == "app"]
        tops = [(i, kids.get(i.id, [])) for i in inventory.items if not i.parent]
        expand = bool(filter_text.strip()) or len(apps) <= EXPAND_LIMIT
        cursor, _ = self.rebuild(SECTIONS, tops, section_of, filter_text, expand)
        target = self._rows.get(cursor or "") if cursor else None
        self.move_cursor(target or (self.root.children[0] if self.root.children else None))

    def blocked(self, node: TreeNode[str]) -> bool:
        return self.selection is not None and (node.data or "") in self.selection.blocked

    def row_name(self, node: TreeNode[str]) -> Text:
        name = super().row_name(node)
        if self.blocked(node):  # cannot be backed up now: dimmed, and the state says why
            name.stylize(self.get_component_rich_style("itemtree--muted", partial=True))
        return name

    def row_columns(self, node: TreeNode[str]) -> list[tuple[Text, int]]:
        key = node.data or ""
        if self.selection is None or key.startswith("section:") or not key:
            return []
        item = self.selection.by_id[key]
        word = NEEDS_DOCKER if self.blocked(node) else state_word(item)
        style_name = {
            "running": "itemtree--running",
            "paused": "itemtree--paused",
            "stopped": "itemtree--stopped",
            "PRIVATE KEY": "itemtree--key",
        }.get(word, "itemtree--muted")
        state = Text(word, style=self.get_component_rich_style(style_name, partial=True))
        muted = self.get_component_rich_style("itemtree--muted", partial=True)
        if item.size is None:
            size, files = Text("…", style=muted), Text("", style=muted)
        else:
            size = Text(human_bytes(item.size.bytes))
            files = Text(
                f"{count(item.size.files)} file{'' if item.size.files == 1 else 's'}", style=muted
            )
        return [(state, len(NEEDS_DOCKER)), (size, 9), (files, 12)]
