"""Adding an rclone remote from a short form: S3-compatible, B2, SFTP or WebDAV. Saved to the
tool's 0600 rclone config in a worker (secrets never on a command line); answers the new
remote's DEST spec ("name:folder"), or None when cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, Tab, Tabs

from tui.core.errors import PortalBackupError, error_sentence
from tui.ui.logic.destinations import KIND_BY_ID, KINDS, add_remote, suggest_name


class RemoteSaved(Message):
    def __init__(self, spec: str | None, error: str | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.error = error


def field_row(label: str, field: Input) -> Horizontal:
    return Horizontal(Static(label, classes="field-label"), field, classes="field-row")


class RemoteFormDialog(ModalScreen[str | None]):
    CSS_PATH = "destination.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, taken: list[str], config: Path | None = None, kind: str = "s3") -> None:
        super().__init__()
        self.taken = taken
        self.config = config
        self.kind = kind
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Add a remote", classes="dialog-title")
            yield Tabs(*(Tab(k.title, id=k.id) for k in KINDS), active=self.kind, id="kind")
            yield field_row(
                "Name", Input(suggest_name(self.kind, self.taken), id="name", compact=True)
            )
            for kind in KINDS:
                with Vertical(id=f"form-{kind.id}", classes="kind-form"):
                    for f in kind.fields:
                        yield field_row(
                            f.label,
                            Input(
                                placeholder=f.example,
                                password=f.secret,
                                id=f"{kind.id}-{f.key}",
                                classes="kind-field",
                                compact=True,
                            ),
                        )
            yield Static(
                "Saved in the tool's rclone config (mode 0600), passwords obscured.",
                id="form-note",
                classes="dialog-body",
            )
            yield Static("", id="form-status", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show_kind()
        self.query_one("#kind", Tabs).focus()

    @on(Tabs.TabActivated, "#kind")
    def _kind_changed(self, event: Tabs.TabActivated) -> None:
        previous = suggest_name(self.kind, self.taken)
        self.kind = event.tab.id or "s3"
        name = self.query_one("#name", Input)
        if name.value in ("", previous):  # the suggestion follows the kind until edited
            name.value = suggest_name(self.kind, self.taken)
        self._show_kind()

    def _show_kind(self) -> None:
        for kind in KINDS:
            self.query_one(f"#form-{kind.id}").display = kind.id == self.kind
        self.query_one("#form-status", Static).update("")

    def values(self) -> dict[str, str]:
        return {
            f.key: self.query_one(f"#{self.kind}-{f.key}", Input).value
            for f in KIND_BY_ID[self.kind].fields
        }

    def action_save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.query_one("#save", Button).disabled = True
        self.query_one("#form-status", Static).update("Saving…")
        self._save(self.query_one("#name", Input).value, self.kind, self.values())

    @work(thread=True, exclusive=True, group="save-remote", exit_on_error=False)
    def _save(self, name: str, kind: str, values: dict[str, str]) -> None:
        try:
            spec = add_remote(name, kind, values, self.config)
        except PortalBackupError as exc:
            self.post_message(RemoteSaved(None, error_sentence(exc)))
            return
        self.post_message(RemoteSaved(spec))

    def on_remote_saved(self, message: RemoteSaved) -> None:
        self.saving = False
        self.query_one("#save", Button).disabled = False
        if message.spec is None:
            status = self.query_one("#form-status", Static)
            status.update(message.error or "")
            status.add_class("-error")
            return
        self.dismiss(message.spec)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # Enter moves to the next field; on the last one of the form it saves.
        fields = [f"{self.kind}-{f.key}" for f in KIND_BY_ID[self.kind].fields]
        if event.input.id == fields[-1]:
            self.action_save()
        else:
            self.focus_next(Input)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
