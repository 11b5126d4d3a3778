"""The "Automatic backups" screen (A on the list): how each destination is doing, the next
run, the last runs, "run now", and the forms that change the job's config (schedule,
destinations and their retention, notifications, encryption) and install the schedule.

Everything that reads or writes files, a destination or systemd runs in a thread worker; the
views come from tui/ui/logic/automatic.py as plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.core.errors import error_sentence
from tui.ui.logic import automatic as logic
from tui.ui.logic.automatic import AutoView, NewIdentity
from tui.ui.screens.dialogs import ConfirmDialog, MessageDialog

if TYPE_CHECKING:
    from tui.core.auto.config import JobConfig
    from tui.ui.app import PortalBackupApp

NOT_SET_UP = (
    "Automatic backups are not set up. Press d to add a destination (a folder on a USB "
    "disk, or an rclone remote), s to choose when, then i to install the schedule."
)
RUN_COLUMNS = ("Time", "Result", "Size", "Took", "Destination", "Error")


class ViewLoaded(Message):
    def __init__(self, view: AutoView, seq: int) -> None:
        super().__init__()
        self.view = view
        self.seq = seq  # which reload read it: an older read may finish after a newer one


class ViewFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def destinations_text(view: AutoView) -> Text:
    """Two lines per destination: where and what it keeps; its last good backup and failure."""
    if not view.destinations:
        return Text(NOT_SET_UP)
    text = Text()
    for row in view.destinations:
        if text:
            text.append("\n")
        text.append(row.name, style="bold")
        text.append(f" → {row.target}")
        text.append(f"  keeps {row.keep}\n" if row.keep else "\n", style="dim")
        text.append("  last good ")
        text.append(row.last_good, style="bold red" if row.overdue else "green")
        if row.overdue:
            text.append(" (overdue)", style="bold red")
        if row.last_failure != "—":
            text.append(" · last failure ")
            text.append(row.last_failure, style="red")
    return text


class AutomaticScreen(Screen[None]):
    CSS_PATH = "automatic.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "app.help", "Help"),
        Binding("b,backspace,escape", "back", "Back"),
        Binding("r", "run_now", "Run now"),
        Binding("s", "schedule", "Schedule"),
        Binding("d", "destinations", "Destinations"),
        Binding("n", "notify_form", "Notify"),
        Binding("i", "install", "Install"),
        Binding("e", "encryption", "Encryption", show=False),
        Binding("g", "reload", "Reload", show=False),
    ]

    def __init__(self, install_root: Path = Path("/")) -> None:
        super().__init__()
        self.install_root = install_root  # tests install units into a temporary root
        self.view: AutoView | None = None

    @property
    def papp(self) -> PortalBackupApp:
        return cast("PortalBackupApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static("Automatic backups", id="heading", classes="title")
        yield Static("", id="schedule")
        yield Static("", id="attention")
        yield Static("Reading the job and its history…", id="destinations")
        yield Static("Last runs", id="runs-title", classes="section")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#attention").display = False
        self.query_one(DataTable).add_columns(*RUN_COLUMNS)
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.view is not None:  # back from a run or a form: the history may have grown
            self.action_reload()

    # ------------------------------------------------------------------ loading

    _load_seq = 0

    def action_reload(self) -> None:
        self._load_seq += 1
        self._load(self.papp.wall_clock(), self._load_seq)

    @work(thread=True, exclusive=True, group="auto-view", exit_on_error=False)
    def _load(self, now: float, seq: int) -> None:
        try:
            view = logic.load_view(now)
        except Exception as exc:  # one sentence on screen beats a crash
            self.post_message(ViewFailed(error_sentence(exc)))
            return
        self.post_message(ViewLoaded(view, seq))

    def on_view_loaded(self, message: ViewLoaded) -> None:
        if message.seq != self._load_seq:
            return  # a stale read (the file changed since it began); a newer one follows
        view = self.view = message.view
        when = "not set up"
        if view.config is not None:
            schedule = logic.describe_schedule(view.schedule)
            when = f"Runs {schedule}; next run: {view.next_run}"
        self.query_one("#schedule", Static).update(when)
        attention = self.query_one("#attention", Static)
        note = view.problem or view.attention
        attention.display = bool(note)
        attention.update(Text(f"⚠ {note.removeprefix('portal-backup: ')}" if note else ""))
        self.query_one("#destinations", Static).update(destinations_text(view))
        table = self.query_one(DataTable)
        table.clear()
        for row in view.runs:
            style = "" if row.ok else "red"
            table.add_row(
                row.time,
                Text(row.result, style=style),
                Text(row.size, justify="right"),
                Text(row.duration, justify="right"),
                row.destination,
                Text(row.error, style=style),
            )
        self.query_one("#runs-title", Static).update(
            f"Last runs ({len(view.runs)})" if view.runs else "Last runs: none yet"
        )

    def on_view_failed(self, message: ViewFailed) -> None:
        self.query_one("#destinations", Static).update(Text(message.text, style="red"))

    # ------------------------------------------------------------------ helpers

    def _config(self) -> JobConfig | None:
        return self.view.config if self.view is not None else None

    def _saved(self, what: str) -> None:
        self.notify(what)
        self.action_reload()

    def _refuse(self, title: str, text: str) -> None:
        self.app.push_screen(MessageDialog(title, text, error=True))

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_run_now(self) -> None:
        config = self._config()
        if config is None or not config.destinations:
            self._refuse("Nothing to run", NOT_SET_UP)
            return
        if self.papp.job.running:
            self.notify("A backup or restore is already running.", severity="warning")
            return
        names = ", ".join(d.name for d in config.destinations)

        def answered(yes: bool | None) -> None:
            if yes:
                from tui.ui.screens.automatic_run import AutoRunScreen

                self.papp.job.start()
                root = getattr(self.papp.source, "portal_root", None)  # the Portal shown
                self.app.push_screen(AutoRunScreen(config, root))

        self.app.push_screen(
            ConfirmDialog(
                "Run the automatic backup now?",
                f"The job runs as the timer would: a backup to {names}, checked, then "
                "pruned by each destination's keep rules.",
                yes="Run now",
                no="Not now",
            ),
            answered,
        )

    def action_schedule(self) -> None:
        from tui.ui.screens.automatic_forms import ScheduleDialog

        config = self._config()
        current = config.schedule if config is not None else logic.PRESETS[0].calendar

        def chosen(schedule: str | None) -> None:
            if schedule:
                self._save(lambda e: e.set_schedule(schedule), "Schedule saved.")

        self.app.push_screen(ScheduleDialog(current), chosen)

    def action_destinations(self) -> None:
        from tui.ui.screens.automatic_forms import DestinationDialog, DestinationEdit

        def chosen(edit: DestinationEdit | None) -> None:
            if edit is None:
                return
            if edit.remove:
                self._save(lambda e: e.remove_destination(edit.name), f"{edit.name} removed.")
            else:
                self._save(
                    lambda e: e.set_destination(edit.name, edit.target, edit.keep),
                    f"{edit.name} saved.",
                )

        self.app.push_screen(DestinationDialog(self._config()), chosen)

    def action_notify_form(self) -> None:
        from tui.ui.screens.automatic_forms import NotifyDialog, NotifyEdit

        def chosen(edit: NotifyEdit | None) -> None:
            if edit is not None:
                self._save(lambda e: e.set_notify(edit.urls, edit.on), "Notifications saved.")

        self.app.push_screen(NotifyDialog(self._config()), chosen)

    def _save(self, change: Any, what: str) -> None:
        self._write(change, what)

    @work(thread=True, exclusive=True, group="auto-save", exit_on_error=False)
    def _write(self, change: Any, what: str) -> None:
        try:
            logic.edit_config(change)
        except Exception as exc:
            text = error_sentence(exc)
            self.app.call_from_thread(self._refuse, "Not saved", text[:1].upper() + text[1:])
            return
        self.app.call_from_thread(self._saved, what)

    # ------------------------------------------------------------------ encryption and install

    def action_encryption(self) -> None:
        """Shows the identity (making one the first time) and asks for the confirmation."""
        config = self._config()
        if config is not None and config.encrypted:
            self._confirm_identity(then_install=False)
        else:
            self._new_identity(then_install=False)

    def action_install(self) -> None:
        config = self._config()
        if config is None or not config.destinations:
            self._refuse("Nothing to schedule", NOT_SET_UP)
            return
        if config.identity_saved:
            self._install(config)
        elif config.encrypted:
            self._confirm_identity(then_install=True)
        else:
            self._new_identity(then_install=True)

    @work(thread=True, exclusive=True, group="auto-save", exit_on_error=False)
    def _new_identity(self, then_install: bool) -> None:
        try:
            identity = logic.setup_encryption(self.papp.wall_clock())
        except Exception as exc:
            self.app.call_from_thread(self._refuse, "No key was made", error_sentence(exc))
            return
        self.app.call_from_thread(self._show_identity, identity, then_install)

    @work(thread=True, exclusive=True, group="auto-save", exit_on_error=False)
    def _confirm_identity(self, then_install: bool) -> None:
        config = self._config()
        assert config is not None
        try:
            identity = logic.read_identity(logic.identity_path())
        except Exception:  # an unreadable file: ask about the configured keys instead
            identity = None
        if identity is not None and identity.recipient not in config.recipients:
            identity = None  # a file of ours, but the job encrypts to other keys
        self.app.call_from_thread(self._show_identity, identity, then_install, config)

    def _show_identity(
        self, identity: NewIdentity | None, then_install: bool, config: JobConfig | None = None
    ) -> None:
        from tui.ui.screens.automatic_identity import IdentityDialog

        recipients: list[str] = []
        if config is not None:  # what the job encrypts to, in words (never a passphrase)
            recipients = list(config.recipients)
            if config.recipients_file:
                recipients.append(f"the keys in {config.recipients_file}")
            if config.passphrase_file:
                recipients.append(f"the passphrase in {config.passphrase_file}")

        def answered(saved: bool | None) -> None:
            if not saved:
                self.notify("Not confirmed: nothing is scheduled.", severity="warning")
                self.action_reload()
                return
            self._confirmed(then_install)

        self.app.push_screen(IdentityDialog(identity, recipients), answered)

    @work(thread=True, exclusive=True, group="auto-save", exit_on_error=False)
    def _confirmed(self, then_install: bool) -> None:
        try:
            config = logic.edit_config(lambda e: e.confirm_identity_saved(True))
        except Exception as exc:
            self.app.call_from_thread(self._refuse, "Not saved", error_sentence(exc))
            return
        if then_install:
            self._install_now(config)
        else:
            self.app.call_from_thread(self._saved, "Confirmed: the schedule can be installed (i).")

    def _install(self, config: JobConfig) -> None:
        self._install_worker(config)

    @work(thread=True, exclusive=True, group="auto-install", exit_on_error=False)
    def _install_worker(self, config: JobConfig) -> None:
        self._install_now(config)

    def _install_now(self, config: JobConfig) -> None:
        """In a worker thread."""
        try:
            # The timer backs up the Portal this UI shows (--portal-root), not the default one.
            portal_root = getattr(self.papp.source, "portal_root", None)
            said = logic.install_schedule(config, self.install_root, portal_root)
        except Exception as exc:
            self.app.call_from_thread(self._refuse, "Not installed", error_sentence(exc))
            return
        self.app.call_from_thread(self._installed, said)

    def _installed(self, said: str) -> None:
        self.app.push_screen(MessageDialog("Automatic backups are scheduled", said))
        self.action_reload()
