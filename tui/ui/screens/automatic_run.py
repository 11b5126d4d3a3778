""" "Run now" on the Automatic backups screen: the configured job (tui.core.auto.job.run_job)
in a thread worker, shown on the same live progress screen as a manual backup (its bar,
figures and log, fed by the same event batcher), and how each destination ended."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, ProgressBar, RichLog, Static

from tui.core.auto.config import JobConfig
from tui.core.auto.job import JobResult
from tui.core.errors import Cancelled
from tui.core.events import Event, Finished, Upload
from tui.core.humanfmt import human_bytes
from tui.ui.logic.jobs import RunJob
from tui.ui.screens.progress import LOG_LINES, ProgressScreen


class AutoRunScreen(ProgressScreen):
    """A ProgressScreen (same look, batching, cancel and quit handling) whose worker runs the
    whole job: one backup per destination, each checked, then pruned."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel backup"),
        Binding("escape", "cancel", "Cancel backup", show=False),
        Binding("b,backspace", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]
    CANCEL_TEXT = (
        "Every container it stopped is started again and the unfinished upload is removed."
    )

    def __init__(self, config: JobConfig, portal_root: str | None = None) -> None:
        super().__init__(None, None, None)  # type: ignore[arg-type]  # no plan: the job makes its own
        self.config = config
        self.portal_root = portal_root
        self.result: JobResult | None = None

    def compose(self) -> ComposeResult:
        names = ", ".join(d.name for d in self.config.destinations)
        yield Static(f"Automatic backup to {names}", id="heading", classes="title")
        yield ProgressBar(id="overall", show_eta=False)
        yield Static("Measuring what will be read…", id="numbers")
        yield Static("", id="current", classes="muted")
        yield RichLog(id="log", max_lines=LOG_LINES, wrap=False, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self, event: events.Mount | None = None) -> None:
        if event is not None:  # Textual passes it: ProgressScreen's would start a manual backup
            event.prevent_default()
        if not self.job.running:
            self.job.start()
        self._run_job(self.job)

    @work(thread=True, exclusive=True, group="backup", exit_on_error=False)
    def _run_job(self, job: RunJob) -> JobResult:
        from tui.core.auto.job import run_job

        batcher = self._batcher()
        try:
            return run_job(self.config, batcher.push, job.cancel, portal_root=self.portal_root)
        finally:
            batcher.close()
            job.finished()

    def _on_event(self, event: Event) -> None:
        log = self.query_one(RichLog)
        if isinstance(event, Upload):
            self.query_one("#current", Static).update(
                f"Uploading to {event.destination}: {human_bytes(event.bytes_sent)} sent, "
                f"{human_bytes(event.rate)}/s"
            )
        elif isinstance(event, Finished):
            where = event.destination or event.path
            check = "checked" if event.verified else "size checked"
            log.write(Text(f"{where}: {event.name or event.path} ({check})", style="green"))

    def _done(self, result: Any) -> None:
        self.result = job = result if isinstance(result, JobResult) else None
        self.outcome = "done" if job is not None and job.ok else "failed"
        self._close_dialogs()
        head = self.query_one("#heading", Static)
        log = self.query_one(RichLog)
        good = [d for d in job.destinations if d.ok] if job else []
        total = len(job.destinations) if job else 0
        if self.outcome == "done":
            head.update(f"Automatic backup complete: {len(good)} of {total} destinations")
        else:
            head.update(f"Automatic backup failed: {len(good)} of {total} destinations good")
            head.add_class("-failed")
        for d in job.destinations if job else []:
            if d.ok:
                log.write(Text(f"{d.name}: {d.archive} ({human_bytes(d.size)})", style="green"))
            else:
                log.write(Text(f"{d.name}: {d.error}", style="bold red"))
        self.query_one("#current", Static).update(
            "Press b to go back to the Automatic backups screen."
        )
        if self.last_progress is not None:
            self._show_progress(self.last_progress)  # without the ETA now
        else:
            self.query_one(ProgressBar).update(total=1, progress=0)  # not the busy animation
            self.query_one("#numbers", Static).update("Nothing was read.")
        self.refresh_bindings()

    def _failed(self, error: BaseException | None) -> None:
        cancelled = isinstance(error, Cancelled)
        self.outcome = "cancelled" if cancelled else "failed"
        self._show_failure(
            error,
            "the automatic backup could not start",
            "Automatic backup cancelled" if cancelled else "Automatic backup failed",
            log=not cancelled,
        )
