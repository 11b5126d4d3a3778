"""The CLI's commands: each turns parsed arguments into core calls and printed output."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from typing import Any

from tui.cli.keys import age_recipients, open_archive
from tui.cli.signals import install_cancel_signals
from tui.cli.test_hooks import read_test_hooks
from tui.core.errors import PortalBackupError, UsageError
from tui.core.host import open_host
from tui.core.humanfmt import human_bytes
from tui.core.model import Inventory


def _inventory(args: argparse.Namespace, *, sizes: bool) -> tuple[Inventory, Any | None]:
    host = open_host(args.portal_root)
    return host.inventory(sizes=sizes), host.client


def run_list(args: argparse.Namespace) -> int:
    inv, _client = _inventory(args, sizes=not args.no_sizes)
    for w in inv.warnings:
        print(f"portal-backup: warning: {w}", file=sys.stderr)
    if args.json:
        for item in inv.items:
            print(json.dumps(item.to_json()))
        return 0
    if not inv.items:
        print("nothing to back up: no Portal root and no Docker apps or volumes")
        return 0
    width = max(len(i.id) for i in inv.items)
    for item in inv.items:
        size = (
            f"{human_bytes(item.size.bytes):>9}  {item.size.files:>7} files"
            if item.size
            else f"{'':>9}  {'':>13}"
        )
        state = item.state or ""
        flag = "  [private key]" if item.holds_identity else ""
        print(f"{item.id:<{width}}  {size}  {state:<12} {item.label}{flag}")
    return 0


def run_create(args: argparse.Namespace) -> int:
    from tui.cli.printers import make_printer
    from tui.core.backup.run import BackupOptions, run_backup
    from tui.core.plan import build_plan, resolve_selection

    if not args.ids and not args.all:
        raise UsageError("name the items to back up (see `portal-backup list`) or use --all")
    recipients = age_recipients(args)
    inv, client = _inventory(args, sizes=False)
    for w in inv.warnings:
        print(f"portal-backup: warning: {w}", file=sys.stderr)
    items = resolve_selection(inv, args.ids, select_all=args.all, exclude=args.exclude)
    plan = build_plan(inv, items)
    options = BackupOptions(
        output=args.output,
        quiesce=args.quiesce,
        level=args.level,
        threads=args.threads,
        volume_access=args.volume_access,
        sign=not args.no_sign,
        encrypt_to=recipients,
        **read_test_hooks().backup_options(),
    )
    if plan.include_identity and not recipients and args.progress != "json":
        print(
            "portal-backup: note: the archive will hold the Portal's private key; it is "
            "created with mode 0600 (encrypt it with --passphrase-file or --recipient before "
            "storing it elsewhere)",
            file=sys.stderr,
        )
    cancel = threading.Event()
    install_cancel_signals(cancel)
    printer = make_printer(args.progress)
    result = run_backup(inv, plan, options, client, printer, cancel)
    _safe_print(result.path)
    return 0


def _safe_print(text: str) -> None:
    # The terminal may be gone (SIGHUP); the archive is complete all the same.
    with contextlib.suppress(OSError):
        print(text, flush=True)


def run_verify(args: argparse.Namespace) -> int:
    from tui.core.archive.verify import verify_archive

    f = open_archive(args.archive, args)
    with f:
        report = verify_archive(f)
    if args.json:
        print(json.dumps(report.__dict__, default=str))
    else:
        for note in getattr(report, "notes", []) or []:
            print(f"note: {note}")
        print(f"entries checked: {report.entries}, {human_bytes(report.bytes_checked)}")
        print(
            f"signature: {report.signature}"
            + (f" (signed by Portal {report.signed_by})" if report.signed_by else "")
        )
        for p in report.problems:
            print(f"problem: {p}")
        print("OK: the archive is intact" if report.ok else "FAILED: the archive is damaged")
    return 0 if report.ok else 1


def run_restore(args: argparse.Namespace) -> int:
    from tui.cli.restore import run_restore_cli

    return run_restore_cli(args)


def run_explore(args: argparse.Namespace) -> int:
    try:
        from tui.ui.app import run_app
    except ImportError as exc:
        raise PortalBackupError("the terminal UI is not available in this version") from exc
    return run_app(args, explore=args.archive, hooks=read_test_hooks())


def run_tui(args: argparse.Namespace) -> int:
    try:
        from tui.ui.app import run_app
    except ImportError as exc:
        raise PortalBackupError("the terminal UI is not available in this version") from exc
    return run_app(args, explore=None, hooks=read_test_hooks())
