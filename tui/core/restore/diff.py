"""What a restore would change, path by path: the archive's entries against the host's files.

Read-only: the host side is walked with lstat (symlinks never followed); a file's content is
hashed only when its size matches but its mtime does not, so an unchanged tree costs a walk.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from tui.core.archive.extract import relative
from tui.core.archive.manifest_model import ManifestEntry
from tui.core.restore.plan import RestoreSelection, TargetPlan

ChangeKind = Literal["add", "change", "remove", "meta"]


@dataclass(frozen=True)
class PathChange:
    path: str  # relative to the target ("" is the target itself)
    kind: ChangeKind
    detail: str = ""


@dataclass
class TargetDiff:
    target: TargetPlan
    changes: list[PathChange] = field(default_factory=list)
    unchanged: int = 0
    readable: bool = True  # False: this host's side could not be read; all of it is written

    def count(self, kind: ChangeKind) -> int:
        return sum(c.kind == kind for c in self.changes)


def diff_selection(sel: RestoreSelection) -> dict[str, list[TargetDiff]]:
    entries = sel.plan.manifest.entries
    return {item.id: [diff_target(t, entries) for t in sel.targets[item.id]] for item in sel.items}


def diff_target(t: TargetPlan, entries: Iterable[ManifestEntry]) -> TargetDiff:
    diff = TargetDiff(t)
    if t.kind == "db":
        how = (
            "its identities are replaced by the archive's"
            if t.merge == "identities"
            else "restored, keeping this Portal's private keys"
        )
        diff.changes.append(PathChange("", "change" if t.exists_now else "add", how))
        return diff
    wanted = {
        rel.rstrip("/"): e for e in entries if (rel := relative(e.path, t.archive_path)) is not None
    }
    root = t.mountpoint if t.kind == "volume" else t.dest
    if t.kind == "volume" and root and os.path.islink(root):
        root = os.path.realpath(root)  # Docker's mountpoint: the restore writes where it leads
    # A symlink at a path destination is replaced like old data, never followed (slots.py):
    # lstat sees the link itself, so the dry run says "a symlink becomes a dir".
    host: dict[str, os.stat_result] = {}
    if t.exists_now and root:
        try:
            host = _walk(root)
        except PermissionError:
            diff.readable = False
    for rel in sorted(wanted.keys() | host.keys()):
        e, st = wanted.get(rel), host.get(rel)
        if e is None:
            assert st is not None
            diff.changes.append(PathChange(rel, "remove", _kind_name(st.st_mode)))
        elif st is None:
            diff.changes.append(PathChange(rel, "add", e.type))
        else:
            assert root is not None  # st was found by walking root
            change = _compare(e, st, os.path.join(root, rel) if rel else root)
            if change is None:
                diff.unchanged += 1
            else:
                diff.changes.append(PathChange(rel, *change))
    return diff


def _walk(root: str) -> dict[str, os.stat_result]:
    out = {"": os.lstat(root)}
    if not stat.S_ISDIR(out[""].st_mode):
        return out
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                st = entry.stat(follow_symlinks=False)
                out[rel] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(rel)
    return out


def _kind_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    return "special file"


def _compare(e: ManifestEntry, st: os.stat_result, path: str) -> tuple[ChangeKind, str] | None:
    kind, have = e.type, _kind_name(st.st_mode)
    if kind != have:
        return "change", f"a {have} becomes a {kind}"
    if kind == "file":
        if e.size != st.st_size:
            return "change", f"content ({st.st_size} -> {e.size} bytes)"
        if e.mtime_ns != st.st_mtime_ns and _sha256(path) != e.sha256:
            return "change", "content"
    if kind == "symlink" and os.readlink(path) != e.target:
        return "change", f"link target -> {e.target}"
    meta = []
    if kind != "symlink" and e.mode != stat.S_IMODE(st.st_mode):
        meta.append(f"mode {stat.S_IMODE(st.st_mode):o} -> {e.mode:o}")
    if (e.uid, e.gid) != (st.st_uid, st.st_gid):
        meta.append(f"owner {st.st_uid}:{st.st_gid} -> {e.uid}:{e.gid}")
    if kind != "symlink" and e.mtime_ns != st.st_mtime_ns:
        meta.append("mtime")
    return ("meta", ", ".join(meta)) if meta else None


def _sha256(path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()
