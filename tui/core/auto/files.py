"""Atomic file writes for what the job installs: a crash leaves the old file or the new one,
never half of one that cron, systemd or a login shell would then read."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from tui.core.state import fsync_dir


def write_atomic(path: Path, data: bytes, mode: int, *, dir_mode: int = 0o755) -> None:
    """Write a unique temporary file with MODE, fsync, rename over PATH, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
