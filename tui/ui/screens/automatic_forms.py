"""The Automatic backups screen's forms: the schedule, a destination with its keep rules (and
which existing backups they would keep), and notifications (with "send a test"). Each one
answers plain data, or None when cancelled; the screen saves it through the config editor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from tui.core.errors import error_sentence
from tui.ui.logic import automatic as logic

if TYPE_CHECKING:
    from tui.core.auto.config import DestinationConfig, JobConfig

CSS: list[str | PurePath] = ["dialogs.tcss", "automatic.tcss"]
NEW = "+new"


def _sentence(exc: BaseException) -> str:
    text = error_sentence(exc)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- schedule


class ScheduleDialog(ModalScreen[str | None]):
    """Presets or a custom OnCalendar expression, with its next three times."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("When should the automatic backup run?", classes="dialog-title")
            yield OptionList(
                *(Option(p.label, id=p.key) for p in logic.PRESETS), id="presets", compact=True
            )
            yield Input(
                self.current, id="calendar", placeholder="systemd OnCalendar, e.g. Mon..Fri 22:30"
            )
            yield Static("", id="next-times", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        presets = self.query_one("#presets", OptionList)
        presets.highlighted = logic.PRESETS.index(logic.preset_of(self.current))
        presets.focus()
        self._check(self.current)

    @on(OptionList.OptionSelected, "#presets")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        preset = next(p for p in logic.PRESETS if p.key == event.option.id)
        field = self.query_one("#calendar", Input)
        if preset.calendar:
            field.value = preset.calendar
        field.focus()

    @on(Input.Changed, "#calendar")
    def _changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    @work(thread=True, exclusive=True, group="calendar", exit_on_error=False)
    def _check(self, schedule: str) -> None:
        try:
            times = logic.next_times(schedule, 3)
            text = Text("Next: " + ", ".join(times) if times else "")
        except Exception as exc:
            text = Text(_sentence(exc), style="red")
        self.app.call_from_thread(self.query_one("#next-times", Static).update, text)

    @on(Input.Submitted, "#calendar")
    def _submitted(self) -> None:
        self._done()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._done()
        else:
            self.dismiss(None)

    def _done(self) -> None:
        self.dismiss(self.query_one("#calendar", Input).value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class DestinationEdit:
    name: str
    target: str = ""
    keep: dict[str, int] | None = None
    remove: bool = False


class DestinationDialog(ModalScreen[DestinationEdit | None]):
    """One destination: pick an existing one (or a new one), its target and keep rules; the
    preview lists which of the backups already there the rules would keep."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, config: JobConfig | None) -> None:
        super().__init__()
        self.config = config
        self.existing: list[DestinationConfig] = list(config.destinations) if config else []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="destination-dialog"):
            yield Static("Destinations and what each keeps", classes="dialog-title")
            yield OptionList(
                *(
                    Option(f"{d.name}  ({logic.keep_text(d.keep)})", id=d.name)
                    for d in self.existing
                ),
                Option("Add a destination…", id=NEW),
                id="existing",
                compact=True,
            )
            with Horizontal(classes="field"):
                yield Static("Name", classes="label")
                yield Input(id="name", placeholder="e.g. usb or offsite", compact=True)
            with Horizontal(classes="field"):
                yield Static("Target", classes="label")
                yield Input(
                    id="target",
                    placeholder="a folder, remote:path, or :backend,…:path",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Static("Keep", classes="label")
                yield Input(
                    "daily 7, weekly 4, monthly 12",
                    id="keep",
                    placeholder="e.g. daily 7, weekly 4, monthly 12",
                    compact=True,
                )
            with VerticalScroll(id="preview-box"):
                yield Static("", id="preview", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="ok", variant="primary")
                yield Button("Preview", id="preview-button")
                yield Button("Remove", id="remove", variant="error")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        listing = self.query_one("#existing", OptionList)
        listing.highlighted = 0
        listing.focus()
        self._load(self.existing[0].name if self.existing else NEW)

    def _load(self, name: str) -> None:
        chosen = next((d for d in self.existing if d.name == name), None)
        self.query_one("#name", Input).value = chosen.name if chosen else ""
        self.query_one("#target", Input).value = chosen.target if chosen else ""
        if chosen:
            self.query_one("#keep", Input).value = logic.keep_text(chosen.keep)
        self.query_one("#remove", Button).disabled = chosen is None
        self.query_one("#preview", Static).update("")
        if chosen:
            self._preview()

    @on(OptionList.OptionHighlighted, "#existing")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._load(event.option.id or NEW)

    @on(OptionList.OptionSelected, "#existing")
    def _selected(self) -> None:
        self.query_one("#name" if not self.query_one("#name", Input).value else "#target").focus()

    def _edit(self) -> DestinationEdit | None:
        name = self.query_one("#name", Input).value.strip()
        target = self.query_one("#target", Input).value.strip()
        problem = None
        try:
            policy = logic.parse_keep(self.query_one("#keep", Input).value)
        except Exception as exc:
            problem = _sentence(exc)
        if not name or not target:
            problem = "Give the destination a name and a target."
        if problem:
            self.query_one("#preview", Static).update(Text(problem, style="red"))
            return None
        keep = {k: getattr(policy, k) for k in logic.KEEP_RULES if getattr(policy, k)}
        return DestinationEdit(name, target, keep)

    def _preview(self) -> None:
        edit = self._edit()
        if edit is None:
            return
        self.query_one("#preview", Static).update(Text("Listing the backups there…", style="dim"))
        rclone_config = self.config.rclone_config if self.config else None
        self._list(edit, rclone_config)

    @work(thread=True, exclusive=True, group="retention", exit_on_error=False)
    def _list(self, edit: DestinationEdit, rclone_config: Path | None) -> None:
        try:
            policy = logic.policy_from(edit.keep or {})
            rows = logic.retention_preview(edit.target, policy, rclone_config)
            text = logic.preview_text(rows)
        except Exception as exc:
            text = Text(_sentence(exc), style="red")
        self.app.call_from_thread(self.query_one("#preview", Static).update, text)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            edit = self._edit()
            if edit is not None:
                self.dismiss(edit)
        elif event.button.id == "preview-button":
            self._preview()
        elif event.button.id == "remove":
            name = self.query_one("#name", Input).value.strip()
            if name:
                self.dismiss(DestinationEdit(name, remove=True))
        else:
            self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "keep":
            self._preview()
        else:
            self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True)
class NotifyEdit:
    urls: list[str]
    on: list[str]


EVENT_LABELS = (
    ("failure", "a run fails"),
    ("overdue", "the last good backup is too old"),
    ("success", "every good run"),
)


class NotifyDialog(ModalScreen[NotifyEdit | None]):
    """apprise URLs (one a line), which events notify, and "Send a test"."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, config: JobConfig | None) -> None:
        super().__init__()
        self.urls = list(config.notify_urls) if config else []
        self.events = set(config.notify_on) if config else {"failure", "overdue"}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Notifications", classes="dialog-title")
            yield Static(
                "apprise URLs, one a line: ntfy://, mailto://, gotify://, tgram://, json://…",
                classes="dialog-body",
            )
            yield TextArea("\n".join(self.urls), id="urls", soft_wrap=True, show_line_numbers=False)
            yield Static("Notify when", classes="dialog-body")
            for event, label in EVENT_LABELS:
                yield Checkbox(label, event in self.events, id=f"on-{event}", compact=True)
            yield Static("", id="test-result", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="ok", variant="primary")
                yield Button("Send a test", id="test")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#urls", TextArea).focus()

    def _edit(self) -> NotifyEdit:
        text = self.query_one("#urls", TextArea).text
        urls = [u.strip() for u in text.splitlines() if u.strip()]
        on_ = [e for e, _ in EVENT_LABELS if self.query_one(f"#on-{e}", Checkbox).value]
        return NotifyEdit(urls, on_)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self._edit())
        elif event.button.id == "test":
            urls = self._edit().urls
            if not urls:
                self.query_one("#test-result", Static).update(
                    Text("Give at least one URL first.", style="red")
                )
                return
            self.query_one("#test-result", Static).update(Text("Sending…", style="dim"))
            self._send(urls)
        else:
            self.dismiss(None)

    @work(thread=True, exclusive=True, group="notify-test", exit_on_error=False)
    def _send(self, urls: list[str]) -> None:
        ok, said = logic.send_test(urls)
        text = Text(said, style="green" if ok else "red")
        self.app.call_from_thread(self.query_one("#test-result", Static).update, text)

    def action_cancel(self) -> None:
        self.dismiss(None)
