"""The progress screen: one backup running in a thread worker, its events shown in batches.

The engine's events reach the screen through a Batcher: at most UPDATE_HZ messages a second
whatever the file rate, so the screen stays smooth over a slow SSH link.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, ProgressBar, RichLog, Static

from tui.core.errors import Cancelled
from tui.core.events import Event, Finished, ItemState, Progress, Upload
from tui.core.humanfmt import human_bytes
from tui.core.plan import Plan
from tui.ui.logic.datasource import DataSource, Loaded
from tui.ui.logic.jobs import RunJob
from tui.ui.screens.run_screen import (
    LOG_LINES,
    UPDATE_HZ,
    EventBatch,
    RunScreen,
    UpdateStats,
    compact,
    log_line,
)
from tui.ui.widgets.item_progress import ItemProgress, visible_item_count

__all__ = ["UPDATE_HZ", "BackupBatch", "ProgressScreen", "UpdateStats", "compact", "log_line"]


class BackupBatch(EventBatch):
    pass


class ProgressScreen(RunScreen):
    CSS_PATH = "progress.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel backup"),
        Binding("escape", "cancel", "Cancel backup", show=False),
        Binding("b,backspace", "back", "Back to the list"),
        Binding("q", "app.quit", "Quit"),
    ]
    WORKER_GROUP = "backup"
    BATCH = BackupBatch
    CANCEL_TITLE = "Cancel the backup?"
    CANCEL_TEXT = (
        "Every container it stopped is started again and the unfinished archive is deleted."
    )
    CANCEL_YES = "Cancel backup"
    CANCELLING = "Cancelling: restarting containers and removing the unfinished archive…"

    def __init__(self, loaded: Loaded, plan: Plan, options: Any) -> None:
        super().__init__()  # outcome: None while running, then "done", "failed", "cancelled"
        self.loaded = loaded
        self.plan = plan
        self.options = options
        self.finished: Finished | None = None
        self.last_upload: Upload | None = None  # bytes handed to a remote destination

    def compose(self) -> ComposeResult:
        to = getattr(self.options, "to", None)
        where = to.label if to is not None else self.options.output or self.papp.cwd
        yield Static(
            f"Backing up {visible_item_count(self.plan)} items into {where}",
            id="heading",
            classes="title",
        )
        yield ProgressBar(id="overall", show_eta=False)
        yield Static("Measuring what will be read…", id="numbers")
        yield Static("", id="current", classes="muted")
        yield Static("", id="upload")
        yield ItemProgress(id="items")
        yield RichLog(id="log", max_lines=LOG_LINES, wrap=False, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ItemProgress).set_plan(self.plan, self.loaded.inventory)
        self.query_one("#upload").display = False  # until the first bytes go out
        if not self.job.running:  # the home screen starts it; other callers may not
            self.job.start()
        self._run(self.papp.source, self.job)

    # ------------------------------------------------------------------ the worker

    @work(thread=True, exclusive=True, group="backup", exit_on_error=False)
    def _run(self, source: DataSource, job: RunJob) -> Finished:
        batcher = self._batcher()
        try:
            return source.run_backup(self.loaded, self.plan, self.options, batcher.push, job.cancel)
        finally:
            batcher.close()  # the last events before the worker's end is announced
            job.finished()

    def on_backup_batch(self, message: BackupBatch) -> None:
        self._take_batch(message.events)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ItemState):
            self.query_one(ItemProgress).set_state(event.item, event.state)
        elif isinstance(event, Finished):
            self.finished = event
        elif isinstance(event, Upload) and event.destination != "stdout":
            self.last_upload = event
            upload = self.query_one("#upload", Static)
            upload.display = True
            upload.update(
                Text.assemble(
                    ("Uploaded ", "bold"),
                    f"{human_bytes(event.bytes_sent)} to {event.destination} · "
                    f"{human_bytes(event.rate)}/s",
                )
            )

    def _show_progress(self, p: Progress) -> None:
        super()._show_progress(p)
        if self.outcome is None:
            now = Text.assemble(("Now ", "bold"), p.item or "", "  ", p.path or "")
            self.query_one("#current", Static).update(now)

    def _done(self, result: Any) -> None:
        from tui.ui.screens.done import DoneScreen

        self.outcome = "done"
        self._close_dialogs()
        self.app.switch_screen(
            DoneScreen(cast(Finished, result), getattr(self.options, "encrypt_to", []))
        )

    def _failed(self, error: BaseException | None) -> None:
        cancelled = isinstance(error, Cancelled)
        self.outcome = "cancelled" if cancelled else "failed"
        note = (
            " Every container it stopped was started again; no archive was kept."
            if not cancelled
            else ""
        )
        self._show_failure(
            error,
            "the backup failed",
            "Backup cancelled" if cancelled else "Backup failed",
            note=note,
            log=not cancelled,
        )
