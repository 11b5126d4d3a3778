"""Safe extraction of archive entries into a staging directory.

Everything here works on directory file descriptors: each path component is opened with
O_NOFOLLOW relative to its parent's descriptor, and files are created with O_EXCL, so nothing is
ever written through a symlink or outside the staging root, whatever the archive holds. Symlinks
are created last, exactly as stored (never followed), and directory modes and times are applied
after their contents are written (deepest first), so a read-only directory or an mtime survives.

`extract_entries` is the explorer's "extract into a folder": the same walk, names and limits,
into any directory, entry by entry (refusing what is unsafe and extracting the rest).

Before anything is staged, `check_names` refuses trees whose names could escape or alias (`..`,
absolute names, duplicates, an entry below a symlink or a file) and `verify_entries` reads every
entry once (CRC-32, size, SHA-256 and symlink target against the manifest).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, TypeVar

from tui.core.anchored import BlockedPath, lstat_at, open_beneath
from tui.core.archive.zipreader import ZipEntry, ZipFormatError, ZipReader, show, unsafe_reason
from tui.core.errors import Cancelled, PortalBackupError

EntryType = Literal["file", "dir", "symlink"]

_CHUNK = 1 << 20
_TARGET_LIMIT = 1 << 16  # a symlink target longer than this is not something we wrote
_DIR_FDS = 64  # directory descriptors kept open while extracting
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeArchive(PortalBackupError):
    """The archive's entries fail a safety or integrity check; nothing was written."""


@dataclass(frozen=True, slots=True)
class Record:
    """One data entry: the manifest's metadata joined with the zip entry holding the bytes."""

    name: str  # archive name; directories end with "/"
    type: EntryType
    size: int
    mode: int  # permission bits
    uid: int
    gid: int
    mtime_ns: int
    sha256: str | None
    target: str | None  # symlinks
    entry: ZipEntry


def _zip_type(entry: ZipEntry) -> EntryType:
    return "dir" if entry.is_dir else "symlink" if entry.is_symlink else "file"


def join_records(
    reader: ZipReader, manifest_entries: Iterable[dict[str, Any]], names: Iterable[str]
) -> list[Record]:
    """Records for `names` (zip entry names), in archive order; refuses anything inconsistent.

    Metadata comes from the manifest (exact mtime_ns), falling back to the zip's own fields.
    """
    listed = {
        e["path"]: e
        for e in manifest_entries
        if isinstance(e, dict) and isinstance(e.get("path"), str)
    }
    out: list[Record] = []
    for name in names:
        entry = reader.get(name)
        rec = listed.get(name)
        if entry is None:
            raise UnsafeArchive(
                f"{show(name)}: listed in the manifest but missing from the archive."
            )
        if rec is None:
            raise UnsafeArchive(f"{show(name)}: in the archive but not listed in the manifest.")
        kind = _zip_type(entry)
        if rec.get("type") != kind:
            raise UnsafeArchive(
                f"{show(name)}: the manifest says {rec.get('type')!r} but the "
                f"archive holds a {kind}."
            )
        size = rec.get("size", entry.size)
        if kind != "dir" and size != entry.size:
            raise UnsafeArchive(
                f"{show(name)}: the manifest says {size} bytes but the archive "
                f"entry declares {entry.size}."
            )
        if kind == "symlink" and entry.size > _TARGET_LIMIT:
            raise UnsafeArchive(f"{show(name)}: its symlink target is implausibly long.")
        if kind == "file" and not isinstance(rec.get("sha256"), str):
            raise UnsafeArchive(f"{show(name)}: the manifest has no SHA-256 for it.")
        mode, uid, gid, mtime = (
            rec.get("mode"),
            rec.get("uid"),
            rec.get("gid"),
            rec.get("mtime_ns"),
        )
        # The zip's own fields only when the manifest lacks one (parsing extras costs time).
        out.append(
            Record(
                name=name,
                type=kind,
                size=entry.size,
                mode=(mode if _is_int(mode) else entry.mode) & 0o7777,
                uid=uid if _is_int(uid) else (entry.uid or 0),
                gid=gid if _is_int(gid) else (entry.gid or 0),
                mtime_ns=mtime if _is_int(mtime) else entry.mtime * 1_000_000_000,
                sha256=rec.get("sha256") if kind == "file" else None,
                target=rec.get("target") if kind == "symlink" else None,
                entry=entry,
            )
        )
    return out


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_names(records: list[Record], prefix: str) -> None:
    """Refuses names that could escape the staging root or alias one another.

    `prefix` is the tree's archive path ("a/b/" for a directory, "a/f" for one file). Every
    record must lie inside it; relative names must be plain components (no "", ".", ".."); no
    name may appear twice; and no entry may sit below a symlink or a regular file, which is how
    "write a symlink, then a file through it" archives work.
    """
    seen: set[str] = set()
    leaves: dict[str, EntryType] = {}
    for r in records:
        reason = unsafe_reason(r.name)
        if reason:
            raise UnsafeArchive(f"{show(r.name)}: unsafe name: {reason}.")
        if r.name in seen:
            raise UnsafeArchive(f"{show(r.name)}: the name appears twice.")
        seen.add(r.name)
        rel = relative(r.name, prefix)
        if rel is None:
            raise UnsafeArchive(f"{show(r.name)}: it lies outside {show(prefix)}.")
        parts = rel.rstrip("/").split("/") if rel else []
        if any(p in ("", ".", "..") for p in parts):
            raise UnsafeArchive(f"{show(r.name)}: unsafe name: an empty, '.' or '..' component.")
        key = "/".join(parts)
        if key in leaves or (key == "" and r.type != "dir" and prefix.endswith("/")):
            raise UnsafeArchive(
                f"{show(r.name)}: the name appears twice (as a file and a directory)."
            )
        if r.type != "dir":
            leaves[key] = r.type
    # Something lies below a leaf L exactly when some key starts with "L/": in sorted order
    # that key comes first among those >= "L/" (no walk over every ancestor of every entry).
    keys = sorted((relative(r.name, prefix) or "").rstrip("/") for r in records)
    for leaf, kind in leaves.items():
        if not leaf:
            continue
        i = bisect.bisect_left(keys, leaf + "/")
        if i < len(keys) and keys[i].startswith(leaf + "/"):
            raise UnsafeArchive(
                f"{show(prefix + keys[i])}: it lies below the {kind} {show(prefix + leaf)}; "
                "refusing to write through it."
            )


