"""Compare two directory trees entry by entry, metadata included, never following symlinks.

Used to check a plain `unzip` of an archive against the source it was made from.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20

_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
}
_SPECIAL = {stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "unknown")


def _ignored(rel: str, patterns: Iterable[str]) -> bool:
    """True when `rel` or one of its parents matches a pattern (fnmatch, '/'-separated)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pat) for p in prefixes for pat in patterns)


def _walk(root: Path, patterns: Iterable[str], skip_special: bool) -> dict[str, os.stat_result]:
    entries: dict[str, os.stat_result] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(root / rel_dir if rel_dir else root) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if _ignored(rel, patterns):
                    continue
                st = entry.stat(follow_symlinks=False)
                if skip_special and stat.S_IFMT(st.st_mode) in _SPECIAL:
                    continue
                entries[rel] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(rel)
    return entries


def _same_content(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def compare_trees(
    expected_root: Path,
    actual_root: Path,
    *,
    ignore: Iterable[str] = frozenset(),
    skip_special: bool = True,
    check_owner: bool = True,
    check_mtime: bool = True,
) -> list[str]:
    """Differences between the trees under two roots (the roots themselves are not compared).

    `ignore` holds '/'-separated paths relative to either root, or fnmatch patterns; an ignored
    directory hides its subtree. `skip_special` leaves out FIFOs, sockets and devices on both
    sides, since archives skip them by contract. Regular files are compared by content,
    permission bits, owner and mtime (whole seconds); directories by permission bits, owner and
    mtime; symlinks by target (os.readlink) and owner only, as their mode is always 0777 on Linux
    and extractors seldom set their times. Returns one readable line per difference, in path
    order.
    """
    patterns = list(ignore)
    expected = _walk(Path(expected_root), patterns, skip_special)
    actual = _walk(Path(actual_root), patterns, skip_special)
    diffs: list[str] = []

    for rel in sorted(expected.keys() | actual.keys()):
        est, ast = expected.get(rel), actual.get(rel)
        if ast is None:
            diffs.append(f"missing: {rel}")
            continue
        if est is None:
            diffs.append(f"extra: {rel}")
            continue
        ekind, akind = _kind(est.st_mode), _kind(ast.st_mode)
        if ekind != akind:
            diffs.append(f"type: {rel}: expected {ekind}, got {akind}")
            continue

        if ekind == "symlink":
            etarget = os.readlink(Path(expected_root) / rel)
            atarget = os.readlink(Path(actual_root) / rel)
            if etarget != atarget:
                diffs.append(f"symlink: {rel}: expected -> {etarget!r}, got -> {atarget!r}")
        else:
            emode, amode = stat.S_IMODE(est.st_mode), stat.S_IMODE(ast.st_mode)
            if emode != amode:
                diffs.append(f"mode: {rel}: expected {emode:#o}, got {amode:#o}")
            if check_mtime:
                esec, asec = est.st_mtime_ns // 10**9, ast.st_mtime_ns // 10**9
                if esec != asec:
                    diffs.append(f"mtime: {rel}: expected {esec}, got {asec}")
        if ekind == "file":
            if est.st_size != ast.st_size:
                diffs.append(f"size: {rel}: expected {est.st_size}, got {ast.st_size}")
            elif not _same_content(Path(expected_root) / rel, Path(actual_root) / rel):
                diffs.append(f"content: {rel}")
        if check_owner:
            if est.st_uid != ast.st_uid:
                diffs.append(f"uid: {rel}: expected {est.st_uid}, got {ast.st_uid}")
            if est.st_gid != ast.st_gid:
                diffs.append(f"gid: {rel}: expected {est.st_gid}, got {ast.st_gid}")
    return diffs
