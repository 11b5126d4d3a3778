"""The state directory: the quiesce journal, the restore journal and the last-backup record.

What is in it decides which containers a later run starts and which paths it repairs, so it
must be this user's alone: `state_dir()` refuses a directory another user owns or can write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from tui.core.errors import PortalBackupError

STATE_DIR_ENV = "PORTAL_BACKUP_STATE_DIR"
# write_json_atomic's temporary names: ".<name>.tmp-<pid>-<random>" (older runs: no random part).
_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)(?:-[0-9a-f]+)?$")
_checked: set[str] = set()  # directories already found safe by this process


def state_dir() -> Path:
    """$PORTAL_BACKUP_STATE_DIR, else /var/lib/portal-backup for root, else XDG state home."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        path = Path(explicit)
    elif os.geteuid() == 0:
        path = Path("/var/lib/portal-backup")
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "portal-backup"
    if str(path) not in _checked:
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise PortalBackupError(
                f"cannot create the state directory {path}: {exc.strerror or exc}"
            ) from exc
        check_state_dir(path)
        _checked.add(str(path))
    return path


def check_state_dir(path: Path) -> None:
    """Refuses a state directory that someone else could have written (journals are acted on)."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise PortalBackupError(f"the state directory {path} is not a directory")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise PortalBackupError(
            f"the state directory {path} belongs to uid {st.st_uid}, not to this user (uid "
            f"{uid}); fix its owner with chown {uid} {path} or choose another with "
            f"{STATE_DIR_ENV}"
        )
    if st.st_mode & 0o022:
        raise PortalBackupError(
            f"the state directory {path} is writable by others; fix its permissions with "
            f"chmod 700 {path}"
        )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write, fsync, rename, fsync the directory: a crash leaves the old or the new file.

    The temporary name is unique (two writers never share one) and carries the pid, so
    `clean_leftovers` can tell a killed writer's file from a live one's.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(data, indent=1).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PortalBackupError(
                f"the state directory {path.parent} is full (no space left on its disk); free "
                f"some space there and run again"
            ) from exc
        raise


def clean_leftovers(directory: Path | None = None) -> list[Path]:
    """Removes the temporary files of writers that were killed; returns what it removed.

    A file whose writer is still alive (any live process with that pid) is left alone.
    """
    directory = directory or state_dir()
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        match = _TMP_NAME.match(name)
        if not match or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(directory / name)
            removed.append(directory / name)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (any user's); never for pid 0 or below."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


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
    if isinstance(info.get("path"), str):
        record_recent_archive(info["path"])


def last_backup() -> dict[str, Any] | None:
    data = read_json(state_dir() / "last-backup.json")
    return data if isinstance(data, dict) else None


RECENT_LIMIT = 8  # archives written or opened, newest first


def record_recent_archive(path: str) -> None:
    """Remembers an archive written or opened, for the TUI's "open an archive" dialog."""
    path = os.path.abspath(path)
    recent = [p for p in recent_archives() if p != path]
    write_json_atomic(state_dir() / "recent-archives.json", [path, *recent][:RECENT_LIMIT])


def recent_archives() -> list[str]:
    """The archives written or opened lately, newest first (they may be gone since)."""
    data = read_json(state_dir() / "recent-archives.json")
    if not isinstance(data, list):
        return []
    return [p for p in data if isinstance(p, str)][:RECENT_LIMIT]
