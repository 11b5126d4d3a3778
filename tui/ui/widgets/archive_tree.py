"""The explorer's tree of an archive: folders load their children only when expanded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.core.archive.zipreader import ZipEntry, show
from tui.core.humanfmt import human_bytes
from tui.ui.logic.archive_index import IDENTITY_ENTRIES, ArchiveIndex, Folder, ratio
from tui.ui.widgets.column_tree import ColumnTree

MAX_CHILDREN = 1000  # more than this in one folder: the rest is one "… more" row
UNSAFE_KEY = "\x00unsafe"
COLUMNS = (("size", 9), ("packed", 9), ("saved", 5))  # widths of the columns after the name


def column_heads() -> Text:
    """The columns' headings, for a line above the tree (right-aligned like the columns)."""
    heads = Text(justify="right", no_wrap=True, style="bold")
    for title, width in COLUMNS:
        heads.append(" " + title.rjust(width))
    return heads


NodeKind = Literal["folder", "file", "unsafe", "unsafe-group", "more"]


@dataclass(frozen=True)
class Ref:
    kind: NodeKind
    name: str  # the folder path or entry name as shown in messages
    folder: Folder | None = None
    entry: ZipEntry | None = None
    reason: str | None = None  # why an unsafe entry is refused
    hidden: int = 0  # for "more" rows


class ArchiveTree(ColumnTree[Ref]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "archivetree--key",
        "archivetree--unsafe",
        "archivetree--muted",
        "archivetree--folder",
    }

    def __init__(self, *, id: str | None = None) -> None:
        self.index: ArchiveIndex | None = None
        self.key_entries: frozenset[str] = IDENTITY_ENTRIES  # set from the manifest's word
        # A differential's view (issue 14): names it stores itself; the rest come from its base.
        self.changed_entries: frozenset[str] | None = None
        super().__init__("archive", id=id)
        self.show_root = False
        self.guide_depth = 3

    def show_index(self, index: ArchiveIndex, expand_all: bool = False) -> None:
        self.index = index
        self.clear()
        self._fill(self.root, index.root, expand_all)
        if index.unsafe:
            group = self.root.add(
                Text(f"unsafe names ({len(index.unsafe)})"), Ref("unsafe-group", ""), expand=True
            )
            for u in index.unsafe:
                group.add_leaf(
                    Text(show(u.entry.name)),
                    Ref("unsafe", u.entry.name, entry=u.entry, reason=u.reason),
                )
        if self.root.children:
            self.move_cursor(self.root.children[0])

    def _fill(self, node: TreeNode[Ref], folder: Folder, expand_all: bool) -> None:
        folders = sorted(folder.folders.values(), key=lambda f: f.name)
        files = sorted(folder.files, key=lambda e: e.name)
        shown = 0
        for sub in folders:
            if shown >= MAX_CHILDREN:
                break
            child = node.add(
                Text(sub.name + "/"), Ref("folder", sub.path, folder=sub), expand=expand_all
            )
            if expand_all:
                self._fill(child, sub, True)
            shown += 1
        for entry in files:
            if shown >= MAX_CHILDREN:
                break
            node.add_leaf(Text(entry.name.rsplit("/", 1)[-1]), Ref("file", entry.name, entry=entry))
            shown += 1
        hidden = len(folders) + len(files) - shown
        if hidden:
            node.add_leaf(
                Text(f"… {hidden} more: use the filter (/) to find them"),
                Ref("more", folder.path, hidden=hidden),
            )

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Ref]) -> None:
        ref = event.node.data
        if ref is not None and ref.kind == "folder" and ref.folder and not event.node.children:
            self._fill(event.node, ref.folder, False)

    # ------------------------------------------------------------------ drawing

    def row_name(self, node: TreeNode[Ref]) -> Text:
        ref = node.data
        name = super().row_name(node)
        if ref is None:
            return name
        if ref.kind in ("unsafe", "unsafe-group"):
            name.stylize(self.get_component_rich_style("archivetree--unsafe", partial=True))
        elif ref.kind == "folder":
            name.stylize(self.get_component_rich_style("archivetree--folder", partial=True))
        elif ref.kind == "more":
            name.stylize(self.get_component_rich_style("archivetree--muted", partial=True))
        if ref.entry is not None and ref.entry.is_symlink:
            name.append(
                " (link)", self.get_component_rich_style("archivetree--muted", partial=True)
            )
        if self.changed_entries is not None and ref.entry is not None:
            if ref.name in self.changed_entries:
                name.append(
                    " ● changed", self.get_component_rich_style("archivetree--key", partial=True)
                )
            else:
                name.stylize(self.get_component_rich_style("archivetree--muted", partial=True))
        if ref.kind == "file" and ref.name in self.key_entries:
            name.append(
                " ⚠ private key", self.get_component_rich_style("archivetree--key", partial=True)
            )
        if ref.kind == "unsafe":
            name.append(
                f" refused: {ref.reason}",
                self.get_component_rich_style("archivetree--unsafe", partial=True),
            )
        return name

    def row_columns(self, node: TreeNode[Ref]) -> list[tuple[Text, int]]:
        ref = node.data
        if ref is None:
            return []
        if ref.folder is not None:
            size, packed = ref.folder.size, ref.folder.compressed
        elif ref.entry is not None:
            size, packed = ref.entry.size, ref.entry.compressed_size
        else:
            return [(Text(""), width) for _, width in COLUMNS]
        muted = self.get_component_rich_style("archivetree--muted", partial=True)
        values = (human_bytes(size), human_bytes(packed), ratio(size, packed))
        return [
            (Text(value, style=muted if i else ""), width)
            for i, (value, (_, width)) in enumerate(zip(values, COLUMNS, strict=True))
        ]
