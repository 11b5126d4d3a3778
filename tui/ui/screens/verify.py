"""Verifying an archive from the explorer: a progress bar, then the verdict."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState

from tui.core.archive.verify import VerifyProgress, VerifyReport, verify_archive
from tui.core.errors import Cancelled, error_sentence
from tui.core.humanfmt import count, human_bytes

if TYPE_CHECKING:
    from tui.ui.app import ArchiveOpener, PortalBackupApp


class VerifyProgressed(Message):
    def __init__(self, progress: VerifyProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        # A newer report makes an older one still in the queue pointless.
        return isinstance(message, VerifyProgressed)


def verdict(report: VerifyReport) -> Text:
    if report.ok:
        text = Text(
            f"✓ The archive is intact: {count(report.entries)} entries, "
            f"{human_bytes(report.bytes_checked)} read and checked.",
            style="bold green",
        )
    else:
        first = report.problems[0] if report.problems else "unknown problem"
        text = Text(
            f"✗ The archive is damaged: {report.problem_count} problem(s). First: {first}",
            style="bold red",
        )
    signature = {
        "valid": f"valid, made by Portal {report.signed_by or '?'}",
        "invalid": "INVALID",
        "unsigned": "none",
        "unchecked": "not checked",
    }[report.signature]
    text.append(f"\nSignature: {signature}", style="")
    for note in report.notes:
        text.append(f"\n{note}", style="dim")
    for problem in report.problems[1:]:
        text.append(f"\n• {problem}", style="red")
    return text


class VerifyScreen(ModalScreen[VerifyReport | None]):
    CSS_PATH = "verify.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("enter,q,escape", "close", "Close"),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.report: VerifyReport | None = None
        self.error: str | None = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(classes="verify-box"):
            yield Static(f"Verifying {self.path}", classes="dialog-title")
            yield ProgressBar(id="verify-bar", show_eta=False)
            yield Static("Opening…", id="verify-status")
            with VerticalScroll(id="verify-result-scroll"):
                yield Static("", id="verify-result")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        app = cast("PortalBackupApp", self.app)
        self._verify(app.open_archive, self.path, self._cancel)

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def _verify(self, opener: ArchiveOpener, path: str, cancel: threading.Event) -> VerifyReport:
        fileobj = opener(path)
        try:
            return verify_archive(fileobj, cancel=cancel, on_progress=self._post_progress)
        finally:
            fileobj.close()

    def _post_progress(self, progress: VerifyProgress) -> None:
        self.post_message(VerifyProgressed(progress))

    def on_verify_progressed(self, message: VerifyProgressed) -> None:
        p = message.progress
        self.query_one(ProgressBar).update(total=max(1, p.bytes_total), progress=p.bytes_done)
        self.query_one("#verify-status", Static).update(
            f"{human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)} · "
            f"{count(p.entries_done)} of {count(p.entries_total)} entries · {p.current}"
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            self.report = cast(VerifyReport, event.worker.result)
            bar = self.query_one(ProgressBar)
            bar.update(total=max(1, self.report.bytes_checked), progress=self.report.bytes_checked)
            self.query_one("#verify-status", Static).update("Done. Press enter to close.")
            self.query_one("#verify-result", Static).update(verdict(self.report))
        elif event.state == WorkerState.ERROR:
            err = event.worker.error
            self.error = (
                "cancelled"
                if isinstance(err, Cancelled)
                else error_sentence(err or Exception("unknown error"))
            )
            self.query_one("#verify-status", Static).update(
                Text(f"Verification stopped: {self.error}", style="bold red")
            )
        self.refresh_bindings()

    @property
    def running(self) -> bool:
        return self.report is None and self.error is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        return True

    def action_cancel(self) -> None:
        self._cancel.set()

    def action_close(self) -> None:
        self._cancel.set()  # closing while it runs stops it too
        self.dismiss(self.report)
