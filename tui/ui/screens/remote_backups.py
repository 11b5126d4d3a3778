"""Opening a backup from a destination for the explorer or the restore: the backups there
(listed in a worker), "Download NAME (SIZE) into a temporary file?", the download with its
progress (a worker; hash-checked), then the local copy. Answers a LocalCopy the caller removes
when it is done with it, or None."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from tui.core.errors import PortalBackupError, error_sentence
from tui.core.humanfmt import human_bytes
from tui.ui.logic.destinations import destination_label
from tui.ui.logic.remote_open import LocalCopy, download, download_question, list_remote_backups
from tui.ui.screens.dialogs import ConfirmDialog

if TYPE_CHECKING:
    from tui.core.dest.backups import BackupInfo


class BackupsListed(Message):
    def __init__(self, backups: list[BackupInfo], error: str | None = None) -> None:
        super().__init__()
        self.backups = backups
        self.error = error


class Downloading(Message):
    def __init__(self, done: int) -> None:
        super().__init__()
        self.done = done


class Downloaded(Message):
    def __init__(self, copy: LocalCopy | None, error: str | None = None) -> None:
        super().__init__()
        self.copy = copy
        self.error = error


def backup_row(info: BackupInfo) -> str:
    kind = "encrypted" if info.encrypted else "zip"
    checked = " · verified" if info.verified else ""
    return (
        f"{info.time:%Y-%m-%d %H:%M} UTC  {human_bytes(info.size):>9}  {kind}{checked}\n"
        f"  {info.name}"
    )


class RemoteBackupsDialog(ModalScreen[LocalCopy | None]):
    CSS_PATH = "destination.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, spec: str, config: Path | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.config = config
        self.backups: list[BackupInfo] | None = None
        self.copy: LocalCopy | None = None  # once downloaded
        self._cancel = threading.Event()
        self._downloading: BackupInfo | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Backups at {destination_label(self.spec)}", classes="dialog-title")
            yield Static("Listing…", id="backups-status", classes="dialog-body")
            yield OptionList(id="backups")
            yield ProgressBar(id="download", show_eta=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Download and open", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#download").display = False
        self.query_one("#backups").display = False
        self._list()

    @work(thread=True, exclusive=True, group="list-backups", exit_on_error=False)
    def _list(self) -> None:
        try:
            self.post_message(BackupsListed(list_remote_backups(self.spec, self.config)))
        except PortalBackupError as exc:
            self.post_message(BackupsListed([], error_sentence(exc)))

    def on_backups_listed(self, message: BackupsListed) -> None:
        self.backups = message.backups
        status = self.query_one("#backups-status", Static)
        if message.error:
            status.update(message.error)
            status.add_class("-error")
            return
        if not message.backups:
            status.update("No portal-backup archive there yet.")
            return
        status.update(f"{len(message.backups)} backups, newest first. Enter downloads one.")
        listing = self.query_one("#backups", OptionList)
        listing.add_options([Option(backup_row(b), id=b.name) for b in message.backups])
        listing.display = True
        listing.highlighted = 0
        listing.focus()

    def _ask(self, info: BackupInfo) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._start(info)

        self.app.push_screen(
            ConfirmDialog("Download this backup?", download_question(info), yes="Download"),
            answered,
        )

    def _start(self, info: BackupInfo) -> None:
        self._downloading = info
        bar = self.query_one("#download", ProgressBar)
        bar.update(total=max(1, info.size), progress=0)
        bar.display = True
        self.query_one("#ok", Button).disabled = True
        self.query_one("#backups-status", Static).update(
            f"Downloading {info.name} ({human_bytes(info.size)})…"
        )
        self._download(info)

    @work(thread=True, exclusive=True, group="download", exit_on_error=False)
    def _download(self, info: BackupInfo) -> None:
        last = [-1]

        def progress(done: int) -> None:
            if done != last[0]:
                last[0] = done
                self.post_message(Downloading(done))

        try:
            copy = download(self.spec, info.name, info.size, progress, self._cancel, self.config)
        except PortalBackupError as exc:
            self.post_message(Downloaded(None, error_sentence(exc)))
            return
        self.post_message(Downloaded(copy))

    def on_downloading(self, message: Downloading) -> None:
        self.query_one("#download", ProgressBar).update(progress=message.done)

    def on_downloaded(self, message: Downloaded) -> None:
        self._downloading = None
        if message.copy is None:
            self.query_one("#ok", Button).disabled = False
            status = self.query_one("#backups-status", Static)
            status.update(message.error or "The download failed.")
            status.add_class("-error")
            return
        self.copy = message.copy
        if self._cancel.is_set():  # closed while it finished
            message.copy.remove()
            return
        self.dismiss(message.copy)

    def _chosen(self) -> BackupInfo | None:
        listing = self.query_one("#backups", OptionList)
        if not self.backups or listing.highlighted is None:
            return None
        return self.backups[listing.highlighted]

    @on(OptionList.OptionSelected, "#backups")
    def _picked(self) -> None:
        info = self._chosen()
        if info is not None and self._downloading is None:
            self._ask(info)

    def action_cancel(self) -> None:
        self._cancel.set()  # a download in flight is abandoned and its file removed
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._picked()
        else:
            self.action_cancel()
