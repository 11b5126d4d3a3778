"""Consistent copies of SQLite databases through SQLite's online backup API.

A raw copy of a database beside a live WAL can be torn or miss committed pages; the backup API
copies one consistent snapshot, so the archive holds a database that opens and passes
`PRAGMA integrity_check` (its bytes may differ from the original file, its data does not).
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

    The snapshot is made into an in-memory database and serialized: it is never on disk, so
    no plaintext copy of app data can be left behind by a kill, even for encrypted backups.
    Raises sqlite3.Error when the file is not a usable database.
    """
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        src.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error:
        # A WAL database without its -shm cannot be opened read-only by some versions.
        src = sqlite3.connect(path, timeout=30)
    try:
        dst = sqlite3.connect(":memory:")
        try:
            src.backup(dst)
            return dst.serialize()
        finally:
            dst.close()
    finally:
        src.close()
