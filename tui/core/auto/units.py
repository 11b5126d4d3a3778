"""Scheduling the job: systemd service + timer units, or /etc/cron.d without systemd.

Two timers: the job's own (the config's schedule, Persistent=true so a run missed while the
host was off happens at the next boot), and a daily overdue check (`status --notify-overdue`)
kept in units of its own so it still runs, and still notifies, when the job can no longer start
(a broken config, a missing binary, a unit that fails before our code runs).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tui.core.auto.calendar import next_times, to_cron
from tui.core.auto.config import IDENTITY_KEY, JobConfig, parse_duration
from tui.core.auto.files import write_atomic
from tui.core.auto.reminder import install_reminder, remove_reminder
from tui.core.errors import PortalBackupError, UsageError

UNIT_DIR = Path("etc/systemd/system")
JOB_SERVICE = "portal-backup.service"
JOB_TIMER = "portal-backup.timer"
OVERDUE_SERVICE = "portal-backup-overdue.service"
OVERDUE_TIMER = "portal-backup-overdue.timer"
CRON_FILE = Path("etc/cron.d/portal-backup")
OVERDUE_SCHEDULE = "*-*-* 09:00:00"  # the daily check: when someone is likely to read it
OVERDUE_CRON = "0 9 * * *"
_SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted()'s test


@dataclass
class InstallResult:
    init: str  # "systemd" or "cron"
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sentences for the user
    next_run: datetime | None = None  # UTC, before the random delay
    random_delay: float = 0.0  # seconds (systemd only: cron has none)

    @property
    def next_run_text(self) -> str:
        if self.next_run is None:
            return "at the schedule's next time (cannot compute it here)"
        text = self.next_run.astimezone().strftime("%a %Y-%m-%d %H:%M %Z")
        if self.random_delay >= 60:
            text += f" (plus a random delay of up to {int(self.random_delay // 60)} min)"
        return text


def systemd_running() -> bool:
    return _SYSTEMD_RUNNING.is_dir()


def installed_executable() -> str:
    """The absolute path of this installation's `portal-backup` (the timer must run this one,
    not whichever is first on root's PATH at 3 a.m.)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "portal-backup" and argv0.is_file():
        return os.path.abspath(argv0)
    beside = Path(sys.executable).parent / "portal-backup"
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("portal-backup")
    if found:
        return os.path.abspath(found)
    raise PortalBackupError(
        "cannot find this installation's portal-backup command to schedule; install the "
        "package (pip install .) so the command exists"
    )


def install(
    config: JobConfig,
    *,
    root: Path = Path("/"),
    executable: str,
    portal_root: str | None = None,
    init: str | None = None,
) -> InstallResult:
    """Writes the schedule (and the login reminder) under ROOT and, on this host's own root
    with systemd running, enables the timers. PORTAL_ROOT: the --portal-root in use (else
    $PORTAL_ROOT, else the run's default). INIT forces "systemd" or "cron" (tests)."""
    if not os.path.isabs(executable):
        raise UsageError(f"the command to schedule must be an absolute path, not {executable!r}")
    if not config.destinations:
        raise UsageError(
            f"{config.path} has no [[destinations]]: add one before scheduling the job"
        )
    if config.encrypted and not config.identity_saved:
        raise UsageError(
            "nothing was scheduled: first confirm that the age identity (or passphrase) that "
            f"decrypts these backups is saved off this host ({IDENTITY_KEY} in {config.path})"
        )
    env = unit_environment(config, portal_root)
    init = init or ("systemd" if systemd_running() else "cron")
    result = InstallResult(init=init)
    if init == "systemd":
        _install_systemd(config, root, executable, env, result)
        result.random_delay = parse_duration(config.randomized_delay)
    else:
        _install_cron(config, root, executable, env, result)
    result.written.append(install_reminder(executable, root=root))
    times = next_times(config.schedule, 1)
    result.next_run = times[0] if times else None
    return result


def unit_environment(config: JobConfig, portal_root: str | None) -> dict[str, str]:
    """What the scheduled run must see as the installing command did: where the config, the
    Portal, Docker, the state and the rclone config are. Paths only, never a secret."""
    env = {"PORTAL_BACKUP_CONFIG": str(config.path.absolute())}
    if portal_root or os.environ.get("PORTAL_ROOT"):
        env["PORTAL_ROOT"] = os.path.abspath(portal_root or os.environ["PORTAL_ROOT"])
    for name in ("PORTAL_BACKUP_STATE_DIR", "RCLONE_CONFIG"):
        if os.environ.get(name):
            env[name] = os.path.abspath(os.environ[name])
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def remove(*, root: Path = Path("/")) -> list[Path]:
    """Undoes `install` (whichever kind it was); returns what it removed. Idempotent."""
    units = root / UNIT_DIR
    active = root == Path("/") and systemd_running() and (units / JOB_TIMER).exists()
    if active:
        _systemctl("disable", "--now", JOB_TIMER, OVERDUE_TIMER, check=False)
    removed = []
    for path in [units / n for n in (JOB_SERVICE, JOB_TIMER, OVERDUE_SERVICE, OVERDUE_TIMER)] + [
        root / CRON_FILE
    ]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    if active:
        _systemctl("daemon-reload", check=False)
    reminder = remove_reminder(root=root)
    if reminder:
        removed.append(reminder)
    return removed


