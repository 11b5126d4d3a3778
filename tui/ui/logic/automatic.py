"""What the "Automatic backups" screen shows and changes, as plain data (no Textual).

Everything here may block (config, history, a destination's listing, systemd) and is called
from a worker thread. The engine parts (tui.core.auto, tui.core.dest) are imported lazily, so
the home screen's load pays nothing for them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from tui.core.errors import PortalBackupError, UsageError
from tui.core.humanfmt import duration, human_bytes

if TYPE_CHECKING:
    from tui.core.auto.config import ConfigEditor, JobConfig
    from tui.core.auto.history import RunRecord
    from tui.core.auto.status import DestinationStatus
    from tui.core.crypto.recipients import X25519Identity
    from tui.core.dest.retention import KeepPolicy

RUNS_SHOWN = 30
IDENTITY_FILE = "age-identity.txt"


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    calendar: str  # systemd OnCalendar; "" for the custom one


PRESETS: tuple[Preset, ...] = (
    Preset("nightly", "Nightly at 03:00", "*-*-* 03:00:00"),
    Preset("weekly", "Weekly, Sunday 03:00", "Sun *-*-* 03:00:00"),
    Preset("6h", "Every 6 hours", "*-*-* 00/6:00:00"),
    Preset("custom", "Custom (systemd OnCalendar)", ""),
)


def preset_of(schedule: str) -> Preset:
    for preset in PRESETS:
        if preset.calendar and preset.calendar == schedule.strip():
            return preset
    return PRESETS[-1]


def describe_schedule(schedule: str) -> str:
    preset = preset_of(schedule)
    if not preset.calendar:
        return f"at OnCalendar {schedule}"
    return preset.label[:1].lower() + preset.label[1:]


def next_times(schedule: str, count: int = 3) -> list[str]:
    """The next `count` runs of an OnCalendar expression, as text (empty when systemd-analyze
    is missing). UsageError (one sentence) for an expression systemd refuses."""
    from tui.core.auto.calendar import next_times as calendar_next

    try:
        return [when(t) for t in calendar_next(schedule, count)]
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------- status and runs


@dataclass(frozen=True)
class DestinationRow:
    name: str
    target: str  # the label: safe to show
    keep: str  # "daily 7, weekly 4"
    last_good: str
    last_failure: str
    overdue: bool


@dataclass(frozen=True)
class RunRow:
    time: str
    result: str
    size: str
    duration: str
    destination: str
    ok: bool
    error: str = ""


@dataclass
class AutoView:
    config: JobConfig | None = None
    config_path: str = ""
    problem: str | None = None  # the config could not be read: one sentence
    schedule: str = ""
    next_run: str = ""
    destinations: list[DestinationRow] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    attention: str | None = None

    @property
    def set_up(self) -> bool:
        return self.config is not None and bool(self.config.destinations)

    @property
    def needs_identity(self) -> bool:
        return self.config is not None and not self.config.identity_saved


def when(t: float | datetime | None, weekday: bool = True) -> str:
    """A moment in local time, minutes precision: what a person compares with a clock."""
    if t is None:
        return "—"
    stamp = t.timestamp() if isinstance(t, datetime) else float(t)
    return time.strftime(f"{'%a ' if weekday else ''}%Y-%m-%d %H:%M", time.localtime(stamp))


def ago(t: float | None, now: float) -> str:
    if t is None:
        return "never"
    import humanize

    return f"{humanize.naturaldelta(max(0.0, now - t))} ago"


KEEP_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def keep_text(policy: KeepPolicy) -> str:
    parts = [f"{rule} {getattr(policy, rule)}" for rule in KEEP_RULES if getattr(policy, rule, 0)]
    return ", ".join(parts) or "everything (no rule)"


_KEEP_PART = re.compile(r"^\s*(last|hourly|daily|weekly|monthly|yearly)\s*[=: ]\s*(\d+)\s*$")


def parse_keep(text: str) -> KeepPolicy:
    """ "daily 7, weekly 4" or "daily=7 weekly=4" -> a KeepPolicy; UsageError otherwise."""
    from tui.core.dest.retention import KeepPolicy

    values: dict[str, int] = {}
    for part in re.split(r"[,;]|\s+(?=[a-z])", text.strip().lower()):
        if not part.strip():
            continue
        match = _KEEP_PART.match(part)
        if not match:
            raise UsageError(
                f"{part.strip()!r} is not a keep rule: write rules like daily 7, weekly 4, "
                "monthly 12 (last, hourly, daily, weekly, monthly, yearly)"
            )
        values[match.group(1)] = int(match.group(2))
    policy = KeepPolicy.from_mapping(values)
    if policy.empty():
        raise UsageError("keep at least one backup: give a rule such as daily 7")
    return policy


def run_row(record: RunRecord) -> RunRow:
    ok = record.result == "ok"
    result = ("ok, checked" if record.verified else "ok") if ok else "failed"
    return RunRow(
        time=when(record.started, weekday=False),
        result=result,
        size=human_bytes(record.bytes_out) if record.result == "ok" else "—",
        duration=duration(record.duration),
        destination=record.destination or "—",
        ok=ok,
        error="" if ok else (record.error or ""),
    )


def destination_row(d: DestinationStatus, keep: str, now: float) -> DestinationRow:
    good = d.last_good
    good_text = "never" if good is None else f"{ago(good.time, now)} ({human_bytes(good.size)})"
    failure = "—"
    if d.last_failure is not None:
        failure = f"{ago(d.last_failure.time, now)}: {d.last_failure.error}"
    return DestinationRow(d.name, d.target, keep, good_text, failure, d.overdue)


def _config() -> JobConfig | None:
    """The job's config for the forms; None when there is none or it cannot be read (the
    status says why)."""
    from tui.core.auto.config import config_path, load_config

    path = config_path()
    if not path.exists():
        return None
    try:
        return load_config(path)
    except (PortalBackupError, ValueError, OSError):
        return None


def load_view(now: float) -> AutoView:
    """Everything the screen shows, read from the config and the state files."""
    from tui.core.auto.config import config_path
    from tui.core.auto.history import read_runs
    from tui.core.auto.status import banner, load_status

    status = load_status(now=now, with_next_run=True)
    config = _config()
    keeps = {d.name: keep_text(d.keep) for d in config.destinations} if config else {}
    view = AutoView(
        config=config,
        config_path=str(config_path()),
        problem=status.config_error,
        schedule=status.schedule or "",
        next_run=when(status.next_run) if status.next_run is not None else "not scheduled",
        destinations=[destination_row(d, keeps.get(d.name, ""), now) for d in status.destinations],
        runs=[run_row(r) for r in reversed(read_runs()[-RUNS_SHOWN:])],  # newest first
        attention=banner(status),
    )
    return view


def attention_line(now: float | None = None) -> str | None:
    """The home screen's line: `status --banner`'s text, None when nothing needs attention.
    Never raises: a reminder that breaks the home screen would be worse than none."""
    try:
        from tui.core.auto.status import banner, load_status

        line = banner(load_status(now=now))
        # The login shell's line names the tool; on its own home screen that is noise.
        return line.removeprefix("portal-backup: ") if line else None
    except Exception:  # whatever breaks, the list of items still shows
        return None


# --------------------------------------------------------------------------- retention preview


@dataclass(frozen=True)
class KeepRow:
    name: str
    keep: bool
    reasons: str


def retention_preview(target: str, policy: KeepPolicy, rclone_config: Path | None) -> list[KeepRow]:
    """Which of the backups already at `target` this policy would keep (newest first)."""
    from tui.core.dest.backups import list_backups
    from tui.core.dest.retention import decide
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    store = open_store(parse_dest(target), rclone_config=rclone_config)
    decisions = decide(list_backups(store), policy)
    return [KeepRow(d.name, d.keep, ", ".join(d.reasons)) for d in reversed(decisions)]


def policy_from(keep: Mapping[str, int]) -> KeepPolicy:
    from tui.core.dest.retention import KeepPolicy

    return KeepPolicy.from_mapping(keep)


def preview_text(rows: Sequence[KeepRow]) -> Text:
    """One line per backup already at the destination: keep or remove, and why."""
    if not rows:
        return Text("No backups there yet: nothing would be removed.", style="dim")
    kept = sum(r.keep for r in rows)
    text = Text(f"Of the {len(rows)} backups there, these rules keep {kept}:\n", style="bold")
    for row in rows:
        text.append("keep    " if row.keep else "remove  ", style="green" if row.keep else "red")
        text.append(row.name)
        text.append(f"  {row.reasons}\n", style="dim")
    text.rstrip()
    return text


# --------------------------------------------------------------------------- the age identity


@dataclass(frozen=True)
class NewIdentity:
    path: Path
    secret: str = field(repr=False)  # AGE-SECRET-KEY-1…: shown once, never logged
    recipient: str


def identity_path() -> Path:
    """Beside the job's config: /etc/portal-backup as root, else the XDG config dir."""
    from tui.core.auto.config import config_path

    return config_path().parent / IDENTITY_FILE


