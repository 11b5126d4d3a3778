"""`auto run|install|remove` and `status`: automatic backups."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.errors import PortalBackupError, UsageError

Handler = Callable[[argparse.Namespace], int]

AUTO_EPILOG = """\
the job is described in /etc/portal-backup/config.toml (root; $XDG_CONFIG_HOME/portal-backup/
config.toml otherwise; PORTAL_BACKUP_CONFIG overrides): create it in the terminal UI's
Automatic backups screen, or by hand as docs/automatic-backups.md shows.

examples:
  portal-backup auto run                run the configured job once, now
  portal-backup auto install            schedule it (systemd timer, or cron.d without systemd)
  portal-backup auto install --yes      the same from a script (you saved the age identity)
  portal-backup auto remove             unschedule it and remove the login reminder
  portal-backup status                  last good backup per destination, next run
"""

INSTALL_EPILOG = """\
writes /etc/systemd/system/portal-backup.{service,timer} (the job, at the config's schedule,
catching up a run missed while the host was off) and portal-backup-overdue.{service,timer} (a
daily check that notifies when the last good backup is too old, even when the job itself can
no longer start), enables them and prints the next run. Without systemd it writes
/etc/cron.d/portal-backup instead. It also installs a login reminder for root shells
(/etc/profile.d/portal-backup.sh: one line, only when a backup is overdue or failed).

Encrypted backups are only as good as the age identity that opens them: install refuses until
you confirm it is saved somewhere off this host (it asks; --yes confirms in a script).

examples:
  portal-backup auto install
  portal-backup auto install --yes
  PORTAL_BACKUP_CONFIG=/root/job.toml portal-backup auto install
"""

REMOVE_EPILOG = """\
removes everything `auto install` wrote (timers, services, cron file, login reminder); the
config, the history and the backups themselves stay. Running it twice is harmless.

example:
  portal-backup auto remove
"""


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> dict[str, Handler]:
    auto = sub.add_parser(
        "auto",
        parents=[common],
        help="automatic backups: run the job, schedule it, unschedule it",
        description="Automatic backups: the job in config.toml, run now or on a schedule.",
        epilog=AUTO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = auto.add_subparsers(dest="auto_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        parents=[common],
        help="run the configured job once, now (what the timer runs)",
        description="Run the configured job once: back up to every destination, verify, prune.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_args(run)
    install = actions.add_parser(
        "install",
        parents=[common],
        help="schedule the job (systemd timer; cron.d where no systemd) and the login reminder",
        description="Schedule the configured job and install the login reminder.",
        epilog=INSTALL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install.add_argument(
        "--yes",
        action="store_true",
        help="confirm without asking that the age identity is saved off this host",
    )
    _add_root_arg(install)
    remove = actions.add_parser(
        "remove",
        parents=[common],
        help="unschedule the job and remove the login reminder",
        description="Remove the timer (or cron file) and the login reminder.",
        epilog=REMOVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root_arg(remove)
    status = sub.add_parser(
        "status",
        parents=[common],
        help="last good backup per destination, next run, overdue",
        description="Show the state of automatic (and manual) backups.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_status_args(status)
    return {"auto": run_auto, "status": run_status}


def run_auto(args: argparse.Namespace) -> int:
    handlers: dict[str, Handler] = {
        "run": run_auto_run,
        "install": run_auto_install,
        "remove": run_auto_remove,
    }
    return handlers[args.auto_command](args)


# --- `auto run` and `status` (C2) ---------------------------------------------------------


RUN_EPILOG = """\
one archive is made and streamed to each destination in turn (encrypted to the config's
recipients), read back and its SHA-256 compared; only then is that destination pruned by its
keep policy. A destination that fails does not stop the others. Every destination's result is
appended to the history (see `portal-backup status`), and failures notify (config [notify]).

exit status:
  0  every destination got a verified backup
  1  a destination failed (the others keep their backups), the config cannot be read, or
     another run holds the host-wide lock (the message names its pid and since when; the
     scheduled run simply happens again at its next time)
  2  a usage error

examples:
  portal-backup auto run                      run the job now, progress on stderr
  portal-backup auto run --progress json      one JSON event per line on stdout
  PORTAL_BACKUP_CONFIG=/root/test.toml portal-backup auto run    another job file
"""

STATUS_EPILOG = """\
reads only the state directory and the config (no Docker, no network), so it is fast enough
for a login shell. A destination is overdue when its last good backup is older than the
config's overdue_after (default 36h), or when there has never been one.

examples:
  portal-backup status                  per destination: last good backup, last failure
  portal-backup status --json           the same as one JSON object
  portal-backup status --banner         one line when something needs attention, else nothing
  portal-backup status --notify-overdue the daily check: notify (once a day) when overdue
