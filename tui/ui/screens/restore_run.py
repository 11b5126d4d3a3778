"""A restore running: the engine in a thread worker, its events shown in batches (at most
UPDATE_HZ a second, whatever the file rate), per-item states, an overall bar and a log. When it
ends, the result screen takes its place; if the archive is refused on the way, that is said
here, and nothing was changed."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, ProgressBar, RichLog, Static

from tui.core.errors import Cancelled
from tui.core.events import Event, ItemState, RestoreFinished
from tui.core.restore.plan import RestoreSelection
from tui.core.restore.run import RestoreOptions
from tui.ui.logic.jobs import RunJob
from tui.ui.logic.restore_backend import RestoreBackend, RestoreSession
from tui.ui.screens.run_screen import LOG_LINES, UPDATE_HZ, EventBatch, RunScreen
from tui.ui.widgets.restore_items import RestoreItems

__all__ = ["UPDATE_HZ", "RestoreBatch", "RestoreRunScreen"]


class RestoreBatch(EventBatch):
    pass


class RestoreRunScreen(RunScreen):
    CSS_PATH = "restore.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel restore"),
        Binding("escape", "cancel", "Cancel restore", show=False),
        Binding("b,backspace", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]
    WORKER_GROUP = "restore-run"
    BATCH = RestoreBatch
    CANCEL_TITLE = "Cancel the restore?"
    CANCEL_TEXT = (
        "Items not yet swapped in are left as they are now, and every container the "
        "restore stopped is started again. An item whose data is being swapped in is "
        "completed."
    )
    CANCEL_YES = "Cancel restore"
    CANCELLING = "Cancelling: the item being swapped in completes, the others are left as they are…"

    def __init__(
        self,
        backend: RestoreBackend,
        session: RestoreSession,
        sel: RestoreSelection,
        options: RestoreOptions,
    ) -> None:
        super().__init__()  # outcome: None while running; then "done" or "refused"
        self.backend = backend
        self.session = session
        self.sel = sel
        self.options = options
        self.result: RestoreFinished | None = None
        self.items = RestoreItems(id="run-items")  # kept: tests read its states afterwards

    def compose(self) -> ComposeResult:
        n = len(self.sel.items)
        yield Static(
            f"Restoring {n} item{'s' if n != 1 else ''} from {self.session.path}",
            id="heading",
            classes="title",
        )
        yield ProgressBar(id="overall", show_eta=False)
        yield Static("Checking every entry before anything is touched…", id="numbers")
        yield Static("", id="current", classes="muted")
        with VerticalScroll(id="run-items-scroll"):
            yield self.items
        yield RichLog(id="log", max_lines=LOG_LINES, wrap=False, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.items.set_selection(self.sel)
        if not self.job.running:  # the restore screen starts it; other callers may not
            self.job.start("restore")
        self._run(self.backend, self.session, self.sel, self.options, self.job)

    @work(thread=True, exclusive=True, group="restore-run", exit_on_error=False)
    def _run(
        self,
        backend: RestoreBackend,
        session: RestoreSession,
        sel: RestoreSelection,
        options: RestoreOptions,
        job: RunJob,
    ) -> RestoreFinished:
        batcher = self._batcher()
        try:
            return backend.run(session, sel, options, batcher.push, job.cancel)
        finally:
            batcher.close()  # the last events before the worker's end is announced
            session.close()
            job.finished()

    def on_restore_batch(self, message: RestoreBatch) -> None:
        self._take_batch(message.events)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, ItemState):
            return
        self.items.set_state(event.item, event.state, event.detail)
        if event.state not in ("waiting", "done", "failed"):
            what = event.detail or event.state
            self.query_one("#current", Static).update(
                Text.assemble(("Now ", "bold"), f"{event.item}: {what}")
            )

    def _after_batch(self) -> None:
        items = self.items
        items.show()
        if items.active is not None:  # keep the item being worked on in view
            box = self.query_one("#run-items-scroll", VerticalScroll)
            row = items.order.index(items.active) + 1  # under the header line
            box.scroll_to(y=max(0, row - box.size.height // 2), animate=False)

    def _done(self, result: Any) -> None:
        from tui.ui.screens.restore_done import RestoreDoneScreen

        assert isinstance(result, RestoreFinished)  # what _run returns
        self.outcome = "done"
        self.result = result
        self._close_dialogs()
        self.app.switch_screen(RestoreDoneScreen(self.result, self.options.keep_old))

    def _failed(self, error: BaseException | None) -> None:
        """The run stopped before any item: a refused archive, a lock held by another run."""
        self._close_dialogs()
        self.outcome = "cancelled" if isinstance(error, Cancelled) else "refused"
        self._show_failure(
            error,
            "the restore failed",
            "Restore refused: nothing was changed"
            if self.outcome == "refused"
            else "Restore cancelled",
            style="bold red",
        )