def create_identity(path: Path, now: float | None = None) -> NewIdentity:
    """A new age identity in a 0600 file (age-keygen's format); never replaces a file."""
    from tui.core.crypto.recipients import X25519Identity

    identity: X25519Identity = X25519Identity.generate()
    created = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    text = (
        f"# created: {created.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"# public key: {identity.recipient()}\n"
        f"{identity}\n"
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise PortalBackupError(
            f"{path} already exists: move it away (after saving it) or use its public key"
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    return NewIdentity(path, str(identity), str(identity.recipient()))


def read_identity(path: Path) -> NewIdentity | None:
    """The identity this screen made earlier, to show it again before the confirmation."""
    from tui.core.crypto.recipients import load_identities

    if not path.exists():
        return None
    identities = load_identities(path)
    if not identities:
        return None
    return NewIdentity(path, str(identities[0]), str(identities[0].recipient()))


# --------------------------------------------------------------------------- changes


def edit_config(change: Callable[[ConfigEditor], object]) -> JobConfig:
    """Applies `change` to the job's config file (comments kept) and saves it (0600, atomic).
    Raises the config's one-sentence errors; nothing is written when the result is invalid."""
    from tui.core.auto.config import ConfigEditor

    editor = ConfigEditor.load()
    change(editor)
    return editor.save()


def setup_encryption(now: float | None = None) -> NewIdentity:
    """First-time encryption for automatic backups: a new identity file beside the config,
    its public key as the job's only recipient, and the confirmation reset (the new key must
    be saved off this host before anything is scheduled)."""
    identity = create_identity(identity_path(), now)

    def change(editor: ConfigEditor) -> None:
        editor.set_recipients([identity.recipient])
        editor.confirm_identity_saved(False)

    try:
        edit_config(change)
    except BaseException:
        identity.path.unlink(missing_ok=True)  # no config points at it: it would only confuse
        raise
    return identity


def send_test(urls: Sequence[str]) -> tuple[bool, str]:
    """Sends a test notification; (delivered, what to show)."""
    from tui.core.auto.notify import host_name, send

    problems: list[str] = []
    ok = send(
        urls,
        f"portal-backup test from {host_name()}",
        "This is a test notification from portal-backup's Automatic backups screen.",
        event="test",
        log=problems.append,
    )
    if ok:
        return True, f"Sent to {len(urls)} URL{'' if len(urls) == 1 else 's'}."
    return False, "; ".join(problems) or "Not delivered."


def install_schedule(config: JobConfig, root: Path, portal_root: str | None = None) -> str:
    """Installs the timer (or the cron file) and the login reminder; refuses without the
    identity confirmation. Returns what to tell the user: what was written, the next run."""
    from tui.core.auto import units

    if not config.identity_saved:
        raise UsageError(
            "nothing is scheduled until you confirm the age identity is saved off this host"
        )
    result = units.install(
        config, root=root, executable=units.installed_executable(), portal_root=portal_root
    )
    lines = [f"Installed for {result.init}: " + ", ".join(str(p) for p in result.written) + "."]
    lines += result.notes
    if result.next_run is not None:
        lines.append(f"Next run: {when(result.next_run)} (plus a random delay).")
    return "\n".join(lines)
