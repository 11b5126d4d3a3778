"""The CLI's commands: each turns parsed arguments into core calls and printed output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import sys
import threading
from pathlib import Path
from typing import Any

from tui.cli.keys import age_recipients, open_archive
from tui.cli.signals import install_cancel_signals
from tui.cli.test_hooks import read_test_hooks
from tui.core.errors import PortalBackupError, UsageError
from tui.core.host import open_host
from tui.core.humanfmt import human_bytes
from tui.core.inventory import match_item_ids
from tui.core.model import Inventory, Item

ID_WIDTH_CAP = 40  # `list`: longer IDs (binds with long host paths) get a line of their own


def _inventory(args: argparse.Namespace, *, sizes: bool) -> tuple[Inventory, Any | None]:
    host = open_host(args.portal_root)
    return host.inventory(sizes=sizes), host.client


def run_list(args: argparse.Namespace) -> int:
    from tui.core.sizes import compute_sizes

    host = open_host(args.portal_root)
    inv = host.inventory()
    unreadable = {} if args.no_sizes else compute_sizes(inv, host.client)
    for w in inv.warnings:
        print(f"portal-backup: warning: {w}", file=sys.stderr)
    if args.json:
        for item in inv.items:
            print(json.dumps({**item.to_json(), **_readability_json(item.id, unreadable, args)}))
        return 0
    if not inv.items:
        print("nothing to back up: no Portal root and no Docker apps or volumes")
        return 0
    for line in format_item_table(inv.items, unreadable, sizes=not args.no_sizes):
        print(line)
    if unreadable:
        print(f"portal-backup: warning: {_unreadable_sentence(unreadable)}", file=sys.stderr)
        for item_id, why in unreadable.items():
            print(f"  {item_id}: {why}", file=sys.stderr)
    return 0


def _unreadable_sentence(unreadable: dict[str, str]) -> str:
    ids = list(unreadable)
    named = ", ".join(ids[:-1]) + f" and {ids[-1]}" if len(ids) > 1 else ids[0]
    try:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name}"
    except KeyError:
        user = f"uid {os.geteuid()}"
    return (
        f"{user} cannot read all of {named}: run as root, or leave "
        f"{'them' if len(ids) > 1 else 'it'} out"
    )


def _readability_json(
    item_id: str, unreadable: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    if args.no_sizes:  # not walked: unknown
        return {"readable": None}
    why = unreadable.get(item_id)
    return {"readable": False, "why": why} if why else {"readable": True}


def format_item_table(items: list[Item], unreadable: dict[str, str], *, sizes: bool) -> list[str]:
    """`list`'s table: every column as wide as its content (never the terminal's width); an
    ID longer than ID_WIDTH_CAP gets a line of its own instead of widening every row."""
    rows = []
    for item in items:
        notes = ["[private key]"] if item.holds_identity and "private key" not in item.label else []
        notes += ["[unreadable]"] if item.id in unreadable else []
        size = [human_bytes(item.size.bytes), _files(item.size.files)] if item.size else ["", ""]
        rows.append(
            [item.id, *(size if sizes else []), item.state or "", " ".join([item.label, *notes])]
        )
    header = ["ID", *(["SIZE", "FILES"] if sizes else []), "STATE", "WHAT"]
    right = {1, 2} if sizes else set()
    fitting = [len(r[0]) for r in rows if len(r[0]) <= ID_WIDTH_CAP]
    widths = [max([len(header[0]), *fitting])]
    widths += [max(len(r[c]) for r in [header, *rows]) for c in range(1, len(header))]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    lines = [line(header)]
    for r in rows:
        if len(r[0]) > widths[0]:
            lines.append(r[0])
            r = ["", *r[1:]]
        lines.append(line(r))
    return lines


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def run_create(args: argparse.Namespace) -> int:
    from tui.cli.printers import make_printer
    from tui.core.backup.run import BackupOptions, run_backup
    from tui.core.backup.sinks import refuse_terminal
    from tui.core.plan import build_plan, resolve_selection

    if not args.ids and not args.all:
        raise UsageError("name the items to back up (see `portal-backup list`) or use --all")
    recipients = age_recipients(args)
    to_stdout = args.output == "-"
    if to_stdout:
        try:
            refuse_terminal(sys.stdout.fileno())  # before anything runs
        except PortalBackupError as exc:
            raise UsageError(str(exc)) from None
    dest = _destination(args.to, encrypted=bool(recipients)) if args.to else None
    if args.verify_upload and dest is None:
        raise UsageError("--verify-upload goes with --to DEST")
    output = None if to_stdout else archive_output(args.output, encrypted=bool(recipients))
    since = _since_base(args) if args.since else None
    inv, client = _inventory(args, sizes=False)
    for w in inv.warnings:
        print(f"portal-backup: warning: {w}", file=sys.stderr)
    known = [i.id for i in inv.items]
    items = resolve_selection(
        inv,
        match_item_ids(args.ids, known),
        select_all=args.all,
        exclude=match_item_ids(args.exclude, known),
    )
    refuse_unreadable(items)
    plan = build_plan(inv, items)
    options = BackupOptions(
        output=output,
        stdout=to_stdout,
        to=dest,
        verify_upload=args.verify_upload,
        rclone_config=Path(args.rclone_config) if args.rclone_config else None,
        quiesce=args.quiesce,
        level=args.level,
        threads=args.threads,
        volume_access=args.volume_access,
        sign=not args.no_sign,
        encrypt_to=recipients,
        since=since,
        **read_test_hooks().backup_options(),
    )
    if plan.include_identity and not recipients and args.progress != "json" and not to_stdout:
        print(
            "portal-backup: note: the archive will hold the Portal's private key; it is "
            "created with mode 0600 (encrypt it with --passphrase-file or --recipient before "
            "storing it elsewhere)",
            file=sys.stderr,
        )
    cancel = threading.Event()
    install_cancel_signals(cancel)
    # With -o - stdout carries the archive alone: every word goes to stderr.
    printer = make_printer(args.progress, stream="err" if to_stdout else "out")
    result = run_backup(inv, plan, options, client, printer, cancel)
    if not to_stdout:
        _safe_print(result.path)
    return 0


def _since_base(args: argparse.Namespace) -> Any:
    """--since BASE read (its manifest and SHA-256), before anything is stopped."""
    from tui.core.backup.since import load_base

    config = Path(args.rclone_config) if args.rclone_config else None
    base = load_base(args.since, lambda p: open_archive(p, args), rclone_config=config)
    if base.note:
        print(f"portal-backup: note: {base.note}", file=sys.stderr)
    return base


def _destination(spec: str, *, encrypted: bool) -> Any:
    """--to DEST parsed; a remote only with encryption (the archive leaves this host)."""
    from tui.core.dest.target import parse_dest

    dest = parse_dest(spec)
    if dest.local is None and not encrypted:
        raise UsageError(
            f"--to {dest.label} sends the archive off this host: encrypt it with --recipient "
            "age1... (or --recipients-file / --passphrase-file)"
        )
    if dest.local is not None and not dest.local.is_dir():
        raise UsageError(f"--to {spec}: the directory {dest.local} does not exist")
    return dest


def archive_output(output: str | None, *, encrypted: bool) -> str | None:
    """-o as the backup takes it: an existing directory, or a file name in one that ends in
    .zip (.zip.age when encrypted), added when missing. UsageError for a missing directory."""
    if output is None:
        return None
    path = Path(output).expanduser()
    if path.is_dir():
        return str(path)
    if not path.parent.is_dir():
        raise UsageError(f"-o {output}: the directory {path.parent} does not exist")
    suffix = ".zip.age" if encrypted else ".zip"
    if not encrypted and path.name.endswith(".zip.age"):
        raise UsageError(
            f"-o {output} names an encrypted archive: add --passphrase-file or --recipient, "
            "or end the name in .zip"
        )
    if path.name.endswith(suffix):
        return str(path)
    return str(path.with_name(path.name.removesuffix(".zip") + suffix))


def refuse_unreadable(items: list[Item]) -> None:
    """Before anything starts (no container stopped, no file written): name what this user
    cannot read, so the run does not fail half-way."""
    from tui.core.sizes import unreadable_items

    unreadable = unreadable_items(items)
    if unreadable:
        first_id, why = next(iter(unreadable.items()))
        raise PortalBackupError(
            f"nothing was backed up: {_unreadable_sentence(unreadable)} with --exclude "
            f"({first_id}: {why})"
        )


def _safe_print(text: str) -> None:
    # The terminal may be gone (SIGHUP); the archive is complete all the same.
    with contextlib.suppress(OSError):
        print(text, flush=True)


def run_verify(args: argparse.Namespace) -> int:
    from tui.core.archive.verify import verify_archive

    f = open_archive(args.archive, args)
    with f:
        # A differential: its base beside it completes the chain (issue 14).
        report = verify_archive(f, open_base=lambda p: open_archive(p, args), name=args.archive)
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
