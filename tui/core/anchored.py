"""Reaching restore destinations without following symlinks, and finding mount points.

A destination is opened from a trusted anchor (the real path of the Portal root the admin
chose, a Docker volume's directory as Docker reports it, or "/" for binds outside the root),
one component at a time with O_NOFOLLOW: a symlink planted anywhere below the anchor (by a
container that mounts a parent directory, say) is never followed. A symlink in the last
component is the restore's to replace, like any old data; one above it is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable

from tui.core.errors import PortalBackupError

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RENAME_NOREPLACE = 1


class BlockedPath(PortalBackupError):
    """A component on the way is a symlink or not a directory; `path` is that component."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is a symlink or not a directory; refusing to restore through it")
        self.path = path


def split_under(anchor: str, path: str) -> list[str]:
    """`path`'s components below `anchor` (both absolute and normalised); [] for the anchor."""
    rel = os.path.relpath(path, anchor)
    if rel == ".":
        return []
    parts = rel.split("/")
    if ".." in parts:
        raise PortalBackupError(f"{path} does not lie under {anchor}")
    return parts


def open_beneath(
    anchor: str, parts: list[str], on_made: Callable[[str, int], None] | None = None
) -> int:
    """A directory descriptor of anchor/parts, each component opened with O_NOFOLLOW.

    With `on_made`, missing components are created (mode 0755) and reported with their path
    and descriptor. Raises FileNotFoundError when one is missing, BlockedPath when one is a
    symlink or not a directory.
    """
    fd = os.open(anchor, O_DIR & ~os.O_NOFOLLOW)  # the anchor itself is trusted
    path = anchor
    for part in parts:
        path = os.path.join(path, part)
        made = False
        if on_made is not None:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
                made = True
        try:
            child = os.open(part, O_DIR, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise BlockedPath(path) from None
            raise
        finally:
            os.close(fd)
        fd = child
        if made and on_made is not None:
            on_made(path, fd)
    return fd


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """rename(2) that never replaces an existing `dst` (renameat2 RENAME_NOREPLACE)."""
    if renameat2_noreplace(src_fd, src, dst_fd, dst):
        return
    if lstat_at(dst_fd, dst) is not None:  # a filesystem without RENAME_NOREPLACE
        raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def renameat2_noreplace(
    src_fd: int, src: str | os.PathLike[str], dst_fd: int, dst: str | os.PathLike[str]
) -> bool:
    """renameat2(RENAME_NOREPLACE): True when it renamed, False when the kernel or the
    filesystem lacks the flag (the caller falls back), OSError otherwise (EEXIST included).
    Descriptors may be AT_FDCWD for paths relative to the working directory."""
    if _renameat2 is None:
        return False
    if _renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(dst))


def _load_renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


_renameat2 = _load_renameat2()
AT_FDCWD = -100  # "relative to the working directory" for the *at() calls


# --------------------------------------------------------------------------- mount points


def mount_points() -> list[str] | None:
    """Every mount point of this process's namespace, or None when the kernel does not say."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = []
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            out.append(_unescape(fields[4]))
    return out


def _unescape(raw: bytes) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and raw[i + 1 : i + 4].isdigit() and len(raw[i + 1 : i + 4]) == 3:
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def is_mount_at(parent_fd: int, name: str, path: str) -> bool:
    """Whether the directory `name` in `parent_fd` (whose path is `path`) is a mount point."""
    st = lstat_at(parent_fd, name)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return False
    if st.st_dev != os.fstat(parent_fd).st_dev:
        return True
    points = mount_points()
    return points is not None and path in points  # a bind mount of the same filesystem


def mounts_below(path: str, fd: int) -> list[str]:
    """Mount points strictly below the directory `fd` (whose path is `path`)."""
    points = mount_points()
    if points is not None:
        return sorted({p for p in points if p.startswith(path.rstrip("/") + "/")})
    return _walk_for_mounts(path, fd)


def _walk_for_mounts(path: str, fd: int) -> list[str]:
    """Without /proc: every directory below whose device differs from its parent's."""
    found: list[str] = []
    stack = [(path, os.dup(fd))]
    while stack:
        here, dfd = stack.pop()
        try:
            dev = os.fstat(dfd).st_dev
            for entry in os.scandir(dfd):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                sub = os.path.join(here, entry.name)
                if entry.stat(follow_symlinks=False).st_dev != dev:
                    found.append(sub)
                    continue
                with contextlib.suppress(OSError):
                    stack.append((sub, os.open(entry.name, O_DIR, dir_fd=dfd)))
        finally:
            os.close(dfd)
    return sorted(found)
