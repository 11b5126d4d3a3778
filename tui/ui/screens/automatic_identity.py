"""The age identity of automatic backups, shown as text and as a QR code, and the question that
gates scheduling: is it saved somewhere off this host? Answers True only for an explicit yes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.ui.logic.automatic import NewIdentity
from tui.ui.widgets.qr import QRWidget

SAVED = "I have saved it off this host (y)"


def identity_text(identity: NewIdentity | None, recipients: Sequence[str]) -> Text:
    if identity is None:
        keys = "\n".join(f"  {r}" for r in recipients) or "  (none)"
        return Text.assemble(
            "Automatic backups are encrypted to:\n",
            (keys, "bold"),
            "\n\nOnly their secret keys (or the passphrase) can decrypt them. Confirm that one "
            "is kept somewhere other than this host (a password manager, a printed copy): if "
            "this host is lost, the backups are useless without it.",
        )
    return Text.assemble(
        "Automatic backups are encrypted to a new age key. Its secret key decrypts every one "
        "of them; it is in ",
        (str(identity.path), "bold"),
        " on this host, which is no use if this host is lost. Save it elsewhere now: scan the "
        "code with a phone's password manager, or copy the line (c).\n\n",
        (identity.secret, "bold"),
        "\n\nPublic key: ",
        identity.recipient,
    )


class IdentityDialog(ModalScreen[bool]):
    CSS_PATH = ["dialogs.tcss", "automatic.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Saved"),
        Binding("n,escape", "answer(False)", "Not yet"),
        Binding("c", "copy", "Copy the key"),
    ]

    def __init__(self, identity: NewIdentity | None, recipients: Sequence[str] = ()) -> None:
        super().__init__()
        self.identity = identity
        self.recipients = list(recipients)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -warning", id="identity-dialog"):
            yield Static("Save the key of your backups", classes="dialog-title")
            with VerticalScroll(id="identity-scroll"), Horizontal(id="identity-row"):
                if self.identity is not None:
                    yield QRWidget(self.identity.secret, id="qr")
                yield Static(identity_text(self.identity, self.recipients), id="identity-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(SAVED, id="yes", variant="primary")
                yield Button("Not yet (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no").focus()  # the safe answer: a stray Enter schedules nothing

    def action_copy(self) -> None:
        if self.identity is not None:  # OSC 52: lands on the clipboard of the user's own computer
            self.app.copy_to_clipboard(self.identity.secret)
            self.notify("The secret key is on the clipboard: paste it somewhere safe.")

    def action_answer(self, saved: bool) -> None:
        self.dismiss(saved)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
