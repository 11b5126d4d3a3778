"""What the backup and restore progress screens share: one engine run in a thread worker, its
events delivered in batches (at most UPDATE_HZ a second), the overall bar and figures, the log,
the end of the run and a confirmed cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from tui.core.errors import error_sentence
from tui.core.events import Event, Log, Progress
from tui.core.humanfmt import count, duration, human_bytes
from tui.ui.logic.batcher import Batcher
from tui.ui.logic.jobs import RunJob
from tui.ui.screens.dialogs import ConfirmDialog

if TYPE_CHECKING:
    from tui.ui.app import PortalBackupApp

UPDATE_HZ = 5.0
LOG_LINES = 300


class EventBatch(Message):
    """Events of one batch; each screen has its own subclass (and so its own handler name)."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


def compact(events: list[Event]) -> list[Event]:
    """Only the last Progress of a batch matters; item states and logs all do."""
    last = max((i for i, e in enumerate(events) if isinstance(e, Progress)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, Progress) or i == last]


def log_line(event: Log) -> Text:
    style = {"warning": "yellow", "error": "bold red"}.get(event.level, "")
    prefix = "" if event.level == "info" else f"{event.level}: "
    return Text(prefix + event.message, style=style)


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


class RunScreen(Screen[None]):
    """Subclasses set the class variables, start `_run` on mount, and define `_done`,
    `_failed`, `_on_event` (events other than Progress and Log) and a batch handler that
    calls `_take_batch`."""

    WORKER_GROUP: ClassVar[str]
    BATCH: ClassVar[type[EventBatch]]
    # The cancel dialog, and the heading while cancelling.
    CANCEL_TITLE: ClassVar[str]
    CANCEL_TEXT: ClassVar[str]
    CANCEL_YES: ClassVar[str]
    CANCELLING: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.outcome: str | None = None  # None while running, then how it ended
        self.error: str | None = None
        self.last_progress: Progress | None = None
        self.stats = UpdateStats()

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    @property
    def job(self) -> RunJob:
        return self.papp.job

    def on_unmount(self) -> None:
        # Nobody is left to watch: the app is closing. Stop cleanly; run_app waits for it.
        if self.outcome is None:
            self.job.cancel.set()

    # ------------------------------------------------------------------ events

    def _batcher(self) -> Batcher[Event]:
        """For the worker: collects the engine's events, posts them as BATCH messages."""
        return Batcher(
            lambda events: self.post_message(self.BATCH(events)), hz=UPDATE_HZ, compact=compact
        )

    def _take_batch(self, events: list[Event]) -> None:
        self.stats.tick(self.papp.clock(), len(events))
        log = self.query_one(RichLog)
        for event in events:
            if isinstance(event, Progress):
                self.last_progress = event
            elif isinstance(event, Log):
                log.write(log_line(event))
            else:
                self._on_event(event)
        self._after_batch()
        if self.last_progress is not None:
            self._show_progress(self.last_progress)

    def _on_event(self, event: Event) -> None:
        pass

    def _after_batch(self) -> None:
        pass

    def _show_progress(self, p: Progress) -> None:
        self.query_one(ProgressBar).update(total=max(1, p.bytes_total), progress=p.bytes_done)
        parts = [
            f"{human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}",
            f"{count(p.files_done)} of {count(p.files_total)} files",
            f"{human_bytes(p.rate)}/s",
            f"{duration(p.elapsed)} elapsed",
        ]
        if p.eta is not None and self.outcome is None:
            parts.append(f"about {duration(p.eta)} left")
        self.query_one("#numbers", Static).update(" · ".join(parts))

    # ------------------------------------------------------------------ the end

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != self.WORKER_GROUP or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        if self.papp.quit_after_backup:
            self.app.exit(0 if event.state == WorkerState.SUCCESS else 1)
            return
        if event.state == WorkerState.SUCCESS:
            self._done(event.worker.result)
        else:
            self._failed(event.worker.error)

    def _done(self, result: Any) -> None:
        raise NotImplementedError

    def _failed(self, error: BaseException | None) -> None:
        raise NotImplementedError

    def _close_dialogs(self) -> None:
        while self.app.screen is not self:  # a confirm dialog left open
            self.app.pop_screen()

    def _show_failure(
        self,
        error: BaseException | None,
        fallback: str,
        heading: str,
        note: str = "",
        style: str = "bold",
        log: bool = True,
    ) -> None:
        """Say how the run ended, once `outcome` is set: heading, sentence, figures, log."""
        self.error = error_sentence(error) if error else fallback
        head = self.query_one("#heading", Static)
        head.update(heading)
        head.add_class("-failed")
        self.query_one("#current", Static).update(
            Text(self.error[:1].upper() + self.error[1:] + note, style=style)
        )
        if self.last_progress is not None:
            self._show_progress(self.last_progress)  # without the ETA now
        if log:
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
                self.query_one("#heading", Static).update(self.CANCELLING)

        self.app.push_screen(
            ConfirmDialog(
                self.CANCEL_TITLE,
                self.CANCEL_TEXT,
                yes=self.CANCEL_YES,
                no="Keep going",
                default_yes=False,
                danger=True,
            ),
            answered,
        )

    def action_back(self) -> None:
        if self.outcome is not None:
            self.app.pop_screen()
