"""The Restore screen: what an archive holds beside what this host has now; tick, dry-run,
confirm. The run itself and its result are restore_run.py and restore_done.py.

Everything that touches the archive, the disk or Docker runs in thread workers that post
messages: opening (and decrypting) the archive and planning, measuring this host, working out
what a choice restores. The UI thread only draws plain data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, Tree

from tui.core.crypto.age import AgeNoMatchError
from tui.core.errors import error_sentence
from tui.core.model import Size
from tui.core.restore.describe import plural, runnable
from tui.core.restore.plan import RestoreSelection
from tui.core.restore.run import RestoreOptions
from tui.ui.logic.batcher import Batcher
from tui.ui.logic.restore_backend import RestoreBackend, RestoreSession, backend_for
from tui.ui.logic.restore_choice import RestoreChoice
from tui.ui.logic.restore_text import (
    archive_line,
    confirm_text,
    details,
    identity_confirm_text,
    summary,
)
from tui.ui.logic.unlock import KeyNeeded
from tui.ui.screens.dialogs import ConfirmDialog, MessageDialog
from tui.ui.widgets.restore_tree import RestoreTree

if TYPE_CHECKING:
    from tui.ui.app import PortalBackupApp

NARROW = 110  # below this width the details go under the list
SIZE_UPDATES_HZ = 4.0


class SessionOpened(Message):
    def __init__(self, session: RestoreSession) -> None:
        super().__init__()
        self.session = session


class PlanFailed(Message):
    def __init__(self, text: str, needs_key: bool = False, wrong_key: bool = False) -> None:
        super().__init__()
        self.text = text
        self.needs_key = needs_key  # encrypted: ask for a passphrase or an identity file
        self.wrong_key = wrong_key


class AloneReady(Message):
    """What restoring each item on its own would do (for the rows' last column)."""

    def __init__(self, alone: dict[str, RestoreSelection]) -> None:
        super().__init__()
        self.alone = alone


class SizesMeasured(Message):
    def __init__(self, sizes: list[tuple[str, int, Size]], done: bool = False) -> None:
        super().__init__()
        self.sizes = sizes
        self.done = done


class SelectionReady(Message):
    def __init__(
        self, ids: list[str], selection: RestoreSelection | None, error: str | None = None
    ) -> None:
        super().__init__()
        self.ids = ids
        self.selection = selection
        self.error = error


class RestoreScreen(Screen[None]):
    CSS_PATH = "restore.tcss"
    AUTO_FOCUS = "#items"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restore", "Restore"),
        Binding("d", "dry_run", "Dry run"),
        Binding("k", "keep_old", "Keep old"),
        Binding("a", "all", "All"),
        Binding("slash,ctrl+f", "filter", "Filter"),
        Binding("q,backspace", "leave", "Back"),
        Binding("escape", "leave", "Back", show=False),
    ]

    def __init__(
        self,
        path: str,
        backend: RestoreBackend | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.on_close = on_close  # e.g. removes a backup downloaded from a destination
        self.backend = backend
        self.session: RestoreSession | None = None
        self.choice: RestoreChoice | None = None
        self.selection: RestoreSelection | None = None  # for choice.selected_ids(), once known
        self.keep_old = True  # the safe default here; k switches
        self.error: str | None = None  # the archive could not be opened, or was refused
        self.measured = False
        self._pending: str | None = None  # "confirm" or "dry-run", once the selection is known
        self._gone = threading.Event()  # the screen is gone: workers stop and let go

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(f"Restore from {os.path.basename(self.path)}", id="heading", classes="title")
        yield Static(f"Reading {self.path}…", id="archive")
        yield Static("", id="warnings", classes="warning")
        yield Input(placeholder="Filter: press / and type", id="filter", compact=True)
        with Container(id="panes"):
            with Vertical(id="left"):
                yield Static("", id="columns")
                yield RestoreTree(id="items")
            with VerticalScroll(id="details-scroll"):
                yield Static("", id="details")
        yield Static("", id="summary")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.backend is None:
            self.backend = backend_for(self.papp.source, self.papp.open_archive)
        tree = self.query_one(RestoreTree)
        tree.filter_input = self.query_one("#filter", Input)
        tree.header = self.query_one("#columns", Static)  # the tree keeps it aligned
        tree.loading = True
        self.query_one("#warnings").display = False
        self._open(self.backend, self.path)

    def on_resize(self, event: Resize) -> None:
        self.query_one("#panes").set_class(event.size.width < NARROW, "-narrow")

    def on_unmount(self) -> None:
        self._gone.set()
        if self.session is not None:  # not handed on to a run
            self.session.close()
            self.session = None
        if self.on_close is not None:  # a run keeps its open file; Linux keeps the data
            self.on_close()

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="restore-open", exit_on_error=False)
    def _open(self, backend: RestoreBackend, path: str) -> None:
        try:
            session = backend.open(path)
        except (KeyNeeded, AgeNoMatchError) as exc:
            self.post_message(
                PlanFailed(
                    error_sentence(exc), needs_key=True, wrong_key=isinstance(exc, AgeNoMatchError)
                )
            )
            return
        except Exception as exc:  # a refused or unreadable archive: one sentence
            self.post_message(PlanFailed(error_sentence(exc)))
            return
        if self._gone.is_set():
            session.close()
            return
        self.post_message(SessionOpened(session))
        # Then, after the first paint: each item alone (Docker: images), then sizes here.
        try:
            alone = {item.id: backend.select(session, [item.id]) for item in session.plan.items}
        except Exception:  # the rows' last column stays empty; selecting says why
            alone = {}
        self.post_message(AloneReady(alone))
        batcher: Batcher[tuple[str, int, Size]] = Batcher(
            lambda batch: self.post_message(SizesMeasured(batch)), hz=SIZE_UPDATES_HZ
        )
        try:
            backend.measure(session, lambda i, n, s: batcher.push((i, n, s)), self._gone)
        finally:
            batcher.close()
        self.post_message(SizesMeasured([], done=True))

    @work(thread=True, exclusive=True, group="restore-select", exit_on_error=False)
    def _select(self, backend: RestoreBackend, session: RestoreSession, ids: list[str]) -> None:
        try:
            sel = backend.select(session, ids)
        except Exception as exc:
            self.post_message(SelectionReady(ids, None, error_sentence(exc)))
            return
        self.post_message(SelectionReady(ids, sel))

    # ------------------------------------------------------------------ opening

    def on_session_opened(self, message: SessionOpened) -> None:
        session = self.session = message.session
        plan = session.plan
        self.choice = RestoreChoice(plan)
        enc = " · encrypted (age), read in place" if session.encrypted else ""
        self.query_one("#heading", Static).update(
            f"Restore from {os.path.basename(self.path)}{enc}"
        )
        self.query_one("#archive", Static).update(archive_line(plan))
        self._show_warnings(session.warnings)
        tree = self.query_one(RestoreTree)
        tree.loading = False
        tree.populate(self.choice, self.query_one("#filter", Input).value)
        tree.focus()
        self._changed()
        self.refresh_bindings()

    def on_plan_failed(self, message: PlanFailed) -> None:
        if message.needs_key:
            self.query_one("#heading", Static).update(f"{os.path.basename(self.path)} is encrypted")
            self._ask_key(message.text if message.wrong_key else None)
            return
        self.error = message.text
        tree = self.query_one(RestoreTree)
        tree.loading = False
        tree.focus()
        refused = message.text.startswith("refusing")
        self.query_one("#heading", Static).update(
            f"{'Refused' if refused else 'Cannot restore from'} {os.path.basename(self.path)}"
        )
        sentence = message.text[:1].upper() + message.text[1:]
        self.query_one("#archive", Static).update(Text(sentence, style="bold red"))
        self.query_one("#summary", Static).update(
            "Nothing was restored and nothing was written. q goes back."
        )
        self.refresh_bindings()
        self.app.push_screen(
            MessageDialog(
                "Archive refused" if refused else "Cannot restore from this archive",
                Text.assemble(
                    sentence, ("\n\nNothing was restored and nothing was written.", "bold")
                ),
                error=True,
            )
        )

    def _ask_key(self, error: str | None) -> None:
        from tui.ui.screens.unlock import UnlockDialog

        def answered(unlocked: bool | None) -> None:
            if unlocked and self.backend is not None:
                self._open(self.backend, self.path)  # with the keys now known
            else:
                self.action_leave()

        self.app.push_screen(UnlockDialog(self.path, self.papp.keys, error), answered)

    def on_alone_ready(self, message: AloneReady) -> None:
        tree = self.query_one(RestoreTree)
        tree.alone = message.alone
        tree.refresh_rows()
        self._show_details()

    def on_sizes_measured(self, message: SizesMeasured) -> None:
        if self.session is None:
            return
        plan = self.session.plan
        for item_id, index, size in message.sizes:
            item = plan.item(item_id)
            if item is not None and index < len(item.targets):
                item.targets[index].size_now = size
        if message.done:
            self.measured = True
            self.query_one(RestoreTree).measured = True
        self.query_one(RestoreTree).refresh_rows()
        self._show_details()

    def _show_warnings(self, warnings: list[str]) -> None:
        box = self.query_one("#warnings", Static)
        box.display = bool(warnings)
        box.update(Text("\n").join(Text(f"⚠ {w}") for w in warnings))

    # ------------------------------------------------------------------ choosing

    @on(RestoreTree.Changed)
    def _changed(self) -> None:
        if self.choice is None or self.session is None or self.backend is None:
            return
        self._show_summary()
        self._show_details()
        ids = self.choice.selected_ids()
        if ids:
            self._select(self.backend, self.session, ids)
        else:
            self.selection = None

    def on_selection_ready(self, message: SelectionReady) -> None:
        if self.choice is None or message.ids != self.choice.selected_ids():
            return  # the ticks changed since: another answer is on its way
        pending, self._pending = self._pending, None
        if message.selection is None:
            self.selection = None
            self.app.push_screen(
                MessageDialog("Cannot work out this restore", message.error or "", error=True)
            )
            return
        self.selection = message.selection
        self._show_summary()
        self._show_details()
        if pending == "confirm":
            self._confirm(message.selection)
        elif pending == "dry-run":
            self._dry_run(message.selection)

    def current_selection(self) -> RestoreSelection | None:
        """The selection for what is ticked now, if it is known yet."""
        if self.choice is None or self.selection is None:
            return None
        return (
            self.selection
            if [i.id for i in self.selection.items] == self.choice.selected_ids()
            else None
        )

    @on(Tree.NodeHighlighted)
    def _highlighted(self) -> None:
        self._show_details()

    def _show_details(self) -> None:
        tree = self.query_one(RestoreTree)
        node = tree.cursor_node
        pane = self.query_one("#details", Static)
        if self.choice is None or self.session is None or node is None or not node.data:
            pane.update("")
            return
        if node.data.startswith("section:"):
            pane.update(
                Text.assemble(
                    (str(node.label), "bold"),
                    "\nspace ticks or unticks "
                    "every row of it (the Portal's own files excepted: "
                    "tick those one by one).",
                )
            )
            return
        item = self.choice.by_id[node.data]
        parent = self.choice.parent.get(item.id)
        current = self.current_selection()
        ticked = self.choice.state(item.id) == "on"
        if ticked and parent is not None and parent in self.choice.checked:
            heading = f"Ticked as part of {parent}; restored alone, it would"
            sel = tree.alone.get(item.id)
        elif ticked and current is not None:
            heading, sel = "Ticked: restoring it will", current
        else:
            heading = "Ticked: restoring it will" if ticked else "Not ticked. Ticked, it would"
            sel = tree.alone.get(item.id)
        pane.update(details(self.session.plan, item, sel, heading))

    def _show_summary(self) -> None:
        if self.choice is None:
            return
        self.query_one("#summary", Static).update(
            summary(self.choice, self.current_selection(), self.keep_old)
        )

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self.choice is not None:
            self.query_one(RestoreTree).populate(self.choice, event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.set_focus(self.query_one(RestoreTree))

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("restore", "dry_run", "keep_old", "all", "filter"):
            return True if self.choice is not None else None  # greyed until there is a plan
        return True

    def action_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))

    def action_all(self) -> None:
        if self.choice is None:
            return
        tree = self.query_one(RestoreTree)
        self.choice.toggle_group(tree.visible_item_ids())
        tree.refresh_rows()
        self._changed()

    def action_keep_old(self) -> None:
        self.keep_old = not self.keep_old
        self._show_summary()
        self.notify(
            "The data a restore replaces is kept aside."
            if self.keep_old
            else "The data a restore replaces is deleted once its apps run again.",
            timeout=3,
        )

    def action_dry_run(self) -> None:
        self._when_known("dry-run")

    def action_restore(self) -> None:
        self._when_known("confirm")

    def _when_known(self, purpose: str) -> None:
        if self.choice is None:
            return
        if not self.choice.selected_ids():
            self.notify("Nothing is ticked: space ticks a row.", severity="warning")
            return
        current = self.current_selection()
        if current is None:  # on its way: act when it arrives
            self._pending = purpose
            return
        if purpose == "confirm":
            self._confirm(current)
        else:
            self._dry_run(current)

    def _dry_run(self, sel: RestoreSelection) -> None:
        from tui.ui.screens.restore_dryrun import RestoreDryRunScreen

        def closed(answer: str | None) -> None:
            if answer == "restore":
                self._confirm(sel)

        assert self.session is not None and self.backend is not None
        self.app.push_screen(RestoreDryRunScreen(self.backend, self.session, sel), closed)

    def _confirm(self, sel: RestoreSelection) -> None:
        if not runnable(sel):
            body = Text("\n").join(Text(f"✗ {i}: {why}") for i, why in sel.failing.items())
            self.app.push_screen(MessageDialog("Nothing ticked can be restored", body, error=True))
            return
        if self.papp.job.running:
            self.notify(
                "A backup or restore is running; wait for it to finish.", severity="warning"
            )
            return

        def identity_answered(yes: bool | None) -> None:
            if yes:
                self._ask_to_start(sel)

        if sel.identity_conflict:
            # Its own question, the safe answer focused, before the usual one.
            self.app.push_screen(
                ConfirmDialog(
                    "⚠ Replace this Portal's identity?",
                    identity_confirm_text(sel),
                    yes="Replace the identity",
                    no="No",
                    default_yes=False,
                    danger=True,
                ),
                identity_answered,
            )
        else:
            self._ask_to_start(sel)

    def _ask_to_start(self, sel: RestoreSelection) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._start(sel)

        self.app.push_screen(
            ConfirmDialog(
                f"Restore {plural(len(runnable(sel)), 'item')} now?",
                confirm_text(sel, self.keep_old),
                yes="Restore",
                no="Not now",
            ),
            answered,
        )

    def _start(self, sel: RestoreSelection) -> None:
        from tui.ui.screens.restore_run import RestoreRunScreen

        if self.session is None or self.backend is None or self.papp.job.running:
            return
        # Every confirmation, the identity's included, has been given by now.
        options = RestoreOptions(
            keep_old=self.keep_old, allow_identity_change=True, **self.papp.restore_overrides
        )
        session, self.session = self.session, None  # the run owns (and closes) it now
        self.papp.job.start("restore")
        self.app.switch_screen(RestoreRunScreen(self.backend, session, sel, options))

    def action_leave(self) -> None:
        self.app.pop_screen()
