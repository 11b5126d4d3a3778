"""`backups` and `fetch`: the archives at a destination."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.errors import PortalBackupError, UsageError
from tui.core.humanfmt import human_bytes

DEST_HELP = (
    "a directory (a USB disk), an rclone remote name:path from the tool's rclone config, or "
    "a connection string :backend,key=value:path"
)
CONFIG_EPILOG = """\
the rclone config: $RCLONE_CONFIG, else --rclone-config, else the job config's rclone_config,
else /etc/portal-backup/rclone.conf (root) or ~/.config/portal-backup/rclone.conf.
"""
BACKUPS_EPILOG = f"""\
examples:
  portal-backup backups /mnt/usb            the archives on a USB disk
  portal-backup backups offsite:portal      the archives at the rclone remote "offsite"
  portal-backup backups offsite:portal --json   one JSON object per archive

{CONFIG_EPILOG}"""
FETCH_EPILOG = f"""\
examples:
  portal-backup fetch offsite:portal portal-backup-myportal-20261205-030000.zip.age
  portal-backup fetch /mnt/usb portal-backup-myportal-20261205-030000.zip -o /tmp/b.zip

The download goes to a partial file beside PATH and gets its name only once its SHA-256
matches the one this host recorded when uploading it (an archive uploaded from elsewhere is
verified instead; an encrypted one from elsewhere can be checked with `verify -i`).

{CONFIG_EPILOG}"""


def add_parsers(
    sub: Any, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    bk = sub.add_parser(
        "backups",
        parents=[common],
        help="list the backups at a destination",
        description="List the backups at DEST: name, time (UTC, from the name), size, "
        "encrypted or not, Portal ID, and whether this host uploaded and verified it.",
        epilog=BACKUPS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bk.add_argument("dest", metavar="DEST", help=DEST_HELP)
    bk.add_argument("--json", action="store_true", help="one JSON object per line")
    _rclone_config_arg(bk)
    ft = sub.add_parser(
        "fetch",
        parents=[common],
        help="download a backup from a destination, hash-checked",
        description="Download the archive NAME from DEST, check it, and print its path.",
        epilog=FETCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ft.add_argument("dest", metavar="DEST", help=DEST_HELP)
    ft.add_argument("name", metavar="NAME", help="the archive's name (see `backups DEST`)")
    ft.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to put it: a file name or an existing directory (default: the current "
        "directory); an existing file is never replaced",
    )
    _rclone_config_arg(ft)
    return {"backups": run_backups, "fetch": run_fetch}


def _rclone_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rclone-config", metavar="FILE", help="the rclone config holding the remotes")


def rclone_config(args: argparse.Namespace) -> Path | None:
    """--rclone-config, else the job config's rclone_config (rclone.py applies $RCLONE_CONFIG
    and the default)."""
    if getattr(args, "rclone_config", None):
        return Path(args.rclone_config)
    from tui.core.auto.config import config_exists, load_config

    try:
        return load_config().rclone_config if config_exists() else None
    except PortalBackupError:
        return None  # a broken job config is `auto`'s to report; the default applies here


def _store(args: argparse.Namespace) -> Any:
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    dest = parse_dest(args.dest)
    if dest.local is not None and not dest.local.is_dir():
        raise UsageError(f"the directory {dest.local} does not exist")
    return open_store(dest, rclone_config=rclone_config(args))


def run_backups(args: argparse.Namespace) -> int:
    from tui.core.dest.backups import list_backups

    store = _store(args)
    backups = list_backups(store)
    if args.json:
        for b in backups:
            print(
                json.dumps(
                    {
                        "name": b.name,
                        "time": b.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "size": b.size,
                        "encrypted": b.encrypted,
                        "portal_id": b.portal_id,
                        "verified": b.verified,
                        "base": b.base,
                    }
                )
            )
        return 0
    if not backups:
        print(f"no backups at {store.dest.label}", file=sys.stderr)
        return 0
    for b in backups:
        flags = ["encrypted" if b.encrypted else "plain"]
        if b.base:
            flags.append("differential")
        if b.verified:
            flags.append("verified")
        print(
            f"{b.time:%Y-%m-%d %H:%M:%S}Z  {human_bytes(b.size):>9}  {b.portal_id}  "
            f"{b.name}  ({', '.join(flags)})"
        )
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from tui.core.dest.backups import fetch

    out = Path(args.output or ".").expanduser()
    if out.is_dir():
        out = out / args.name
    store = _store(args)
    result = fetch(store, args.name, out.absolute())
    if result.note:
        print(f"portal-backup: note: {result.note}", file=sys.stderr)
    print(result.path)
    return 0