"""


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.epilog = RUN_EPILOG
    p.add_argument(
        "--progress",
        choices=("auto", "plain", "json", "none"),
        default="auto",
        help="how to report progress (json: one event per line on stdout)",
    )


def _add_status_args(p: argparse.ArgumentParser) -> None:
    p.epilog = STATUS_EPILOG
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="one JSON object on stdout")
    shown.add_argument(
        "--banner",
        action="store_true",
        help="one line only when something needs attention (the login reminder), else nothing",
    )
    shown.add_argument(
        "--notify-overdue",
        action="store_true",
        help="send the overdue notification (at most once a day) when a destination is overdue",
    )


def run_auto_run(args: argparse.Namespace) -> int:
    import threading

    from tui.cli.printers import make_printer
    from tui.cli.signals import install_cancel_signals
    from tui.core.auto.config import load_config
    from tui.core.auto.job import run_job

    config = load_config()
    cancel = threading.Event()
    install_cancel_signals(cancel)
    result = run_job(config, make_printer(args.progress), cancel, portal_root=args.portal_root)
    if args.progress == "json":  # stdout stays one JSON object per line
        import json
        from dataclasses import asdict

        for d in result.destinations:
            print(json.dumps({"type": "destination", **asdict(d)}), flush=True)
        return 0 if result.ok else 1
    for d in result.destinations:
        if d.ok:
            pruned = f"; pruned {len(d.pruned)}" if d.pruned else ""
            line = f"{d.name}: ok, {d.kind} backup {d.archive} checked at {d.target}{pruned}"
            if d.prune_error:
                line += f"; prune failed: {d.prune_error}"
        else:
            line = f"{d.name}: FAILED: {d.error}"
        print(line, flush=True)
    return 0 if result.ok else 1


def run_status(args: argparse.Namespace) -> int:
    # Lazy and light: `--banner` runs at every root login.
    from tui.core.auto.status import banner, load_status

    if args.banner:
        try:
            line = banner(load_status())
        except PortalBackupError as exc:  # a login must never show a traceback
            line = f"portal-backup: {exc}"
        if line:
            print(line)
        return 0
    if args.notify_overdue:
        return _notify_overdue()
    status = load_status(with_next_run=True)
    if args.json:
        import json

        print(json.dumps(status.to_json()))
        return 0
    from tui.core.auto.status import status_lines

    print("\n".join(status_lines(status)))
    return 0


def _notify_overdue() -> int:
    from tui.core.auto.config import load_config
    from tui.core.auto.notify import notify_overdue
    from tui.core.auto.status import load_status

    config = load_config()
    status = load_status()
    sent = notify_overdue(
        config, status, log=lambda m: print(f"portal-backup: warning: {m}", file=sys.stderr)
    )
    if sent:
        print("sent the overdue notification")
    return 0


# --- `auto install` and `auto remove` (C1) ------------------------------------------------


def _add_root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="write under DIR instead of / (an image being built; nothing is enabled there)",
    )


def _require_root(args: argparse.Namespace) -> None:
    if args.root == "/" and os.geteuid() != 0:
        raise UsageError(
            f"auto {args.auto_command} changes /etc (systemd units, cron, profile.d): run it "
            "as root, e.g. with sudo"
        )


def run_auto_install(args: argparse.Namespace) -> int:
    from tui.core.auto.config import ConfigEditor, config_exists, config_path, load_config
    from tui.core.auto.units import install, installed_executable

    _require_root(args)
    path = config_path()
    if not config_exists(path):
        raise UsageError(
            f"there is no automatic backup config at {path}: create it in the terminal UI's "
            "Automatic backups screen (run portal-backup), or by hand as "
            "docs/automatic-backups.md shows"
        )
    config = load_config(path)
    if config.encrypted and not config.identity_saved:
        if not (args.yes or _confirm_identity_saved()):
            raise UsageError(
                "nothing was scheduled: confirm that the age identity is saved off this host "
                "(type yes when asked, or pass --yes)"
            )
        editor = ConfigEditor.load(path)
        editor.confirm_identity_saved()
        config = editor.save()
    result = install(
        config,
        root=Path(args.root),
        executable=installed_executable(),
        portal_root=args.portal_root,
    )
    for written in result.written:
        print(f"wrote {written}")
    for note in result.notes:
        print(note)
    print(f"next run: {result.next_run_text}")
    return 0


def run_auto_remove(args: argparse.Namespace) -> int:
    from tui.core.auto.units import remove

    _require_root(args)
    removed = remove(root=Path(args.root))
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("automatic backups were not installed; nothing to remove")
    return 0


def _confirm_identity_saved() -> bool:
    """Asks in a terminal; without one (a script) there is nobody to ask: --yes is needed."""
    if not sys.stdin.isatty():
        raise UsageError(
            "auto install needs you to confirm that the age identity (the key that decrypts "
            "these backups) is saved off this host: run it in a terminal, or pass --yes"
        )
    print(
        "Automatic backups are encrypted. Without the age identity (the private key that\n"
        "decrypts them; or the passphrase) they cannot be restored, and a copy kept only on\n"
        "this host dies with it. Is it saved somewhere off this host (a password manager,\n"
        "paper, a USB key)?",
        file=sys.stderr,
    )
    try:
        answer = input("Type yes to confirm: ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"
