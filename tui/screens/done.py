"""The done screen: where the archive is, what it took, and how to fetch it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from ..core.events import Finished
from ..fetchcmd import FetchCommands, fetch_commands
from ..humanfmt import count, duration, human_bytes

if TYPE_CHECKING:
    from ..app import PortalBackupApp


def details_table(f: Finished) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rate = f.bytes_in / f.seconds if f.seconds > 0 else 0.0
    table.add_row("Archive", f.path)
    table.add_row("Size", f"{human_bytes(f.bytes)} (from {human_bytes(f.bytes_in)} in "
                          f"{count(f.files)} files)")
    table.add_row("Took", f"{duration(f.seconds)}, {human_bytes(rate)}/s on average")
    downtime = ", ".join(f"{app} {duration(s)}" for app, s in sorted(f.downtime.items()))
    table.add_row("Apps down", downtime or "none (no app was stopped or paused)")
    table.add_row("SHA-256", f.sha256)
    return table


def fetch_text(cmds: FetchCommands) -> Text:
    text = Text.assemble(("Fetch it to your own computer", "bold"),
                         " (run this there; c or r copies it):\n")
    text.append(f"  {cmds.scp}\n  {cmds.rsync}")
    if cmds.guessed:
        text.append("\n  (not logged in over SSH: replace the host name if needed)",
                    style="dim")
    return text


class DoneScreen(Screen[None]):
    CSS_PATH = "done.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy('scp')", "Copy scp"),
        Binding("r", "copy('rsync')", "Copy rsync"),
        Binding("e", "explore", "Explore"),
        Binding("b,backspace,escape", "back", "Back to the list"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, finished: Finished) -> None:
        super().__init__()
        self.finished = finished
        self.commands: FetchCommands | None = None

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        f = self.finished
        self.commands = fetch_commands(f.path, self.papp.environ)
        yield Static("✓ Backup complete", id="heading", classes="title")
        with VerticalScroll(id="body"):
            yield Static(details_table(f), id="details")
            if f.holds_identity:
                yield Static("⚠ This archive holds the Portal's private key (its identity). "
                             "Keep this file private: whoever has it can impersonate your "
                             "Portal.", id="identity")
            yield Static(fetch_text(self.commands), id="fetch")
        with Horizontal(id="buttons"):
            yield Button("Copy scp", id="copy-scp")
            yield Button("Copy rsync", id="copy-rsync")
            yield Button("Open in explorer", id="explore", variant="primary")
            yield Button("Back to the list", id="back")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#explore", Button).focus()

    def action_copy(self, which: str) -> None:
        if self.commands is None:
            return
        text = self.commands.scp if which == "scp" else self.commands.rsync
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied: {text}\n(through OSC 52: your terminal must allow it)",
                    title="Clipboard")

    def action_explore(self) -> None:
        from .explorer import ExplorerScreen

        self.app.push_screen(ExplorerScreen(self.finished.path))

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"copy-scp": lambda: self.action_copy("scp"),
                   "copy-rsync": lambda: self.action_copy("rsync"),
                   "explore": self.action_explore, "back": self.action_back}
        actions[event.button.id or "back"]()
