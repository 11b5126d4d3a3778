"""Opening archives that may be encrypted, for the UI: the keys given on the command line, the
ones the user typed per archive, and the decrypting view (no plaintext ever touches the disk)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import BinaryIO

from tui.core.crypto.age import Identity, ScryptIdentity, Stanza, load_identities
from tui.core.crypto.open import KeyNeeded, open_archive, read_passphrase

__all__ = [
    "ArchiveKeys",
    "KeyNeeded",
    "RememberingScryptIdentity",
    "cli_identities",
    "identities_from",
]


class RememberingScryptIdentity(ScryptIdentity):
    """A passphrase that remembers the file keys it unwrapped. The explorer, then verify, then
    the explorer again open the same archive: scrypt (about a second, on purpose) runs once.
    A subclass, not a wrapper, so the core still sees a passphrase identity in its messages."""

    def __init__(self, passphrase: str) -> None:
        super().__init__(passphrase)
        self._file_keys: dict[tuple[Stanza, ...], bytes] = {}

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        known = tuple(stanzas)
        file_key = self._file_keys.get(known)
        if file_key is None:
            file_key = super().unwrap(stanzas)
            if file_key is not None:
                self._file_keys[known] = file_key
        return file_key


def identities_from(passphrase: str | None, identity_files: Sequence[str]) -> list[Identity]:
    """Raises AgeError (an unreadable or malformed identity file) with one sentence."""
    out: list[Identity] = []
    if passphrase:
        out.append(RememberingScryptIdentity(passphrase))
    for path in identity_files:
        out.extend(load_identities(os.path.expanduser(path)))
    return out


def cli_identities(args: argparse.Namespace) -> list[Identity]:
    """--passphrase-file/--passphrase-env/--identity, where the command has them (explore)."""
    if not hasattr(args, "identity"):
        return []
    return identities_from(
        read_passphrase(args.passphrase_file, args.passphrase_env), args.identity
    )


class ArchiveKeys:
    """The app's archive opener. Keys typed in the unlock dialog are kept per archive (in
    memory only, for this session) so verify and the explorer do not ask twice."""

    def __init__(self, given: Sequence[Identity] = ()) -> None:
        self.given = list(given)
        self._typed: dict[str, list[Identity]] = {}

    def remember(self, path: str, identities: Sequence[Identity]) -> None:
        self._typed[os.path.realpath(path)] = list(identities)

    def identities_for(self, path: str) -> list[Identity]:
        return self._typed.get(os.path.realpath(path), self.given)

    def open(self, path: str) -> BinaryIO:
        """A seekable binary file of the zip: the file itself, or a decrypting view of .age.
        Raises KeyNeeded when no key is known, AgeNoMatchError when the known ones fail."""
        return self.open_with(path, None)

    def open_with(self, path: str, identities: Sequence[Identity] | None) -> BinaryIO:
        return open_archive(
            path, lambda: self.identities_for(path) if identities is None else list(identities)
        )

    def unlock(self, path: str, identities: Sequence[Identity]) -> None:
        """Check that these keys open the archive (header and last chunk), then keep them."""
        self.open_with(path, identities).close()
        self.remember(path, identities)
