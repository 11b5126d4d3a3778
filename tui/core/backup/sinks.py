"""Where a backup's bytes go: a local file, stdout, or a destination's upload.

Each sink hashes what it is given on the way out (no second pass for the SHA-256) and makes the
same promise: nothing is found under the final name unless it is complete. A file and an upload
get there by a temporary name and a rename that never replaces; stdout cannot take anything
back, so a failed stream ends without a central directory (every unzip reports it) and the
command exits non-zero.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tui.core.archive.output import clean_leftovers, open_partial, partial_name, publish
from tui.core.checkpoint import checkpoint
from tui.core.errors import PortalBackupError
from tui.core.humanfmt import human_bytes
from tui.core.state import fsync_dir

Sent = Callable[[int], None]  # bytes handed on so far, for Upload events


@dataclass(frozen=True)
class Published:
    location: str  # the file's path, "stdout", or "<destination>/<name>"
    size: int
    sha256: str
    destination: str | None = None  # a --to destination's label
    name: str | None = None  # the archive's name there
    verified: bool = False


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def flush(self) -> None: ...


class Sink(Protocol):
    def prepare(self, needed: int, log: Callable[[str], None]) -> None:
        """Before anything is stopped: clean what killed runs left, check room."""

    def open(self) -> Writable: ...

    def commit(self) -> Published: ...

    def abort(self) -> None:
        """Remove what was written; never raises."""


class _Hashed:
    """Counts, hashes and buffers the bytes on their way to `write`: the zip writer hands over
    many small headers, and one system call (or pipe write) per header would cost more than the
    data."""

    BUFFER = 256 << 10

    def __init__(self, write: Callable[[memoryview], None], on_sent: Sent | None) -> None:
        self._write = write
        self._on_sent = on_sent
        self._buf = bytearray()
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        self.sha.update(view)
        self.size += n
        if self._buf or n < self.BUFFER:
            self._buf += view
            if len(self._buf) >= self.BUFFER:
                self.flush()
        else:
            self._send(view)
        return n

    def flush(self) -> None:
        if self._buf:
            data, self._buf = self._buf, bytearray()
            self._send(memoryview(data))

    def _send(self, view: memoryview) -> None:
        self._write(view)
        if self._on_sent is not None:
            self._on_sent(self.size - len(self._buf))


class FileSink:
    """`-o PATH`: a partial file beside the final name, fsynced and renamed when complete."""

    def __init__(self, final: Path, *, default_name: bool, private: bool) -> None:
        self.final = final
        self.default_name = default_name
        self.private = private  # holds the identity: stays 0600
        self.tmp = partial_name(final)
        self._fd: int | None = None
        self._out: _Hashed | None = None

    def prepare(self, needed: int, log: Callable[[str], None]) -> None:
        if not self.default_name and os.path.lexists(self.final):
            raise PortalBackupError(f"{self.final} already exists; choose another name")
        for gone in clean_leftovers(self.final.parent):
            log(f"removed {gone.name}, left by a backup that was killed")
        check_free_space(self.final.parent, needed)

    def open(self) -> Writable:
        self._fd = open_partial(self.tmp)
        fd = self._fd

        def write(view: memoryview) -> None:
            with self._naming_full_disk():
                while view:
                    view = view[os.write(fd, view) :]

        self._out = _Hashed(write, None)
        return self._out

    def commit(self) -> Published:
        assert self._fd is not None and self._out is not None
        self._out.flush()
        with self._naming_full_disk():
            os.fsync(self._fd)
        if not self.private:
            os.chmod(self.tmp, 0o666 & ~_umask())
        checkpoint("backup.before-rename")
        final = publish(self.tmp, self.final, default_name=self.default_name)
        checkpoint("backup.renamed")
        fsync_dir(final.parent)
        os.close(self._fd)  # after the rename: the lock keeps cleaners off until then
        self._fd = None
        return Published(str(final), self._out.size, self._out.sha.hexdigest())

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # after the unlink, for the same reason
            self._fd = None

    @contextlib.contextmanager
    def _naming_full_disk(self) -> Iterator[None]:
        """A full disk here is the output directory's and is reported as such; ENOSPC from any
        other write (the state directory, a temporary file) is told apart by the caller."""
        try:
            yield
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                where = self.final.parent
                raise PortalBackupError(
                    f"the disk holding {where} ({mount_point(where)}) is full; the backup was "
                    "abandoned and nothing was left behind"
                ) from exc
            raise


class StdoutSink:
    """`-o -`: the archive on a pipe or file that stdout points at, and nothing else there."""

    def __init__(self, fd: int = 1, on_sent: Sent | None = None) -> None:
        self.fd = fd
        self.on_sent = on_sent
        self._out: _Hashed | None = None

    def prepare(self, needed: int, log: Callable[[str], None]) -> None:
        refuse_terminal(self.fd)

    def open(self) -> Writable:
        fd = self.fd

        def write(view: memoryview) -> None:
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    raise PortalBackupError(
                        "the program reading the archive from stdout stopped before the end; "
                        "what it received is incomplete"
                    ) from exc
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise PortalBackupError(
                        "the disk that stdout writes to is full; what was written is incomplete"
                    ) from exc
                raise

        self._out = _Hashed(write, self.on_sent)
        return self._out

    def commit(self) -> Published:
        assert self._out is not None
        self._out.flush()
        with contextlib.suppress(OSError):
            os.fsync(self.fd)  # a redirect to a file: make it durable; a pipe refuses (EINVAL)
        return Published("stdout", self._out.size, self._out.sha.hexdigest())

    def abort(self) -> None:
        pass  # bytes on a pipe cannot be taken back; the missing end marks them incomplete


class UploadSink:
    """`--to DEST`: streamed into the destination's upload (a temporary name there), which is
    size-checked, optionally read back, and renamed only when complete."""

    def __init__(self, store: Any, name: str, *, verify: bool, on_sent: Sent | None) -> None:
        self.store = store
        self.name = name
        self.verify = verify
        self.on_sent = on_sent
        self._upload: Any = None
        self._out: _Hashed | None = None

    def prepare(self, needed: int, log: Callable[[str], None]) -> None:
        for gone in self.store.clean_abandoned():
            log(f"removed {gone} at {self.store.dest.label}, left by a backup that was killed")
        if self.store.dest.local is not None:
            check_free_space(self.store.dest.local, needed)

    def open(self) -> Writable:
        self._upload = self.store.begin_upload(self.name)
        upload = self._upload

        def write(view: memoryview) -> None:
            upload.write(view)

        self._out = _Hashed(write, self.on_sent)
        return self._out

    def commit(self) -> Published:
        assert self._out is not None
        self._out.flush()
        checkpoint("backup.before-upload-commit")
        stored = self._upload.commit(
            size=self._out.size, sha256=self._out.sha.hexdigest(), verify=self.verify
        )
        checkpoint("backup.uploaded")
        label = self.store.dest.label
        local = self.store.dest.local
        location = str(local / stored.name) if local is not None else f"{label}/{stored.name}"
        return Published(
            location,
            self._out.size,
            self._out.sha.hexdigest(),
            destination=label,
            name=stored.name,
            verified=self.verify,
        )

    def abort(self) -> None:
        if self._upload is not None:
            self._upload.abort()


def refuse_terminal(fd: int) -> None:
    if os.isatty(fd):
        raise PortalBackupError(
            "-o - writes the archive to stdout, which is a terminal here: redirect it "
            "(portal-backup create --all -o - > backup.zip) or pipe it into another program"
        )


def check_free_space(directory: Path, needed: int) -> None:
    try:
        free = os.statvfs(directory)
    except OSError as exc:
        raise PortalBackupError(f"cannot write to {directory}: {exc.strerror}") from exc
    available = free.f_bavail * free.f_frsize
    # Deflate rarely grows data; the estimate is the uncompressed size plus metadata room.
    if needed + (1 << 20) > available:
        raise PortalBackupError(
            f"not enough free space in {directory}: the backup may need up to "
            f"{human_bytes(needed)} and {human_bytes(available)} is free"
        )
    if not os.access(directory, os.W_OK):
        raise PortalBackupError(f"cannot write to {directory}: permission denied")


def mount_point(path: Path) -> str:
    """The mount point of the filesystem holding `path` (how a user recognises a disk)."""
    path = path.resolve()
    try:
        dev = path.stat().st_dev
        while path.parent != path and path.parent.stat().st_dev == dev:
            path = path.parent
    except OSError:
        pass
    return f"mounted at {path}"


def _umask() -> int:
    """The process umask, read without os.umask's set-and-restore race between threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