def relative(name: str, prefix: str) -> str | None:
    """`name` relative to the tree `prefix`; "" for the tree's own root entry; None if outside."""
    if not prefix.endswith("/"):
        return "" if name == prefix else None
    if name == prefix:
        return ""
    return name[len(prefix) :] if name.startswith(prefix) else None


ByteSink = Callable[[int], None]


def verify_entries(
    reader: ZipReader,
    records: list[Record],
    on_bytes: ByteSink,
    cancel: threading.Event | None = None,
    readers: list[ZipReader] | None = None,
) -> None:
    """Reads every entry once, in file order: CRC-32 and size (the reader's checks, which also
    stop a zip bomb one byte past the declared size), SHA-256 and symlink targets (manifest).

    With `readers` (one per thread, see ZipReader.sharing), contiguous runs of entries are
    checked in parallel: inflating and hashing release the GIL.
    """
    ordered = sorted(records, key=lambda r: r.entry.header_offset)
    if not readers or len(readers) < 2 or len(ordered) < 2:
        _verify_run(reader, ordered, on_bytes, cancel, None)
        return
    _in_parallel(
        readers, ordered, lambda rd, part, stop: _verify_run(rd, part, on_bytes, cancel, stop)
    )


def _verify_run(
    reader: ZipReader,
    records: list[Record],
    on_bytes: ByteSink,
    cancel: threading.Event | None,
    stop: threading.Event | None,
) -> None:
    for r in records:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the restore was cancelled before anything was changed")
        if stop is not None and stop.is_set():
            return  # another thread failed; its error is the one reported
        if r.type == "dir":
            if r.entry.size:
                raise UnsafeArchive(f"{show(r.name)}: a directory entry that holds data.")
            continue
        digest = hashlib.sha256()
        head = bytearray()
        try:
            for chunk in reader.iter_chunks(r.entry, _CHUNK):
                digest.update(chunk)
                if r.type == "symlink":
                    head += chunk
                on_bytes(len(chunk))
        except ZipFormatError as exc:
            raise UnsafeArchive(str(exc)) from exc
        if r.type == "file" and digest.hexdigest() != r.sha256:
            raise UnsafeArchive(f"{show(r.name)}: its SHA-256 does not match the manifest.")
        if r.type == "symlink":
            target = _decode_target(r.name, bytes(head))
            if r.target is not None and target != r.target:
                raise UnsafeArchive(f"{show(r.name)}: its link target does not match the manifest.")


