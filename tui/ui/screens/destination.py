"""The destination dialog (`d` on the home screen): a folder on this host, or an rclone remote
picked from the tool's config or added through a short form; "Test" writes, reads back and
deletes a small object. A remote is refused while the backup is not encrypted. Answers the
DEST spec, or None when cancelled. rclone and the disk are only touched in workers."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.errors import PortalBackupError, error_sentence
from tui.ui.logic.destinations import ProbeOutcome, list_remotes, probe_destination, refusal
from tui.ui.screens.dialogs import complete_field

ADD = "+add"  # the option that opens the add-a-remote form


class RemotesListed(Message):
    def __init__(self, names: list[str], error: str | None) -> None:
        super().__init__()
        self.names = names
        self.error = error


class Probed(Message):
    def __init__(self, spec: str, outcome: ProbeOutcome) -> None:
        super().__init__()
        self.spec = spec
        self.outcome = outcome


class DestinationDialog(ModalScreen[str | None]):
    CSS_PATH = "destination.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "complete", "Complete", show=False, priority=True),
        Binding("ctrl+t", "test", "Test", show=False),
    ]

    def __init__(self, current: str, encrypted: bool, config: Path | None = None) -> None:
        super().__init__()
        self.current = current
        self.encrypted = encrypted
        self.config = config  # None: the tool's own rclone config
        self.remotes: list[str] | None = None  # once listed
        self.last_probe: Probed | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Where should the archive go?", classes="dialog-title")
            yield Static(
                "A folder on this host (Tab completes) or a remote as NAME:FOLDER.",
                classes="dialog-body",
            )
            yield Input(self.current, id="path")
            yield Static("Remotes: looking…", id="remotes-head", classes="dialog-body")
            yield OptionList(id="remotes")
            yield Static("", id="dest-status", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use this", id="ok", variant="primary")
                yield Button("Test (^t)", id="test")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        field = self.query_one("#path", Input)
        field.cursor_position = len(field.value)
        field.focus()
        self._list_remotes()

    # ------------------------------------------------------------------ remotes

    @work(thread=True, exclusive=True, group="remotes", exit_on_error=False)
    def _list_remotes(self) -> None:
        try:
            names, error = list_remotes(self.config), None
        except PortalBackupError as exc:
            names, error = [], error_sentence(exc)
        self.post_message(RemotesListed(names, error))

    def on_remotes_listed(self, message: RemotesListed) -> None:
        self.remotes = message.names
        head = self.query_one("#remotes-head", Static)
        if message.error:
            head.update(Text(f"Remotes: {message.error}", style="red"))
        else:
            head.update(
                "Remotes (Enter picks one, then type a folder after the colon):"
                if message.names
                else "Remotes: none configured yet."
            )
        listing = self.query_one("#remotes", OptionList)
        listing.clear_options()
        listing.add_options([Option(f"{n}:", id=n) for n in message.names])
        listing.add_option(Option("+ Add a remote: S3, B2, SFTP, WebDAV…", id=ADD))

    @on(OptionList.OptionSelected, "#remotes")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == ADD:
            self._add_remote()
            return
        self._fill(f"{event.option.id}:")
        self._say("Type the folder after the colon (it is created if missing), then Enter.")

    def _add_remote(self) -> None:
        from tui.ui.screens.remote_form import RemoteFormDialog

        def added(spec: str | None) -> None:
            if spec:
                self._fill(spec)
                self._list_remotes()
                self._say(f"Added {spec.split(':')[0]}. Test it (^t), or Enter to use it.")

        self.app.push_screen(RemoteFormDialog(self.remotes or [], self.config), added)

    def _fill(self, value: str) -> None:
        field = self.query_one("#path", Input)
        field.value = value
        field.cursor_position = len(value)
        field.focus()

    def _say(self, text: str | Text, error: bool = False) -> None:
        status = self.query_one("#dest-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # ------------------------------------------------------------------ test

    def action_test(self) -> None:
        spec = self.query_one("#path", Input).value.strip()
        if not spec:
            self._say("Type a folder or pick a remote first.", error=True)
            return
        self.query_one("#test", Button).disabled = True
        self._say("Testing: writing, reading back and deleting a small file…")
        self._probe(spec)

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def _probe(self, spec: str) -> None:
        self.post_message(Probed(spec, probe_destination(spec, self.config)))

    def on_probed(self, message: Probed) -> None:
        self.last_probe = message
        self.query_one("#test", Button).disabled = False
        outcome = message.outcome
        self._say(Text(("✓ " if outcome.ok else "✗ ") + outcome.text), error=not outcome.ok)

    # ------------------------------------------------------------------ choose

    def _choose(self) -> None:
        spec = self.query_one("#path", Input).value.strip()
        if not spec:
            return
        try:
            why = refusal(spec, self.encrypted)
        except PortalBackupError as exc:
            why = error_sentence(exc)
        if why is not None:
            self.app.bell()
            self._say(why, error=True)
            return
        self.dismiss(spec)

    def action_complete(self) -> None:
        field = self.query_one("#path", Input)
        if self.focused is field and complete_field(field):
            return
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#path")
    def _submitted(self) -> None:
        self._choose()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._choose()
        elif event.button.id == "test":
            self.action_test()
        else:
            self.dismiss(None)
