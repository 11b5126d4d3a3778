"""Every key binding, read from the screens' own BINDINGS so this list never drifts."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

EXTRA = {  # keys handled by widgets themselves (Textual's Tree, Input, DataTable, buttons)
    "Moving around": [
        ("up/down, page up/down, home/end", "move"),
        ("tab / shift+tab", "next / previous part of the screen"),
    ],
    "Dialogs": [
        ("y / n", "answer yes / no"),
        ("enter", "accept, or press the focused button"),
        ("tab", "move to the buttons (Cancel is reachable without Esc)"),
    ],
    "Encryption (e on the list)": [
        ("left/right, enter", "choose none, passphrase or age keys"),
        ("tab / enter", "next field; enter in the last one (or Use this) chooses it"),
        ("encrypted archives", "the explorer asks for the passphrase or an identity file"),
    ],
    "Add a remote (in the destination dialog)": [
        ("left/right", "S3-compatible, Backblaze B2, SFTP or WebDAV"),
        ("enter", "next field; enter in the last one (or Save) saves it"),
    ],
}


def _key_text(app: App[Any], binding: Binding) -> str:
    keys = [k.strip() for k in binding.key.split(",")]
    return ", ".join(app.get_key_display(Binding(k, binding.action)) for k in keys)


def binding_rows(app: App[Any], bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for b in bindings:
        if not isinstance(b, Binding) or not b.description or b.system:
            continue
        if b.action == "app.help":  # a screen's own copy, for its footer: listed under Everywhere
            continue
        if b.description in seen:  # e.g. Esc as a second key for Cancel
            rows = [
                (k + ", " + _key_text(app, b), d) if d == b.description else (k, d) for k, d in rows
            ]
            continue
        seen.add(b.description)
        rows.append((_key_text(app, b), b.description))
    return rows


def without(bindings: list[BindingType], action: str) -> list[BindingType]:
    return [b for b in bindings if not (isinstance(b, Binding) and b.action == action)]


def help_sections() -> list[tuple[str, list[BindingType]]]:
    from tui.ui.app import PortalBackupApp
    from tui.ui.screens.automatic import AutomaticScreen
    from tui.ui.screens.automatic_identity import IdentityDialog
    from tui.ui.screens.automatic_run import AutoRunScreen
    from tui.ui.screens.destination import DestinationDialog
    from tui.ui.screens.dialogs import ConfirmDialog, PrivateKeyDialog
    from tui.ui.screens.done import DoneScreen
    from tui.ui.screens.explorer import ExplorerScreen
    from tui.ui.screens.home import HomeScreen
    from tui.ui.screens.progress import ProgressScreen
    from tui.ui.screens.restore import RestoreScreen
    from tui.ui.screens.restore_done import RestoreDoneScreen
    from tui.ui.screens.restore_dryrun import RestoreDryRunScreen
    from tui.ui.screens.restore_run import RestoreRunScreen
    from tui.ui.screens.verify import VerifyScreen
    from tui.ui.widgets.column_tree import ColumnTree
    from tui.ui.widgets.item_tree import ItemTree
    from tui.ui.widgets.restore_tree import RestoreTree

    return [
        ("Everywhere", PortalBackupApp.BINDINGS),
        ("Trees (the list, the explorer)", ColumnTree.BINDINGS),
        ("Backup list", [*ItemTree.BINDINGS, *HomeScreen.BINDINGS]),
        # Its Cancel is a button (tab reaches it; "Dialogs" below), Esc a shortcut only.
        ("Destination (d on the list)", without(DestinationDialog.BINDINGS, "cancel")),
        ("Backup running", ProgressScreen.BINDINGS),
        ("Backup done", DoneScreen.BINDINGS),
        ("Explorer", ExplorerScreen.BINDINGS),
        ("Verify", VerifyScreen.BINDINGS),
        ("Restore (R; r in explorer)", [*RestoreTree.BINDINGS, *RestoreScreen.BINDINGS]),
        ("Restore dry run", RestoreDryRunScreen.BINDINGS),
        ("Restore running", RestoreRunScreen.BINDINGS),
        ("Restore done", RestoreDoneScreen.BINDINGS),
        ("Automatic backups (A on the list)", AutomaticScreen.BINDINGS),
        ("Automatic backup running (r there)", AutoRunScreen.BINDINGS),
        ("Save the key (e or i there)", IdentityDialog.BINDINGS),
        ("Confirm", ConfirmDialog.BINDINGS),
        ("Private key, unencrypted", PrivateKeyDialog.BINDINGS),
    ]


class HelpScreen(Screen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,question_mark,f1,backspace,escape", "close", "Close help"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Keys", classes="title")
        with VerticalScroll(id="help-body"):
            yield Static(self._table(), id="help-table")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, min_width=16)
        table.add_column()
        sections = [
            (title, binding_rows(self.app, list(bindings))) for title, bindings in help_sections()
        ]
        sections += list(EXTRA.items())
        for title, rows in sections:
            table.add_row(Text(title, style="bold underline"), "")
            for keys, what in rows:
                table.add_row(keys, what)
            table.add_row("", "")
        table.add_row(Text("Over SSH", style="bold underline"), "")
        table.add_row("--no-mouse", "if clicks or scrolling print garbage")
        table.add_row("Esc", "never the only key: q or backspace do the same")
        return table

    def action_close(self) -> None:
        self.app.pop_screen()