T = TypeVar("T")


def _in_parallel(
    readers: list[ZipReader],
    items: list[T],
    work: Callable[[ZipReader, list[T], threading.Event], None],
) -> None:
    """Runs `work` on contiguous parts of `items` (balanced by compressed size), one part per
    reader, each in its own thread; re-raises the first failure after all have stopped."""
    weights = [_weight(i) for i in items]
    total = sum(weights) or 1
    parts: list[list[T]] = [[] for _ in readers]
    done = 0
    for item, w in zip(items, weights, strict=True):
        parts[min(len(readers) - 1, done * len(readers) // total)].append(item)
        done += w
    stop = threading.Event()

    def run(reader: ZipReader, part: list[T]) -> None:
        try:
            work(reader, part, stop)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(len(readers), thread_name_prefix="pb-restore") as pool:
        futures = [
            pool.submit(run, rd, part) for rd, part in zip(readers, parts, strict=True) if part
        ]
    errors = [f.exception() for f in futures]
    first = next(
        (e for e in errors if e is not None and not isinstance(e, Cancelled)),
        next((e for e in errors if e is not None), None),
    )
    if first is not None:
        raise first


def _weight(item: object) -> int:
    r = item[1] if isinstance(item, tuple) else item
    assert isinstance(r, Record)
    return r.entry.compressed_size + 512  # per-entry work counts too


class PreadFile:
    """read/seek/tell over a file descriptor with a position of its own (os.pread), so that
    several threads can read one open archive at once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pos = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == os.SEEK_SET:
            self.pos = offset
        elif whence == os.SEEK_CUR:
            self.pos += offset
        else:
            self.pos = os.fstat(self.fd).st_size + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, os.fstat(self.fd).st_size - self.pos)
        data = os.pread(self.fd, size, self.pos)
        self.pos += len(data)
        return data


def _decode_target(name: str, data: bytes) -> str:
    try:
        target = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeArchive(f"{show(name)}: its link target is not UTF-8.") from exc
    if not target or "\x00" in target:
        raise UnsafeArchive(f"{show(name)}: its link target is empty or holds a NUL byte.")
    return target


# --------------------------------------------------------------------------- extraction


class _DirFds:
    """Open descriptors of staged directories, reached component by component with O_NOFOLLOW.

    A small LRU keeps the common case (many files in one directory) at one open per directory.
    """

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self._cache: OrderedDict[str, int] = OrderedDict()

    def get(self, rel_dir: str, create: bool = False) -> int:
        """The descriptor of `rel_dir` ("" is the root; components joined by "/").

        Iterative: the nearest cached ancestor is found, then each missing level opened.
        """
        if not rel_dir:
            return self.root_fd
        cached = self._cache.get(rel_dir)
        if cached is not None:
            self._cache.move_to_end(rel_dir)
            return cached
        parts = rel_dir.split("/")
        depth = len(parts) - 1
        while depth > 0 and "/".join(parts[:depth]) not in self._cache:
            depth -= 1
        pfd = self._cache[key] if depth and (key := "/".join(parts[:depth])) else self.root_fd
        for i in range(depth, len(parts)):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(parts[i], 0o700, dir_fd=pfd)
            fd = os.open(parts[i], _O_DIR, dir_fd=pfd)  # ELOOP/ENOTDIR if something swapped it
            self._cache["/".join(parts[: i + 1])] = fd
            if len(self._cache) > _DIR_FDS:
                # The oldest entry: never the parent just used (it was touched before `fd`).
                _, old = self._cache.popitem(last=False)
                os.close(old)
            pfd = fd
        return fd

    def close(self) -> None:
        for fd in self._cache.values():
            os.close(fd)
        self._cache.clear()


@dataclass
class ExtractStats:
    files: int = 0
    bytes: int = 0
    owners_skipped: bool = False  # not root: uid/gid could not be set


class Extractor:
    """Writes one tree (or one file) of records under a directory descriptor.

    `chown` False skips uid/gid (a non-root restore of the user's own files).
    """

    def __init__(
        self,
        reader: ZipReader,
        on_bytes: ByteSink,
        cancel: threading.Event | None = None,
        chown: bool = True,
        rehash: bool = True,
        readers: list[ZipReader] | None = None,
    ) -> None:
        self.reader = reader
        self.readers = readers  # one per thread for parallel file writes (ZipReader.sharing)
        self._lock = threading.Lock()
        self._on_bytes = on_bytes
        self.cancel = cancel
        self.chown = chown
        # SHA-256 again while writing, in case the archive changed since it was verified.
        # The caller may instead prove it did not change (an unchanged regular file).
        self.rehash = rehash
        self.stats = ExtractStats()

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("the restore was cancelled; nothing was changed")

    def extract_leaf(self, parent_fd: int, name: str, record: Record) -> None:
        """One regular file or symlink as `name` in the directory `parent_fd`."""
        if record.type == "symlink":
            self._make_link(parent_fd, name, record)
        else:
            self._write_file(self.reader, parent_fd, name, record)

    def on_bytes(self, n: int) -> None:
        with self._lock:  # writer threads report here
            self._on_bytes(n)

    def extract_bytes(
        self, parent_fd: int, name: str, data: bytes, mode: int, uid: int, gid: int, mtime_ns: int
    ) -> None:
        """Generated content (the Portal database with identities merged) as a new file."""
        fd = os.open(name, _O_NEW, 0o600, dir_fd=parent_fd)
        try:
            _write_all(fd, data)
            self._meta_fd(fd, mode, uid, gid, mtime_ns)
        finally:
            os.close(fd)

    def extract_tree(self, parent_fd: int, name: str, records: list[Record], prefix: str) -> None:
        """The records of the tree `prefix` as a new directory `name` in `parent_fd`.

        The root directory gets the metadata of the tree's own entry (prefix itself), if any.
        """
        os.mkdir(name, 0o700, dir_fd=parent_fd)
        root_fd = os.open(name, _O_DIR, dir_fd=parent_fd)
        fds = _DirFds(root_fd)
        try:
            dirs: dict[str, Record | None] = {"": None}  # None: implied, no entry of its own
            files: list[tuple[str, Record]] = []
            links: list[tuple[str, Record]] = []
            for r in records:
                rel = (relative(r.name, prefix) or "").rstrip("/")
                if r.type == "dir":
                    dirs[rel] = r
                    continue
                (links if r.type == "symlink" else files).append((rel, r))
                parent = rel.rpartition("/")[0]
                while parent not in dirs:
                    dirs[parent] = None
                    parent = parent.rpartition("/")[0]
            by_depth = sorted(dirs, key=lambda d: d.count("/") + (d != ""))
            for rel in by_depth:  # every directory first, parents before children
                if rel:
                    fds.get(rel, create=True)
            self._write_files(root_fd, fds, files)
            for rel, r in links:  # last: nothing is ever written below one
                parent, _, leaf = rel.rpartition("/")
                self._make_link(fds.get(parent), leaf, r)
            # After every entry is written (setting a child's metadata leaves its parent's mtime
            # alone), parents first: each one's parent descriptor is then still cached.
            for rel in by_depth:
                fd = fds.get(rel)
                dr = dirs[rel]
                if dr is None:
                    os.fchmod(fd, 0o755)
                else:
                    self._meta_fd(fd, dr.mode, dr.uid, dr.gid, dr.mtime_ns)
        finally:
            fds.close()
            os.close(root_fd)

    def _write_files(self, root_fd: int, fds: _DirFds, files: list[tuple[str, Record]]) -> None:
        """Regular files into directories that all exist (and hold no symlink yet)."""
        if not self.readers or len(self.readers) < 2 or len(files) < 2:
            for rel, r in files:
                self._check_cancel()
                parent, _, leaf = rel.rpartition("/")
                self._write_file(self.reader, fds.get(parent), leaf, r)
            return
        ordered = sorted(files, key=lambda f: f[1].entry.header_offset)

        def work(reader: ZipReader, part: list[tuple[str, Record]], stop: threading.Event) -> None:
            own = _DirFds(root_fd)  # descriptors are per thread; the root is shared
            try:
                for rel, r in part:
                    if stop.is_set():
                        return
                    self._check_cancel()
                    parent, _, leaf = rel.rpartition("/")
                    self._write_file(reader, own.get(parent), leaf, r)
            finally:
                own.close()

        _in_parallel(self.readers, ordered, work)

    def _make_link(self, parent_fd: int, leaf: str, r: Record) -> None:
        os.symlink(self._link_target(r), leaf, dir_fd=parent_fd)
        if self.chown:
            self._chown_path(leaf, parent_fd, r.uid, r.gid)
        os.utime(leaf, ns=(r.mtime_ns, r.mtime_ns), dir_fd=parent_fd, follow_symlinks=False)
        self.stats.files += 1

    def _link_target(self, r: Record) -> str:
        data = self.reader.read_entry(r.entry, limit=_TARGET_LIMIT)
        target = _decode_target(r.name, data)
        if r.target is not None and target != r.target:
            raise UnsafeArchive(f"{show(r.name)}: its link target does not match the manifest.")
        return target

    def _write_file(self, reader: ZipReader, parent_fd: int, leaf: str, r: Record) -> None:
        fd = os.open(leaf, _O_NEW, 0o600, dir_fd=parent_fd)
        try:
            digest = hashlib.sha256() if self.rehash else None
            try:
                for chunk in reader.iter_chunks(r.entry, _CHUNK):
                    if digest is not None:
                        digest.update(chunk)
                    _write_all(fd, chunk)
                    self.on_bytes(len(chunk))
            except ZipFormatError as exc:
                raise UnsafeArchive(str(exc)) from exc
            if digest is not None and digest.hexdigest() != r.sha256:
                raise UnsafeArchive(f"{show(r.name)}: its SHA-256 does not match the manifest.")
            self._meta_fd(fd, r.mode, r.uid, r.gid, r.mtime_ns)
        finally:
            os.close(fd)
        with self._lock:
            self.stats.files += 1
            self.stats.bytes += r.size

    def _meta_fd(self, fd: int, mode: int, uid: int, gid: int, mtime_ns: int) -> None:
        if self.chown:
            try:
                os.fchown(fd, uid, gid)  # before chmod: chown clears set-id bits
            except PermissionError:
                self.chown = False
                self.stats.owners_skipped = True
        os.fchmod(fd, mode)
        os.utime(fd, ns=(mtime_ns, mtime_ns))

    def _chown_path(self, leaf: str, dir_fd: int, uid: int, gid: int) -> None:
        try:
            os.chown(leaf, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        except PermissionError:
            self.chown = False
            self.stats.owners_skipped = True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def remove_tree_at(parent_fd: int, name: str) -> None:
    """Deletes `name` (a tree, file or symlink) in `parent_fd`, never following symlinks.

    Iterative, holding one descriptor: it goes down by name and back up through "..", checking
    that ".." is the very directory it came from (so a subtree moved away meanwhile cannot lead
    it elsewhere). A tree of any depth goes.
    """
    st = lstat_at(parent_fd, name)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    fd = _open_to_empty(parent_fd, name)
    # Per level: its name, its identity, and the children still to look at.
    levels: list[tuple[str, tuple[int, int], list[str]]] = [(name, _ident(fd), os.listdir(fd))]
    try:
        while True:
            pending = levels[-1][2]
            sub = None
            while pending:
                child = pending.pop()
                cst = lstat_at(fd, child)
                if cst is not None and stat.S_ISDIR(cst.st_mode):
                    sub = child
                    break
                if cst is not None:
                    os.unlink(child, dir_fd=fd)
            if sub is not None:
                down = _open_to_empty(fd, sub)
                os.close(fd)
                fd = down
                levels.append((sub, _ident(fd), os.listdir(fd)))
                continue
            done = levels.pop()[0]
            if not levels:
                os.close(fd)
                fd = -1
                os.rmdir(done, dir_fd=parent_fd)
                return
            up = os.open("..", _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = up
            if _ident(fd) != levels[-1][1]:
                raise PortalBackupError(f"{name} changed while it was being removed; stopped")
            os.rmdir(done, dir_fd=fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _open_to_empty(parent_fd: int, name: str) -> int:
    fd = os.open(name, _O_DIR, dir_fd=parent_fd)
    # A directory we staged may be read-only (mode 0555); we own it, so open it up.
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o700)
    return fd


# --------------------------------------------------------------------------- into a folder


@dataclass
class ExtractReport:
    """What `extract_entries` did; names are shown as `show` prints them."""

    destination: str
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, error)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed


class _Refused(Exception):
    """This entry is not extracted, for the reason given."""


def extract_entries(
    reader: ZipReader,
    entries: list[ZipEntry],
    dest: str,
    *,
    strip: str = "",
    cancel: threading.Event | None = None,
    on_entry: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Extract `entries` (names starting with `strip`, which is removed) into the directory
    `dest`, never writing outside it.

    Unsafe names (`..`, absolute, see unsafe_reason) are refused; every folder on the way is
    opened with O_NOFOLLOW from `dest` (anchored.open_beneath), so no symlink, already there
    or made by the archive, redirects a write; existing files are never overwritten; symlinks
    are made only when their target stays inside `dest`. Refused and failed entries are
    reported, the others extracted.
    """
    report = ExtractReport(os.path.realpath(dest))
    dir_modes: list[tuple[list[str], ZipEntry]] = []
    for done, entry in enumerate(entries, 1):
        if cancel is not None and cancel.is_set():
            report.failed.append(("", "extraction was cancelled"))
            break
        try:
            parts = _parts_below(entry.name, strip)
            if parts:
                _extract_one(reader, entry, dest, parts, report)
                if entry.is_dir:
                    dir_modes.append((parts, entry))
        except _Refused as why:
            report.refused.append((show(entry.name), str(why)))
        except (OSError, ZipFormatError) as err:
            report.failed.append((show(entry.name), _say(err)))
        if on_entry is not None:
            on_entry(done)
    # Folder modes last, so a read-only folder does not block its own contents.
    for parts, entry in reversed(dir_modes):
        with contextlib.suppress(OSError, PortalBackupError):
            fd = open_beneath(dest, parts)
            try:
                os.fchmod(fd, entry.mode & 0o777)
                os.utime(fd, (entry.mtime, entry.mtime))
            finally:
                os.close(fd)
    return report


def _parts_below(name: str, strip: str) -> list[str]:
    reason = unsafe_reason(name)
    if reason:
        raise _Refused(reason)
    if not name.startswith(strip):
        raise _Refused("it is outside the selected folder")
    return [p for p in name[len(strip) :].split("/") if p not in ("", ".")]


def _extract_one(
    reader: ZipReader, entry: ZipEntry, dest: str, parts: list[str], report: ExtractReport
) -> None:
    folder = parts if entry.is_dir else parts[:-1]
    try:
        dir_fd = open_beneath(dest, folder, on_made=lambda _path, _fd: None)
    except BlockedPath as exc:
        where = os.path.relpath(exc.path, dest)
        raise _Refused(f"{where} is a symbolic link or a file, not a folder") from None
    try:
        if entry.is_dir:
            report.dirs += 1
        elif entry.is_symlink:
            _new_link(reader, entry, dir_fd, parts)
            report.links += 1
        else:
            report.bytes += _new_file(reader, entry, dir_fd, parts[-1])
            report.files += 1
    finally:
        os.close(dir_fd)


def _new_file(reader: ZipReader, entry: ZipEntry, dir_fd: int, name: str) -> int:
    try:
        fd = os.open(name, _O_NEW, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        raise _Refused("a file of that name already exists (not overwritten)") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _Refused("a symbolic link of that name already exists") from None
        raise
    written = 0
    try:
        for chunk in reader.iter_chunks(entry, _CHUNK):
            _write_all(fd, chunk)
            written += len(chunk)
        os.fchmod(fd, entry.mode & 0o777)  # never setuid/setgid from an archive
        os.utime(fd, (entry.mtime, entry.mtime))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)  # a damaged entry leaves nothing half-written
        raise
    os.close(fd)
    return written


def _new_link(reader: ZipReader, entry: ZipEntry, dir_fd: int, parts: list[str]) -> None:
    try:
        target = _decode_target(entry.name, reader.read_entry(entry, limit=_TARGET_LIMIT))
    except UnsafeArchive as exc:
        raise _Refused(str(exc).removeprefix(f"{show(entry.name)}: ").rstrip(".")) from None
    if target.startswith("/") or _climbs_out(parts[:-1], target):
        raise _Refused(f"its link target {show(target)} points outside the destination")
    try:
        os.symlink(target, parts[-1], dir_fd=dir_fd)
    except FileExistsError:
        raise _Refused("something of that name already exists (not overwritten)") from None


def _climbs_out(base: list[str], target: str) -> bool:
    """Whether `target`, relative to folder `base`, leads above the destination."""
    depth = len(base)
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _say(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)
