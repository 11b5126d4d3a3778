"""The explorer's preview: a header line about the entry, then its (first) contents."""

from __future__ import annotations

import stat
import time

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static

from tui.core.archive.zipreader import ZipEntry, show
from tui.core.humanfmt import count, human_bytes
from tui.ui.logic.archive_index import IDENTITY_ENTRIES, Folder, ratio
from tui.ui.logic.preview import Preview


def entry_header(entry: ZipEntry) -> Text:
    mode = entry.unix_mode
    if mode is not None and not stat.S_IFMT(mode):  # zips made by some tools omit the type
        mode |= stat.S_IFDIR if entry.is_dir else stat.S_IFREG
    perms = stat.filemode(mode) if mode else "----------"
    owner = f"{entry.uid}:{entry.gid}" if entry.uid is not None else "-"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry.mtime))
    text = Text.assemble(
        (show(entry.name), "bold"),
        "\n",
        f"{human_bytes(entry.size)}, {human_bytes(entry.compressed_size)} "
        f"packed ({ratio(entry.size, entry.compressed_size) or '-'} saved) · "
        f"{perms} {owner} · {when} · CRC {entry.crc:08x}",
    )
    if entry.name in IDENTITY_ENTRIES:
        text.append("\n⚠ Holds the Portal's private key (identity).", style="bold yellow")
    return text


def folder_body(folder: Folder) -> Text:
    names = [f.name + "/" for f in sorted(folder.folders.values(), key=lambda f: f.name)]
    names += [e.name.rsplit("/", 1)[-1] for e in sorted(folder.files, key=lambda e: e.name)]
    more = f"\n… and {len(names) - 60} more" if len(names) > 60 else ""
    return Text("\n".join(names[:60]) + more)


def folder_header(folder: Folder) -> Text:
    return Text.assemble(
        (folder.path or "/", "bold"),
        "\n",
        f"folder · {count(folder.count)} entries · "
        f"{human_bytes(folder.size)}, {human_bytes(folder.compressed)} packed "
        f"({ratio(folder.size, folder.compressed) or '-'} saved)",
    )


def preview_body(preview: Preview) -> RenderableType:
    if preview.kind == "text" and preview.lexer:
        return Syntax(
            preview.text,
            preview.lexer,
            theme="ansi_dark",
            line_numbers=False,
            word_wrap=False,
            background_color="default",
        )
    return Text(preview.text, no_wrap=True, overflow="ignore")


class PreviewPane(Vertical):
    note = ""  # what the preview leaves out ("first 64 kB only"), shown under it
    plain = ""  # the body as plain text

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-header")
        with ScrollableContainer(id="preview-scroll"):
            yield Static("", id="preview-body")

    def show_preview(self, header: RenderableType, body: RenderableType, note: str = "") -> None:
        self.query_one("#preview-header", Static).update(header)
        self.query_one("#preview-body", Static).update(body)
        scroll = self.query_one("#preview-scroll", ScrollableContainer)
        scroll.scroll_home(animate=False)
        scroll.border_subtitle = note
        self.note = note
        self.plain = body.code if isinstance(body, Syntax) else str(body)
