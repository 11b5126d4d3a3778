"""A destination as the backup sees it: list, read, delete, and an upload to a temporary name
that gets its final name only once complete (and checked).

Two kinds: LocalStore (a directory) and RcloneStore (any rclone remote). Temporary names are
`.NAME.partial-<host>-<pid>-<random>`; `clean_abandoned` removes those whose process is gone
from this host, and any older than 48 h.
"""

from __future__ import annotations

import builtins
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from tui.core.dest.local_store import LocalStore
from tui.core.dest.rclone_store import RcloneStore
from tui.core.dest.stored import ProbeResult, StoredFile
from tui.core.dest.target import Dest

__all__ = ["ProbeResult", "Store", "StoredFile", "Upload", "open_store"]


class Upload(Protocol):
    temp_name: str

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def commit(self, *, size: int, sha256: str, verify: bool) -> StoredFile: ...

    def abort(self) -> None: ...


class Store(Protocol):
    dest: Dest

    def list(self) -> list[StoredFile]: ...

    def stat(self, name: str) -> StoredFile | None: ...

    def open_read(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    def delete(self, name: str) -> None: ...

    def begin_upload(self, final_name: str) -> Upload: ...

    def clean_abandoned(self) -> builtins.list[str]: ...

    def probe(self) -> ProbeResult: ...


def open_store(dest: Dest, *, rclone_config: Path | None = None) -> Store:
    if dest.local is not None:
        return LocalStore(dest)
    return RcloneStore(dest, rclone_config)
