"""The host-wide lock: one backup or restore at a time on this host, whatever its state directory.

Two runs with different state directories would otherwise quiesce the same containers and each
record the other's stopped containers as "stopped before", so neither would start them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tui.core.errors import PortalBackupError

LOCK_ENV = "PORTAL_BACKUP_LOCK_FILE"


def lock_path() -> Path:
    """$PORTAL_BACKUP_LOCK_FILE, else /run/portal-backup.lock for root, else a per-user file.

    Not /run/lock: it is writable by everyone on Debian, so another user could plant the file.
    """
    explicit = os.environ.get(LOCK_ENV)
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return Path("/run/portal-backup.lock")
    # Not $TMPDIR: a cron job and a login shell must find the same file.
    return Path("/tmp") / f"portal-backup-{os.geteuid()}.lock"


class RunLock:
    """An exclusive flock on the host-wide lock file, held for one backup or restore."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or lock_path()
        self._fd: int | None = None
        self._nested = False

    def acquire(self) -> None:
        outer = _job.lock
        if outer is not None and outer.path == self.path:  # this thread runs a job that holds it
            self._nested = True
            return
        try:  # never through a symlink: the fallback lives in a world-writable directory
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise PortalBackupError(
                f"cannot open the lock file {self.path}: {exc.strerror or exc}"
            ) from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            os.close(fd)
            raise PortalBackupError(
                f"the lock file {self.path} is not a file of this user; remove it and run again"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder_words(fd)
            os.close(fd)
            raise PortalBackupError(
                f"another portal-backup run{who} is in progress on this host; wait for it to finish"
            ) from None
        with contextlib.suppress(OSError):  # the pid only makes the message above clearer
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {int(time.time())}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._nested:
            self._nested = False
            return
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _JobLock(threading.local):
    lock: RunLock | None = None


_job = _JobLock()


@contextlib.contextmanager
def job_lock(path: Path | None = None) -> Iterator[RunLock]:
    """Holds the lock for a whole job of several runs (`auto run`: a backup per destination,
    then prune): the runs inside it, in this thread only, take it without waiting for it."""
    lock = RunLock(path)
    lock.acquire()
    _job.lock = lock
    try:
        yield lock
    finally:
        _job.lock = None
        lock.release()


def _holder(fd: int) -> tuple[int, float | None] | None:
    with contextlib.suppress(OSError, ValueError):
        parts = os.pread(fd, 64, 0).decode("ascii").split()
        if parts:
            return int(parts[0]), float(parts[1]) if len(parts) > 1 else None
    return None


def _holder_words(fd: int) -> str:
    """The holder for the message: ' (pid 123, since 2026-12-06 03:00:12 UTC)', or ''."""
    holder = _holder(fd)
    if holder is None:
        return ""
    pid, since = holder
    if since is None:
        return f" (pid {pid})"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
    return f" (pid {pid}, since {when})"
