"""Consistent copies of SQLite databases, read through SQLite itself.

A raw copy of a database beside a live WAL can be torn or miss committed pages; serialize()
inside a read transaction copies one consistent snapshot, so the archive holds a database that
opens and passes `PRAGMA integrity_check` (its bytes may differ from the original file, its
data does not).
"""

from __future__ import annotations

import io
import os
import sqlite3
from typing import BinaryIO

MAGIC = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")


def looks_like_sqlite(path: str, size: int) -> bool:
    """SQLite files are whole pages (multiples of 512 bytes) starting with a magic string."""
    if size < 512 or size % 512:
        return False
    try:
        with open(path, "rb") as f:
            return f.read(16) == MAGIC
    except OSError:
        return False


class Snapshot:
    """One consistent snapshot of a database, to read once: `reader` and its `size`.

    A database in rollback-journal mode is read straight from its file while a read
    transaction holds SQLite's SHARED lock (no writer can change the file meanwhile): nothing
    of it is held in memory. Any other (a WAL database) is serialize()d into memory first.
    Use it as a context manager; the lock lasts until the end of the with block.
    """

    def __init__(self, path: str) -> None:
        self._src = _connect_reading(path)
        self._file: BinaryIO | None = None
        try:
            if _rollback_mode(self._src):
                self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
                self.reader: BinaryIO = self._file
                self.size = os.fstat(self._file.fileno()).st_size
            else:
                data = self._src.serialize()
                self.reader, self.size = io.BytesIO(data), len(data)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # Our own descriptor first: closing any descriptor of the file drops this process's
        # POSIX locks on it, so it must go after the reading and before nothing else needs them.
        if self._file is not None:
            self._file.close()
            self._file = None
        self._src.close()


def consistent_snapshot(path: str) -> bytes:
    """The bytes of one consistent snapshot of the database at `path` (in memory).

    serialize() copies every page through SQLite's pager inside one read transaction: one
    committed state, WAL included. Never on disk, so no plaintext copy of app data can be left
    behind by a kill, even for encrypted backups.
    Raises sqlite3.Error when the file is not a usable database.
    """
    src = _connect_reading(path)
    try:
        return src.serialize()
    finally:
        src.close()


def _connect_reading(path: str) -> sqlite3.Connection:
    try:
        return _open_reading(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        # A WAL database without its -shm cannot be opened read-only by some versions.
        return _open_reading(path, uri=False)


def _rollback_mode(src: sqlite3.Connection) -> bool:
    row = src.execute("pragma journal_mode").fetchone()
    return bool(row) and str(row[0]).lower() in ("delete", "truncate", "persist")


def _open_reading(target: str, *, uri: bool) -> sqlite3.Connection:
    """A connection inside a read transaction (it lasts until close)."""
    src = sqlite3.connect(target, uri=uri, timeout=30, isolation_level=None)
    try:
        src.execute("begin")
        src.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error:
        src.close()
        raise
    return src
