"""The home screen: pick what to back up, where to, and how; then start."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

import humanize
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui.core.errors import PortalBackupError, error_sentence
from tui.core.humanfmt import duration, human_bytes
from tui.core.model import Size
from tui.core.plan import IDENTITY_ID, Plan
from tui.core.quiesce import QuiesceMode
from tui.ui.logic.batcher import Batcher
from tui.ui.logic.datasource import DataSource, Loaded
from tui.ui.logic.destinations import destination_label, refusal, remote_label
from tui.ui.logic.encryption import Encryption, encrypted_output
from tui.ui.logic.selection import Selection
from tui.ui.screens.dialogs import (
    ArchiveDialog,
    ConfirmDialog,
    MessageDialog,
    PrivateKeyDialog,
)
from tui.ui.widgets.item_tree import ItemTree
from tui.ui.widgets.summary_bar import SummaryBar

if TYPE_CHECKING:
    from tui.ui.app import PortalBackupApp

QUIESCE_ORDER: tuple[QuiesceMode, ...] = ("stop", "pause", "none")
SIZE_UPDATES_HZ = 4.0


class InventoryLoaded(Message):
    def __init__(self, loaded: Loaded) -> None:
        super().__init__()
        self.loaded = loaded


class LoadFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SizesKnown(Message):
    def __init__(self, sizes: dict[str, Size]) -> None:
        super().__init__()
        self.sizes = sizes


class HomeScreen(Screen[None]):
    CSS_PATH = "home.tcss"
    AUTO_FOCUS = "#items"
    # The footer shows these in this order and cuts what does not fit: Help and Quit come
    # first, and the whole row fits 80 columns. The summary bar shows the keys i and e.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("b", "backup", "Back up"),
        Binding("slash,ctrl+f", "filter", "Filter"),
        Binding("a", "all", "All"),
        Binding("d", "destination", "Output"),
        Binding("m", "mode", "Mode"),
        Binding("R", "restore", "Restore"),
        # No room left in the footer at 80 columns: the attention line names it, Help lists it.
        Binding("A", "automatic", "Automatic backups", show=False),
        Binding("i", "identity", "Identity", show=False),
        Binding("e", "encryption", "Encrypt", show=False),
        Binding("o", "open_archive", "Open archive", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape,ctrl+u", "clear_filter", "Clear the filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loaded: Loaded | None = None
        self.selection: Selection | None = None
        self.destination = ""
        self.quiesce: QuiesceMode = "stop"
        self.encryption = Encryption()
        self.sizes_done = False
        self._sizes_cancel = threading.Event()
        self._stale = False  # a backup ran: states and the last-backup record changed
        # First paint: seconds from app start until the list was on screen, and how many
        # sizes were known by then (tests print the first and check the second).
        self.first_paint: float | None = None
        self.sizes_known_at_first_paint: int | None = None

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(
            "Looking for the Portal, its apps and volumes…", id="reminder", classes="title"
        )
        yield Static(id="attention")
        yield Static(id="warnings", classes="warning")
        yield Input(placeholder="Filter: press / and type", id="filter", compact=True)
        yield ItemTree(id="items")
        yield SummaryBar(id="summary")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ItemTree).filter_input = self.query_one("#filter", Input)
        self.destination = self.papp.cwd
        self.query_one("#warnings").display = False
        self.query_one("#attention").display = False
        tree = self.query_one(ItemTree)
        tree.loading = True
        tree.focus()
        self._load(self.papp.source)

    # ------------------------------------------------------------------ loading (workers)

    @work(thread=True, exclusive=True, group="inventory", exit_on_error=False)
    def _load(self, source: DataSource) -> None:
        try:
            loaded = source.load()
        except Exception as exc:  # one sentence on screen beats a crash
            self.post_message(LoadFailed(error_sentence(exc)))
            return
        self.post_message(InventoryLoaded(loaded))

    @work(thread=True, exclusive=True, group="sizes", exit_on_error=False)
    def _sizes(self, source: DataSource, loaded: Loaded, cancel: threading.Event) -> None:
        batcher: Batcher[tuple[str, Size]] = Batcher(
            lambda batch: self.post_message(SizesKnown(dict(batch))), hz=SIZE_UPDATES_HZ
        )
        try:
            source.compute_sizes(
                loaded, lambda item_id, size: batcher.push((item_id, size)), cancel
            )
        finally:
            batcher.close()

    def _start_sizes(self, loaded: Loaded) -> None:
        self._sizes_cancel.set()  # a previous scan, if any
        self._sizes_cancel = threading.Event()
        self.sizes_done = False
        worker = self._sizes(self.papp.source, loaded, self._sizes_cancel)
        worker.name = "sizes"

    def on_inventory_loaded(self, message: InventoryLoaded) -> None:
        loaded = message.loaded
        previous = self.selection
        self.loaded = loaded
        checked = None
        if previous is not None:  # a reload keeps what the user chose where it still applies
            known = {i.id for i in loaded.inventory.items}
            # New rows start checked, as do rows that could not be ticked (Docker is back).
            fresh = known - (set(previous.by_id) - previous.blocked)
            checked = (previous.checked & known) | fresh
        self.selection = Selection(loaded.inventory, checked)
        tree = self.query_one(ItemTree)
        tree.loading = False
        # The footer left out the tree's keys while it was loading.
        self.call_after_refresh(self.refresh_bindings)
        tree.populate(loaded.inventory, self.selection, self.query_one("#filter", Input).value)
        if not self.query_one("#filter", Input).value:
            tree.focus()
        self._show_reminder()
        self._show_attention(loaded.attention)
        self._show_warnings(loaded.inventory.warnings)
        self._update_summary()
        if self.first_paint is None:
            self.call_after_refresh(self._painted)
        self._start_sizes(loaded)

    def _painted(self) -> None:
        if self.first_paint is None and self.loaded is not None:
            self.first_paint = self.papp.clock() - self.papp.started_at
            self.sizes_known_at_first_paint = sum(
                1 for i in self.loaded.inventory.items if i.size is not None
            )

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one(ItemTree).loading = False
        self._show_warnings([message.text])
        self.query_one("#reminder", Static).update("Nothing could be listed. Press r to retry.")

    def on_sizes_known(self, message: SizesKnown) -> None:
        if self.loaded is None:
            return
        for item_id, size in message.sizes.items():
            item = self.loaded.inventory.get(item_id)
            if item is not None:
                item.size = size
        self.query_one(ItemTree).refresh_rows(set(message.sizes))
        self.sizes_done = all(i.size is not None for i in self.loaded.inventory.items)
        self._update_summary()

    def on_screen_resume(self) -> None:
        # Back from a backup: states and the last-backup record changed. (Not while it runs:
        # closing the confirm dialog that started it resumes this screen for a moment too.)
        if self._stale and not self.papp.job.running:
            self._stale = False
            self.action_reload()

    def on_unmount(self) -> None:
        self._sizes_cancel.set()

    # ------------------------------------------------------------------ display

    def _show_reminder(self) -> None:
        assert self.loaded is not None
        inv, last = self.loaded.inventory, self.loaded.last_backup
        who = (
            f"Portal {inv.portal.name}"
            if inv.portal and inv.portal.name
            else "Portal (no identity)"
            if inv.portal
            else "Docker host (no Portal found)"
        )
        if last and isinstance(last.get("time"), int | float):
            ago = humanize.naturaldelta(max(0.0, self.papp.wall_clock() - last["time"]))
            size = f", {human_bytes(last['bytes'])}" if isinstance(last.get("bytes"), int) else ""
            when = f"Last backup: {ago} ago{size}"
        else:
            when = "Last backup: never on this host"
        self.query_one("#reminder", Static).update(f"{who} · {when}")

    def _show_attention(self, line: str | None) -> None:
        """Automatic backups need attention (overdue, failed, never): the banner's line."""
        box = self.query_one("#attention", Static)
        box.display = bool(line)
        box.set_class(bool(line) and "failed" in (line or ""), "error")
        box.set_class(bool(line) and "failed" not in (line or ""), "warning")
        if line:
            box.update(Text.assemble(("⚠ " + line, "bold"), "  (A: automatic backups)"))

    def _show_warnings(self, warnings: list[str]) -> None:
        box = self.query_one("#warnings", Static)
        box.display = bool(warnings)
        box.update(Text("\n").join(Text(f"⚠ {w}") for w in warnings))

    def _update_summary(self) -> None:
        if self.selection is None:
            return
        sel = self.selection
        self.query_one(SummaryBar).show_totals(
            sel.totals(self.quiesce),
            destination_label(self.destination),
            self.quiesce,
            sel.identity_included,
            "core/db" in sel.checked and not sel.identity_included,
            self.encryption,
        )

    def _refresh_all(self) -> None:
        self.query_one(ItemTree).refresh_rows()
        self._update_summary()

    # ------------------------------------------------------------------ actions

    @on(ItemTree.Changed)
    def _checks_changed(self) -> None:
        self._update_summary()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self.loaded is not None and self.selection is not None:
            self.query_one(ItemTree).populate(self.loaded.inventory, self.selection, event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.set_focus(self.query_one(ItemTree))

    def action_filter(self) -> None:
        # At once, not on the next loop turn: keys typed right after / must land in the box.
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        """Esc: the filter is emptied (Input.Changed refills the tree) and the tree focused."""
        box = self.query_one("#filter", Input)
        if box.value or self.focused is box:
            box.value = ""
            self.set_focus(self.query_one(ItemTree))

    def action_all(self) -> None:
        if self.selection is not None:
            self.selection.toggle_group(self.query_one(ItemTree).visible_item_ids())
            self._refresh_all()

    def action_identity(self) -> None:
        if self.selection is None or IDENTITY_ID not in self.selection.by_id:
            self.notify("There is no Portal identity on this host.", severity="warning")
            return
        self.selection.toggle(IDENTITY_ID)
        self.query_one(ItemTree).refresh_rows({IDENTITY_ID})
        self._update_summary()  # the summary bar says what this means; a toast would cover it

    def action_mode(self) -> None:
        self.quiesce = QUIESCE_ORDER[(QUIESCE_ORDER.index(self.quiesce) + 1) % 3]
        self._update_summary()

    def action_encryption(self, then: Callable[[], None] | None = None) -> None:
        from tui.ui.screens.encryption import EncryptionDialog

        def chosen(encryption: Encryption | None) -> None:
            if encryption is None:
                return
            self.encryption = encryption
            self._update_summary()
            if then is not None:
                then()

        self.app.push_screen(EncryptionDialog(self.encryption), chosen)

    def action_destination(self) -> None:
        from tui.ui.screens.destination import DestinationDialog

        def chosen(spec: str | None) -> None:
            if spec:
                self.destination = spec
                self._update_summary()

        self.app.push_screen(DestinationDialog(self.destination, self.encryption.encrypted), chosen)

    def _open_archive(
        self, path: str, screen: Callable[[str, Callable[[], None]], Screen[None]]
    ) -> None:
        """A local archive opens at once; a remote NAME:PATH lists its backups and downloads
        the chosen one into a temporary file, removed when the screen closes."""
        from tui.ui.logic.remote_open import LocalCopy
        from tui.ui.screens.remote_backups import RemoteBackupsDialog

        if remote_label(path) is None:
            self.app.push_screen(screen(path, lambda: None))
            return

        def downloaded(copy: LocalCopy | None) -> None:
            if copy is not None:
                self.app.push_screen(screen(str(copy.path), copy.remove))

        self.app.push_screen(RemoteBackupsDialog(path), downloaded)

    def action_automatic(self) -> None:
        from tui.ui.screens.automatic import AutomaticScreen

        self._stale = True  # a run from there changes the last backup and the attention line
        self.app.push_screen(AutomaticScreen())

    def action_open_archive(self) -> None:
        from tui.ui.screens.explorer import ExplorerScreen

        def chosen(path: str | None) -> None:
            if path:
                self._open_archive(path, lambda p, done: ExplorerScreen(p, on_close=done))

        self.app.push_screen(
            ArchiveDialog(
                "Open an archive",
                "The path of a .zip or .zip.age file, a folder to list, or a remote "
                "NAME:FOLDER to list the backups there.",
                [self.destination, self.papp.cwd],
            ),
            chosen,
        )

    def action_restore(self) -> None:
        from tui.ui.screens.restore import RestoreScreen

        def chosen(path: str | None) -> None:
            if path:
                self._stale = True  # what the list shows may change
                self._open_archive(path, lambda p, done: RestoreScreen(p, on_close=done))

        self.app.push_screen(
            ArchiveDialog(
                "Restore from an archive",
                "The path of a portal-backup .zip or .zip.age file, a folder to list, or a "
                "remote NAME:FOLDER to list the backups there; "
                "encrypted ones ask for their passphrase or identity file.",
                [self.destination, self.papp.cwd],
            ),
            chosen,
        )

    def action_reload(self) -> None:
        self._sizes_cancel.set()
        self.query_one(ItemTree).loading = True
        self._load(self.papp.source)

    def action_backup(self) -> None:
        from tui.core.plan import build_plan, resolve_selection

        if self.loaded is None or self.selection is None:
            self.notify("Still looking for what can be backed up…")
            return
        ids = self.selection.selected_ids()
        if not ids:
            self.notify(
                "Nothing is selected: press space on a row, or a for all.", severity="warning"
            )
            return
        inventory = self.loaded.inventory
        try:
            plan = build_plan(inventory, resolve_selection(inventory, ids))
        except PortalBackupError as exc:
            self.app.push_screen(
                MessageDialog("Cannot back up this selection", str(exc), error=True)
            )
            return
        why = self._destination_refusal()
        if why is not None:
            self.app.push_screen(MessageDialog("Cannot back up there", why, error=True))
            return
        body = self._start_text()
        start = self._confirmed(plan)
        if plan.include_identity and not self.encryption.encrypted:
            # Said before anything starts, with a way to fix it in one key.
            body.append(
                "This archive will hold the Portal's private key and is not "
                "encrypted: whoever gets a copy can impersonate your Portal.",
                style="bold",
            )
            body.append("\nOr cancel, and leave the key out with i.")

            def answered(answer: str | None) -> None:
                if answer == "encrypt":
                    self.action_encryption(then=self.action_backup)  # then ask again
                elif answer == "anyway":
                    start(True)

            self.app.push_screen(PrivateKeyDialog(body), answered)
            return
        if plan.include_identity:
            body.append("The archive will hold the Portal's private key, encrypted.", style="bold")
        self.app.push_screen(
            ConfirmDialog("Start the backup?", body, yes="Back up", no="Not now"), start
        )

    def _start_text(self) -> Text:
        assert self.selection is not None
        totals = self.selection.totals(self.quiesce)
        where = remote_label(self.destination) or encrypted_output(
            self.destination, self.encryption.encrypted
        )
        body = Text(
            f"{totals.items} items, {human_bytes(totals.bytes)}"
            f"{' so far (still counting)' if totals.pending_sources else ''}, "
            f"into {where}.\n"
        )
        if totals.apps_quiesced and self.quiesce != "none":
            verb = "stopped" if self.quiesce == "stop" else "paused"
            body.append(
                f"{totals.apps_quiesced} apps will be {verb} one at a time, "
                f"about {duration(totals.downtime_estimate)} in all.\n"
            )
        if self.encryption.encrypted:
            body.append(f"Encrypted {self.encryption.describe()} (age format).\n")
        return body

    def _destination_refusal(self) -> str | None:
        try:
            return refusal(self.destination, self.encryption.encrypted)
        except PortalBackupError as exc:
            return error_sentence(exc)

    def _confirmed(self, plan: Plan) -> Callable[[bool | None], None]:
        def start(yes: bool | None) -> None:
            if not yes or self.loaded is None:
                return
            from tui.core.backup.run import BackupOptions
            from tui.core.dest.target import parse_dest
            from tui.ui.screens.progress import ProgressScreen

            self._sizes_cancel.set()  # the run measures what it reads itself
            encrypt_to = self.encryption.recipients()
            remote = remote_label(self.destination) is not None
            options = BackupOptions(
                output=None if remote else encrypted_output(self.destination, bool(encrypt_to)),
                to=parse_dest(self.destination) if remote else None,
                verify_upload=remote,  # a new full backup counts once it is read back
                quiesce=self.quiesce,
                encrypt_to=encrypt_to,
                **self.papp.backup_overrides,
            )
            self._stale = True
            self.papp.job.start()  # running from now on, before any screen event can ask
            self.app.push_screen(ProgressScreen(self.loaded, plan, options))

        return start
