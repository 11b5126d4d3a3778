"""`prune`: retention at a destination (restic forget's --keep-* rules on archive names)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.dest.retention import Decision

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")

DESCRIPTION = """\
Delete old archives of this Portal at DEST, keeping what the --keep-* rules ask for (the
bucket rules of `restic forget`). Each rule keeps the newest archive in each of its N most
recent hours, days, ISO weeks (Monday to Sunday), months or years that hold an archive
(--keep-last: the N newest archives), in UTC as the archive names say; an archive kept by
several rules lists them all. A kept differential keeps its full base, and is listed under
it ("└", and "base" in --json), so each chain is seen whole. The newest archive,
and the newest one this host uploaded and verified, are never deleted; archives of other
Portals and other files are never touched. See docs/retention.md."""

EPILOG = """\
examples:
  portal-backup prune /mnt/usb --keep-daily 7 --keep-weekly 4 --dry-run
      show what would go, with the rules that keep each archive; delete nothing
  portal-backup prune offsite:portal --keep-daily 7 --keep-weekly 4 --keep-monthly 12

worked example (--keep-daily 3 --keep-weekly 2, archives of one Portal, UTC, oldest first):
  REMOVE  ...-20261204-030000.zip  not kept by any rule (week 49's newest is the Sunday's)
  REMOVE  ...-20261205-030000.zip  not kept by any rule
  KEEP    ...-20261205-150000.zip  daily 2026-12-05  (the day's newest)
  KEEP    ...-20261206-030000.zip  daily 2026-12-06, weekly 2026-W49  (a Sunday)
  KEEP    ...-20261207-030000.zip  daily 2026-12-07, weekly 2026-W50, newest

a differential (issue 14) is listed under its full base; keeping it keeps the base:
  KEEP    ...-20261206-030000.zip  weekly 2026-W49, base of ...-20261208-030000-since-...
  KEEP      └ ...-20261208-030000-since-20261206-030000.zip  last #1, newest

a remote:path DEST uses the tool's rclone config: $RCLONE_CONFIG, else
/etc/portal-backup/rclone.conf (root) or $XDG_CONFIG_HOME/portal-backup/rclone.conf
exit status: 0 done, 1 a deletion failed (the others went ahead), 2 a policy that keeps nothing
"""


def add_parsers(
    sub: Any, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    from tui.cli.main import _int_between  # loaded already: main calls us

    p = sub.add_parser(
        "prune",
        parents=[common],
        help="delete old archives at a destination by --keep-* rules",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dest", metavar="DEST", help="a directory, remote:path or :backend,k=v:path")
    what = {"last": "newest archives", "hourly": "hours", "daily": "days"}
    what |= {"weekly": "ISO weeks", "monthly": "months", "yearly": "years"}
    for rule in RULES:
        p.add_argument(
            f"--keep-{rule}",
            type=_int_between(0, None),
            default=0,
            metavar="N",
            help=f"keep the newest archive of each of the last N {what[rule]} that have one"
            if rule != "last"
            else "keep the N newest archives",
        )
    p.add_argument(
        "--dry-run", action="store_true", help="print keep/remove with reasons, delete nothing"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per archive")
    return {"prune": run_prune}


def run_prune(args: argparse.Namespace) -> int:
    from tui.core.dest.prune import PruneError, in_chains, prune, require_policy, this_portal_id
    from tui.core.dest.retention import KeepPolicy
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    policy = KeepPolicy(**{rule: getattr(args, f"keep_{rule}") for rule in RULES})
    require_policy(policy)  # before touching the destination
    dest = parse_dest(args.dest)
    portal_id = this_portal_id(args.portal_root)
    failures: dict[str, str] = {}
    try:
        decisions = prune(open_store(dest), policy, portal_id=portal_id, dry_run=args.dry_run)
    except PruneError as exc:
        decisions, failures = exc.decisions, exc.failures
    if not decisions:
        print(
            f"portal-backup: no archives of this Portal ({portal_id}) at {dest.label}",
            file=sys.stderr,
        )
    for d, base in in_chains(decisions):
        error = failures.get(d.name)
        if args.json:
            record: dict[str, Any] = {
                "name": d.name,
                "time": d.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "action": "keep" if d.keep else "remove",
                "reasons": list(d.reasons),
                "base": base,  # a differential's full base (issue 14), else null
            }
            if error:
                record["error"] = error
            print(json.dumps(record), flush=True)
        else:
            action = "KEEP" if d.keep else ("FAILED" if error else "REMOVE")
            # A differential under its base (a "  └ "), or marked when its base is gone.
            under = base is not None and any(x.name == base for x in decisions)
            name = f"  └ {d.name}" if under else d.name
            if base is not None and not under:
                name += f" (its base {base} is not here)"
            print(f"{action:<7} {name}  {', '.join(d.reasons)}", flush=True)
    for error in failures.values():
        print(f"portal-backup: {error}", file=sys.stderr)  # the store's sentence names it
    if not args.json:
        print(_summary(decisions, failures, args.dry_run))
    return 1 if failures else 0


def _summary(decisions: Sequence[Decision], failures: dict[str, str], dry_run: bool) -> str:
    kept = sum(1 for d in decisions if d.keep)
    gone = len(decisions) - kept - len(failures)
    if dry_run:
        return f"dry run: would keep {kept} and remove {gone} archives; nothing was deleted"
    failed = f", {len(failures)} could not be deleted" if failures else ""
    return f"kept {kept}, removed {gone} archives{failed}"
