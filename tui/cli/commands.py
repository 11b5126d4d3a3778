"""The CLI's commands: each turns parsed arguments into core calls and printed output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from tui.core.errors import DockerUnavailable, PortalBackupError, UsageError
from tui.core.humanfmt import human_bytes
from tui.core.model import Inventory


def _inventory(args: argparse.Namespace, *, sizes: bool) -> tuple[Inventory, Any | None]:
    from tui.core.docker_api import connect
    from tui.core.inventory import load_inventory
    from tui.core.sizes import compute_sizes

    client = None
    try:
        client = connect()
    except DockerUnavailable as exc:
        client = None
        reason = str(exc)
    inv = load_inventory(args.portal_root, client, use_docker=client is not None)
    if client is None:
        inv.warnings.insert(0, f"{reason}; listing the Portal's own items only")
    if sizes:
        compute_sizes(inv, client)
    return inv, client


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


def age_recipients(args: argparse.Namespace) -> list[Any]:
    """Recipients from --passphrase-file/--passphrase-env/--recipient/--recipients-file."""
    wanted = args.passphrase_file or args.passphrase_env or args.recipient or args.recipients_file
    if not wanted:
        return []
    from tui.core.crypto.age import ScryptRecipient, X25519Recipient, load_recipients_file

    out: list[Any] = []
    passphrase = read_passphrase(args)
    if passphrase is not None:
        if args.recipient or args.recipients_file:
            raise UsageError(
                "a passphrase cannot be combined with age recipients (the age "
                "format allows one or the other)"
            )
        out.append(ScryptRecipient(passphrase))
    for r in args.recipient:
        out.append(X25519Recipient.parse(r))
    for f in args.recipients_file:
        out.extend(load_recipients_file(f))
    return out


def read_passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file and args.passphrase_env:
        raise UsageError("use either --passphrase-file or --passphrase-env, not both")
    if args.passphrase_file:
        try:
            text = Path(args.passphrase_file).read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the passphrase file: {exc.strerror}") from exc
        if not text or not text[0]:
            raise UsageError(f"the passphrase file {args.passphrase_file} is empty")
        return text[0]
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env)
        if not value:
            raise UsageError(f"the environment variable {args.passphrase_env} is not set")
        return value
    return None


def age_identities(args: argparse.Namespace) -> list[Any]:
    from tui.core.crypto.age import ScryptIdentity, load_identities

    out: list[Any] = []
    passphrase = read_passphrase(args)
    if passphrase is not None:
        out.append(ScryptIdentity(passphrase))
    for f in args.identity:
        out.extend(load_identities(f))
    return out


def run_create(args: argparse.Namespace) -> int:
    from tui.cli.main import install_cancel_signals
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
        hold_file=os.environ.get("PORTAL_BACKUP_TEST_HOLD_FILE"),
        hold_item=os.environ.get("PORTAL_BACKUP_TEST_HOLD_ITEM"),
        fail_item=os.environ.get("PORTAL_BACKUP_TEST_FAIL_ITEM"),
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
    result = run_backup(inv, plan, options, client, printer, cancel)  # type: ignore[arg-type]
    _safe_print(result.path)
    return 0


def _safe_print(text: str) -> None:
    # The terminal may be gone (SIGHUP); the archive is complete all the same.
    with contextlib.suppress(OSError):
        print(text, flush=True)


def open_archive(path: str, args: argparse.Namespace) -> Any:
    """A seekable binary file of the zip: the file itself, or a decrypting view of .age."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise PortalBackupError(f"cannot open {path}: {exc.strerror}") from exc
    from tui.core.crypto.age import AgeReader, is_age_file

    if is_age_file(f):
        f.seek(0)
        identities = age_identities(args)
        if not identities:
            f.close()
            raise UsageError(
                f"{path} is encrypted: give --identity FILE or --passphrase-file "
                "FILE / --passphrase-env VAR"
            )
        return AgeReader(f, identities)
    f.seek(0)
    return f


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
    try:
        from tui.core.restore.run import run_restore_cli
    except ImportError as exc:
        raise PortalBackupError("restore is not available in this version") from exc
    return run_restore_cli(args)


def run_explore(args: argparse.Namespace) -> int:
    try:
        from tui.ui.app import run_app
    except ImportError as exc:
        raise PortalBackupError("the terminal UI is not available in this version") from exc
    return run_app(args, explore=args.archive)


def run_tui(args: argparse.Namespace) -> int:
    try:
        from tui.ui.app import run_app
    except ImportError as exc:
        raise PortalBackupError("the terminal UI is not available in this version") from exc
    return run_app(args, explore=None)
