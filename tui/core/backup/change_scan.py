"""A cheap estimate of what changed since a base archive (issue 14, point 4): stat only.

The automatic job asks it before a backup whether a differential would stay small. It walks
the plan's host trees with one listdir per directory and one fstatat per entry (no reads, no
readlink, no Node objects), and compares each entry with the base's record as one tuple:
(size, mtime_ns, mode, uid, gid, ino, ctime_ns). A file rewritten with its size and mtime put
back shows through its ctime. It slightly over-counts where the backup itself would then hash
and find the content equal (only the ctime moved): an estimate errs towards a full.

Trees only Docker can read (a volume whose files this user cannot see) are counted as
changed whole: the differential stores them again.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.core.archive.manifest_model import ManifestEntry

if TYPE_CHECKING:
    from tui.core.model import Inventory
    from tui.core.plan import Plan

__all__ = [
    "BaseIndex",
    "ChangeEstimate",
    "Root",
    "StatKey",
    "base_index",
    "estimate_plan",
    "scan",
]

# What a base entry must still be: (size, mtime_ns, mode, uid, gid, ino, ctime_ns).
StatKey = tuple[int, int, int, int, int, int | None, int | None]


@dataclass(frozen=True)
class Root:
    """One tree to scan: its host path, where it lands in the archive, and the host paths
    below it that another step stores (pruned from this walk, as the backup does)."""

    host_path: str
    archive_path: str
    prune: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChangeEstimate:
    scanned: int  # entries looked at
    changed: int  # in the base, but not as it was
    added: int  # not in the base
    deleted: int  # in the base under a scanned tree, gone now
    changed_bytes: int  # sizes now of changed and added files: what a differential stores
    added_bytes: int
    deleted_bytes: int
    unreadable_bytes: int = 0  # trees only Docker reads: the base's bytes, stored again whole

    @property
    def bytes(self) -> int:
        """What a differential would store (before compression)."""
        return self.changed_bytes + self.added_bytes + self.unreadable_bytes


class BaseIndex:
    """The base manifest's entries grouped by directory: {"a/b/": {"c": key, "d/": key}}, so
    the scan looks up a short name in its directory's small dict (no joined path per entry),
    and a directory's leftovers are its deleted entries. Never changed by a scan."""

    def __init__(self, entries: Iterable[ManifestEntry]) -> None:
        self.dirs: dict[str, dict[str, StatKey]] = {}
        self.dir_bytes: dict[str, int] = {}  # the file bytes each directory held
        for e in entries:
            parent, name = split_name(e.path)
            if e.type == "file":
                key: StatKey = (e.size, e.mtime_ns, e.mode, e.uid, e.gid, e.ino, e.ctime_ns)
                self.dir_bytes[parent] = self.dir_bytes.get(parent, 0) + e.size
            else:  # a directory's size is meaningless; a link's is not what lstat says
                key = (0, e.mtime_ns, e.mode, e.uid, e.gid, None, None)
            self.dirs.setdefault(parent, {})[name] = key

    def get(self, path: str) -> StatKey | None:
        parent, name = split_name(path)
        return self.dirs.get(parent, _EMPTY).get(name)


_EMPTY: dict[str, StatKey] = {}


def base_index(entries: Iterable[ManifestEntry]) -> BaseIndex:
    return BaseIndex(entries)


def split_name(path: str) -> tuple[str, str]:
    """("a/b/", "c") for "a/b/c", ("a/", "b/") for the directory "a/b/", ("", "a") for "a"."""
    cut = path.rfind("/", 0, len(path) - 1) + 1
    return path[:cut], path[cut:]


@dataclass
class _Tally:
    scanned: int = 0
    changed: int = 0
    added: int = 0
    changed_bytes: int = 0
    added_bytes: int = 0
    deleted: int = 0
    deleted_bytes: int = 0

    def count(self, old: StatKey | None, key: StatKey, size: int) -> None:
        self.scanned += 1
        if old is None:
            self.added += 1
            self.added_bytes += size
        elif old != key and (old[5] is not None or old[:5] != key[:5]):
            self.changed += 1
            self.changed_bytes += size


def scan(roots: Sequence[Root], index: BaseIndex) -> ChangeEstimate:
    """Compares the trees under `roots` with `index`. Entries that vanish while scanning, or
    cannot be listed, are skipped: the backup reports them."""
    tally = _Tally()
    listed: set[str] = set()  # the directories listed, by archive prefix
    for root in roots:
        _scan_root(root, index, tally, listed)
    # Directories of the base under a scanned tree that no longer exist: all of it is gone.
    for prefix, names in index.dirs.items():
        if prefix not in listed and _under(prefix, roots):
            tally.deleted += len(names)
            tally.deleted_bytes += index.dir_bytes.get(prefix, 0)
    return ChangeEstimate(
        scanned=tally.scanned,
        changed=tally.changed,
        added=tally.added,
        deleted=tally.deleted,
        changed_bytes=tally.changed_bytes,
        added_bytes=tally.added_bytes,
        deleted_bytes=tally.deleted_bytes,
    )


