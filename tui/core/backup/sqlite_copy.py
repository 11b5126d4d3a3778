"""Consistent copies of SQLite databases, read through SQLite itself.

A raw copy of a database beside a live WAL can be torn or miss committed pages; serialize()
inside a read transaction copies one consistent snapshot, so the archive holds a database that
opens and passes `PRAGMA integrity_check` (its bytes may differ from the original file, its
data does not).
"""

from __future__ import annotations

import sqlite3

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


def consistent_snapshot(path: str) -> bytes:
    """The bytes of one consistent snapshot of the database at `path`.

    serialize() copies every page through SQLite's pager inside one read transaction, so the
    bytes are one committed state, WAL included, exactly what the online backup API gives,
    without its second in-memory copy. Never on disk, so no plaintext copy of app data can be
    left behind by a kill, even for encrypted backups.
    Raises sqlite3.Error when the file is not a usable database.
    """
    try:
        src = _open_reading(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        # A WAL database without its -shm cannot be opened read-only by some versions.
        src = _open_reading(path, uri=False)
    try:
        return src.serialize()
    finally:
        src.close()


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