def service_unit(executable: str, arguments: str, description: str, env: Mapping[str, str]) -> str:
    lines = [
        "# Written by `portal-backup auto install`; removed by `portal-backup auto remove`.",
        "[Unit]",
        f"Description={description}",
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={_systemd_quote(executable)} {arguments}",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "Nice=10",
        "IOSchedulingClass=idle",
        # SIGTERM to the tool alone: it restarts the apps it stopped and ends its children.
        "KillMode=mixed",
        "TimeoutStopSec=5min",
        "",
    ]
    return "\n".join(lines)


def timer_unit(description: str, schedule: str, delay: str) -> str:
    return "\n".join(
        [
            "# Written by `portal-backup auto install`; removed by `portal-backup auto remove`.",
            "[Unit]",
            f"Description={description}",
            "",
            "[Timer]",
            f"OnCalendar={schedule}",
            f"RandomizedDelaySec={int(parse_duration(delay))}",
            "Persistent=true",  # a run missed while the host was off happens at the next boot
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def _install_systemd(
    config: JobConfig, root: Path, exe: str, env: Mapping[str, str], result: InstallResult
) -> None:
    units = root / UNIT_DIR
    files = {
        JOB_SERVICE: service_unit(exe, "auto run", "portal-backup: automatic backup", env),
        JOB_TIMER: timer_unit(
            "portal-backup: automatic backup schedule", config.schedule, config.randomized_delay
        ),
        OVERDUE_SERVICE: service_unit(
            exe, "status --notify-overdue", "portal-backup: overdue backup check", env
        ),
        OVERDUE_TIMER: timer_unit("portal-backup: daily overdue check", OVERDUE_SCHEDULE, "30m"),
    }
    for name, text in files.items():
        write_atomic(units / name, text.encode(), 0o644)
        result.written.append(units / name)
    with contextlib.suppress(FileNotFoundError):
        (root / CRON_FILE).unlink()  # an earlier install on this host before systemd ran
    if root == Path("/") and systemd_running():
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", JOB_TIMER, OVERDUE_TIMER)
    else:
        result.notes.append(
            f"systemd is not running for {root}: the units were written but not enabled"
        )


def _install_cron(
    config: JobConfig, root: Path, exe: str, env: Mapping[str, str], result: InstallResult
) -> None:
    try:
        fields = to_cron(config.schedule)
    except ValueError as exc:
        raise UsageError(f"systemd is not running on this host, and {exc}") from None
    write_atomic(root / CRON_FILE, cron_file(fields, exe, env).encode(), 0o644)
    result.written.append(root / CRON_FILE)
    result.notes.append(
        "systemd is not running on this host, so the job is scheduled with cron instead "
        f"({root / CRON_FILE}); cron does not catch up a run missed while the host was off"
    )
    if root == Path("/") and not any(shutil.which(n) for n in ("cron", "crond", "busybox")):
        result.notes.append(
            "no cron daemon is installed here, so nothing will run the job until one is "
            "(apt install cron)"
        )


def cron_file(fields: str, exe: str, env: Mapping[str, str]) -> str:
    # cron.d lines cannot carry a per-line environment: variables apply to the whole file.
    lines = [
        "# Written by `portal-backup auto install`; removed by `portal-backup auto remove`.",
        "SHELL=/bin/sh",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        *(f"{k}={_cron_value(v)}" for k, v in sorted(env.items())),
        f"{fields} root nice -n 10 ionice -c 3 {_cron_value(exe)} auto run >/dev/null",
        f"{OVERDUE_CRON} root {_cron_value(exe)} status --notify-overdue >/dev/null",
        "",
    ]
    return "\n".join(lines)


def _cron_value(text: str) -> str:
    if re.search(r"[\s%\"'\\$`]", text):
        raise UsageError(f"the path {text!r} has characters a cron file cannot hold; use another")
    return text


def _systemd_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", text):
        return text.replace("%", "%%")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def _systemctl(*args: str, check: bool = True) -> None:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise PortalBackupError(f"systemctl {' '.join(args)} failed: {reason}")
