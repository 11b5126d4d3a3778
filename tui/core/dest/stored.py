"""What a destination holds and the temporary names of uploads in progress.

Temporary names are `.NAME.partial-<host>-<pid>-<random>`: a later run on this host removes
those whose process is gone, and any run removes those older than 48 h.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from dataclasses import dataclass

from tui.core.dest.names import parse_archive_name
from tui.core.dest.records import record_upload
from tui.core.errors import PortalBackupError
from tui.core.state import pid_alive

ABANDONED_AFTER = 48 * 3600  # seconds; a temp name older than this is abandoned, whoever wrote it
_TEMP = re.compile(
    r"^\.(?P<final>.+)\.partial-(?P<host>.+)-(?P<pid>[0-9]+)-(?P<rand>[0-9a-f]{8})$", re.DOTALL
)
PROBE_SIZE = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    mtime: float | None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    bytes_per_second: float  # upload speed of the probe object
    error: str | None  # one sentence


def host_name() -> str:
    return socket.gethostname().split(".")[0] or "host"


def temp_name(final_name: str) -> str:
    return f".{final_name}.partial-{host_name()}-{os.getpid()}-{secrets.token_hex(4)}"


def is_temp_name(name: str) -> bool:
    return _TEMP.match(name) is not None


def is_abandoned(name: str, mtime: float | None, now: float) -> bool:
    """A temp name of a dead process of this host, or any temp name older than 48 h."""
    m = _TEMP.match(name)
    if m is None:
        return False
    if mtime is not None and now - mtime > ABANDONED_AFTER:
        return True
    pid = int(m["pid"])
    return m["host"] == host_name() and pid != os.getpid() and not pid_alive(pid)


def check_final_name(name: str) -> None:
    """A final name is one plain file name at the top of the destination."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise PortalBackupError(
            f"{name!r} cannot be stored at a destination: use a plain file name, not hidden, "
            "without '/'"
        )


def final_name_taken(name: str, label: str) -> PortalBackupError:
    return PortalBackupError(
        f"{name} already exists at the destination {label}; it was left as it is and this "
        "upload was discarded"
    )


def committed(label: str, name: str, *, size: int, sha256: str, verified: bool) -> StoredFile:
    """Records a finished upload (the Portal ID from the archive's name) and describes it."""
    parsed = parse_archive_name(name)
    record_upload(
        dest=label,
        name=name,
        size=size,
        sha256=sha256,
        portal_id=parsed[0] if parsed else None,
        verified=verified,
    )
    return StoredFile(name, size, time.time())
