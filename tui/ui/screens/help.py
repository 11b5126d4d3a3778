"""Every key binding, read from the screens' own BINDINGS so this list never drifts."""

from __future__ import annotations

from typing import ClassVar

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
}


def _key_text(app: App[object], binding: Binding) -> str:
    keys = [k.strip() for k in binding.key.split(",")]
    return ", ".join(app.get_key_display(Binding(k, binding.action)) for k in keys)


def binding_rows(app: App[object], bindings: list[BindingType]) -> list[tuple[str, str]]:
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


def help_sections() -> list[tuple[str, list[BindingType]]]:
    from tui.ui.app import PortalBackupApp
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
        ("Backup running", ProgressScreen.BINDINGS),
        ("Backup done", DoneScreen.BINDINGS),
        ("Explorer", ExplorerScreen.BINDINGS),
        ("Verify", VerifyScreen.BINDINGS),
        ("Restore (R; r in explorer)", [*RestoreTree.BINDINGS, *RestoreScreen.BINDINGS]),
        ("Restore dry run", RestoreDryRunScreen.BINDINGS),
        ("Restore running", RestoreRunScreen.BINDINGS),
        ("Restore done", RestoreDoneScreen.BINDINGS),
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
