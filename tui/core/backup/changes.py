"""Change detection for differential backups (issue 14): what changed since a base archive.

Deciding costs one lstat per path, which the backup's walk makes anyway: an entry is unchanged
when its type, size, mtime to the nanosecond, mode and owner equal the base's, and, for a
regular file, its inode and ctime too (ctime cannot be set back, so a file rewritten with its
size and mtime put back still shows). Only when those cannot decide (the base recorded no
inode/ctime, or only the ctime moved) is the file read and its SHA-256 compared with the
base's. Directories hold no bytes: their metadata decides. Symlinks compare their target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from tui.core.archive import chain
from tui.core.archive.manifest_model import Manifest, ManifestEntry

if TYPE_CHECKING:
    from tui.core.dest.backups import BackupInfo

__all__ = [
    "BackupKind",
    "BaseState",
    "ChangeDetector",
    "Verdict",
    "choose_kind",
    "compare",
]

Verdict = Literal["same", "changed", "ambiguous"]
BackupKind = Literal["full", "differential"]


@dataclass(frozen=True)
class BaseState:
    """The base archive a differential is made against: its name, creation time, the SHA-256
    of the file as stored, and its manifest (only the manifest is ever read)."""

    name: str
    created: str | None
    sha256: str
    manifest: Manifest
    note: str | None = None  # how it was read, when worth saying (a download, a cache)


class Seen(Protocol):
    """What one lstat (and readlink) says of a path now: an Observed, or the walk's Node."""

    @property
    def kind(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mode(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def ino(self) -> int | None: ...
    @property
    def ctime_ns(self) -> int | None: ...
    @property
    def target(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Observed:
    """What one lstat (and readlink) says of a path now."""

    kind: str  # file, dir, symlink
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    ino: int | None = None
    ctime_ns: int | None = None
    target: str | None = None


def compare(base: ManifestEntry | None, now: Seen) -> Verdict:
    """same / changed from metadata alone, or ambiguous (only a content hash can tell)."""
    if base is None or base.type != now.kind:
        return "changed"
    if (base.mode, base.uid, base.gid, base.mtime_ns) != (now.mode, now.uid, now.gid, now.mtime_ns):
        return "changed"
    if now.kind == "dir":
        return "same"
    if base.size != now.size:
        return "changed"
    if now.kind == "symlink":
        return "same" if base.target == now.target else "changed"
    if base.ctime_ns is not None and (base.ino, base.ctime_ns) == (now.ino, now.ctime_ns):
        return "same"
    return "ambiguous"


def kept(old: ManifestEntry, ino: int | None, ctime_ns: int | None) -> ManifestEntry:
    """The base's entry, held by the base, with today's stat identity (built directly:
    dataclasses.replace costs more than the whole comparison, a million times over)."""
    return ManifestEntry(
        old.path,
        old.type,
        old.size,
        old.mode,
        old.uid,
        old.gid,
        old.mtime_ns,
        old.sha256,
        old.target,
        old.path_raw,
        old.target_raw,
        ino,
        ctime_ns,
        True,
    )


def file_sha256(path: str) -> str | None:
    """The SHA-256 of a file's bytes, or None when it cannot be read (then it counts as
    changed and the backup reads it, reporting what is wrong)."""
    try:
        return chain.file_sha256(Path(path))
    except OSError:
        return None


@dataclass
class ChangeDetector:
    """Decides entry by entry during the backup's walk; remembers what it saw so the paths
    gone since the base can be listed at the end."""

    base: BaseState
    entries: dict[str, ManifestEntry] = field(init=False)
    seen: set[str] = field(default_factory=set)
    hashed: int = 0  # ambiguous files read to decide
    hashed_bytes: int = 0

    def __post_init__(self) -> None:
        self.entries = {e.path: e for e in self.base.manifest.entries}

    def unchanged(self, name: str, now: Seen, host_path: str | None) -> ManifestEntry | None:
        """The manifest entry to keep (the base's, with today's inode and ctime, marked as held
        by the base) when `name` is unchanged, else None: it must be stored again."""
        self.seen.add(name)
        old = self.entries.get(name)
        verdict = compare(old, now)
        if verdict == "ambiguous":
            verdict = self._by_content(old, host_path, now.size)
        if verdict != "same" or old is None:
            return None
        return kept(old, now.ino, now.ctime_ns)

    def unchanged_bytes(self, name: str, sha256: str, now: Observed) -> ManifestEntry | None:
        """For data read whole anyway (the Portal's database): equal hash and metadata."""
        self.seen.add(name)
        old = self.entries.get(name)
        same = (
            old is not None
            and old.type == "file"
            and old.sha256 == sha256
            and (old.size, old.mode, old.uid, old.gid, old.mtime_ns)
            == (now.size, now.mode, now.uid, now.gid, now.mtime_ns)
        )
        return kept(old, old.ino, old.ctime_ns) if same and old is not None else None

    def stored(self, name: str) -> None:
        """A path stored again without asking (e.g. read through Docker): not deleted."""
        self.seen.add(name)

    def deleted(self) -> tuple[str, ...]:
        """The base's paths that the state now lacks, sorted."""
        return tuple(sorted(p for p in self.entries if p not in self.seen))

    def _by_content(self, old: ManifestEntry | None, host_path: str | None, size: int) -> Verdict:
        if old is None or old.sha256 is None or host_path is None:
            return "changed"
        self.hashed += 1
        self.hashed_bytes += size
        return "same" if file_sha256(host_path) == old.sha256 else "changed"


def observed_from_stat(st: os.stat_result, kind: str, target: str | None = None) -> Observed:
    """Observed from an lstat result (the bench and tests use it; the backup has its Node)."""
    size = st.st_size if kind == "file" else 0
    if kind == "symlink" and target is not None:
        size = len(os.fsencode(target))
    return Observed(
        kind,
        size,
        st.st_mode & 0o7777,
        st.st_uid,
        st.st_gid,
        st.st_mtime_ns,
        st.st_ino,
        st.st_ctime_ns,
        target,
    )


def choose_kind(
    last_full: BackupInfo | None,
    now: datetime,
    full_every_s: float,
    estimated_diff_bytes: int | None,
    full_bytes: int | None,
    threshold: float,
) -> BackupKind:
    """The automatic job's choice (issue 14, point 3): a full when there is no full yet, when
    the last one is `full_every_s` old or older, or when the differential would be larger
    than `threshold` (a share, e.g. 0.5) of a full; else a differential against the last full.

    Unknown sizes (None) never force a full on their own.
    """
    if last_full is None or (now - last_full.time).total_seconds() >= full_every_s:
        return "full"
    if (
        estimated_diff_bytes is not None
        and full_bytes is not None
        and full_bytes > 0
        and estimated_diff_bytes > threshold * full_bytes
    ):
        return "full"
    return "differential"
