"""`eject`: run an app from a backup elsewhere with Docker Compose."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import sys
from collections.abc import Callable
from typing import Any

from tui.core.errors import UsageError
from tui.core.humanfmt import human_bytes

DESCRIPTION = """\
Take apps out of a backup so they run anywhere with plain Docker Compose (v2 `docker compose`
or Debian's `docker-compose` 1.29), without a Portal. For each app, DIR/<app>/ gets a
compose.yaml, a README.md and the app's state beside them: bind mounts become folders of
./data (the app's data), ./shared (documents), ./volumes/<name> (named volumes) and ./binds.

Left out, each with a comment saying why: the Portal's reverse-proxy labels, its internal
network, its login sidecars, the Docker socket, the host's / and any host path the archive does
not hold. Kept: images as recorded, published ports (--free-ports moves busy ones), commands,
environment, users. Nothing is written outside DIR and an existing DIR/<app> is never replaced.
Run it as root (sudo) so the files keep the owners the app's containers expect."""

EPILOG = """\
examples:
  portal-backup eject backup.zip                          list the apps it can take out
  portal-backup eject backup.zip app/photos -o ~/apps --dry-run
                                                          what it would write and carry over
  sudo portal-backup eject backup.zip app/photos app/notes -o ~/apps
  cd ~/apps/photos && sudo docker compose up -d           then run it (see its README.md)
  portal-backup eject backup.zip.age notes -o out --passphrase-file pass.txt

see docs/eject.md for the folder's layout and what changes from the Portal's definition"""


def add_parsers(
    sub: Any, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    from tui.cli.main import _add_decrypt_args  # loaded already: main calls us

    p = sub.add_parser(
        "eject",
        parents=[common],
        help="run an app from a backup elsewhere with plain Docker Compose",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "archive",
        metavar="ARCHIVE",
        help="a backup (.zip or .zip.age), or DEST:NAME at a destination",
    )
    p.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="apps to take out: app/NAME, NAME or a glob (default: every app)",
    )
    p.add_argument(
        "-o", "--output", metavar="DIR", help="where the app folders go (created if missing)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be written, left out and carried over; write nothing",
    )
    p.add_argument(
        "--free-ports",
        action="store_true",
        help="publish a free host port instead of one that is busy on this machine",
    )
    _add_decrypt_args(p)
    return {"eject": run_eject}


def _wanted(typed: list[str], known: list[str]) -> list[str]:
    out: list[str] = []
    for raw in typed:
        word = raw if raw.startswith("app/") else f"app/{raw}"
        if any(c in word for c in "*?["):
            hits = [k for k in known if fnmatch.fnmatchcase(k, word)]
            if not hits:
                raise UsageError(f"{raw} names no app of this archive")
            out += hits
        else:
            out.append(word)
    return list(dict.fromkeys(out))


def run_eject(args: argparse.Namespace) -> int:
    # Imported here: every command builds this parser, and `status --banner` must start fast.
    from tui.cli.keys import open_archive
    from tui.core.archive.chain import open_state
    from tui.core.archive.manifest_model import read_manifest
    from tui.core.eject.describe import describe_plan
    from tui.core.eject.plan import app_ids, plan_eject
    from tui.core.eject.ports import choose_free_ports
    from tui.core.eject.readme import move_commands
    from tui.core.eject.run import check_archive, write_app

    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_archive(args.archive, args))
        # A differential comes with its base beside it, checked (issue 14).
        reader = open_state(f, args.archive, lambda p: open_archive(p, args))
        stack.callback(reader.close)
        manifest = read_manifest(reader)
        known = app_ids(manifest)
        if not args.ids and not args.output:
            print(f"apps in {args.archive}:")
            for app in known:
                print(f"  {app}")
            print("to take one out: portal-backup eject ARCHIVE ID ... -o DIR [--dry-run]")
            return 0
        if not args.output:
            raise UsageError("give -o DIR: the folder the app folders are written into")
        plans = plan_eject(manifest, _wanted(args.ids, known))
        if args.free_ports:
            choose_free_ports(plans)
        out_dir = os.path.abspath(os.path.expanduser(args.output))
        for plan in plans:
            print("\n".join(describe_plan(plan, out_dir)))
        if args.dry_run:
            print("dry run: nothing was written")
            return 0
        check_archive(reader)
        for plan in plans:
            result = write_app(reader, manifest, plan, out_dir, os.path.basename(args.archive))
            for w in result.warnings:
                print(f"portal-backup: warning: {w}", file=sys.stderr)
            print(f"wrote {result.folder}/: {result.files} files, {human_bytes(result.bytes)}")
            print("  to start it here:      cd " + result.folder + " && sudo docker compose up -d")
            print("  to run it elsewhere:")
            for line in move_commands(plan.app, out_dir):
                print(f"    {line}")
    return 0
