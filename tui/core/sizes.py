"""Sizes of items: a du-like walk (lstat only, no reads), done after the list is shown.

The same walk can say what this user cannot read (a non-root run meets files it may not open):
the mode bits it already has answer that without reading anything.
"""

from __future__ import annotations

import os
import pwd
import stat
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tui.core.model import Inventory, Item, Size, Source


@dataclass(frozen=True)
class TreeScan:
    """A walk's result: the size, and what this user could not read (when asked to check)."""

    size: Size
    denied: int = 0  # entries this user cannot read (a directory counts once, not its contents)
    first_denied: str | None = None  # the first of them, with its owner and mode

    def why(self) -> str | None:
        """One phrase naming what cannot be read, or None when all of it can."""
        if not self.denied or self.first_denied is None:
            return None
        if self.denied == 1:
            return f"cannot read {self.first_denied}"
        return f"cannot read {self.denied} entries, e.g. {self.first_denied}"


def scan_size(path: str, cancel: threading.Event | None = None) -> Size:
    """Bytes of regular files and the count of entries, never following symlinks."""
    return scan_tree(path, cancel).size


def scan_tree(
    path: str, cancel: threading.Event | None = None, *, check_access: bool = False
) -> TreeScan:
    """scan_size's walk; with `check_access`, also the entries this user could not read
    (directories it cannot list, files it cannot open), as a backup would meet them."""
    denied = _Denied() if check_access else None
    total = files = 0
    try:
        st = os.lstat(path)
    except OSError:
        return TreeScan(Size(0, 0))
    if denied is not None and not denied.check(path, st):
        return denied.result(Size(0, 0) if stat.S_ISDIR(st.st_mode) else Size(st.st_size, 1))
    if not stat.S_ISDIR(st.st_mode):
        return TreeScan(Size(st.st_size, 1))
    if denied is None:
        return TreeScan(_walk_sizes(path, cancel))
    stack = [path]
    while stack:
        if cancel is not None and cancel.is_set():
            break
        top = stack.pop()
        try:
            it = os.scandir(top)
        except PermissionError:
            if denied is not None:
                denied.add(top)
            continue
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if denied is None or denied.check(
                            entry.path, entry.stat(follow_symlinks=False)
                        ):
                            stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        est = entry.stat(follow_symlinks=False)
                        total += est.st_size
                        files += 1
                        if denied is not None:
                            denied.check(entry.path, est)
                    else:
                        files += 1
                except OSError:
                    continue
    size = Size(total, files)
    return denied.result(size) if denied is not None else TreeScan(size)


def _walk_sizes(path: str, cancel: threading.Event | None) -> Size:
    """The walk without access checks, kept tight: it should cost no more than `du -sb`.

    d_type answers "directory?" and "regular file?" without a system call; only regular
    files are stat'ed. A large tree is split between this process and one forked child, when
    this process has no other thread (a fork with threads could copy a held lock).
    """
    total = files = 0
    frontier = [path]
    # Breadth-first until enough directories are pending to share them out evenly.
    while frontier and len(frontier) < SPLIT_DIRS:
        t, f, frontier = _scan_level(frontier, cancel)
        total, files = total + t, files + f
    if len(frontier) >= SPLIT_DIRS and threading.active_count() == 1 and os.cpu_count() != 1:
        t, f = _walk_in_two(frontier, cancel)
    else:
        t, f = _walk_dirs(frontier, cancel)
    return Size(total + t, files + f)


SPLIT_DIRS = 32
_PAIR = struct.Struct("<qq")


def _scan_level(tops: list[str], cancel: threading.Event | None) -> tuple[int, int, list[str]]:
    """One level of the walk: bytes and entries in `tops`, and their subdirectories."""
    subdirs: list[str] = []
    total = files = 0
    for top in tops:
        if cancel is not None and cancel.is_set():
            return total, files, []
        t, f = _scan_dir(top, subdirs.append)
        total, files = total + t, files + f
    return total, files, subdirs


def _walk_dirs(stack: list[str], cancel: threading.Event | None) -> tuple[int, int]:
    total = files = 0
    push = stack.append
    while stack:
        if cancel is not None and cancel.is_set():
            break
        t, f = _scan_dir(stack.pop(), push)
        total, files = total + t, files + f
    return total, files


def _scan_dir(top: str, push: Callable[[str], None]) -> tuple[int, int]:
    total = files = 0
    try:
        it = os.scandir(top)
    except OSError:
        return 0, 0
    with it:
        for entry in it:
            try:
                if entry.is_dir(follow_symlinks=False):
                    push(entry.path)
                    continue
                files += 1
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total, files


def _walk_in_two(dirs: list[str], cancel: threading.Event | None) -> tuple[int, int]:
    """Every other directory walked by a forked child, the rest here; the sums added."""
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return _walk_dirs(dirs, cancel)
    if pid == 0:  # pragma: no cover - the child; checked through the parent's sums
        code = 1
        try:
            os.close(r)
            os.write(w, _PAIR.pack(*_walk_dirs(dirs[1::2], None)))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        total, files = _walk_dirs(dirs[0::2], cancel)
        got = b""
        while len(got) < _PAIR.size and (chunk := os.read(r, _PAIR.size - len(got))):
            got += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if len(got) < _PAIR.size:  # the child failed: walk its half here
        t, f = _walk_dirs(dirs[1::2], cancel)
    else:
        t, f = _PAIR.unpack(got)
    return total + t, files + f


