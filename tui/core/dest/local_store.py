"""A destination that is a local directory (a USB disk, a NAS mount): the partial file, flock
and no-replace rename of tui.core.archive.output, under the destinations' temp names."""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tui.core.archive.output import _remove_if_abandoned, open_partial, rename_no_replace
from tui.core.dest.stored import (
    PROBE_SIZE,
    ProbeResult,
    StoredFile,
    check_final_name,
    committed,
    final_name_taken,
    is_abandoned,
    is_temp_name,
    temp_name,
)
from tui.core.dest.target import Dest
from tui.core.errors import PortalBackupError
from tui.core.state import fsync_dir

_CHUNK = 1 << 20


def io_sentence(dest: Dest, exc: OSError, action: str) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the destination {dest.label} is full (no space left on its disk) while trying "
            f"to {action}"
        )
    return f"cannot {action} at the destination {dest.label}: {exc.strerror or exc}"


class LocalStore:
    def __init__(self, dest: Dest) -> None:
        if dest.local is None:
            raise ValueError("not a local destination")
        self.dest = dest
        self.root: Path = dest.local

    def _dir(self) -> Path:
        if not self.root.is_dir():
            raise PortalBackupError(
                f"the destination directory {self.root} does not exist (is the disk mounted?)"
            )
        return self.root

    def list(self) -> list[StoredFile]:
        out = []
        with os.scandir(self._dir()) as it:
            for entry in it:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                out.append(StoredFile(entry.name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: f.name)

    def stat(self, name: str) -> StoredFile | None:
        try:
            st = os.lstat(self._dir() / name)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return StoredFile(name, st.st_size, st.st_mtime)

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        try:
            f = open(self._dir() / name, "rb")  # noqa: SIM115 (yielded, closed below)
        except FileNotFoundError:
            raise PortalBackupError(
                f"there is no {name} at the destination {self.dest.label}"
            ) from None
        except OSError as exc:
            raise PortalBackupError(io_sentence(self.dest, exc, f"read {name}")) from exc
        with f:
            yield f

    def delete(self, name: str) -> None:
        check_final_name(name)
        try:
            os.unlink(self._dir() / name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise PortalBackupError(io_sentence(self.dest, exc, f"delete {name}")) from exc

    def begin_upload(self, final_name: str) -> LocalUpload:
        check_final_name(final_name)
        return LocalUpload(self, final_name)

    def clean_abandoned(self) -> builtins.list[str]:
        removed: builtins.list[str] = []
        now = time.time()
        try:
            names = os.listdir(self._dir())
        except OSError:
            return []
        for name in names:
            if not is_temp_name(name):
                continue
            try:
                mtime = os.lstat(self.root / name).st_mtime
            except OSError:
                continue
            # The flock decides in the end: a live writer (even in another PID namespace)
            # keeps its file.
            if is_abandoned(name, mtime, now):
                with contextlib.suppress(OSError):
                    if _remove_if_abandoned(self.root / name):
                        removed.append(name)
        return removed

    def probe(self) -> ProbeResult:
        data = b"PK\x03\x04" + secrets.token_bytes(PROBE_SIZE - 4)
        try:
            up = self.begin_upload(f"portal-backup-probe-{secrets.token_hex(4)}")
            started = time.monotonic()
            up.write(data)
            up.finish(len(data))
            elapsed = max(time.monotonic() - started, 1e-6)
            path = self.root / up.temp_name
            good = path.read_bytes() == data
            up.abort()
        except (PortalBackupError, OSError) as exc:
            msg = (
                str(exc)
                if isinstance(exc, PortalBackupError)
                else io_sentence(self.dest, exc, "write a test file")
            )
            return ProbeResult(False, 0.0, msg)
        if not good:
            return ProbeResult(
                False,
                0.0,
                f"the destination {self.dest.label} returned other bytes than were written",
            )
        return ProbeResult(True, len(data) / elapsed, None)


class LocalUpload:
    def __init__(self, store: LocalStore, final_name: str) -> None:
        self.store = store
        self.final_name = final_name
        self.temp_name = temp_name(final_name)
        self._path = store._dir() / self.temp_name
        self._written = 0
        try:
            self._fd: int | None = open_partial(self._path)
        except OSError as exc:
            raise PortalBackupError(io_sentence(store.dest, exc, "start the upload")) from exc

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._fd is None:
            raise PortalBackupError("the upload was already ended")
        view = memoryview(data).cast("B")
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self._written += n
        except OSError as exc:
            raise PortalBackupError(io_sentence(self.store.dest, exc, "write")) from exc
        return len(data)

    def finish(self, size: int) -> None:
        """Flush to the disk and check the size; the file keeps its temp name."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
            on_disk = os.fstat(self._fd).st_size
        except OSError as exc:
            raise PortalBackupError(io_sentence(self.store.dest, exc, "finish the upload")) from exc
        if on_disk != size or self._written != size:
            raise PortalBackupError(
                f"the upload to {self.store.dest.label} holds {on_disk} bytes, not the {size} "
                "that were sent"
            )

    def commit(self, *, size: int, sha256: str, verify: bool) -> StoredFile:
        try:
            self.finish(size)
            if verify:
                self._check_hash(sha256)
            final = self.store.root / self.final_name
            try:
                rename_no_replace(self._path, final)
            except FileExistsError:
                raise final_name_taken(self.final_name, self.store.dest.label) from None
            except OSError as exc:
                raise PortalBackupError(
                    io_sentence(self.store.dest, exc, "rename the upload")
                ) from exc
            fsync_dir(self.store.root)
        except BaseException:
            self.abort()
            raise
        self._close()
        return committed(
            self.store.dest.label, self.final_name, size=size, sha256=sha256, verified=verify
        )

    def _check_hash(self, expected: str) -> None:
        assert self._fd is not None
        # Drop the cached pages so the check reads what the disk holds.
        with contextlib.suppress(OSError):
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
        h = hashlib.sha256()
        with open(self._path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        if h.hexdigest() != expected:
            raise PortalBackupError(
                f"the upload to {self.store.dest.label} reads back with another SHA-256 than "
                "the bytes sent; it was discarded"
            )

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            if self._fd is not None:
                os.unlink(self._path)
        self._close()
