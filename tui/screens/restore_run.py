"""A restore running: the engine in a thread worker, its events shown in batches (at most
UPDATE_HZ a second, whatever the file rate), per-item states, an overall bar and a log. When it
ends, the result screen takes its place; if the archive is refused on the way, that is said
here, and nothing was changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from ..batcher import Batcher
from ..core.errors import Cancelled
from ..core.events import Event, ItemState, Log, Progress
from ..core.restore import RestoreFinished, RestoreOptions
from ..core.restore_plan import RestoreSelection
from ..humanfmt import count, duration, human_bytes
from ..jobs import BackupJob
from ..restore_backend import RestoreBackend, RestoreSession
from ..widgets.restore_items import RestoreItems
from .dialogs import ConfirmDialog
from .home import error_sentence
from .progress import UpdateStats, compact, log_line

if TYPE_CHECKING:
    from ..app import PortalBackupApp

UPDATE_HZ = 5.0
LOG_LINES = 300


class RestoreBatch(Message):
    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class RestoreRunScreen(Screen[None]):
    CSS_PATH = "restore.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel restore"),
        Binding("escape", "cancel", "Cancel restore", show=False),
        Binding("b,backspace", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, backend: RestoreBackend, session: RestoreSession, sel: RestoreSelection,
                 options: RestoreOptions) -> None:
        super().__init__()
        self.backend = backend
        self.session = session
        self.sel = sel
        self.options = options
        self.outcome: str | None = None  # None while running; then "done" or "refused"
        self.error: str | None = None
        self.result: RestoreFinished | None = None
        self.last_progress: Progress | None = None
        self.stats = UpdateStats()
        self.items = RestoreItems(id="run-items")  # kept: tests read its states afterwards

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    @property
    def job(self) -> BackupJob:
        return self.papp.job

    def compose(self) -> ComposeResult:
        n = len(self.sel.items)
        yield Static(f"Restoring {n} item{'s' if n != 1 else ''} from {self.session.path}",
                     id="heading", classes="title")
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

    def on_unmount(self) -> None:
        if self.outcome is None:  # the app is closing: stop cleanly (run_app waits for it)
            self.job.cancel.set()

    @work(thread=True, exclusive=True, group="restore-run", exit_on_error=False)
    def _run(self, backend: RestoreBackend, session: RestoreSession, sel: RestoreSelection,
             options: RestoreOptions, job: BackupJob) -> RestoreFinished:
        batcher: Batcher[Event] = Batcher(lambda ev: self.post_message(RestoreBatch(ev)),
                                          hz=UPDATE_HZ, compact=compact)
        try:
            return backend.run(session, sel, options, batcher.push, job.cancel)
        finally:
            batcher.close()  # the last events before the worker's end is announced
            session.close()
            job.finished()

    def on_restore_batch(self, message: RestoreBatch) -> None:
        self.stats.tick(self.papp.clock(), len(message.events))
        items = self.items
        log = self.query_one(RichLog)
        for event in message.events:
            if isinstance(event, Progress):
                self.last_progress = event
            elif isinstance(event, ItemState):
                items.set_state(event.item, event.state, event.detail)
                if event.state not in ("waiting", "done", "failed"):
                    what = event.detail or event.state
                    self.query_one("#current", Static).update(
                        Text.assemble(("Now ", "bold"), f"{event.item}: {what}"))
            elif isinstance(event, Log):
                log.write(log_line(event))
        items.show()
        if items.active is not None:  # keep the item being worked on in view
            box = self.query_one("#run-items-scroll", VerticalScroll)
            row = items.order.index(items.active) + 1  # under the header line
            box.scroll_to(y=max(0, row - box.size.height // 2), animate=False)
        if self.last_progress is not None:
            self._show_progress(self.last_progress)

    def _show_progress(self, p: Progress) -> None:
        self.query_one(ProgressBar).update(total=max(1, p.bytes_total), progress=p.bytes_done)
        parts = [f"{human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}",
                 f"{count(p.files_done)} of {count(p.files_total)} files",
                 f"{human_bytes(p.rate)}/s", f"{duration(p.elapsed)} elapsed"]
        if p.eta is not None and self.outcome is None:
            parts.append(f"about {duration(p.eta)} left")
        self.query_one("#numbers", Static).update(" · ".join(parts))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "restore-run" or event.state not in (WorkerState.SUCCESS,
                                                                       WorkerState.ERROR):
            return
        if self.papp.quit_after_backup:
            self.app.exit(0 if event.state == WorkerState.SUCCESS else 1)
            return
        if event.state == WorkerState.SUCCESS:
            self._done(cast(RestoreFinished, event.worker.result))
        else:
            self._failed(event.worker.error)

    def _done(self, result: RestoreFinished) -> None:
        from .restore_done import RestoreDoneScreen

        self.outcome = "done"
        self.result = result
        while self.app.screen is not self:  # a confirm dialog left open
            self.app.pop_screen()
        self.app.switch_screen(RestoreDoneScreen(result, self.options.keep_old))

    def _failed(self, error: BaseException | None) -> None:
        """The run stopped before any item: a refused archive, a lock held by another run."""
        while self.app.screen is not self:
            self.app.pop_screen()
        self.outcome = "cancelled" if isinstance(error, Cancelled) else "refused"
        self.error = error_sentence(error) if error else "the restore failed"
        heading = self.query_one("#heading", Static)
        heading.update("Restore refused: nothing was changed" if self.outcome == "refused"
                       else "Restore cancelled")
        heading.add_class("-failed")
        self.query_one("#current", Static).update(
            Text(self.error[:1].upper() + self.error[1:], style="bold red"))
        if self.last_progress is not None:
            self._show_progress(self.last_progress)
        self.query_one(RichLog).write(Text(f"error: {self.error}", style="red"))
        self.refresh_bindings()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.outcome is None
        if action == "back":
            return self.outcome is not None
        return True

    def action_cancel(self) -> None:
        if self.outcome is not None or self.job.cancel.is_set():
            return

        def answered(yes: bool | None) -> None:
            if yes and self.outcome is None:
                self.job.cancel.set()
                self.query_one("#heading", Static).update(
                    "Cancelling: the item being swapped in completes, the others are left "
                    "as they are…")

        self.app.push_screen(ConfirmDialog(
            "Cancel the restore?",
            "Items not yet swapped in are left as they are now, and every container the "
            "restore stopped is started again. An item whose data is being swapped in is "
            "completed.", yes="Cancel restore", no="Keep going", default_yes=False,
            danger=True), answered)

    def action_back(self) -> None:
        if self.outcome is not None:
            self.app.pop_screen()