class _Denied:
    """Counts what this user may not read, from the mode bits a walk already has; a refusal
    is confirmed with access(2), since an ACL may grant more than the bits say."""

    def __init__(self) -> None:
        self.uid = os.geteuid()
        self.groups = {os.getegid(), *os.getgroups()}
        self.count = 0
        self.first: str | None = None

    def check(self, path: str, st: os.stat_result) -> bool:
        """Whether this user may read `path` (list and enter it, for a directory)."""
        is_dir = stat.S_ISDIR(st.st_mode)
        if not (is_dir or stat.S_ISREG(st.st_mode)) or self.uid == 0:
            return True  # links are stored as links; root reads everything
        need = 0o5 if is_dir else 0o4  # r-x for a directory, r-- for a file
        if st.st_uid == self.uid:
            bits = st.st_mode >> 6
        elif st.st_gid in self.groups:
            bits = st.st_mode >> 3
        else:
            bits = st.st_mode
        if bits & need == need:
            return True
        if os.access(path, os.R_OK | (os.X_OK if is_dir else 0), follow_symlinks=False):
            return True
        self.add(path, st)
        return False

    def add(self, path: str, st: os.stat_result | None = None) -> None:
        self.count += 1
        if self.first is None:
            self.first = path if st is None else f"{path} ({_owner_and_mode(st)})"

    def result(self, size: Size) -> TreeScan:
        return TreeScan(size, self.count, self.first)


def _owner_and_mode(st: os.stat_result) -> str:
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = f"uid {st.st_uid}"
    return f"owned by {owner}, mode {stat.S_IMODE(st.st_mode):04o}"


def volume_size(
    source: Source, inventory: Inventory, client: Any | None, cache: dict[str, Size]
) -> Size | None:
    vol = inventory.volumes.get(source.location)
    if vol and vol.mountpoint and os.access(vol.mountpoint, os.R_OK | os.X_OK):
        return scan_size(vol.mountpoint)
    if client is None:
        return None
    if not cache:  # one `docker system df` call answers for every volume
        try:
            for v in client.df().get("Volumes") or []:
                usage = v.get("UsageData") or {}
                if usage.get("Size", -1) >= 0:
                    cache[v["Name"]] = Size(usage["Size"], 0)
        except Exception:
            return None
    return cache.get(source.location)


def compute_sizes(
    inventory: Inventory,
    client: Any | None = None,
    on_size: Callable[[str, Size], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, str]:
    """Fill item.size for every item, calling on_size as each becomes known. Returns what
    this user cannot read: item ID -> why (always empty for root).

    Each distinct source is walked once, even when several items (an app and its mounts) share it.
    """
    check = os.geteuid() != 0
    known: dict[tuple[str, str], TreeScan | None] = {}
    df_cache: dict[str, Size] = {}
    unreadable: dict[str, str] = {}
    for item in inventory.items:
        if cancel is not None and cancel.is_set():
            break
        total = Size(0, 0)
        for src in item.sources:
            key = (src.kind, src.location)
            if key not in known:
                if src.kind == "path":
                    known[key] = scan_tree(src.location, cancel, check_access=check)
                else:
                    vsize = volume_size(src, inventory, client, df_cache)
                    known[key] = TreeScan(vsize) if vsize is not None else None
            scan = known[key]
            if scan is not None:
                total = Size(total.bytes + scan.size.bytes, total.files + scan.size.files)
        why = _item_why(item, known)
        if why:
            unreadable[item.id] = why
        item.size = total
        if on_size is not None:
            on_size(item.id, total)
    return unreadable


def unreadable_items(
    items: Iterable[Item], cancel: threading.Event | None = None
) -> dict[str, str]:
    """What this user cannot read of these items' files: item ID -> why (empty for root).
    Volumes are read through Docker, so only host paths are checked."""
    if os.geteuid() == 0:
        return {}
    known: dict[tuple[str, str], TreeScan | None] = {}
    unreadable: dict[str, str] = {}
    for item in items:
        for src in item.sources:
            key = (src.kind, src.location)
            if src.kind == "path" and key not in known:
                known[key] = scan_tree(src.location, cancel, check_access=True)
        why = _item_why(item, known)
        if why:
            unreadable[item.id] = why
    return unreadable


def _item_why(item: Item, known: dict[tuple[str, str], TreeScan | None]) -> str | None:
    """The first unreadable place among an item's sources, with a count when there are more."""
    scans = [known.get((s.kind, s.location)) for s in item.sources]
    denied = [s for s in scans if s is not None and s.denied]
    if not denied:
        return None
    count = sum(s.denied for s in denied)
    return TreeScan(Size(0, 0), count, denied[0].first_denied).why()