def _key(st: os.stat_result) -> tuple[StatKey, int]:
    """The StatKey of one lstat result, and the bytes it holds."""
    mode = st.st_mode
    head = (st.st_mtime_ns, mode & 0o7777, st.st_uid, st.st_gid)
    if stat.S_ISREG(mode):
        return (st.st_size, *head, st.st_ino, st.st_ctime_ns), st.st_size
    return (0, *head, None, None), 0


def _scan_root(root: Root, index: BaseIndex, tally: _Tally, listed: set[str]) -> None:
    """One tree (or file) of the plan, counted into `tally`. The loop is written out, with
    local names, because it runs once per entry of trees of millions."""
    try:
        top = os.lstat(root.host_path)
    except OSError:
        return
    is_dir = stat.S_ISDIR(top.st_mode)
    prefix = root.archive_path.rstrip("/") + ("/" if is_dir else "")
    key, size = _key(top)
    tally.count(index.get(prefix), key, size)
    if not is_dir:
        return
    scanned = changed = added = changed_bytes = added_bytes = deleted = deleted_bytes = 0
    prune, dirs, dir_bytes = root.prune, index.dirs, index.dir_bytes
    # listdir + fstatat on the directory's descriptor: no DirEntry, no joined path per entry
    # (12% faster than os.scandir + DirEntry.stat here).
    lstat_at, listdir, open_dir, close = os.stat, os.listdir, os.open, os.close
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    stack = [(root.host_path, prefix)]
    while stack:
        path, prefix = stack.pop()
        try:
            fd = open_dir(path, flags)
        except OSError:
            continue
        listed.add(prefix)
        base = dirs.get(prefix, _EMPTY)
        found = found_bytes = 0  # entries of `base` seen here; the rest were deleted
        try:
            for name in listdir(fd):
                if prune and _join(path, name) in prune:
                    continue
                try:
                    st = lstat_at(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                scanned += 1
                mode = st.st_mode
                if mode & 0o170000 == 0o100000:  # a regular file
                    size = st.st_size
                    key = (
                        size,
                        st.st_mtime_ns,
                        mode & 0o7777,
                        st.st_uid,
                        st.st_gid,
                        st.st_ino,
                        st.st_ctime_ns,
                    )
                    old = base.get(name)
                else:
                    size = 0
                    key = (0, st.st_mtime_ns, mode & 0o7777, st.st_uid, st.st_gid, None, None)
                    if mode & 0o170000 == 0o040000:  # a directory
                        name += "/"
                        stack.append((_join(path, name[:-1]), prefix + name))
                    old = base.get(name)
                if old is None:
                    added += 1
                    added_bytes += size
                    continue
                found += 1
                found_bytes += old[0]  # 0 for all but files
                if old != key and (old[5] is not None or old[:5] != key[:5]):
                    changed += 1
                    changed_bytes += size
        except OSError:
            pass  # a directory that cannot be listed: the backup reports it
        finally:
            close(fd)
        deleted += len(base) - found
        deleted_bytes += dir_bytes.get(prefix, 0) - found_bytes
    tally.scanned += scanned
    tally.changed += changed
    tally.added += added
    tally.changed_bytes += changed_bytes
    tally.added_bytes += added_bytes
    tally.deleted += deleted
    tally.deleted_bytes += deleted_bytes


def _join(directory: str, name: str) -> str:
    """As os.scandir names its entries (the plan's pruned paths are written so)."""
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


def _under(path: str, roots: Sequence[Root]) -> bool:
    """Whether a base path lies in one of the scanned trees (a tree's own entry included)."""
    for r in roots:
        top = r.archive_path.rstrip("/")
        if path == top or path.startswith(top + "/"):
            return True
    return False


def plan_roots(plan: Plan, inventory: Inventory) -> tuple[list[Root], list[str]]:
    """The host trees a backup of `plan` walks, and the archive prefixes of volumes this
    user cannot read from the host (the backup reads those through Docker)."""
    from tui.core.backup.sources import volume_readable
    from tui.core.plan import nested_claims

    claims = nested_claims(plan)
    roots: list[Root] = []
    unreadable: list[str] = []
    for step in plan.steps:
        for src in step.sources:
            if src.kind == "path":
                prune = frozenset(claims.get(src.location, []))
                roots.append(Root(src.location, src.archive_path, prune))
                continue
            vol = inventory.volumes.get(src.location)
            if vol is not None and volume_readable(vol.mountpoint):
                roots.append(Root(vol.mountpoint, src.archive_path))
            else:
                unreadable.append(src.archive_path)
    return roots, unreadable


def estimate_plan(
    plan: Plan, inventory: Inventory, base_entries: Sequence[ManifestEntry]
) -> ChangeEstimate:
    """What a differential of `plan` against a base with `base_entries` would store."""
    roots, unreadable = plan_roots(plan, inventory)
    result = scan(roots, base_index(base_entries))
    if not unreadable:
        return result
    prefixes = tuple(unreadable)
    whole = sum(e.size for e in base_entries if e.type == "file" and e.path.startswith(prefixes))
    return ChangeEstimate(
        result.scanned,
        result.changed,
        result.added,
        result.deleted,
        result.changed_bytes,
        result.added_bytes,
        result.deleted_bytes,
        unreadable_bytes=whole,
    )


def full_size(entries: Sequence[ManifestEntry]) -> int:
    """The bytes a full backup with these entries held (before compression)."""
    return sum(e.size for e in entries if e.type == "file")
