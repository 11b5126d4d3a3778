"""The Textual app: screens live in tui/ui/screens, widgets in tui/ui/widgets; this only wires them.

run_app is what `portal-backup` and `portal-backup explore` call. It turns SIGHUP and SIGTERM
(a dropped SSH connection, a `kill`) into a clean cancel of a running backup, and waits for
the backup's worker to finish restarting containers before the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from tui.ui.logic.datasource import DataSource, HostSource
from tui.ui.logic.jobs import RunJob
from tui.ui.logic.unlock import ArchiveKeys

ArchiveOpener = Callable[[str], BinaryIO]


class PortalBackupApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Portal Backup"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # Quits as in k9s, lazydocker and btop (Textual's default only says how to quit).
        # Not a priority binding: selected text is copied first, and a running backup asks.
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        source: DataSource,
        *,
        explore: str | None = None,
        open_archive: ArchiveOpener | None = None,
        identities: Sequence[Any] = (),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        cwd: str | None = None,
        backup_overrides: dict[str, Any] | None = None,
        restore_overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.explore_path = explore
        # Encrypted archives: the command line's keys, and those typed in the unlock dialog.
        self.keys = ArchiveKeys(identities)
        self.open_archive: ArchiveOpener = open_archive or self.keys.open
        self.clock = clock  # UI timings (first paint, update rate); a fake one in tests
        self.wall_clock = wall_clock  # "last backup 3 days ago"
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.cwd = cwd or os.getcwd()
        # Test hooks, given explicitly (tests, or the launcher from tui/cli/test_hooks.py):
        # extra BackupOptions / RestoreOptions fields, such as hold_file/hold_item to pause a run.
        self.backup_overrides: dict[str, Any] = dict(backup_overrides or {})
        self.restore_overrides: dict[str, Any] = dict(restore_overrides or {})
        self.job = RunJob()
        self.quit_after_backup = False
        self.started_at = clock()
        self._event_loop: asyncio.AbstractEventLoop | None = None

    def on_mount(self) -> None:
        from tui.ui.screens.explorer import ExplorerScreen
        from tui.ui.screens.home import HomeScreen

        self._event_loop = asyncio.get_running_loop()
        if self.explore_path is not None:
            self.push_screen(ExplorerScreen(self.explore_path, standalone=True))
        else:
            self.push_screen(HomeScreen())

    def action_help(self) -> None:
        from tui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if not self.job.running:
            self.exit(0)
            return
        from tui.ui.screens.dialogs import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.quit_after_backup = True
                self.job.cancel.set()
                self.notify(
                    f"Stopping the {self.job.kind} and restarting containers; the "
                    "app closes when that is done.",
                    timeout=30,
                )

        title, body = self.job.quit_question()
        self.push_screen(
            ConfirmDialog(
                title, body, yes="Stop and quit", no="Keep going", default_yes=False, danger=True
            ),
            answered,
        )

    def hangup(self) -> None:
        """The terminal is gone: cancel the backup (if any) and leave. run_app waits for it."""
        self.job.cancel.set()
        self.exit(0)

    def hangup_threadsafe(self) -> None:
        """For signal handlers: they run between bytecodes, possibly inside the event loop."""
        self.job.cancel.set()
        if self._event_loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._event_loop.call_soon_threadsafe(self.hangup)


def run_app(args: argparse.Namespace, explore: str | None = None, hooks: Any = None) -> int:
    """`hooks`: the launcher's test hooks (tui.cli.test_hooks.TestHooks), None in normal use."""
    from tui.ui.logic.unlock import cli_identities

    app = PortalBackupApp(
        HostSource(args.portal_root),
        explore=explore,
        identities=cli_identities(args),
        backup_overrides=hooks.backup_options() if hooks is not None else None,
        restore_overrides=hooks.restore_options() if hooks is not None else None,
    )
    finished = threading.Event()
    previous = _install_hangup_handlers(app, after=lambda: _exit_after_cleanup(app.job, finished))
    try:
        app.run(mouse=not getattr(args, "no_mouse", False))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if app.job.running:
            _say(f"portal-backup: stopping the {app.job.kind} and restarting containers…")
            app.job.wait()
        finished.set()
    return app.return_code or 0


def _exit_after_cleanup(job: RunJob, finished: threading.Event, grace: float = 5.0) -> None:
    """After a hangup: once the backup has cleaned up, make sure the process really ends.

    Textual's shutdown can block for ever when the terminal is gone (its output thread dies
    on the first failed write and the final flush then waits on a full queue). The engine's
    cleanup is what matters; once it is done, nothing is left to save.
    """

    def watch() -> None:
        job.wait()
        if not finished.wait(grace):
            os._exit(128 + signal.SIGHUP)

    threading.Thread(target=watch, name="hangup-exit", daemon=True).start()


def _install_hangup_handlers(
    app: PortalBackupApp, after: Callable[[], None] | None = None
) -> dict[int, Any]:
    def handler(_signum: int, _frame: Any) -> None:
        app.hangup_threadsafe()
        if after is not None:
            after()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGHUP, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal may be gone
        print(text, file=sys.stderr, flush=True)
