"""The state directory: the quiesce journal, the run lock and the last-backup record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    """$PORTAL_BACKUP_STATE_DIR, else /var/lib/portal-backup for root, else XDG state home."""
    explicit = os.environ.get("PORTAL_BACKUP_STATE_DIR")
    if explicit:
        path = Path(explicit)
    elif os.geteuid() == 0:
        path = Path("/var/lib/portal-backup")
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "portal-backup"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    """Write, fsync, rename, fsync the directory: a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data, indent=1).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def record_last_backup(info: dict[str, Any]) -> None:
    write_json_atomic(state_dir() / "last-backup.json", info)


def last_backup() -> dict[str, Any] | None:
    data = read_json(state_dir() / "last-backup.json")
    return data if isinstance(data, dict) else None
