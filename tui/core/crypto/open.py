"""Opening an archive to read it: the zip file itself, or a decrypting view of a .zip.age.

Both faces open archives here; each passes its own way of finding keys (the CLI's options, the
UI's remembered ones) and its own hint for the sentence shown when none is known. No plaintext
ever touches the disk: decryption streams from the file as the reader seeks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from tui.core.crypto.age import AgeReader, Identity, is_age_file
from tui.core.errors import PortalBackupError, UsageError

KEY_HINT = "it needs its passphrase or an age identity file"


class KeyNeeded(UsageError):
    """The archive is encrypted and no passphrase or identity is known for it."""

    def __init__(self, path: str, hint: str = KEY_HINT) -> None:
        super().__init__(f"{path} is encrypted: {hint}")
        self.path = path


def open_archive(
    path: str, identities: Callable[[], Sequence[Identity]], *, hint: str = KEY_HINT
) -> BinaryIO:
    """A seekable binary file of the zip at `path`, which the caller closes.

    `identities` is asked only when the file is encrypted (reading a passphrase may fail, and
    a plain archive needs none). Raises PortalBackupError when the file cannot be opened,
    KeyNeeded when no key is known, AgeNoMatchError when the known ones do not fit.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise PortalBackupError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        if not is_age_file(f):  # puts the position back
            return f
        keys = list(identities())
        if not keys:
            raise KeyNeeded(path, hint)
        return AgeReader(f, keys, close_source=True)  # type: ignore[return-value]  # file-like, not an IO subclass
    except BaseException:
        f.close()
        raise


def read_passphrase(file: str | None, env: str | None) -> str | None:
    """The passphrase from the first line of `file`, or from the environment variable `env`;
    None when neither is given. UsageError (one sentence) when it cannot be read."""
    if file and env:
        raise UsageError("use either --passphrase-file or --passphrase-env, not both")
    if file:
        try:
            text = Path(file).read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the passphrase file: {exc.strerror}") from exc
        if not text or not text[0]:
            raise UsageError(f"the passphrase file {file} is empty")
        return text[0]
    if env:
        value = os.environ.get(env)
        if not value:
            raise UsageError(f"the environment variable {env} is not set")
        return value
    return None
