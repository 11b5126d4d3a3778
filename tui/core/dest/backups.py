"""The backups at a destination (from their names: who, when, which base) and the download of
one, checked against what this host uploaded or, for an archive from elsewhere, verified."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from tui.core.archive.output import open_partial, partial_name, rename_no_replace
from tui.core.dest.names import ARCHIVE_NAME, parse_archive_name
from tui.core.dest.records import find_upload, read_uploads
from tui.core.dest.store import Store
from tui.core.errors import PortalBackupError, UsageError

__all__ = [
    "ARCHIVE_NAME",
    "BackupInfo",
    "FetchResult",
    "fetch",
    "list_backups",
    "parse_archive_name",
]

_CHUNK = 1 << 20

Check = Literal["recorded", "verified", "unchecked"]


@dataclass(frozen=True)
class BackupInfo:
    name: str
    time: datetime  # UTC, from the name
    size: int
    encrypted: bool  # .zip.age
    portal_id: str  # <who> from the name
    verified: bool  # this host uploaded it and checked it (records)
    base: str | None = None  # a differential's base archive name (issue 14), else None


@dataclass(frozen=True)
class FetchResult:
    path: Path
    size: int
    sha256: str
    check: Check  # against the upload record, by `verify`, or not at all (encrypted, no record)
    note: str | None = None


def list_backups(store: Store) -> list[BackupInfo]:
    """The archives at the destination, oldest first; other files are ignored."""
    label = store.dest.label
    verified = {
        r["name"] for r in read_uploads() if r.get("dest") == label and r.get("verified") is True
    }
    out = []
    for f in store.list():
        parsed = parse_archive_name(f.name)
        if parsed is None:
            continue
        who, when, base = parsed
        out.append(
            BackupInfo(
                name=f.name,
                time=when,
                size=f.size,
                encrypted=f.name.endswith(".age"),
                portal_id=who,
                verified=f.name in verified,
                base=base,
            )
        )
    return sorted(out, key=lambda b: (b.time, b.name))


def fetch(store: Store, name: str, out: Path) -> FetchResult:
    """Downloads `name` to `out` through a partial file beside it; renamed only when good.

    Good: the SHA-256 matches this host's upload record, or (no record) the archive verifies;
    an encrypted archive without a record cannot be verified without its key, so it is
    downloaded and reported as unchecked.
    """
    info = store.stat(name)
    if info is None:
        raise UsageError(f"there is no {name} at the destination {store.dest.label}")
    if os.path.lexists(out):
        raise UsageError(f"{out} already exists; choose another path with -o")
    if not out.parent.is_dir():
        raise UsageError(f"the directory {out.parent} does not exist")
    tmp = partial_name(out)
    try:
        fd = open_partial(tmp)
    except OSError as exc:
        raise PortalBackupError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
    try:
        size, digest = _download(store, name, fd, tmp)
        if size != info.size:
            raise PortalBackupError(
                f"{name} at {store.dest.label} came down with {size} bytes, not the {info.size} "
                "the destination lists"
            )
        check, note = _check(store, name, digest, tmp)
        try:
            rename_no_replace(tmp, out)
        except FileExistsError:
            raise UsageError(f"{out} appeared while downloading; it was left as it is") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    return FetchResult(out, size, digest, check, note)


def _download(store: Store, name: str, fd: int, tmp: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with store.open_read(name) as src:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            view = memoryview(chunk)
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                raise PortalBackupError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
            size += len(chunk)
    os.fsync(fd)
    return size, h.hexdigest()


def _check(store: Store, name: str, digest: str, tmp: Path) -> tuple[Check, str | None]:
    record = find_upload(store.dest.label, name)
    if record is not None:
        if record.get("sha256") != digest:
            raise PortalBackupError(
                f"{name} at {store.dest.label} does not match the SHA-256 recorded when this "
                "host uploaded it (the stored copy was changed or damaged); the download was "
                "discarded"
            )
        return "recorded", None
    if name.endswith(".age"):
        return "unchecked", (
            "this encrypted archive was not uploaded from this host, so its hash is unknown; "
            "check it with `portal-backup verify PATH -i IDENTITY`"
        )
    from tui.core.archive.verify import verify_archive

    report = verify_archive(tmp)
    if not report.ok:
        first = report.problems[0] if report.problems else "it does not verify"
        raise PortalBackupError(
            f"{name} at {store.dest.label} is damaged ({first}); the download was discarded"
        )
    return "verified", None
