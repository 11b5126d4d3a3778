"""The done screen: where the archive is, what it took, and how to fetch it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from tui.core.events import Finished
from tui.core.humanfmt import count, duration, human_bytes
from tui.ui.logic.destinations import remote_fetch_command
from tui.ui.logic.encryption import decrypt_command
from tui.ui.logic.fetchcmd import FetchCommands, fetch_commands

if TYPE_CHECKING:
    from tui.ui.app import PortalBackupApp
    from tui.ui.logic.remote_open import LocalCopy


def details_table(f: Finished) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rate = f.bytes_in / f.seconds if f.seconds > 0 else 0.0
    table.add_row("Archive", f.path)
    table.add_row(
        "Size", f"{human_bytes(f.bytes)} (from {human_bytes(f.bytes_in)} in {count(f.files)} files)"
    )
    table.add_row("Took", f"{duration(f.seconds)}, {human_bytes(rate)}/s on average")
    downtime = ", ".join(f"{app} {duration(s)}" for app, s in sorted(f.downtime.items()))
    table.add_row("Apps down", downtime or "none (no app was stopped or paused)")
    table.add_row("SHA-256", f.sha256)
    return table


def command_line(command: str) -> Text:
    """A command on one line, never wrapped inside: it is copied and pasted whole (the
    body scrolls sideways when it is wider than the terminal)."""
    return Text(f"  {command}", no_wrap=True, overflow="ignore")


def decrypt_note(command: str) -> Text:
    how = (
        "it asks for the passphrase"
        if "-i " not in command
        else "KEYFILE: the secret key of one of the recipients"
    )
    return Text(f"  ({how}; a copies it)", style="dim")


FETCH_HEAD = Text.assemble(
    ("Fetch it to your own computer", "bold"), " (run this there; c or r copies it):"
)
DECRYPT_HEAD = Text.assemble(
    ("Encrypted", "bold"), " (age format). To get the zip back with the stock age tool:"
)
REMOTE_FETCH_HEAD = Text.assemble(
    ("Fetch it", "bold"), " on any host with portal-backup and this remote (c copies it):"
)
GUESSED_NOTE = Text("  (not logged in over SSH: replace the host name if needed)", style="dim")


class DoneScreen(Screen[None]):
    CSS_PATH = "done.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy('scp')", "Copy scp"),
        Binding("r", "copy('rsync')", "Copy rsync"),
        Binding("a", "copy('age')", "Copy age -d", show=False),
        Binding("e", "explore", "Explore"),
        Binding("b,backspace,escape", "back", "Back to the list"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, finished: Finished, encrypt_to: Sequence[Any] = ()) -> None:
        super().__init__()
        self.finished = finished
        self.encrypt_to = encrypt_to  # the run's age recipients: how it is decrypted
        self.commands: FetchCommands | None = None
        self.decrypt: str | None = None  # the age -d command, when the archive is encrypted
        # Uploaded to a destination: fetched from there, not from this host.
        self.remote_fetch = (
            remote_fetch_command(finished.destination, finished.name)
            if finished.destination and finished.name
            else None
        )

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        f = self.finished
        self.commands = fetch_commands(f.path, self.papp.environ)
        yield Static("✓ Backup complete", id="heading", classes="title")
        with VerticalScroll(id="body"):
            yield Static(details_table(f), id="details")
            encrypted = bool(self.encrypt_to) or f.path.endswith(".age")
            if f.holds_identity and encrypted:
                yield Static(
                    "This archive holds the Portal's private key, encrypted: keep "
                    "the passphrase or secret key as private as the key itself.",
                    id="identity",
                    classes="-encrypted",
                )
            elif f.holds_identity:
                yield Static(
                    "⚠ This archive holds the Portal's private key (its identity). "
                    "Keep this file private: whoever has it can impersonate your "
                    "Portal.",
                    id="identity",
                )
            if self.remote_fetch is not None:
                yield Static(REMOTE_FETCH_HEAD, id="fetch")
                yield Static(command_line(self.remote_fetch), id="remote-fetch", classes="command")
            else:
                yield Static(FETCH_HEAD, id="fetch")
                yield Static(command_line(self.commands.scp), id="scp", classes="command")
                yield Static(command_line(self.commands.rsync), id="rsync", classes="command")
                if self.commands.guessed:
                    yield Static(GUESSED_NOTE)
            if encrypted:  # after fetching: it is decrypted where it is used
                self.decrypt = decrypt_command(f.path, self.encrypt_to)
                yield Static(DECRYPT_HEAD, id="decrypt-head")
                yield Static(command_line(self.decrypt), id="decrypt", classes="command")
                yield Static(decrypt_note(self.decrypt))
        with Horizontal(id="buttons"):
            if self.remote_fetch is not None:
                yield Button("Copy fetch", id="copy-scp")
            else:
                yield Button("Copy scp", id="copy-scp")
                yield Button("Copy rsync", id="copy-rsync")
            if self.decrypt is not None:
                yield Button("Copy age -d", id="copy-age")
            yield Button("Open in explorer", id="explore", variant="primary")
            yield Button("Back to the list", id="back")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#explore", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy" and parameters == ("age",):
            return self.decrypt is not None
        if action == "copy" and parameters == ("rsync",):
            return self.remote_fetch is None
        return True

    def action_copy(self, which: str) -> None:
        if self.commands is None:
            return
        commands = {
            "scp": self.remote_fetch or self.commands.scp,
            "rsync": self.commands.rsync,
            "age": self.decrypt,
        }
        text = commands.get(which)
        if text is None:
            return
        self.app.copy_to_clipboard(text)
        which = "fetch" if text == self.remote_fetch else which
        # Short, and only on this screen: it must not cover the next screen's buttons.
        self.notify(
            f"Copied the {which} command (through OSC 52: your terminal must allow it).",
            title="Clipboard",
            timeout=3,
        )

    def action_explore(self) -> None:
        from tui.ui.screens.explorer import ExplorerScreen

        self.app.clear_notifications()
        if self.finished.destination:  # listed and downloaded from there, newest first
            from tui.ui.screens.remote_backups import RemoteBackupsDialog

            def downloaded(copy: LocalCopy | None) -> None:
                if copy is not None:
                    self.app.push_screen(ExplorerScreen(str(copy.path), on_close=copy.remove))

            self.app.push_screen(RemoteBackupsDialog(self.finished.destination), downloaded)
            return
        self.app.push_screen(ExplorerScreen(self.finished.path))

    def action_back(self) -> None:
        self.app.clear_notifications()
        self.app.pop_screen()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {
            "copy-scp": lambda: self.action_copy("scp"),
            "copy-rsync": lambda: self.action_copy("rsync"),
            "copy-age": lambda: self.action_copy("age"),
            "explore": self.action_explore,
            "back": self.action_back,
        }
        actions[event.button.id or "back"]()
