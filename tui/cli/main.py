"""The `portal-backup` command: argument parsing, then a call into the core, then exit.

Exit status: 0 success, 1 failure, 2 usage error. Errors are one sentence on stderr; `--debug`
shows the traceback too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from tui import __version__
from tui.core.archive.deflate import DEFAULT_LEVEL, MAX_LEVEL
from tui.core.errors import PortalBackupError, UsageError, error_sentence

EPILOG = """\
item IDs (from `portal-backup list`):
  core/db, core/identity, core/config, core/apps, shared,
  app/<name>, app/<name>/<mount>, volume/<name>     (globs like 'app/*' work)

examples:
  portal-backup                             pick what to back up in the terminal UI
  portal-backup list                        show everything that can be backed up, with sizes
  portal-backup create --all -o /mnt/usb    back up everything into /mnt/usb
  ssh root@portal portal-backup create --all -o - > portal.zip   straight to a laptop
  portal-backup create --all -r age1... --to s3remote:bucket/portal   to cloud storage
  portal-backup backups s3remote:bucket/portal   the backups there; `fetch` downloads one
  portal-backup prune s3remote:bucket/portal --keep-daily 7 --keep-weekly 4 --dry-run
                                            which old backups retention would delete, and why
  portal-backup create app/photos shared    back up one app and the documents
  portal-backup create --all --exclude core/identity   everything but the private key
  portal-backup create --all --since portal-backup-x-20261201-030000.zip -o /mnt/usb
                                            only what changed since that full backup
  portal-backup verify backup.zip           check an archive end to end
  portal-backup auto install                back up on the schedule in config.toml (nightly)
  portal-backup status                      last good backup per destination, overdue, next run
  portal-backup explore backup.zip          browse an archive
  portal-backup restore backup.zip          show what an archive holds beside this host
  portal-backup restore backup.zip app/photos --dry-run   what restoring one app would change
  portal-backup eject backup.zip app/photos -o ~/apps   run an app elsewhere with Docker Compose

environment: PORTAL_ROOT (default /home/portal), DOCKER_HOST, PORTAL_BACKUP_STATE_DIR
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"portal-backup: {message}\n")


