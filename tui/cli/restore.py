"""`portal-backup restore`: show the plan, ask, run the core restore, print what happened.

stdout carries the plan, the narrative and the summary (or JSON with --json / --progress json);
the self-updating progress line and errors go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from typing import Any, TextIO

from tui.cli.keys import open_archive
from tui.cli.printers import Stream, make_printer
from tui.cli.signals import install_cancel_signals
from tui.cli.test_hooks import read_test_hooks
from tui.core.archive.chain import open_state
from tui.core.crypto.trust import read_trust_keys
from tui.core.errors import PortalBackupError, UsageError
from tui.core.events import Event, ItemState, Log, RestoreFinished, RestoreRefused
from tui.core.host import WITHOUT_DOCKER_RESTORE, open_host
from tui.core.humanfmt import human_bytes
from tui.core.inventory import match_item_ids
from tui.core.restore import describe
from tui.core.restore.diff import TargetDiff, diff_selection
from tui.core.restore.plan import RestorePlan, RestoreSelection, TargetPlan
from tui.core.restore.run import (
    RestoreOptions,
    RestoreRun,
    load_plan,
)

MAX_LISTED = 25  # changed paths printed per target in a dry run (--json has them all)


def run_restore_cli(args: argparse.Namespace) -> int:
    trust_keys = read_trust_keys(getattr(args, "trust_key", None) or [])
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open_archive(args.archive, args))
        # A differential comes with its base beside it, checked (issue 14).
        reader = open_state(f, args.archive, lambda p: open_archive(p, args))
        stack.callback(reader.close)
        client = open_host(args.portal_root).client
        plan = load_plan(reader, args.portal_root, client, trust_keys=trust_keys)
        out = sys.stdout
        for w in plan.warnings:
            print(f"portal-backup: warning: {w}", file=sys.stderr)
        if not args.ids and not args.all:  # what it holds: a question answered, not an error
            if args.json:
                print(json.dumps(_plan_json(plan)))
            else:
                _print_holdings(plan, out)
                print(
                    "\nto restore: portal-backup restore ARCHIVE ID ... (or --all), "
                    "with --dry-run first to see every change",
                    file=out,
                )
            return 0
        ids = match_item_ids(args.ids, [i.id for i in plan.items])
        sel = plan.select(ids, select_all=args.all)
        if not plan.docker_ok and not args.json:
            print(
                f"portal-backup: warning: Docker is not reachable: {WITHOUT_DOCKER_RESTORE}",
                file=sys.stderr,
            )
        if args.dry_run:
            diffs = diff_selection(sel)
            if args.json:
                print(json.dumps({**_plan_json(plan), "selection": _selection_json(sel, diffs)}))
            else:
                _print_selection(sel, out, diffs)
                print("dry run: nothing was changed", file=out)
            return 1 if sel.failing or describe.refusals(sel) else 0
        if args.json:
            print(json.dumps({**_plan_json(plan), "selection": _selection_json(sel, None)}))
        elif args.progress != "json":
            _print_selection(sel, out, None)
        _confirm(sel, args)
        cancel = threading.Event()
        install_cancel_signals(cancel)
        options = RestoreOptions(
            keep_old=not args.delete_old,
            allow_identity_change=True,
            volume_access=args.volume_access,
            **read_test_hooks().restore_options(),
        )
        as_json = args.json or args.progress == "json"  # stdout then holds JSON lines only
        printer = make_printer(
            "json" if as_json else args.progress, RestoreLines(), quiet_start=True
        )
        result = RestoreRun(reader, sel, options, client, printer, cancel, source=f).run()
        if not as_json:
            _print_result(result, sys.stdout)
            _print_refusals(sel, sys.stdout)
        elif args.progress == "json":
            for item_id, why in describe.refusals(sel):
                printer(RestoreRefused(item_id, why))
        return 0 if result.ok and not describe.refusals(sel) else 1


# --------------------------------------------------------------------------- the plan


def _archive_line(plan: RestorePlan) -> str:
    a = plan.archive
    line = f"archive {a.name}: {describe.archive_source(plan)}, made {a.created or '?'}"
    relation = describe.host_relation(plan)
    if relation == "other portal":
        here = describe.short_id(plan.current_portal_id)
        line += f"; THIS host is a different Portal ({here})"
    elif relation == "no portal yet":
        line += "; this host has no Portal database yet"
    return line


def _print_holdings(plan: RestorePlan, out: TextIO) -> None:
    print(_archive_line(plan), file=out)
    print(f"signature: {plan.trust.describe()}", file=out)
    width = max((len(i.id) for i in plan.items), default=10)
    print(f"{'ITEM':<{width}}  {'IN THE ARCHIVE':>10}  {'HERE NOW':>10}  STATE", file=out)
    for item in plan.items:
        now = item.size_now
        state = item.status
        running = [
            f"{c.name} {c.state_now}"
            for c in item.containers
            if c.state_now in ("running", "paused")
        ]
        if running:
            state += f" ({', '.join(running)})"
        has = bool(item.targets)  # core/identity lives inside the database file
        print(
            f"{item.id:<{width}}  {human_bytes(item.size_archive.bytes) if has else '-':>10}  "
            f"{(human_bytes(now.bytes) if now else '?') if has else '-':>10}  {state}",
            file=out,
        )


def _print_selection(
    sel: RestoreSelection, out: TextIO, diffs: dict[str, list[TargetDiff]] | None
) -> None:
    print(_archive_line(sel.plan), file=out)
    print(f"signature: {sel.plan.trust.describe()}", file=out)
    for item in sel.items:
        print(f"\n{item.id}  ({item.status})", file=out)
        for why in sel.refused.get(item.id, []):
            print(f"  REFUSED: {why}", file=out)
        if item.id in sel.failing:
            print(f"  CANNOT RESTORE: {sel.failing[item.id]}", file=out)
            continue
        for i, t in enumerate(sel.targets[item.id]):
            print(f"  {describe.target_line(t)}", file=out)
            if diffs is not None:
                _print_diff(diffs[item.id][i], out)
        for s in sel.stops[item.id]:
            again = "start and pause it again" if s.state == "paused" else "start it again"
            print(f"  stop {s.name} ({s.state}), then {again}", file=out)
        for c in sel.recreate[item.id]:
            print(f"  {describe.create_line(c)}", file=out)
        for note in sel.notes[item.id]:
            print(f"  note: {note}", file=out)
    if sel.identity_conflict:
        warning = describe.identity_warning(*sel.identity_conflict, restoring="it")
        print(f"\nWARNING: {warning[:1].lower()}{warning[1:]}", file=out)


def _print_diff(d: TargetDiff, out: TextIO) -> None:
    if not d.readable:
        print(f"    ({describe.UNREADABLE})", file=out)
        return
    print(f"    {describe.diff_summary(d)}", file=out)
    shown = describe.diff_changes(d)
    for c in shown[:MAX_LISTED]:
        detail = f"  ({c.detail})" if c.detail else ""
        print(f"    {describe.MARKS[c.kind]} {describe.change_path(d, c)}{detail}", file=out)
    if len(shown) > MAX_LISTED:
        print(f"    ... and {len(shown) - MAX_LISTED} more (--json lists them all)", file=out)


def _plan_json(plan: RestorePlan) -> dict[str, Any]:
    a = plan.archive
    return {
        "archive": {
            "name": a.name,
            "created": a.created,
            "host": a.host,
            "portal_id": a.portal_id,
            "identity_included": a.identity_included,
        },
        "portal_root": plan.portal_root,
        "current_portal_id": plan.current_portal_id,
        "signature": {
            "state": plan.trust.state,
            "fingerprint": plan.trust.fingerprint,
            "trusted": plan.trust.trusted,
            "description": plan.trust.describe(),
        },
        "docker_ok": plan.docker_ok,
        "items": [
            {
                "id": i.id,
                "kind": i.kind,
                "label": i.label,
                "status": i.status,
                "bytes_archive": i.size_archive.bytes,
                "bytes_now": i.size_now.bytes if i.size_now else None,
                "containers": [
                    {
                        "name": c.name,
                        "image": c.image,
                        "state_before": c.state_before,
                        "state_now": c.state_now,
                    }
                    for c in i.containers
                ],
                "targets": [_target_json(t) for t in i.targets],
            }
            for i in plan.items
        ],
    }


def _target_json(t: TargetPlan) -> dict[str, Any]:
    return {
        "archive_path": t.archive_path,
        "kind": t.kind,
        "dest": t.dest,
        "exists_now": t.exists_now,
        "bytes_archive": t.size_archive.bytes,
        "bytes_now": t.size_now.bytes if t.size_now else None,
    }


def _selection_json(
    sel: RestoreSelection, diffs: dict[str, list[TargetDiff]] | None
) -> dict[str, Any]:
    items = []
    for item in sel.items:
        rec: dict[str, Any] = {
            "id": item.id,
            "failing": sel.failing.get(item.id),
            "targets": [_target_json(t) for t in sel.targets[item.id]],
            "stop": [{"name": s.name, "state": s.state} for s in sel.stops[item.id]],
            "create": [c.name for c in sel.recreate[item.id]],
            "volumes_to_create": sel.volumes_to_create[item.id],
            "notes": sel.notes[item.id],
            "refused": sel.refused.get(item.id, []),
        }
        if diffs is not None:
            rec["changes"] = [
                {
                    "dest": d.target.dest,
                    "readable": d.readable,
                    "unchanged": d.unchanged,
                    "changes": [c.__dict__ for c in d.changes],
                }
                for d in diffs[item.id]
            ]
        items.append(rec)
    conflict = sel.identity_conflict
    return {"items": items, "identity_change": list(conflict) if conflict else None}


# --------------------------------------------------------------------------- asking


def _confirm(sel: RestoreSelection, args: argparse.Namespace) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "refusing to restore without confirmation: stdin is not a terminal; "
            "add --yes to restore anyway"
        )
    items = describe.runnable(sel)
    if not items:
        return  # nothing will change; the run reports why
    if sel.identity_conflict:
        cur, arch = (describe.short_id(p) for p in sel.identity_conflict)
        if not _ask(f"Replace this Portal's identity {cur} with {arch}?"):
            raise PortalBackupError("nothing was restored (identity change declined)")
    total = human_bytes(describe.selection_size(sel).bytes)
    fate = (
        "deleted once the apps run again"
        if args.delete_old
        else "kept aside (--delete-old deletes it)"
    )
    if not _ask(f"Restore {len(items)} item(s), {total}? The data they replace is {fate}."):
        raise PortalBackupError("nothing was restored")


def _ask(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


# --------------------------------------------------------------------------- running


class RestoreLines:
    """What a restore says besides progress: item states and its notes on stdout, warnings
    and errors on stderr (the result is printed after the run)."""

    def __init__(self) -> None:
        self.busy: set[str] = set()  # items that did something worth a line

    def __call__(self, event: Event) -> list[tuple[Stream, str]]:
        if isinstance(event, ItemState):
            if event.state == "waiting":
                return []
            if event.state == "done" and event.item not in self.busy:
                return []  # nothing of its own to restore: the plan said what covers it
            what = event.detail if event.state == "copying" and event.detail else event.state
            if event.state == "failed":
                what = f"FAILED: {event.detail}"
            elif event.state == "stopping" and event.detail:
                what = f"stopping {event.detail}"
            elif event.detail and event.state not in ("copying",):
                what = f"{event.state} ({event.detail})"
            self.busy.add(event.item)
            return [("out", f"{event.item}: {what}")]
        if isinstance(event, Log):
            if event.level == "info":
                return [("out", f"  {event.message}")]
            return [("err", f"portal-backup: {event.level}: {event.message}")]
        return []


def _print_result(r: RestoreFinished, out: TextIO) -> None:
    try:
        print(f"\nrestored {len(r.done)} item(s): {describe.written_line(r)}", file=out)
        for c in r.created:
            print(f"created container {c}", file=out)
        for k in r.kept:
            print(f"previous data kept at {k}", file=out)
        for item, why in r.failed.items():
            print(f"FAILED {item}: {why}", file=out)
        out.flush()
    except (OSError, ValueError):
        pass


def _print_refusals(sel: RestoreSelection, out: TextIO) -> None:
    try:
        for item_id, why in describe.refusals(sel):
            print(f"NOT RESTORED {item_id}: {why}", file=out)
        out.flush()
    except (OSError, ValueError):
        pass


__all__ = ["run_restore_cli"]
