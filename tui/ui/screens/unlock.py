"""Asking for the key of an encrypted (.age) archive: its passphrase or an age identity file.

The check runs in a worker (a passphrase costs about a second of scrypt, on purpose); a wrong
key is said in the dialog, which stays open for another try. Answers True once the archive's
keys are known to the app (ArchiveKeys), False when the user goes back.
"""

from __future__ import annotations

import os
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.core.errors import error_sentence
from tui.ui.logic.unlock import ArchiveKeys, identities_from


class UnlockFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Unlocked(Message):
    pass


class UnlockDialog(ModalScreen[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, path: str, keys: ArchiveKeys, error: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.keys = keys
        self.error = error  # what went wrong last (a wrong key given on the command line)
        self.checking = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"{os.path.basename(self.path)} is encrypted", classes="dialog-title")
            yield Static(
                "Its passphrase, or the path of an age identity file (the key file "
                "age-keygen wrote). Nothing decrypted is written to disk.",
                classes="dialog-body",
            )
            yield Input(placeholder="Passphrase", password=True, id="passphrase")
            yield Input(
                placeholder="or an identity file, e.g. ~/.config/age/key.txt", id="identity"
            )
            yield Static("", id="unlock-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", id="open", variant="primary")
                yield Button("Back", id="back")

    def on_mount(self) -> None:
        self._status(self.error, error=True)
        self.query_one("#passphrase", Input).focus()

    def _status(self, text: str | None, error: bool = False) -> None:
        status = self.query_one("#unlock-status", Static)
        status.display = bool(text)
        text = text or ""
        status.update(Text(text[:1].upper() + text[1:], style="bold red" if error else "dim"))

    @on(Input.Submitted)
    @on(Button.Pressed, "#open")
    def action_open(self) -> None:
        if self.checking:
            return
        passphrase = self.query_one("#passphrase", Input).value
        identity = self.query_one("#identity", Input).value.strip()
        if not passphrase and not identity:
            self._status("Type the passphrase, or the path of an identity file.", error=True)
            return
        self.checking = True
        self._status("Checking…")
        self._check(passphrase, identity)

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _check(self, passphrase: str, identity: str) -> None:
        try:
            self.keys.unlock(self.path, identities_from(passphrase, [identity] if identity else []))
        except Exception as exc:  # a wrong key, a bad file: one sentence, and another try
            self.post_message(UnlockFailed(error_sentence(exc)))
            return
        self.post_message(Unlocked())

    def on_unlock_failed(self, message: UnlockFailed) -> None:
        self.checking = False
        self.error = message.text
        self._status(message.text, error=True)
        field = self.query_one("#passphrase", Input)
        if field.value:  # a wrong passphrase: clear it for the next try
            field.value = ""
            field.focus()
        else:
            self.query_one("#identity", Input).focus()

    def on_unlocked(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(False)