def _common_options(top: bool) -> _Parser:
    """Global options, accepted before or after the command.

    The subcommands' copies default to SUPPRESS so they do not overwrite a value given before
    the command name.
    """
    common = _Parser(add_help=False)
    root_default = os.environ.get("PORTAL_ROOT") or "/home/portal"
    common.add_argument(
        "--portal-root",
        metavar="PATH",
        default=root_default if top else argparse.SUPPRESS,
        help=f"the Portal's data directory (env PORTAL_ROOT; default {root_default})",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks on errors",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(top=False)
    p = _Parser(
        prog="portal-backup",
        parents=[_common_options(top=True)],
        description="Back up a Portal (or any Docker host) into one plain ZIP file, "
        "then explore, verify and restore it. Without a command, opens "
        "the terminal UI.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"portal-backup {__version__}")
    p.add_argument(
        "--no-mouse",
        action="store_true",
        help="do not capture the mouse (for terminals where it misbehaves)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ls = sub.add_parser(
        "list",
        parents=[common],
        help="everything that can be backed up",
        description="List every item that can be backed up, with its ID, state and size.",
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--no-sizes", action="store_true", help="skip computing sizes (faster)")

    cr = sub.add_parser(
        "create",
        parents=[common],
        help="write a backup archive",
        description="Write a backup. The archive's path is the last line on stdout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cr.add_argument("ids", nargs="*", metavar="ID", help="items to include (see `list`)")
    cr.add_argument("--all", action="store_true", help="include every item")
    cr.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="ID",
        help="leave this item out (repeatable)",
    )
    where = cr.add_mutually_exclusive_group()
    where.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="an existing directory (the default name inside) or a file name in one; "
        ".zip (.zip.age when encrypting) is added when the name lacks it; - writes the "
        "archive to stdout (redirect or pipe it; progress and errors stay on stderr)",
    )
    where.add_argument(
        "--to",
        metavar="DEST",
        help="stream the archive to a destination without a local copy: a directory (a USB "
        "disk), an rclone remote NAME:PATH, or :BACKEND,KEY=VALUE:PATH (see README, "
        "Off-site backups); a remote needs encryption",
    )
    cr.add_argument(
        "--since",
        metavar="BASE",
        help="write a differential: only what changed since the full backup BASE (a local "
        "archive, or DEST:NAME at a destination, whose manifest alone is read); restoring it "
        "needs BASE beside it (see docs/differential.md)",
    )
    cr.add_argument(
        "--verify-upload",
        action="store_true",
        help="with --to: read the archive back from the destination and compare its SHA-256 "
        "(the size is always checked)",
    )
    cr.add_argument(
        "--rclone-config",
        metavar="FILE",
        help="the rclone config that defines the remotes (env RCLONE_CONFIG; default "
        "/etc/portal-backup/rclone.conf for root)",
    )
    cr.add_argument(
        "--quiesce",
        choices=("stop", "pause", "none"),
        default="stop",
        help="stop (default) or pause each app while its data is read, or copy live (none)",
    )
    cr.add_argument(
        "--progress",
        choices=("auto", "plain", "json", "none"),
        default="auto",
        help="how to report progress (json: one event per line on stdout)",
    )
    cr.add_argument(
        "--level",
        type=_int_between(0, MAX_LEVEL),
        metavar="N",
        help=f"deflate level, 0 to {MAX_LEVEL} (default {DEFAULT_LEVEL})",
    )
    cr.add_argument(
        "--threads",
        type=_int_between(1, None),
        metavar="N",
        help="compression threads, 1 or more (default: all cores)",
    )
    cr.add_argument(
        "--no-sign",
        action="store_true",
        help="do not sign the manifest with the Portal's identity key",
    )
    enc = cr.add_argument_group("encryption (age format: NAME.zip.age)")
    enc.add_argument(
        "--passphrase-file", metavar="FILE", help="encrypt with the passphrase in FILE (first line)"
    )
    enc.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="encrypt with the passphrase in environment variable VAR",
    )
    enc.add_argument(
        "--recipient",
        "-r",
        action="append",
        default=[],
        metavar="age1...",
        help="encrypt to this age public key (repeatable)",
    )
    enc.add_argument(
        "--recipients-file",
        "-R",
        action="append",
        default=[],
        metavar="FILE",
        help="encrypt to the age public keys in FILE (repeatable)",
    )
    enc.add_argument(
        "--identity",
        "-i",
        action="append",
        default=[],
        metavar="FILE",
        help="with --since: an age identity file that opens an encrypted BASE (repeatable)",
    )
    cr.add_argument(
        "--volume-access",
        choices=("auto", "host", "docker"),
        default="auto",
        help=argparse.SUPPRESS,
    )

    vf = sub.add_parser("verify", parents=[common], help="check an archive end to end")
    vf.add_argument("archive", metavar="ARCHIVE", help="a file, or DEST:NAME at a destination")
    _add_decrypt_args(vf)
    vf.add_argument("--json", action="store_true", help="print the report as JSON")

    ex = sub.add_parser("explore", parents=[common], help="browse an archive in the terminal UI")
    ex.add_argument("archive", metavar="ARCHIVE", help="a file, or DEST:NAME at a destination")
    _add_decrypt_args(ex)

    rs = sub.add_parser("restore", parents=[common], help="restore items from an archive")
    rs.add_argument("archive", metavar="ARCHIVE", help="a file, or DEST:NAME at a destination")
    rs.add_argument("ids", nargs="*", metavar="ID")
    rs.add_argument("--all", action="store_true", help="restore every item in the archive")
    rs.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    rs.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    old = rs.add_mutually_exclusive_group()
    old.add_argument(
        "--delete-old",
        action="store_true",
        help="delete the data each restore replaces once the app runs again (by default "
        "it is kept aside and its path printed)",
    )
    old.add_argument("--keep-old", action="store_true", help=argparse.SUPPRESS)  # the default
    rs.add_argument(
        "--progress",
        choices=("auto", "plain", "json", "none"),
        default="auto",
        help="how to report progress (json: one event per line on stdout)",
    )
    rs.add_argument(
        "--json",
        action="store_true",
        help="print the plan (and with --dry-run, every change) as JSON",
    )
    rs.add_argument(
        "--volume-access",
        choices=("auto", "host", "docker"),
        default="auto",
        help=argparse.SUPPRESS,
    )
    rs.add_argument(
        "--trust-key",
        action="append",
        default=[],
        metavar="FILE",
        help="also trust archives signed by this PEM public (or private) key, e.g. "
        "your old Portal's, to recreate containers, bind mounts outside the "
        "Portal root and core files (repeatable; see docs/restore.md)",
    )
    _add_decrypt_args(rs)
    for module in _command_modules():
        EXTRA_HANDLERS.update(module.add_parsers(sub, common))
    return p


# Commands defined in modules of their own; each module's add_parsers(sub, common) adds its
# subparsers and returns {command name: handler}.
EXTRA_HANDLERS: dict[str | None, Callable[[argparse.Namespace], int]] = {}


def _command_modules() -> list[Any]:
    from tui.cli import auto_commands, dest_commands, eject_command, prune_command

    return [dest_commands, prune_command, auto_commands, eject_command]


def _int_between(low: int, high: int | None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            allowed = f"from {low} to {high}" if high is not None else f"of {low} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: use a number {allowed}")
        return value

    return parse


def _add_decrypt_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encrypted archives (.age)")
    g.add_argument(
        "--identity",
        "-i",
        action="append",
        default=[],
        metavar="FILE",
        help="age identity file (repeatable)",
    )
    g.add_argument("--passphrase-file", metavar="FILE", help="passphrase in FILE")
    g.add_argument("--passphrase-env", metavar="VAR", help="passphrase in environment variable")
    p.add_argument(
        "--rclone-config",
        metavar="FILE",
        help="with ARCHIVE as DEST:NAME: the rclone config that defines the remote "
        "(env RCLONE_CONFIG wins; default /etc/portal-backup/rclone.conf for root)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"portal-backup: {error_sentence(exc)}", file=sys.stderr)
        return 2
    except PortalBackupError as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"portal-backup: {error_sentence(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("portal-backup: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"portal-backup: {error_sentence(exc)} (run with --debug for details)", file=sys.stderr
        )
        return 1


# Commands that only read state files: no repair of killed runs (it may reach Docker and
# change things), so a login shell's reminder stays fast and passive.
READ_ONLY_COMMANDS = {"status"}


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in EXTRA_HANDLERS and args.command in READ_ONLY_COMMANDS:
        return EXTRA_HANDLERS[args.command](args)
    from tui.cli.commands import run_create, run_explore, run_list, run_restore, run_tui, run_verify
    from tui.cli.test_hooks import read_test_hooks

    if args.command in (None, "explore"):
        require_terminal()  # before anything else: without one the UI would spin for ever
    read_test_hooks().configure_checkpoints()  # before recovery: a test may kill it too
    _recover(args)
    handlers: dict[str | None, Callable[[argparse.Namespace], int]] = {
        None: run_tui,
        "list": run_list,
        "create": run_create,
        "verify": run_verify,
        "explore": run_explore,
        "restore": run_restore,
        **EXTRA_HANDLERS,
    }
    if isinstance(getattr(args, "archive", None), str):
        from tui.core.dest.download import downloaded

        # ARCHIVE may be DEST:NAME: read from a hash-checked download (with a differential's
        # base beside it), removed when the command ends.
        config = getattr(args, "rclone_config", None)
        with downloaded(
            args.archive,
            rclone_config=Path(config) if config else None,
            say=lambda message: print(f"portal-backup: {message}", file=sys.stderr),
        ) as local:
            args.archive = local
            return handlers[args.command](args)
    return handlers[args.command](args)


def require_terminal() -> None:
    """The terminal UI needs a terminal on stdin and stdout (`ssh host portal-backup`
    without -t, or a pipe, gives it none)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("needs a terminal: use ssh -t, or a subcommand such as `create`")


def _recover(args: argparse.Namespace) -> None:
    """Every command first repairs what a killed run left: data, then containers."""
    from tui.core.docker_api import connect
    from tui.core.quiesce import recover_journal

    def log(level: str, message: str) -> None:
        print(f"portal-backup: {message}", file=sys.stderr)

    try:
        from tui.core.state import clean_leftovers

        clean_leftovers()  # temporary files of writers killed mid-write
        # Data first: containers must not start again on a half-swapped directory.
        from tui.core.restore.journal import docker_root_from, recover_restore

        errors = recover_restore(log, args.portal_root, docker_root_from(connect))
        errors += recover_journal(connect, log)
    except OSError:
        return
    for e in errors:
        print(f"portal-backup: {e}", file=sys.stderr)


__all__ = ["build_parser", "main"]
