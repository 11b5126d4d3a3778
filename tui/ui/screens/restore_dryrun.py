"""The dry run: what restoring the ticked items would change, path by path. Nothing is
changed; this host's side is only read (lstat, and a hash where sizes match but times do not),
in a worker. Answers "restore" when the user goes on from here, None when they go back."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.core.errors import error_sentence
from tui.core.restore.plan import RestoreSelection
from tui.ui.logic.restore_backend import RestoreBackend, RestoreSession
from tui.ui.logic.restore_text import dry_run_text


class DiffReady(Message):
    def __init__(self, text: Text, error: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.error = error


class RestoreDryRunScreen(Screen[str | None]):
    CSS_PATH = "restore.tcss"
    AUTO_FOCUS = "#dry-run-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restore", "Restore"),
        Binding("q,backspace", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(
        self, backend: RestoreBackend, session: RestoreSession, sel: RestoreSelection
    ) -> None:
        super().__init__()
        self.backend = backend
        self.session = session
        self.sel = sel
        self.text: Text | None = None  # once worked out
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        n = len(self.sel.items)
        yield Static(
            f"Dry run: what restoring {n} item{'s' if n != 1 else ''} would change", classes="title"
        )
        yield Static(
            Text.assemble(
                ("+", "green"),
                " added  ",
                ("~", "yellow"),
                " changed  ",
                ("-", "red"),
                " removed (only here)  ",
                ("m", "cyan"),
                " mode, owner or time only",
            ),
            id="legend",
        )
        with VerticalScroll(id="dry-run-scroll"):
            yield Static("Comparing the archive with this host…", id="dry-run")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#dry-run-scroll").loading = True
        self._diff(self.backend, self.session, self.sel)

    @work(thread=True, exclusive=True, group="restore-diff", exit_on_error=False)
    def _diff(
        self, backend: RestoreBackend, session: RestoreSession, sel: RestoreSelection
    ) -> None:
        try:
            text = dry_run_text(sel, backend.diff(session, sel))
        except Exception as exc:
            self.post_message(DiffReady(Text(""), error_sentence(exc)))
            return
        self.post_message(DiffReady(text))

    def on_diff_ready(self, message: DiffReady) -> None:
        self.query_one("#dry-run-scroll").loading = False
        if message.error is not None:
            self.error = message.error
            self.query_one("#dry-run", Static).update(
                Text(f"The comparison failed: {message.error}", style="bold red")
            )
            return
        self.text = message.text
        self.query_one("#dry-run", Static).update(message.text)

    def action_restore(self) -> None:
        self.dismiss("restore")

    def action_back(self) -> None:
        self.dismiss(None)
