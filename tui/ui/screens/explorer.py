"""The explorer: browse any zip (ours or not), preview entries, verify, extract safely."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, Tree

from tui.core.archive.chain import ChainReader, open_for_browsing
from tui.core.archive.extract import ExtractReport, extract_entries
from tui.core.archive.manifest_model import Manifest, read_manifest
from tui.core.archive.zipreader import ZipReader, show
from tui.core.crypto.age import AgeNoMatchError, AgeReader
from tui.core.errors import PortalBackupError, error_sentence
from tui.core.humanfmt import count, human_bytes
from tui.core.model import MANIFEST_NAME
from tui.core.state import record_recent_archive
from tui.ui.logic.archive_index import ArchiveIndex, key_entries, matching, ratio
from tui.ui.logic.manifest_view import manifest_summary
from tui.ui.logic.preview import PREVIEW_BYTES, Preview, make_preview, wants_whole
from tui.ui.logic.unlock import KeyNeeded
from tui.ui.screens.dialogs import MessageDialog, PathDialog
from tui.ui.widgets.archive_tree import ArchiveTree, Ref, column_heads
from tui.ui.widgets.preview_pane import (
    PreviewPane,
    entry_header,
    folder_body,
    folder_header,
    preview_body,
)

if TYPE_CHECKING:
    from tui.ui.app import ArchiveOpener, PortalBackupApp

FILTER_LIMIT = 2000
NARROW = 110  # below this width the preview goes under the tree


@dataclass
class Opened:
    reader: ZipReader
    fileobj: BinaryIO
    index: ArchiveIndex
    manifest: Manifest | None
    manifest_problem: str | None
    chain_note: str | None = None  # a differential opened without its base: why

    @property
    def encrypted(self) -> bool:
        return isinstance(self.fileobj, AgeReader)


class ArchiveOpened(Message):
    def __init__(self, opened: Opened) -> None:
        super().__init__()
        self.opened = opened


class OpenFailed(Message):
    def __init__(self, text: str, needs_key: bool = False, wrong_key: bool = False) -> None:
        super().__init__()
        self.text = text
        self.needs_key = needs_key  # encrypted: ask for a passphrase or an identity file
        self.wrong_key = wrong_key  # ...saying the keys known so far do not open it


class PreviewReady(Message):
    def __init__(self, name: str, preview: Preview) -> None:
        super().__init__()
        self.name = name
        self.preview = preview


class FilterReady(Message):
    def __init__(self, needle: str, index: ArchiveIndex, total: int) -> None:
        super().__init__()
        self.needle = needle
        self.index = index
        self.total = total


class Extracted(Message):
    def __init__(self, report: ExtractReport | None, error: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.error = error


def differential_summary(opened: Opened) -> Text:
    """A differential's lines: its base, what changed, what was deleted (issue 14)."""
    doc = opened.manifest
    diff = doc.differential if doc is not None else None
    if doc is None or diff is None:
        return Text("")
    kept = sum(1 for e in doc.entries if e.in_base)
    text = Text.assemble(
        ("\nDifferential", "bold"),
        f" of {diff.base}: {count(len(doc.entries) - kept)} entries changed (● changed), "
        f"{count(kept)} from the base (dimmed), {count(len(diff.deleted))} deleted",
    )
    if diff.deleted:
        shown = ", ".join(show(p) for p in diff.deleted[:5])
        more = (
            f" and {count(len(diff.deleted) - 5)} more (m: the manifest)"
            if len(diff.deleted) > 5
            else ""
        )
        text.append(f"\nDeleted since the base: {shown}{more}", style="dim")
    if opened.chain_note:
        text.append(f"\n{opened.chain_note}", style="yellow")
    return text


def extract_summary(report: ExtractReport) -> Text:
    text = Text(
        f"Extracted {count(report.files)} files, {count(report.dirs)} folders, "
        f"{count(report.links)} links ({human_bytes(report.bytes)}) into "
        f"{report.destination}."
    )
    if report.refused:
        text.append(f"\n\nRefused {len(report.refused)}:", style="bold")
        for name, why in report.refused[:30]:
            text.append(f"\n• {name}: {why}", style="yellow")
    if report.failed:
        text.append(f"\n\nFailed {len(report.failed)}:", style="bold")
        for name, why in report.failed[:30]:
            text.append(f"\n• {name}: {why}", style="red")
    return text


