"""The restore's result: what was restored, what failed and why, where the old data is."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.core.events import RestoreFinished
from tui.ui.logic.restore_text import result_text


class RestoreDoneScreen(Screen[None]):
    CSS_PATH = "restore.tcss"
    AUTO_FOCUS = "#result-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b,backspace", "back", "Back"),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, result: RestoreFinished, keep_old: bool) -> None:
        super().__init__()
        self.result = result
        self.keep_old = keep_old

    def compose(self) -> ComposeResult:
        r = self.result
        if r.ok:
            title = "✓ Restore complete"
        elif r.done:
            title = f"Restore finished: {len(r.failed)} of {len(r.done) + len(r.failed)} failed"
        else:
            title = "Restore failed: nothing was restored"
        heading = Static(title, id="heading", classes="title")
        heading.set_class(not r.ok, "-failed")
        yield heading
        with VerticalScroll(id="result-scroll"):
            yield Static(result_text(r, self.keep_old), id="result")
        yield Footer(compact=True, show_command_palette=False)

    def action_back(self) -> None:
        self.app.pop_screen()
