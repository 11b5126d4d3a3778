"""The archive's file on disk: its partial name, the rename that never overwrites, and the
cleaning of partial files that killed runs left behind.

A run writes `.NAME.partial-PID` beside the final name and holds an flock on it until it is
renamed or removed. The rename is atomic and refuses to replace anything (renameat2 with
RENAME_NOREPLACE, else link + unlink), so two runs can never silently replace each other's
archive, whatever their timing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from pathlib import Path

from tui.core.anchored import AT_FDCWD, renameat2_noreplace
from tui.core.errors import PortalBackupError
from tui.core.state import pid_alive

_PARTIAL = re.compile(r"^\.(?P<final>.+)\.partial-(?P<pid>[0-9]+)$")
# What our partial files start with: a zip local header, an age header, or nothing yet.
_SIGNATURES = (b"PK\x03\x04", b"age-encryption.org/")
MAX_SUFFIX = 999  # "-2" ... "-999": default names stay unique within one second


def partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial-{os.getpid()}")


def open_partial(path: Path) -> int:
    """Create the partial file exclusively and lock it: the lock tells a cleaner it is in use
    (even from another PID namespace), and a kill -9 releases it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def rename_no_replace(src: Path, dst: Path) -> None:
    """Atomically give `src` the name `dst`; FileExistsError if `dst` exists."""
    if renameat2_noreplace(AT_FDCWD, src, AT_FDCWD, dst):
        return
    try:
        os.link(src, dst)  # fails with EEXIST, atomically, if dst exists
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        # A filesystem without hard links or RENAME_NOREPLACE (some FUSE and network ones):
        # the best left is a check right before a plain rename.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def publish(tmp: Path, final: Path, *, default_name: bool) -> Path:
    """Rename the finished partial file to `final`, or, for a default name another run took
    in the same second, to NAME-2, NAME-3...; an explicit name that exists is refused."""
    for n in range(1, MAX_SUFFIX + 1):
        target = final if n == 1 else with_suffix(final, n)
        try:
            rename_no_replace(tmp, target)
            return target
        except FileExistsError:
            if not default_name:
                raise PortalBackupError(
                    f"{final} appeared while the backup ran (another run wrote it); it was "
                    "left as it is and this backup was discarded"
                ) from None
    raise PortalBackupError(
        f"{final} and {MAX_SUFFIX - 1} numbered variants of it exist; choose another output name"
    )


def with_suffix(final: Path, n: int) -> Path:
    """portal-backup-x-20260101-030000.zip[.age] -> portal-backup-x-20260101-030000-N.zip[.age]"""
    name = final.name
    for ext in (".zip.age", ".zip"):
        if name.endswith(ext):
            return final.with_name(f"{name[: -len(ext)]}-{n}{ext}")
    return final.with_name(f"{name}-{n}")


def clean_leftovers(directory: Path) -> list[Path]:
    """Remove the partial files of runs that died (kill -9, power cut) in `directory`.

    Only files named like ours, owned by us, starting like an archive (or empty), whose
    process is gone and whose lock is free are removed. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _PARTIAL.match(name)
        if m is None or int(m["pid"]) == os.getpid() or pid_alive(int(m["pid"])):
            continue
        path = directory / name
        with contextlib.suppress(OSError):
            if _remove_if_abandoned(path):
                removed.append(path)
    return removed


def _remove_if_abandoned(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return False
        head = os.pread(fd, 32, 0)
        if head and not head.startswith(_SIGNATURES):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live run (perhaps in another PID namespace) still writes it
        # Still the same file under that name (not replaced since we opened it)?
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)
