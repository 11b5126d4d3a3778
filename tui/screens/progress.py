"""The progress screen: one backup running in a thread worker, its events shown in batches.

The engine's events reach the screen through a Batcher: at most UPDATE_HZ messages a second
whatever the file rate, so the screen stays smooth over a slow SSH link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from ..batcher import Batcher
from ..core.errors import Cancelled
from ..core.events import Event, Finished, ItemState, Log, Progress
from ..core.plan import Plan
from ..datasource import DataSource, Loaded
from ..humanfmt import count, duration, human_bytes
from ..jobs import BackupJob
from ..widgets.item_progress import ItemProgress
from .dialogs import ConfirmDialog
from .home import error_sentence

if TYPE_CHECKING:
    from ..app import PortalBackupApp

UPDATE_HZ = 5.0
LOG_LINES = 300


class BackupBatch(Message):
    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


def compact(events: list[Event]) -> list[Event]:
    """Only the last Progress of a batch matters; item states and logs all do."""
    last = max((i for i, e in enumerate(events) if isinstance(e, Progress)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, Progress) or i == last]


@dataclass
class UpdateStats:
    """How many batches the screen handled, and over how long (for the closing figures)."""

    batches: int = 0
    events: int = 0
    first: float | None = None
    last: float | None = None

    def tick(self, now: float, events: int) -> None:
        self.batches += 1
        self.events += events
        self.first = now if self.first is None else self.first
        self.last = now

    @property
    def per_second(self) -> float:
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return (self.batches - 1) / (self.last - self.first)


class ProgressScreen(Screen[None]):
    CSS_PATH = "progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel backup"),
        Binding("escape", "cancel", "Cancel backup", show=False),
        Binding("b,backspace", "back", "Back to the list"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, loaded: Loaded, plan: Plan, options: Any) -> None:
        super().__init__()
        self.loaded = loaded
        self.plan = plan
        self.options = options
        self.outcome: str | None = None  # None while running, then "done", "failed", "cancelled"
        self.error: str | None = None
        self.finished: Finished | None = None
        self.stats = UpdateStats()
        self.last_progress: Progress | None = None

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    @property
    def job(self) -> BackupJob:
        return self.papp.job

    def compose(self) -> ComposeResult:
        where = self.options.output or self.papp.cwd
        yield Static(f"Backing up {len(self.plan.items)} items into {where}", id="heading",
                     classes="title")
        yield ProgressBar(id="overall", show_eta=False)
        yield Static("Measuring what will be read…", id="numbers")
        yield Static("", id="current", classes="muted")
        yield ItemProgress(id="items")
        yield RichLog(id="log", max_lines=LOG_LINES, wrap=False, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ItemProgress).set_plan(self.plan, self.loaded.inventory)
        if not self.job.running:  # the home screen starts it; other callers may not
            self.job.start()
        self._run(self.papp.source, self.job)

    def on_unmount(self) -> None:
        # Nobody is left to watch: the app is closing. Stop cleanly; run_app waits for it.
        if self.outcome is None:
            self.job.cancel.set()

    # ------------------------------------------------------------------ the worker

    @work(thread=True, exclusive=True, group="backup", exit_on_error=False)
    def _run(self, source: DataSource, job: BackupJob) -> Finished:
        batcher: Batcher[Event] = Batcher(lambda events: self.post_message(BackupBatch(events)),
                                          hz=UPDATE_HZ, compact=compact)
        try:
            return source.run_backup(self.loaded, self.plan, self.options, batcher.push,
                                     job.cancel)
        finally:
            batcher.close()  # the last events before the worker's end is announced
            job.finished()

    def on_backup_batch(self, message: BackupBatch) -> None:
        self.stats.tick(self.papp.clock(), len(message.events))
        items = self.query_one(ItemProgress)
        log = self.query_one(RichLog)
        for event in message.events:
            if isinstance(event, Progress):
                self.last_progress = event
            elif isinstance(event, ItemState):
                items.set_state(event.item, event.state)
            elif isinstance(event, Log):
                log.write(log_line(event))
            elif isinstance(event, Finished):
                self.finished = event
        if self.last_progress is not None:
            self._show_progress(self.last_progress)

    def _show_progress(self, p: Progress) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=max(1, p.bytes_total), progress=p.bytes_done)
        parts = [f"{human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}",
                 f"{count(p.files_done)} of {count(p.files_total)} files",
                 f"{human_bytes(p.rate)}/s", f"{duration(p.elapsed)} elapsed"]
        if p.eta is not None and self.outcome is None:
            parts.append(f"about {duration(p.eta)} left")
        self.query_one("#numbers", Static).update(" · ".join(parts))
        if self.outcome is None:
            now = Text.assemble(("Now ", "bold"), p.item or "", "  ", p.path or "")
            self.query_one("#current", Static).update(now)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "backup" or event.state not in (WorkerState.SUCCESS,
                                                                  WorkerState.ERROR):
            return
        if self.papp.quit_after_backup:
            self.app.exit(0 if event.state == WorkerState.SUCCESS else 1)
            return
        if event.state == WorkerState.SUCCESS:
            self._done(cast(Finished, event.worker.result))
        else:
            self._failed(event.worker.error)

    def _done(self, finished: Finished) -> None:
        from .done import DoneScreen

        self.outcome = "done"
        while self.app.screen is not self:  # a confirm dialog left open
            self.app.pop_screen()
        self.app.switch_screen(DoneScreen(finished, getattr(self.options, "encrypt_to", [])))

    def _failed(self, error: BaseException | None) -> None:
        cancelled = isinstance(error, Cancelled)
        self.outcome = "cancelled" if cancelled else "failed"
        self.error = error_sentence(error) if error else "the backup failed"
        heading = self.query_one("#heading", Static)
        heading.update("Backup cancelled" if cancelled else "Backup failed")
        heading.add_class("-failed")
        note = (" Every container it stopped was started again; no archive was kept."
                if not cancelled else "")
        self.query_one("#current", Static).update(
            Text(self.error[:1].upper() + self.error[1:] + note, style="bold"))
        if self.last_progress is not None:
            self._show_progress(self.last_progress)  # without the ETA now
        if not cancelled:
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
                    "Cancelling: restarting containers and removing the unfinished archive…")

        self.app.push_screen(ConfirmDialog(
            "Cancel the backup?",
            "Every container it stopped is started again and the unfinished archive is "
            "deleted.", yes="Cancel backup", no="Keep going", default_yes=False, danger=True),
            answered)

    def action_back(self) -> None:
        if self.outcome is not None:
            self.app.pop_screen()


def log_line(event: Log) -> Text:
    style = {"warning": "yellow", "error": "bold red"}.get(event.level, "")
    prefix = "" if event.level == "info" else f"{event.level}: "
    return Text(prefix + event.message, style=style)
