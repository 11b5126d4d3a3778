"""The encryption dialog of the backup screen: none, a passphrase (typed twice, with a strength
hint), or age public keys (typed, pasted, or from a recipients file). Answers an Encryption, or
None when cancelled; nothing is chosen until the fields are valid."""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, Tab, Tabs, TextArea

from tui.core.crypto.age import AgeError
from tui.ui.logic.encryption import (
    Encryption,
    Mode,
    parse_keys,
    passphrase_strength,
    read_recipients_file,
)

MODES: tuple[tuple[Mode, str], ...] = (
    ("none", "None"),
    ("passphrase", "Passphrase"),
    ("recipients", "age keys"),
)
STRENGTH_STYLE = {"weak": "bold red", "fair": "bold yellow", "strong": "bold green"}
ABOUT = {
    "none": "The archive is a plain zip. It can hold the Portal's private key: keep it on "
    "this server or somewhere as private.",
    "passphrase": "Written as NAME.zip.age (age format): the stock tool decrypts it with "
    "age -d. Without the passphrase there is no way back.",
    "recipients": "Written as NAME.zip.age for these age public keys; any one of their "
    "secret keys decrypts it (age -d -i KEYFILE). Make one with age-keygen.",
}


class EncryptionDialog(ModalScreen[Encryption | None]):
    CSS_PATH = "encryption.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, current: Encryption) -> None:
        super().__init__()
        self.current = current
        # Opening it means the user wants to encrypt: from "none", start on the passphrase.
        self.mode: Mode = current.mode if current.encrypted else "passphrase"

    def compose(self) -> ComposeResult:
        c = self.current
        with Vertical(classes="dialog"):
            yield Static("Encrypt the archive", classes="dialog-title")
            # Tabs, not radio buttons: left/right choose at once and the form below follows.
            yield Tabs(*(Tab(label, id=mode) for mode, label in MODES), active=self.mode, id="mode")
            yield Static("", id="about", classes="dialog-body")
            with Vertical(id="passphrase-box", classes="mode-box"):
                yield Input(c.passphrase, placeholder="Passphrase", password=True, id="passphrase")
                yield Input(c.passphrase, placeholder="The same again", password=True, id="again")
                yield Static("", id="strength")
            with Vertical(id="recipients-box", classes="mode-box"):
                yield TextArea(
                    c.keys_text,
                    id="keys",
                    soft_wrap=True,
                    show_line_numbers=False,
                    placeholder="age1… public keys: one a line, or paste several",
                )
                yield Static("", id="keys-status")
                yield Input(
                    c.recipients_file,
                    id="keys-file",
                    placeholder="and/or a recipients file (one age1… key a line)",
                )
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use this", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show_mode()
        self._passphrase_changed()
        self._keys_changed()
        first = {"none": "#mode", "passphrase": "#passphrase", "recipients": "#keys"}
        self.query_one(first[self.mode]).focus()

    # ------------------------------------------------------------------ live feedback

    @on(Tabs.TabActivated, "#mode")
    def _mode_changed(self, event: Tabs.TabActivated) -> None:
        self.mode = cast(Mode, event.tab.id)
        self._show_mode()
        self._show_problem(None)

    def _show_mode(self) -> None:
        self.query_one("#passphrase-box").display = self.mode == "passphrase"
        self.query_one("#recipients-box").display = self.mode == "recipients"
        self.query_one("#about", Static).update(ABOUT[self.mode])

    @on(Input.Changed, "#passphrase, #again")
    def _passphrase_changed(self) -> None:
        first = self.query_one("#passphrase", Input).value
        again = self.query_one("#again", Input).value
        strength = passphrase_strength(first)
        hint = Text(strength.hint())
        if strength.label:
            hint.stylize(STRENGTH_STYLE[strength.label], 10, 10 + len(strength.label))
        if again and again != first:
            hint.append("\nThe two passphrases differ.", style="bold red")
        elif again and first:
            hint.append("\nThe two passphrases match.")
        self.query_one("#strength", Static).update(hint)
        self._show_problem(None)  # a refusal is about what was there when it was made

    @on(TextArea.Changed, "#keys")
    def _keys_changed(self) -> None:
        keys, errors = parse_keys(self.query_one("#keys", TextArea).text)
        self._show_problem(None)
        status = self.query_one("#keys-status", Static)
        if errors:  # inline, as they are typed
            status.update(Text("\n".join(f"• {e}" for e in errors[:3]), style="bold red"))
        else:
            n = len(keys)
            status.update(Text(f"{n} valid key{'' if n == 1 else 's'}" if n else "", style="dim"))

    def _show_problem(self, text: str | None) -> None:
        problem = self.query_one("#problem", Static)
        problem.display = bool(text)
        problem.update(Text(text or ""))

    # ------------------------------------------------------------------ answering

    @on(Input.Submitted, "#passphrase")
    def _next_field(self) -> None:
        self.query_one("#again", Input).focus()

    @on(Input.Submitted, "#again, #keys-file")
    def _submitted(self) -> None:
        self.action_ok()

    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        chosen = self._choice()
        if isinstance(chosen, Encryption):
            self.dismiss(chosen)
            return
        problem, field = chosen  # refused: say why, and put the cursor where to fix it
        self._show_problem(problem)
        self.query_one(field).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _choice(self) -> Encryption | tuple[str, str]:
        """The Encryption the fields describe, or what is wrong and the field to fix."""
        if self.mode == "none":
            return Encryption()
        if self.mode == "passphrase":
            first = self.query_one("#passphrase", Input).value
            again = self.query_one("#again", Input).value
            if not first:
                return "Type a passphrase, twice.", "#passphrase"
            if first != again:  # the line under the fields says so already, in red
                return "", "#again"
            if passphrase_strength(first).label == "weak":
                self.notify(
                    "A weak passphrase: the archive is only as safe as it is.", severity="warning"
                )
            return Encryption("passphrase", passphrase=first)
        text = self.query_one("#keys", TextArea).text
        keys, errors = parse_keys(text)
        if errors:
            return "Fix or remove the keys marked above.", "#keys"  # listed there already
        path = self.query_one("#keys-file", Input).value.strip()
        from_file = []
        if path:
            try:  # a small text file, read once, here: the count must be known now
                from_file = read_recipients_file(path)
            except AgeError as exc:
                return f"• {exc}", "#keys-file"
        if not keys and not from_file:
            return "Give at least one age1… key, or a recipients file.", "#keys"
        return Encryption(
            "recipients",
            keys=tuple(keys),
            keys_text=text,
            recipients_file=path,
            file_keys=tuple(from_file),
        )