class ExplorerScreen(Screen[None]):
    CSS_PATH = "explorer.tcss"
    AUTO_FOCUS = "#tree"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash,ctrl+f", "filter", "Filter"),
        Binding("v", "verify", "Verify"),
        Binding("x", "extract", "Extract"),
        Binding("m", "manifest", "Manifest"),
        Binding("r,R", "restore", "Restore"),
        Binding("e", "eject", "Run elsewhere"),
        Binding("q,backspace", "leave", "Back"),
        Binding("escape", "leave", "Back", show=False),
    ]

    def __init__(
        self, path: str, standalone: bool = False, on_close: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.path = path
        self.on_close = on_close  # e.g. removes a backup downloaded from a destination
        self.standalone = standalone  # `portal-backup explore`: leaving quits the app
        self.opened: Opened | None = None
        self.filter_total: int | None = None
        self.last_extract: ExtractReport | None = None
        self.previewed: str | None = None  # the entry whose preview is on screen
        self._reader_lock = threading.Lock()  # a ZipReader is not safe across threads
        self._preview_timer: Timer | None = None
        self._mounted_at = 0.0
        self.open_seconds: float | None = None  # from mount to the tree on screen

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(f"Opening {os.path.basename(self.path)}…", id="heading", classes="title")
        yield Static("", id="manifest")
        yield Input(placeholder="Filter by name (Esc clears it)", id="filter", compact=True)
        with Container(id="panes"):
            with Vertical(id="tree-box"):
                yield Static(column_heads(), id="tree-head")
                yield ArchiveTree(id="tree")
            yield PreviewPane(id="preview")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ArchiveTree).filter_input = self.query_one("#filter", Input)
        self._mounted_at = self.papp.clock()
        self.query_one(ArchiveTree).loading = True
        self._open(self.papp.open_archive, self.path)

    def on_resize(self, event: Resize) -> None:
        self.query_one("#panes").set_class(event.size.width < NARROW, "-narrow")

    def on_unmount(self) -> None:
        if self.opened is not None:
            with self._reader_lock:
                self.opened.reader.close()  # a differential's base, opened beside it
                self.opened.fileobj.close()
        if self.on_close is not None:
            self.on_close()

    # ------------------------------------------------------------------ opening

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open(self, opener: ArchiveOpener, path: str) -> None:
        try:
            fileobj = opener(path)
        except (KeyNeeded, AgeNoMatchError) as exc:
            self.post_message(
                OpenFailed(
                    error_sentence(exc), needs_key=True, wrong_key=isinstance(exc, AgeNoMatchError)
                )
            )
            return
        except Exception as exc:
            self.post_message(OpenFailed(error_sentence(exc)))
            return
        try:
            # A differential shows the whole tree at its time, with its base (issue 14).
            reader, chain_note = open_for_browsing(fileobj, path, opener)
            index = ArchiveIndex(reader.entries)
            manifest, problem = None, None
            if reader.get(MANIFEST_NAME) is not None:
                try:  # the one reader restore and verify use: same limit, same checks
                    manifest = read_manifest(reader)
                except (PortalBackupError, OSError) as exc:
                    problem = f"its {MANIFEST_NAME} is unreadable: {error_sentence(exc)}"
        except Exception as exc:
            fileobj.close()
            self.post_message(OpenFailed(error_sentence(exc)))
            return
        with contextlib.suppress(PortalBackupError, OSError):  # a convenience, never a failure
            record_recent_archive(path)
        opened = Opened(reader, fileobj, index, manifest, problem, chain_note)
        self.post_message(ArchiveOpened(opened))

    def on_archive_opened(self, message: ArchiveOpened) -> None:
        opened = self.opened = message.opened
        root = opened.index.root
        self.query_one("#heading", Static).update(
            f"{os.path.basename(self.path)} · {count(len(opened.index.entries))} entries · "
            f"{human_bytes(root.size)} → {human_bytes(root.compressed)} "
            f"({ratio(root.size, root.compressed) or '-'} saved)"
            f"{' · encrypted (age), read in place' if opened.encrypted else ''}"
        )
        summary = manifest_summary(opened.manifest, opened.manifest_problem)
        diff = differential_summary(opened) if opened.manifest else Text("")
        # A differential's own lines first: at 80x24 the box shows only its first lines.
        self.query_one("#manifest", Static).update(
            Text("\n").join([diff[1:], summary]) if diff else summary
        )
        self.query_one("#manifest").set_class(bool(diff), "-differential")  # room for its lines
        tree = self.query_one(ArchiveTree)
        if opened.manifest is not None and opened.manifest.differential is not None:
            stored = opened.reader.diff if isinstance(opened.reader, ChainReader) else opened.reader
            tree.changed_entries = frozenset(e.name for e in stored.entries)
        tree.loading = False
        tree.key_entries = key_entries(opened.manifest)
        tree.show_index(opened.index)
        tree.focus()
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.open_seconds = self.papp.clock() - self._mounted_at

    def on_open_failed(self, message: OpenFailed) -> None:
        tree = self.query_one(ArchiveTree)
        if message.needs_key:
            self.query_one("#heading", Static).update(f"{os.path.basename(self.path)} is encrypted")
            self._ask_key(message.text if message.wrong_key else None)
            return
        tree.loading = False
        tree.focus()  # so q and backspace leave, rather than type into the filter
        self.query_one("#heading", Static).update(f"Cannot open {self.path}")
        self.app.push_screen(MessageDialog("Cannot open the archive", message.text, error=True))

    def _ask_key(self, error: str | None) -> None:
        from tui.ui.screens.unlock import UnlockDialog

        def answered(unlocked: bool | None) -> None:
            if unlocked:
                self._open(self.papp.open_archive, self.path)  # with the keys now known
            else:
                self.action_leave()

        self.app.push_screen(UnlockDialog(self.path, self.papp.keys, error), answered)

    # ------------------------------------------------------------------ preview

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[Ref]) -> None:
        ref = event.node.data
        if ref is None:
            return
        pane = self.query_one(PreviewPane)
        if ref.folder is not None:
            pane.show_preview(folder_header(ref.folder), folder_body(ref.folder))
            self.previewed = ref.name
        elif ref.kind == "unsafe" and ref.entry is not None:
            pane.show_preview(
                Text.assemble(
                    (show(ref.name), "bold red"), f"\nRefused: {ref.reason}. It is never extracted."
                ),
                Text(""),
            )
            self.previewed = ref.name
        elif ref.entry is not None:
            pane.show_preview(entry_header(ref.entry), Text("Reading…", style="dim"))
            # A short delay: holding an arrow key must not start a read per row.
            if self._preview_timer is not None:
                self._preview_timer.stop()
            self._preview_timer = self.set_timer(0.08, lambda: self._start_preview(ref))

    def _start_preview(self, ref: Ref) -> None:
        if self.opened is not None and ref.entry is not None:
            self._preview(self.opened.reader, ref)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview(self, reader: ZipReader, ref: Ref) -> None:
        entry = ref.entry
        assert entry is not None
        try:
            with self._reader_lock:
                if entry.is_symlink:
                    target = reader.read_entry(entry, limit=1 << 16).decode("utf-8", "replace")
                    preview = Preview("text", f"symbolic link → {target}")
                elif wants_whole(entry.name, entry.size):
                    preview = make_preview(entry.name, reader.read_entry(entry), entry.size)
                else:
                    with reader.open_entry(entry) as stream:
                        head = stream.read(PREVIEW_BYTES)
                    preview = make_preview(entry.name, head, entry.size)
        except Exception as exc:
            preview = Preview("error", f"Cannot read this entry: {error_sentence(exc)}")
        self.post_message(PreviewReady(entry.name, preview))

    def on_preview_ready(self, message: PreviewReady) -> None:
        tree = self.query_one(ArchiveTree)
        node = tree.cursor_node
        if node is None or node.data is None or node.data.name != message.name:
            return  # the cursor moved on
        entry = node.data.entry
        assert entry is not None
        p = message.preview
        notes = []
        if p.truncated:
            notes.append(f"first {human_bytes(PREVIEW_BYTES)} only")
        if p.masked:
            notes.append("private keys hidden")
        self.previewed = message.name
        self.query_one(PreviewPane).show_preview(
            entry_header(entry), preview_body(p), " · ".join(notes)
        )

    def action_manifest(self) -> None:
        if self.opened is None or self.opened.manifest is None:
            self.notify("This archive has no readable portal-backup.json.", severity="warning")
            return
        text = json.dumps(self.opened.manifest.to_json(), indent=2, ensure_ascii=False)
        preview = make_preview(MANIFEST_NAME, text.encode(), len(text.encode()))
        self.query_one(PreviewPane).show_preview(
            Text(MANIFEST_NAME, style="bold"), preview_body(preview)
        )
        self.previewed = MANIFEST_NAME

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        # At once, not on the next loop turn: keys typed right after / must land in the box.
        box = self.query_one("#filter", Input)
        box.display = True  # hidden until asked for: small terminals need the rows
        self.set_focus(box)

    def _close_filter(self) -> None:
        """Esc in the filter: clear it, show the whole tree again, and hide the box."""
        box = self.query_one("#filter", Input)
        box.value = ""  # Input.Changed refills the tree
        box.display = False
        self.set_focus(self.query_one(ArchiveTree))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self.opened is not None:
            self._filter(self.opened.index, event.value.strip())

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.set_focus(self.query_one(ArchiveTree))

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _filter(self, index: ArchiveIndex, needle: str) -> None:
        if not needle:
            self.post_message(FilterReady("", index, len(index.entries)))
            return
        found, total = matching(index.entries, needle, FILTER_LIMIT)
        self.post_message(FilterReady(needle, ArchiveIndex(found), total))

    def on_filter_ready(self, message: FilterReady) -> None:
        if message.needle != self.query_one("#filter", Input).value.strip():
            return  # typing went on
        tree = self.query_one(ArchiveTree)
        tree.show_index(message.index, expand_all=bool(message.needle))
        self.filter_total = message.total if message.needle else None
        if message.needle:
            more = f" (first {FILTER_LIMIT} shown)" if message.total > FILTER_LIMIT else ""
            self.notify(
                f"{count(message.total)} entries match “{message.needle}”{more}.", timeout=2
            )

    # ------------------------------------------------------------------ verify, extract

    def action_verify(self) -> None:
        from tui.ui.screens.verify import VerifyScreen

        self.app.push_screen(VerifyScreen(self.path))

    def action_extract(self) -> None:
        if self.opened is None:
            return
        tree = self.query_one(ArchiveTree)
        ref = tree.cursor_node.data if tree.cursor_node else None
        index = self.opened.index
        if ref is None or ref.kind in ("more",):
            self.notify("Select a file or folder to extract.", severity="warning")
            return
        if ref.kind == "unsafe-group":
            entries, strip, what = [u.entry for u in index.unsafe], "", "the unsafe entries"
        elif ref.kind == "folder":
            parent = ref.name.rstrip("/").rpartition("/")[0]
            strip = f"{parent}/" if parent else ""
            entries, what = index.entries_under(ref.name), ref.name
        else:
            assert ref.entry is not None
            parent = ref.name.rpartition("/")[0]
            entries, strip, what = [ref.entry], f"{parent}/" if parent else "", show(ref.name)

        def chosen(dest: str | None) -> None:
            if dest and self.opened is not None:
                self.notify(f"Extracting {what} into {dest}…")
                self._extract(self.opened.reader, entries, strip, dest)

        self.app.push_screen(
            PathDialog(
                f"Extract {what}",
                "Into which folder? It is created if missing; nothing outside "
                "it is ever written, and existing files are kept.",
                self.papp.cwd,
                ok="Extract",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="extract", exit_on_error=False)
    def _extract(self, reader: ZipReader, entries: list[Any], strip: str, dest: str) -> None:
        try:
            os.makedirs(dest, exist_ok=True)
            with self._reader_lock:
                report = extract_entries(reader, entries, dest, strip=strip)
        except Exception as exc:
            self.post_message(Extracted(None, error_sentence(exc)))
            return
        self.post_message(Extracted(report))

    def on_extracted(self, message: Extracted) -> None:
        if message.report is None:
            self.app.push_screen(
                MessageDialog("Extraction failed", message.error or "", error=True)
            )
            return
        self.last_extract = message.report
        self.app.push_screen(
            MessageDialog(
                "Extracted" if message.report.ok else "Extracted, with entries refused",
                extract_summary(message.report),
                error=not message.report.ok,
            )
        )

    def action_eject(self) -> None:
        """ "Run elsewhere": the app under the cursor as a Docker Compose folder."""
        from tui.ui.screens.eject import app_at

        opened = self.opened
        node = self.query_one(ArchiveTree).cursor_node
        app_id = app_at(
            opened.manifest if opened else None, node.data.name if node and node.data else None
        )
        if opened is None or opened.manifest is None or app_id is None:
            self.notify(
                "Select an app's folder (user_data/app_data/<app>) to run it elsewhere.",
                severity="warning",
            )
            return
        manifest, reader = opened.manifest, opened.reader

        def chosen(dest: str | None) -> None:
            if dest:
                self.notify(f"Writing {app_id} into {dest}…")
                self._eject(reader, manifest, app_id, os.path.abspath(os.path.expanduser(dest)))

        self.app.push_screen(
            PathDialog(
                f"Run {app_id} elsewhere",
                "Into which folder? <folder>/<app>/ gets a compose.yaml, a README.md and the "
                "app's state; nothing outside it is written.",
                os.path.join(self.papp.cwd, "ejected"),
                ok="Write",
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="extract", exit_on_error=False)
    def _eject(self, reader: ZipReader, manifest: Manifest, app_id: str, dest: str) -> None:
        from tui.ui.screens.eject import eject_app

        try:
            with self._reader_lock:
                text = eject_app(reader, manifest, app_id, dest, os.path.basename(self.path))
        except Exception as exc:
            self.app.call_from_thread(
                self.app.push_screen, MessageDialog("Not written", error_sentence(exc), error=True)
            )
            return
        self.app.call_from_thread(
            self.app.push_screen, MessageDialog(f"{app_id}: ready to run elsewhere", text)
        )

    def action_restore(self) -> None:
        from tui.ui.screens.restore import RestoreScreen

        self.app.push_screen(RestoreScreen(self.path))

    def action_leave(self) -> None:
        if isinstance(self.focused, Input) and self.focused.id == "filter":
            self._close_filter()
            return
        if self.standalone:
            self.app.exit(0)
        else:
            self.app.pop_screen()
