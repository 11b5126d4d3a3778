"""Whether backups are happening: per destination the last good backup, the last failure and
whether it is overdue; the next run; and the one line a person must see when something is wrong.

`compute_status` is a pure function of the config, the history, the last manual backup and the
time. `load_status` reads them (state files and the config only: no Docker, no network, no
rclone), because the login banner runs it at every root login and must stay fast; the next run
is asked of systemd only when the caller wants it (`with_next_run`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tui.core.auto.history import RunRecord

if TYPE_CHECKING:
    from tui.core.auto.config import JobConfig

DEFAULT_OVERDUE_AFTER = 36 * 3600.0  # a daily schedule, plus its random delay and a retry
# Without automatic backups, the reminder asks for a manual backup once a week: a daily nag
# to someone who backs up by hand would soon be ignored.
MANUAL_REMINDER_AFTER = 7 * 86400.0
TIMER_UNIT = "portal-backup.timer"
_UNIX = ("--timestamp=unix",)  # "@1765076400" rather than a local-time string (systemd 251+)


@dataclass(frozen=True)
class GoodBackup:
    time: float  # unix, when the run ended
    archive: str | None
    size: int
    target: str = ""
    verified: bool = True

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "age": round(max(0.0, now - self.time)),
            "archive": self.archive,
            "size": self.size,
            "target": self.target,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class Failure:
    time: float
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"time": iso(self.time), "error": self.error}


@dataclass(frozen=True)
class DestinationStatus:
    name: str
    target: str
    last_good: GoodBackup | None
    last_failure: Failure | None
    error: str | None  # the latest run's error when the latest run failed, else None
    overdue: bool  # no good backup within overdue_after (or none ever)

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "last_good": self.last_good.to_json(now) if self.last_good else None,
            "last_failure": self.last_failure.to_json() if self.last_failure else None,
            "error": self.error,
            "overdue": self.overdue,
        }


@dataclass(frozen=True)
class Status:
    now: float
    configured: bool  # a job config exists and could be read
    destinations: list[DestinationStatus]
    next_run: float | None
    overdue_after: float
    last_manual: GoodBackup | None
    attention: list[str] = field(default_factory=list)  # sentences, most important first
    config_error: str | None = None
    schedule: str | None = None

    @property
    def overdue(self) -> bool:
        return any(d.overdue for d in self.destinations)

    def to_json(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "destinations": [d.to_json(self.now) for d in self.destinations],
            "next_run": iso(self.next_run) if self.next_run is not None else None,
            "schedule": self.schedule,
            "overdue_after": self.overdue_after,
            "overdue": self.overdue,
            "last_manual": self.last_manual.to_json(self.now) if self.last_manual else None,
            "attention": self.attention,
            "config_error": self.config_error,
        }


def compute_status(
    config: JobConfig | None,
    runs: Sequence[RunRecord],
    now: float,
    last_manual: Mapping[str, Any] | None,
    *,
    next_run: float | None = None,
    config_error: str | None = None,
) -> Status:
    """The status at `now` (unix time). Without a config, the destinations are those of the
    history (a removed job's), and the reminder is about manual backups."""
    limit = config.overdue_after if config is not None else DEFAULT_OVERDUE_AFTER
    if config is not None:
        named = [(d.name, dest_label(d.target)) for d in config.destinations]
    else:
        seen: dict[str, str] = {}
        for r in runs:
            seen.setdefault(r.destination, r.target)
        named = list(seen.items())
    dests = [_destination(name, target, runs, now, limit) for name, target in named]
    manual = _manual(last_manual)
    attention: list[str] = []
    if config_error:
        attention.append(f"the automatic backup config cannot be read: {config_error}")
    if config is not None:
        if not config.destinations:
            attention.append("automatic backups have no destination configured")
        attention += [a for d in dests if (a := _attention(d, now, limit))]
    elif not config_error:
        attention += _manual_attention(manual, now)
    return Status(
        now=now,
        configured=config is not None,
        destinations=dests,
        next_run=next_run,
        overdue_after=limit,
        last_manual=manual,
        attention=attention,
        config_error=config_error,
        schedule=config.schedule if config is not None else None,
    )


def dest_label(target: str) -> str:
    """A destination's printable label (the spec may hold secrets); the spec's scheme alone
    when it cannot be parsed, never the spec itself."""
    try:
        from tui.core.dest.target import parse_dest

        return parse_dest(target).label
    except Exception:  # a malformed spec: the config check names it elsewhere
        return target.split(",", 1)[0].split("=", 1)[0]


def _destination(
    name: str, target: str, runs: Sequence[RunRecord], now: float, limit: float
) -> DestinationStatus:
    mine = [r for r in runs if r.destination == name]
    good = next((r for r in reversed(mine) if r.ok), None)
    bad = next((r for r in reversed(mine) if not r.ok), None)
    latest = max(mine, key=lambda r: r.ended, default=None)
    last_good = (
        GoodBackup(good.ended, good.archive, good.bytes_out, good.target, good.verified)
        if good
        else None
    )
    return DestinationStatus(
        name=name,
        target=target,
        last_good=last_good,
        last_failure=Failure(bad.ended, bad.error or "failed") if bad else None,
        error=(latest.error or "failed") if latest is not None and not latest.ok else None,
        overdue=last_good is None or now - last_good.time > limit,
    )


def _attention(d: DestinationStatus, now: float, limit: float) -> str | None:
    if d.error is not None and d.last_failure is not None:
        when = ago(now - d.last_failure.time)
        return f"the last backup to {d.name} failed {when}: {d.error}"
    if d.last_good is None:
        return f"there has never been a backup to {d.name}"
    if d.overdue:
        return (
            f"the last good backup to {d.name} is {age_words(now - d.last_good.time)} old "
            f"(the limit is {age_words(limit)})"
        )
    return None


def _manual(record: Mapping[str, Any] | None) -> GoodBackup | None:
    if not record or not isinstance(record.get("time"), int | float):
        return None
    path = record.get("path")
    size = record.get("bytes")
    return GoodBackup(
        float(record["time"]),
        os.path.basename(path) if isinstance(path, str) else None,
        size if isinstance(size, int) else 0,
        os.path.dirname(path) if isinstance(path, str) else "",
    )


def _manual_attention(manual: GoodBackup | None, now: float) -> list[str]:
    setup = "automatic backups are not set up (see `portal-backup auto install --help`)"
    if manual is None:
        return [f"this host has never been backed up and {setup}"]
    if now - manual.time > MANUAL_REMINDER_AFTER:
        return [f"the last backup of this host is {age_words(now - manual.time)} old and {setup}"]
    return []


def banner(status: Status) -> str | None:
    """The one line for a login shell or the TUI's home screen, or None when all is well."""
    if not status.attention:
        return None
    first = status.attention[0]
    more = len(status.attention) - 1
    extra = f" (and {more} more: portal-backup status)" if more else ""
    return f"portal-backup: {first}{extra}"


def load_status(*, now: float | None = None, with_next_run: bool = False) -> Status:
    """The status from the state directory and the config (see the module's note on speed)."""
    from tui.core.auto.history import read_runs
    from tui.core.errors import PortalBackupError
    from tui.core.state import last_backup

    config, config_error = None, None
    try:
        config = _load_config()
    except PortalBackupError as exc:
        config_error = str(exc)
    runs = read_runs()
    next_run = next_run_time(config) if with_next_run and config is not None else None
    return compute_status(
        config,
        runs,
        time.time() if now is None else now,
        last_backup(),
        next_run=next_run,
        config_error=config_error,
    )


def _load_config() -> JobConfig | None:
    from tui.core.auto.config import config_path, load_config

    path = config_path()
    if not path.exists():
        return None
    return load_config(path)


def next_run_time(config: JobConfig) -> float | None:
    """When the timer fires next: systemd's answer when it runs the timer, else the schedule's
    next time (systemd-analyze), else None."""
    if os.path.isdir("/run/systemd/system"):
        found = _timer_next_elapse()
        if found is not None:
            return found
    try:
        from tui.core.auto.calendar import next_times

        times = next_times(config.schedule, 1)
    except (ValueError, OSError):
        return None
    return times[0].timestamp() if times else None


def _timer_next_elapse() -> float | None:
    import shutil
    import subprocess

    tool = shutil.which("systemctl")
    if not tool:
        return None
    try:
        done = subprocess.run(
            [tool, "show", TIMER_UNIT, "--property=NextElapseUSecRealtime", "--value", *_UNIX],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_systemd_time(done.stdout.strip()) if done.returncode == 0 else None


def parse_systemd_time(text: str) -> float | None:
    """'@1765083600' (--timestamp=unix) or 'Mon 2026-12-07 03:00:00 UTC'; None otherwise."""
    if text.startswith("@"):
        try:
            return float(text[1:])
        except ValueError:
            return None
    parts = text.split()
    if len(parts) == 4 and parts[3] == "UTC":
        try:
            stamp = datetime.strptime(" ".join(parts[1:3]), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return stamp.replace(tzinfo=UTC).timestamp()
    return None


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_words(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def age_words(seconds: float) -> str:
    """'12 minutes', '5 hours', '3 days': how people say how old something is."""
    s = max(0, round(seconds))
    # Days only from two on: "36 hours" says more than "1 day" next to a 36 h limit.
    for unit, size, least in (("day", 86400, 2), ("hour", 3600, 1), ("minute", 60, 1)):
        if s >= least * size:
            n = s // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{s} second{'s' if s != 1 else ''}"


def ago(seconds: float) -> str:
    return "just now" if seconds < 60 else f"{age_words(seconds)} ago"


def status_lines(status: Status) -> list[str]:
    """`portal-backup status` in words, for both faces."""
    out: list[str] = []
    if status.config_error:
        out.append(f"Automatic backups: the config cannot be read: {status.config_error}")
    elif not status.configured:
        out.append("Automatic backups: not set up (see `portal-backup auto install --help`).")
        m = status.last_manual
        if m is not None:
            out.append(
                f"Last backup: {when_words(m.time)} ({ago(status.now - m.time)}), "
                f"{m.archive or '?'} ({human_size(m.size)})"
            )
        else:
            out.append("Last backup: never.")
    else:
        nxt = (
            f"{when_words(status.next_run)} (in {age_words(status.next_run - status.now)})"
            if status.next_run is not None
            else "unknown (the timer is not installed: `portal-backup auto install`)"
        )
        out.append(f"Automatic backups: schedule {status.schedule!r}; next run {nxt}.")
        out.append(f"A destination is overdue after {age_words(status.overdue_after)}.")
    for d in status.destinations:
        out.append("")
        out.append(f"{d.name} ({d.target})" + ("  OVERDUE" if d.overdue else ""))
        g = d.last_good
        if g is None:
            out.append("  last good backup:  never")
        else:
            out.append(
                f"  last good backup:  {when_words(g.time)} ({ago(status.now - g.time)}), "
                f"{g.archive or '?'} ({human_size(g.size)}" + (", verified)" if g.verified else ")")
            )
        f = d.last_failure
        if f is not None:
            out.append(f"  last failure:      {when_words(f.time)} ({ago(status.now - f.time)})")
            out.append(f"                     {f.error}")
        if d.error is not None:
            out.append("  the latest run failed")
    if status.attention:
        out.append("")
        out += [f"Needs attention: {a}" for a in status.attention]
    return out


def human_size(n: int) -> str:
    from tui.core.humanfmt import human_bytes

    return human_bytes(n)
