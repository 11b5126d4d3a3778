"""Small modal dialogs: confirm, ask for a path, show a message. Every one closes by keys
other than Esc too (n, q, Tab to a button), since Esc is slow over SSH."""

from __future__ import annotations

import os
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.ui.logic.archive_paths import archives_in, complete_path, initial_choices, with_slash

RenderableText = str | Text


def complete_field(field: Input) -> bool:
    """Tab in a path field: completes it (True), or False when there is nothing to add."""
    completed = complete_path(field.value)
    if completed == field.value:
        return False
    field.value = completed
    field.cursor_position = len(completed)
    return True


class ConfirmDialog(ModalScreen[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self,
        title: str,
        body: RenderableText,
        yes: str = "Yes",
        no: str = "No",
        default_yes: bool = True,
        danger: bool = False,
    ) -> None:
        super().__init__()
        self._title, self._body, self._yes, self._no = title, body, yes, no
        self._default_yes = default_yes
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{self._yes} (y)", id="yes", variant="error" if self._danger else "primary"
                )
                yield Button(f"{self._no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes" if self._default_yes else "#no").focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PrivateKeyDialog(ModalScreen[str | None]):
    """Before a backup that would hold the private key in the clear: encrypt it, go on anyway,
    or cancel. Answers "encrypt", "anyway" or None. The safe answer has the focus."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "answer('encrypt')", "Encrypt it"),
        Binding("a", "answer('anyway')", "Back up anyway"),
        Binding("c,n,escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, body: RenderableText) -> None:
        super().__init__()
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -warning"):
            yield Static("⚠ The private key, unencrypted", classes="dialog-title")
            yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Encrypt it (e)", id="encrypt", variant="primary")
                yield Button("Back up anyway (a)", id="anyway", variant="error")
                yield Button("Cancel (c)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#encrypt").focus()

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("encrypt", "anyway") else None)


class PathDialog(ModalScreen[str | None]):
    """Asks for a path. Enter accepts; Esc, or Tab to Cancel, gives None."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str, value: str, ok: str = "OK") -> None:
        super().__init__()
        self._title, self._hint, self._value, self._ok = title, hint, value, ok

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield Static(self._hint, classes="dialog-body")
            yield Input(self._value, id="path")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._ok, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        value = self.query_one("#path", Input).value.strip()
        self.dismiss((value or None) if event.button.id == "ok" else None)


class ArchiveDialog(ModalScreen[str | None]):
    """Asks for an archive: starts with the newest one this host wrote or opened, lists the
    recent ones and the last output folder, completes paths with Tab, and lists the archives
    inside a folder instead of refusing it. Gives the chosen file's path, or None."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "complete", "Complete", show=False, priority=True),
    ]

    def __init__(self, title: str, hint: str, folders: list[str], ok: str = "Open") -> None:
        super().__init__()
        self._title, self._hint, self._folders, self._ok = title, hint, folders, ok

    def compose(self) -> ComposeResult:
        choices = self._choices = initial_choices(self._folders)
        with Vertical(classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield Static(self._hint + " Tab completes a path.", classes="dialog-body")
            yield Input(choices.value, id="path")
            yield Static("", id="archive-status", classes="dialog-body")
            yield OptionList(id="choices")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._ok, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._offer("Recent:", self._choices.archives, self._choices.folders)
        field = self.query_one("#path", Input)
        field.cursor_position = len(field.value)
        field.focus()

    def _offer(self, status: str, archives: list[str], folders: list[str]) -> None:
        options = [Option(f"{f}  (folder: Enter lists its archives)", id=f) for f in folders]
        options[:0] = [Option(a, id=a) for a in archives]
        listing = self.query_one("#choices", OptionList)
        listing.clear_options()
        listing.add_options(options)
        listing.display = bool(options)
        self.query_one("#archive-status", Static).update(status if options else "")

    def _choose(self, path: str) -> None:
        """A file closes the dialog; a folder lists its archives."""
        path = os.path.expanduser(path.strip())
        if not path:
            return
        if not os.path.isdir(path):
            self.dismiss(path)
            return
        try:
            found = archives_in(path)
        except OSError as exc:
            self._offer(f"Cannot read {path}: {exc.strerror or exc}", [], [])
            return
        field = self.query_one("#path", Input)
        field.value = with_slash(path)
        field.cursor_position = len(field.value)
        if found:
            self._offer(f"Archives in {with_slash(path)} (newest first):", found, [])
            self.query_one("#choices", OptionList).focus()
            self.query_one("#choices", OptionList).highlighted = 0
        else:
            self._offer("", [], [])
            self.query_one("#archive-status", Static).update(
                f"No .zip or .zip.age file in {with_slash(path)}: type a name, or Tab."
            )

    def action_complete(self) -> None:
        field = self.query_one("#path", Input)
        if self.focused is field and complete_field(field):
            return
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        self._choose(event.value)

    @on(OptionList.OptionSelected, "#choices")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id or "")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._choose(self.query_one("#path", Input).value)
        else:
            self.dismiss(None)


class MessageDialog(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,q,escape,space", "close", "Close"),
    ]

    def __init__(self, title: str, body: RenderableText, error: bool = False) -> None:
        super().__init__()
        self._title, self._body, self._error = title, body, error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error" if self._error else "dialog"):
            yield Static(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (enter)", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close").focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self) -> None:
        self.dismiss(None)
