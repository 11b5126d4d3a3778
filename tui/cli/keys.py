"""The CLI's keys: age recipients for `create`, identities and the archive opener for `verify`,
`explore` and `restore`, all read from the command's options."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, BinaryIO

from tui.core.crypto import open as archive_open
from tui.core.errors import UsageError

_KEY_HINT = "give --identity FILE or --passphrase-file FILE / --passphrase-env VAR"


def read_passphrase(args: argparse.Namespace) -> str | None:
    return archive_open.read_passphrase(args.passphrase_file, args.passphrase_env)


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


def age_identities(args: argparse.Namespace, path: str | None = None) -> list[Any]:
    """The keys the options name; with none, in a terminal, the passphrase typed for `path`."""
    from tui.core.crypto.age import ScryptIdentity, load_identities

    out: list[Any] = []
    passphrase = read_passphrase(args)
    if passphrase is None and not args.identity and path is not None:
        passphrase = ask_passphrase(path)
    if passphrase is not None:
        out.append(ScryptIdentity(passphrase))
    for f in args.identity:
        out.extend(load_identities(f))
    return out


def ask_passphrase(path: str) -> str | None:
    """As `age` and `ssh` do: ask on the terminal, without echo. None when stdin is not a
    terminal (scripts give --passphrase-file or --passphrase-env) or nothing was typed."""
    if not sys.stdin.isatty():
        return None
    try:
        # getpass reads /dev/tty with echo off (stdout may be a pipe to `less` or a file).
        typed = getpass.getpass(f"Enter passphrase for {path} (or use --identity FILE): ")
    except EOFError:  # Ctrl-D
        return None
    return typed or None


def open_archive(path: str, args: argparse.Namespace) -> BinaryIO:
    """A seekable binary file of the zip: the file itself, or a decrypting view of .age."""
    return archive_open.open_archive(path, lambda: age_identities(args, path), hint=_KEY_HINT)
