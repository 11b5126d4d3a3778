"""Extract part of an archive into a directory, never writing outside it. No Textual here.

Names with `..`, absolute names and the like are refused (zipreader.unsafe_reason). Beyond the
names, every path is walked one component at a time from a descriptor of the destination with
O_NOFOLLOW, so neither a symlink already in the destination nor one the archive creates can
redirect a write elsewhere. Existing files are never overwritten. Symlinks are created only when
their target stays inside the destination.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.core.archive.zipreader import ZipEntry, ZipFormatError, ZipReader, show, unsafe_reason

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_LIMIT = 4096
_CHUNK = 1 << 20


class Refused(Exception):
    """This entry is not extracted, for the reason given."""


@dataclass
class ExtractReport:
    destination: str
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, error)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed


def relative_parts(name: str, strip: str) -> list[str]:
    """The components of `name` below the prefix `strip`, or Refused."""
    reason = unsafe_reason(name)
    if reason:
        raise Refused(reason)
    if not name.startswith(strip):
        raise Refused("it is outside the selected folder")
    return [p for p in name[len(strip) :].split("/") if p not in ("", ".")]


class _Tree:
    """Directory descriptors below the destination, opened without following links."""

    def __init__(self, dest: str) -> None:
        self.root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds: dict[tuple[str, ...], int] = {(): self.root}

    def dir(self, parts: list[str]) -> int:
        key: tuple[str, ...] = ()
        fd = self.root
        for part in parts:
            key = (*key, part)
            cached = self.fds.get(key)
            if cached is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                try:
                    cached = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise Refused(
                            f"{'/'.join(key)} is a symbolic link or a file, not a folder"
                        ) from None
                    raise
                self.fds[key] = cached
            fd = cached
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


def extract(
    reader: ZipReader,
    entries: list[ZipEntry],
    strip: str,
    dest: str,
    cancel: threading.Event | None = None,
    on_entry: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Extract `entries` (names starting with `strip`, which is removed) into `dest`."""
    report = ExtractReport(os.path.realpath(dest))
    tree = _Tree(dest)
    dir_modes: list[tuple[list[str], ZipEntry]] = []
    try:
        for done, entry in enumerate(entries, 1):
            if cancel is not None and cancel.is_set():
                report.failed.append(("", "extraction was cancelled"))
                break
            try:
                parts = relative_parts(entry.name, strip)
                if not parts:
                    continue
                if entry.is_dir:
                    tree.dir(parts)
                    dir_modes.append((parts, entry))
                    report.dirs += 1
                elif entry.is_symlink:
                    _link(reader, entry, tree.dir(parts[:-1]), parts)
                    report.links += 1
                else:
                    report.bytes += _file(reader, entry, tree.dir(parts[:-1]), parts[-1])
                    report.files += 1
            except Refused as why:
                report.refused.append((show(entry.name), str(why)))
            except (OSError, ZipFormatError) as err:
                report.failed.append((show(entry.name), _say(err)))
            if on_entry is not None:
                on_entry(done)
        # Folder modes last, so a read-only folder does not block its own contents.
        for parts, entry in reversed(dir_modes):
            with contextlib.suppress(OSError):
                fd = tree.dir(parts)
                os.chmod(fd, entry.mode & 0o777)
                os.utime(fd, (entry.mtime, entry.mtime))
    finally:
        tree.close()
    return report


def _file(reader: ZipReader, entry: ZipEntry, dir_fd: int, name: str) -> int:
    try:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        raise Refused("a file of that name already exists (not overwritten)") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refused("a symbolic link of that name already exists") from None
        raise
    written = 0
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            for chunk in reader.iter_chunks(entry, _CHUNK):
                out.write(chunk)
                written += len(chunk)
        os.chmod(fd, entry.mode & 0o777)  # never setuid/setgid from an archive
        os.utime(fd, (entry.mtime, entry.mtime))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)  # a damaged entry leaves nothing half-written
        raise
    os.close(fd)
    return written


def _link(reader: ZipReader, entry: ZipEntry, dir_fd: int, parts: list[str]) -> None:
    target = reader.read_entry(entry, limit=_LINK_LIMIT).decode("utf-8", "replace")
    if target.startswith("/") or "\x00" in target or _climbs_out(parts[:-1], target):
        raise Refused(f"its link target {show(target)} points outside the destination")
    try:
        os.symlink(target, parts[-1], dir_fd=dir_fd)
    except FileExistsError:
        raise Refused("something of that name already exists (not overwritten)") from None


def _climbs_out(base: list[str], target: str) -> bool:
    """Whether `target`, relative to folder `base`, leads above the destination."""
    depth = len(base)
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _say(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)
