"""Restoring items from an archive: verify, stage, stop, swap, restart, and undo on failure.

For each chosen item, in archive order:

1. every entry it needs is checked (names, then CRC-32, size and SHA-256 against the manifest),
   before anything on the host is touched;
2. missing named volumes are created (driver, labels and options from the manifest);
3. each destination's new tree is extracted into a staging directory beside it (extract.py);
4. the containers of this host that use those paths or volumes are stopped (journalled through
   the Quiescer, so a crash restarts them);
5. each destination is moved aside and its staged tree moved into place (journalled in
   restore_journal.py, so a crash is repaired);
6. what was stopped is started again; an app's containers missing on this host are created from
   the manifest and brought to the state they had at backup time;
7. the previous data is deleted, or kept when asked.

Any failure in steps 2-6 puts the previous data back, removes what was created and restarts
what was stopped; the next item is then tried. Events (ItemState, Log, Progress and a final
RestoreFinished) are the only output; the CLI and the UI print them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import io
import json
import os
import secrets
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import portaldb
from .archive.zipreader import ZipReader, show
from .errors import Cancelled, PortalBackupError, first_line
from .events import EventSink, ItemState, Log, Progress, RateMeter, Throttle
from .extract import (
    Extractor,
    PreadFile,
    Record,
    UnsafeArchive,
    check_names,
    join_records,
    relative,
    remove_tree_at,
    verify_entries,
)
from .model import ContainerInfo
from .quiesce import STOP_TIMEOUT, Change, Journal, Quiescer, RunLock, recover_journal
from .restore_journal import SwapJournal, SwapRecord, recover_restore
from .restore_plan import (
    ContainerPlan,
    ItemPlan,
    RestorePlan,
    RestoreSelection,
    StopPlan,
    TargetPlan,
    load_plan,
)
from .state import state_dir

__all__ = [
    "RestoreFinished",
    "RestoreOptions",
    "RestorePlan",
    "RestoreRun",
    "RestoreSelection",
    "load_plan",
    "run_restore",
    "run_restore_cli",
]

FAIL_AFTER_SWAP_ENV = "PORTAL_BACKUP_TEST_FAIL_AFTER_SWAP"
HELPER_LABEL = "org.portal-backup.helper"
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass
class RestoreOptions:
    keep_old: bool = False  # keep the previous data (its path is reported) instead of deleting it
    allow_identity_change: bool = False  # restore core/db or core/identity over another Portal
    volume_access: str = "auto"  # "auto", "host" (mountpoints) or "docker" (the archive API)
    fail_after_swap: str | None = None  # test hook: fail this item right after its swap


@dataclass(frozen=True)
class RestoreFinished:
    archive: str
    done: list[str]
    failed: dict[str, str]  # item ID -> why
    bytes: int  # file bytes written
    files: int
    seconds: float
    kept: list[str] = field(default_factory=list)  # where previous data was kept
    created: list[str] = field(default_factory=list)  # containers created from the manifest
    warnings: list[str] = field(default_factory=list)
    type: str = "restore-finished"

    @property
    def ok(self) -> bool:
        return not self.failed


class _ItemFailed(PortalBackupError):
    pass


# --------------------------------------------------------------------------- stopping


class _Stopper(Quiescer):
    """The Quiescer in stop mode, which also stops paused containers (unpause, stop) and journals
    them so that they are started and paused again, even after a crash."""

    def quiesce(self, app: str, containers: list[ContainerInfo]) -> None:
        plain = []
        for c in containers:
            state = self._state(c)
            if state == "restarting":  # the Quiescer leaves these alone; a restore cannot
                self.journal.changes.append(Change(c.id, c.name, "stopped"))
                self.journal.save()
                try:
                    self.client.api.stop(c.id, timeout=STOP_TIMEOUT)
                except Exception as exc:
                    raise PortalBackupError(
                        f"could not stop {c.name}: {first_line(exc)}") from exc
                continue
            if state != "paused":
                plain.append(c)
                continue
            self.journal.changes.append(Change(c.id, c.name, "stopped-paused"))
            self.journal.save()
            try:
                self.client.api.unpause(c.id)
                self.client.api.stop(c.id, timeout=STOP_TIMEOUT)
            except Exception as exc:
                raise PortalBackupError(f"could not stop {c.name}: {first_line(exc)}") from exc
            self.how[c.id] = "stopped-paused"
            self.log("info", f"stopped {c.name} (it was paused)")
        super().quiesce(app, plain)


def _as_container(s: StopPlan) -> ContainerInfo:
    return ContainerInfo(id=s.id, name=s.name, image="", state=s.state, service=None, mounts=())


# --------------------------------------------------------------------------- slots


class _Slot:
    """One destination: stage its new contents, swap them in, and undo or finish."""

    target: TargetPlan
    kept: str | None = None

    def sync_fd(self) -> int | None:
        """A descriptor on the staging filesystem, to make it durable before the swap."""
        return None

    def stage(self, extractor: Extractor) -> None:
        raise NotImplementedError

    def swap(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError

    def finish(self, keep_old: bool, stamp: str) -> None:
        raise NotImplementedError


@dataclass
class _Content:
    """What a host slot writes: a tree, one file or symlink, or generated bytes."""

    records: list[Record]
    prefix: str
    data: bytes | None = None  # generated (the database with identities merged)
    meta: tuple[int, int, int, int] | None = None  # mode, uid, gid, mtime_ns for `data`


class _HostSlot(_Slot):
    """A host path (or a volume's mountpoint) replaced by staging beside it and renaming.

    A destination that is itself a mount point cannot be renamed, so its children are moved
    instead ("content" mode); everything else is renamed whole.
    """

    def __init__(self, target: TargetPlan, dest: str, content: _Content, key: str,
                 journal: SwapJournal, keep_under: str | None,
                 parent_meta: Callable[[str], Record | None],
                 made_parents: dict[str, Record]) -> None:
        self.target = target
        self.made_parents = made_parents  # shared by the run: their mtimes are set at its end
        self.dest = os.path.normpath(dest)
        if os.path.islink(self.dest):
            # The host's own layout (shared -> /mnt/usb/shared): replace what it points to
            # and keep the link. No target lies inside another, so no restored link leads here.
            self.dest = os.path.realpath(self.dest)
        self.content = content
        self.key = key
        self.journal = journal
        self.keep_under = keep_under  # the Portal root when dest lies in it
        self.parent_meta = parent_meta
        self.mode = "content" if target.is_dir and os.path.ismount(self.dest) else "whole"
        if self.mode == "content":
            self.dir, self.name = self.dest, ""
        else:
            self.dir, self.name = os.path.split(self.dest)
        self.staging = f".pb-restore-{key}"
        self.aside = f".pb-old-{key}"
        self.fd: int | None = None
        self.had_old = False
        self.swapped = False
        self.made_dirs: list[str] = []
        self.dir_times: tuple[int, int] | None = None
        self.old_root: os.stat_result | None = None
        self.new_root: os.stat_result | None = None  # content mode: the staged root's metadata

    # -- staging ---------------------------------------------------------------------------

    def _make_parents(self) -> None:
        """Missing parents (a fresh host), with the archive's metadata where it has them."""
        missing: list[str] = []
        path = self.dir
        while not os.path.isdir(path):
            if os.path.lexists(path):
                raise PortalBackupError(f"{path} is in the way: it is not a directory")
            missing.append(path)
            path = os.path.dirname(path)
        for p in reversed(missing):
            os.mkdir(p, 0o755)
            self.made_dirs.append(p)
            rec = self.parent_meta(p)
            if rec is not None:
                with contextlib.suppress(PermissionError):
                    os.chown(p, rec.uid, rec.gid, follow_symlinks=False)
                os.chmod(p, rec.mode)
                self.made_parents[p] = rec

    def stage(self, extractor: Extractor) -> None:
        if self.mode == "whole":
            self._make_parents()
        self.fd = os.open(self.dir, _O_DIR | (os.O_NOFOLLOW if self.mode == "content" else 0))
        if not self.made_dirs:
            st = os.fstat(self.fd)
            self.dir_times = (st.st_atime_ns, st.st_mtime_ns)
        self.journal.set(SwapRecord(self.key, self.mode, self.dir, self.name, self.staging,  # type: ignore[arg-type]
                                    self.aside, "staging"))
        c = self.content
        if c.data is not None:
            assert c.meta is not None
            extractor.extract_bytes(self.fd, self.staging, c.data, *c.meta)
        elif self.target.is_dir:
            extractor.extract_tree(self.fd, self.staging, c.records, c.prefix)
        else:
            extractor.extract_leaf(self.fd, self.staging, c.records[0])

    def sync_fd(self) -> int | None:
        return self.fd

    # -- swapping ----------------------------------------------------------------------------

    def swap(self) -> None:
        assert self.fd is not None
        self.journal.phase(self.key, "swapping")
        if self.mode == "whole":
            if _exists_at(self.fd, self.name):
                os.rename(self.name, self.aside, src_dir_fd=self.fd, dst_dir_fd=self.fd)
                self.had_old = True
            os.rename(self.staging, self.name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            self.swapped = True
        else:
            self._swap_content()
        os.fsync(self.fd)  # the renames are durable before the previous data is deleted
        self.journal.phase(self.key, "swapped")

    def _swap_content(self) -> None:
        assert self.fd is not None
        fd = self.fd
        self.old_root = os.fstat(fd)
        os.mkdir(self.aside, 0o700, dir_fd=fd)
        afd = os.open(self.aside, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
        sfd = os.open(self.staging, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
        try:
            for child in os.listdir(fd):
                if child not in (self.staging, self.aside):
                    os.rename(child, child, src_dir_fd=fd, dst_dir_fd=afd)
                    self.had_old = True
            self.swapped = True
            for child in os.listdir(sfd):
                os.rename(child, child, src_dir_fd=sfd, dst_dir_fd=fd)
            root = os.fstat(sfd)
        finally:
            os.close(afd)
            os.close(sfd)
        os.rmdir(self.staging, dir_fd=fd)
        self.new_root = root
        _copy_meta(fd, root)

    def rollback(self) -> None:
        if self.fd is None or not self.swapped:
            return
        fd = self.fd
        if self.mode == "whole":
            trash = self.staging + ".undo"
            os.rename(self.name, trash, src_dir_fd=fd, dst_dir_fd=fd)
            if self.had_old:
                os.rename(self.aside, self.name, src_dir_fd=fd, dst_dir_fd=fd)
            remove_tree_at(fd, trash)
        else:
            trash = self.staging + ".undo"
            os.mkdir(trash, 0o700, dir_fd=fd)
            tfd = os.open(trash, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
            afd = os.open(self.aside, _O_DIR | os.O_NOFOLLOW, dir_fd=fd)
            try:
                for child in os.listdir(fd):
                    if child not in (self.staging, self.aside, trash):
                        os.rename(child, child, src_dir_fd=fd, dst_dir_fd=tfd)
                for child in os.listdir(afd):
                    os.rename(child, child, src_dir_fd=afd, dst_dir_fd=fd)
            finally:
                os.close(tfd)
                os.close(afd)
            os.rmdir(self.aside, dir_fd=fd)
            remove_tree_at(fd, trash)
            if self.old_root is not None:
                _copy_meta(fd, self.old_root)
        self.swapped = False
        self.had_old = False
        self._restore_dir_times()

    def discard(self) -> None:
        """After a failure (and rollback): remove what was staged and the parents we made."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                remove_tree_at(self.fd, self.staging)
            self._restore_dir_times()
            os.close(self.fd)
            self.fd = None
        for p in reversed(self.made_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(p)
        self.made_dirs.clear()
        self.journal.drop(self.key)

    def finish(self, keep_old: bool, stamp: str) -> None:
        assert self.fd is not None
        if self.had_old:
            if keep_old:
                self.kept = self._keep(stamp)
            else:
                remove_tree_at(self.fd, self.aside)
        if self.new_root is not None:
            _copy_meta(self.fd, self.new_root)  # removing the aside copy changed the mtime
        self._restore_dir_times()
        self.journal.drop(self.key)
        os.close(self.fd)
        self.fd = None

    def _keep(self, stamp: str) -> str:
        """Moves the previous data where a person will find it; returns that path."""
        assert self.fd is not None
        if self.mode == "content":
            name = f".pre-restore-{stamp}"
            os.rename(self.aside, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            return os.path.join(self.dir, name)
        if self.keep_under is not None:
            # <portal root>/.pre-restore/<stamp>/<path>: outside app_data, so the kept copy is
            # never taken for an app of its own.
            rel = os.path.relpath(self.dest, self.keep_under)
            kept = os.path.join(self.keep_under, ".pre-restore", stamp, rel)
            os.makedirs(os.path.dirname(kept), mode=0o700, exist_ok=True)
            try:
                os.rename(self.aside, kept, src_dir_fd=self.fd)
                return kept
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        name = f".{self.name}.pre-restore-{stamp}"
        os.rename(self.aside, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        return os.path.join(self.dir, name)

    def _restore_dir_times(self) -> None:
        # Renames in the parent changed its mtime; it is not ours to change.
        if self.fd is not None and self.dir_times is not None and self.mode == "whole":
            with contextlib.suppress(OSError):
                os.utime(self.fd, ns=self.dir_times)


def _regular_fd(source: Any | None) -> int | None:
    """The descriptor of a plain archive file whose bytes are the zip itself, else None (a
    decrypting reader, a pipe...: its bytes are hashed again while written instead)."""
    if not isinstance(getattr(source, "raw", source), io.FileIO):
        return None
    try:
        fd = source.fileno()  # type: ignore[union-attr]
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError):
        return None


def _file_identity(fd: int | None) -> tuple[int, ...] | None:
    """What changes whenever the file's bytes do (ctime cannot be set back by a user)."""
    if fd is None:
        return None
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sync_filesystems(slots: list[_Slot]) -> None:
    seen: set[int] = set()
    for slot in slots:
        fd = slot.sync_fd()
        if fd is None or (dev := os.fstat(fd).st_dev) in seen:
            continue
        seen.add(dev)
        if _syncfs is None or _syncfs(fd) != 0:
            os.sync()


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_syncfs = _load_syncfs()


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _copy_meta(fd: int, st: os.stat_result) -> None:
    with contextlib.suppress(PermissionError):
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


class _DockerVolumeSlot(_Slot):
    """A named volume written through the Docker API when its files are not writable here.

    The new tree is uploaded (put_archive) into a staging directory inside the volume; small
    shell scripts in a helper container then swap it in, roll it back or clean up.
    """

    _PRELUDE = (
        "set -e\n"
        "for c in mv chmod chown touch rm mkdir rmdir; do command -v $c >/dev/null 2>&1 || "
        "eval \"$c() { busybox $c \\\"\\$@\\\"; }\"; done\n"
        "cd /v\n"
        "each() { for f in \"$1\"/* \"$1\"/.[!.]* \"$1\"/..?*; do "
        "[ -e \"$f\" ] || [ -L \"$f\" ] || continue; echo \"$f\"; done; }\n"
    )

    def __init__(self, target: TargetPlan, content: _Content, key: str, client: Any,
                 image: str, reader: ZipReader, on_bytes: Callable[[int], None],
                 cancel: threading.Event) -> None:
        self.target = target
        self.content = content
        self.client = client
        self.image = image
        self.reader = reader
        self.on_bytes = on_bytes
        self.cancel = cancel
        self.staging = f".pb-restore-{key}"
        self.aside = f".pb-old-{key}"
        self.helper: str | None = None
        self.staged = False
        self.swapped = False

    def _container(self, command: list[str] | None) -> str:
        host_config = self.client.api.create_host_config(
            binds={self.target.dest: {"bind": "/v", "mode": "rw"}})
        kwargs: dict[str, Any] = {}
        if command is not None:
            kwargs = {"entrypoint": ["/bin/sh", "-c"], "command": command}
        created = self.client.api.create_container(
            self.image, user="0:0", network_disabled=True, host_config=host_config,
            labels={HELPER_LABEL: "1"}, **kwargs)
        return str(created["Id"])

    def _script(self, body: str) -> None:
        cid = self._container([self._PRELUDE + body])
        try:
            self.client.api.start(cid)
            status = self.client.api.wait(cid).get("StatusCode", 1)
            if status != 0:
                out = self.client.api.logs(cid, stdout=True, stderr=True).decode(
                    "utf-8", "replace").strip()
                raise PortalBackupError(
                    f"the helper container for volume {self.target.dest} failed "
                    f"({first_line(Exception(out)) if out else f'exit status {status}'}); "
                    "run the restore as root to write the volume directly")
        finally:
            with contextlib.suppress(Exception):
                self.client.api.remove_container(cid, force=True)

    def stage(self, extractor: Extractor) -> None:
        self.helper = self._container(None)
        stream = _tar_stream(self.reader, self.content.records, self.content.prefix,
                             self.staging, self.on_bytes, self.cancel, extractor.rehash)
        self.staged = True
        try:
            self.client.api.put_archive(self.helper, "/v", stream)
        except Exception as exc:
            if isinstance(exc, PortalBackupError):
                raise
            raise PortalBackupError(f"Docker refused the contents of volume "
                                    f"{self.target.dest}: {first_line(exc)}") from exc
        extractor.stats.files += sum(r.type != "dir" for r in self.content.records)
        extractor.stats.bytes += sum(r.size for r in self.content.records if r.type == "file")

    def _root_meta(self) -> str:
        """Shell commands giving the volume's root the archive's owner, mode and mtime."""
        root = next((r for r in self.content.records if r.name == self.content.prefix), None)
        if root is None:
            return ""
        return (f"chown {root.uid}:{root.gid} . && chmod {root.mode:o} . && "
                f"(touch -d @{root.mtime_ns // 1_000_000_000} . 2>/dev/null || true)\n")

    def swap(self) -> None:
        s, o = self.staging, self.aside
        self.swapped = True
        self._script(
            f"mkdir {o}\n"
            f"each . | while read -r f; do case \"$f\" in ./{s}|./{o}) continue;; esac; "
            f"mv -- \"$f\" {o}/; done\n"
            f"each {s} | while read -r f; do mv -- \"$f\" ./; done\n"
            f"rmdir {s}\n{self._root_meta()}")

    def rollback(self) -> None:
        if not self.swapped:
            return
        s, o = self.staging, self.aside
        self._script(
            f"mkdir -p {s}.undo\n"
            f"each . | while read -r f; do case \"$f\" in ./{s}|./{o}|./{s}.undo) continue;; "
            f"esac; mv -- \"$f\" {s}.undo/; done\n"
            f"each {o} | while read -r f; do mv -- \"$f\" ./; done\n"
            f"rmdir {o}; rm -rf {s}.undo\n")
        self.swapped = False

    def discard(self) -> None:
        if self.staged:
            with contextlib.suppress(Exception):
                self._script(f"rm -rf {self.staging}\n")
        self._remove_helper()

    def finish(self, keep_old: bool, stamp: str) -> None:
        # The root's mtime is set again: moving or removing the aside copy changed it.
        if keep_old:
            self._script(f"[ -d {self.aside} ] && mv {self.aside} .pre-restore-{stamp} || true\n"
                         + self._root_meta())
            self.kept = f"volume {self.target.dest}: .pre-restore-{stamp}"
        else:
            self._script(f"rm -rf {self.aside}\n" + self._root_meta())
        self._remove_helper()

    def _remove_helper(self) -> None:
        if self.helper is not None:
            with contextlib.suppress(Exception):
                self.client.api.remove_container(self.helper, force=True)
            self.helper = None


def _tar_stream(reader: ZipReader, records: list[Record], prefix: str, root: str,
                on_bytes: Callable[[int], None], cancel: threading.Event,
                rehash: bool) -> Iterator[bytes]:
    """The records as a tar stream under `root/`, produced while Docker reads it."""
    head = tarfile.TarInfo(root)
    head.type, head.mode, head.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
    yield head.tobuf(tarfile.PAX_FORMAT)
    for r in records:
        if cancel.is_set():
            raise Cancelled("the restore was cancelled; nothing was changed")
        rel = (relative(r.name, prefix) or "").rstrip("/")
        if not rel:
            continue  # the volume's root: its metadata is set by the swap script
        ti = tarfile.TarInfo(f"{root}/{rel}")
        ti.mode, ti.uid, ti.gid = r.mode, r.uid, r.gid
        ti.mtime = r.mtime_ns / 1e9  # type: ignore[assignment]  # PAX keeps the fraction
        if r.type == "dir":
            ti.type = tarfile.DIRTYPE
            yield ti.tobuf(tarfile.PAX_FORMAT)
        elif r.type == "symlink":
            ti.type, ti.linkname = tarfile.SYMTYPE, r.target or ""
            yield ti.tobuf(tarfile.PAX_FORMAT)
        else:
            ti.size = r.size
            yield ti.tobuf(tarfile.PAX_FORMAT)
            digest = hashlib.sha256() if rehash else None
            for chunk in reader.iter_chunks(r.entry, 1 << 20):
                if digest is not None:
                    digest.update(chunk)
                on_bytes(len(chunk))
                yield chunk
            if digest is not None and digest.hexdigest() != r.sha256:
                raise UnsafeArchive(f"{show(r.name)}: its SHA-256 does not match the manifest.")
            if r.size % 512:
                yield b"\0" * (512 - r.size % 512)
    yield b"\0" * 1024


# --------------------------------------------------------------------------- the run


class RestoreRun:
    """One restore. Build it, call run(); `cancel` may be set from any thread (it is honoured
    until an item's data is swapped in; after that the item completes)."""

    def __init__(self, reader: ZipReader, selection: RestoreSelection, options: RestoreOptions,
                 client: Any | None, on_event: EventSink,
                 cancel: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic, source: Any | None = None
                 ) -> None:
        """`source` is the archive's file object: when it is a regular file, proving it
        unchanged between verification and swap replaces hashing every byte twice."""
        self.reader = reader
        self._source_fd = _regular_fd(source)
        self._source_id = _file_identity(self._source_fd)
        # One reader per thread over the same file (pread), for parallel checks and writes.
        workers = min(4, os.cpu_count() or 1)
        self._readers = ([reader.sharing(PreadFile(self._source_fd)) for _ in range(workers)]
                         if self._source_fd is not None and workers > 1 else None)
        self.sel = selection
        self.plan = selection.plan
        self.options = options
        self.client = client
        self.emit = on_event
        self.cancel = cancel or threading.Event()
        self.clock = clock
        self.token = secrets.token_hex(4)
        self.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self._throttle = Throttle(8, clock)
        self._rate = RateMeter(clock)
        self._verified = 0
        self._written = 0
        self._files = 0
        self._files_total = sum(t.size_archive.files for ts in selection.targets.values()
                                for t in ts)
        self._bytes_total = selection.bytes_total
        self._item: str | None = None
        self._extractor: Extractor | None = None  # the current item's, for files_done
        self._lock = threading.Lock()
        self._slot_count = 0
        self._entries = {e["path"]: e for e in self.plan.manifest["entries"]
                         if isinstance(e, dict) and isinstance(e.get("path"), str)}
        self._made_parents: dict[str, Record] = {}  # parent dirs created on a fresh host
        self.kept: list[str] = []
        self.created: list[str] = []
        self.warnings: list[str] = []
        self._owners_warned = False

    # ------------------------------------------------------------------ public

    def run(self) -> RestoreFinished:
        started = self.clock()
        for e in recover_restore(self._log):
            self._log("error", e)
        if self.client is not None:
            for e in recover_journal(lambda: self.client, self._log):
                self._log("error", e)
        lock = RunLock()
        lock.acquire()
        done: list[str] = []
        failed: dict[str, str] = {}
        try:
            for item in self.sel.items:
                self._item_state(item.id, "waiting")
            runnable = []
            for item in self.sel.items:
                why = self._refusal(item)
                if why:
                    failed[item.id] = why
                    self._item_state(item.id, "failed", why)
                else:
                    runnable.append(item)
            contents = self._check_all(runnable)
            for item in runnable:
                if self.cancel.is_set():
                    failed[item.id] = "cancelled before it started"
                    self._item_state(item.id, "failed", failed[item.id])
                    continue
                self._item = item.id
                try:
                    self._restore_item(item, contents[item.id])
                except Exception as exc:
                    msg = str(exc) if isinstance(exc, PortalBackupError) else (
                        f"{type(exc).__name__}: {exc}")
                    failed[item.id] = msg
                    self._item_state(item.id, "failed", msg)
                    if isinstance(exc, Cancelled):
                        self.cancel.set()
                else:
                    done.append(item.id)
                    self._item_state(item.id, "done")
            self._parent_times()
        finally:
            lock.release()
        self._progress(force=True)
        result = RestoreFinished(
            archive=self.plan.archive.name, done=done, failed=failed, bytes=self._written,
            files=self._files, seconds=round(self.clock() - started, 3), kept=self.kept,
            created=self.created, warnings=self.warnings)
        self.emit(result)  # type: ignore[arg-type]
        return result

    def _parent_times(self) -> None:
        """Parents made for the restored trees get the archive's mtimes, now that nothing
        more is added to them (deepest first)."""
        for path in sorted(self._made_parents, key=lambda p: p.count("/"), reverse=True):
            rec = self._made_parents[path]
            with contextlib.suppress(OSError):
                os.utime(path, ns=(rec.mtime_ns, rec.mtime_ns), follow_symlinks=False)

    def _refusal(self, item: ItemPlan) -> str | None:
        if item.id in self.sel.failing:
            return self.sel.failing[item.id]
        if (item.id in ("core/db", "core/identity") and self.sel.identity_conflict
                and not self.options.allow_identity_change):
            cur, arch = self.sel.identity_conflict
            return (f"this Portal's identity is {cur[:6]}, the archive's is {arch[:6]}; "
                    "confirm the identity change to restore it")
        return None

    # ------------------------------------------------------------------ one item

    def _check_all(self, items: list[ItemPlan]) -> dict[str, dict[int, _Content]]:
        """Every entry of every chosen item: names first (cheap), then CRC-32, size and
        SHA-256. Any failure refuses the whole restore before anything is touched."""
        contents: dict[str, dict[int, _Content]] = {}
        current = ""
        try:
            for item in items:
                current = item.id
                contents[item.id] = {}
                for t in self.sel.targets[item.id]:
                    c = self._content(t)
                    check_names(c.records, c.prefix)
                    contents[item.id][id(t)] = c
            for item in items:
                current = item.id
                self._item = item.id
                if contents[item.id]:
                    self._item_state(item.id, "copying", "verifying")
                for c in contents[item.id].values():
                    verify_entries(self.reader, c.records, self._on_verified, self.cancel,
                                   self._readers)
                self._check_space(self.sel.targets[item.id])
        except UnsafeArchive as exc:
            self._item_state(current, "failed", str(exc))
            raise UnsafeArchive(f"refusing to restore from {self.plan.archive.name}: {exc} "
                                "Nothing was changed.") from exc
        return contents

    def _restore_item(self, item: ItemPlan, contents: dict[int, _Content]) -> None:
        targets = self.sel.targets[item.id]
        stops = [_as_container(s) for s in self.sel.stops[item.id]]
        recreate = self.sel.recreate[item.id]

        journal = Journal(state_dir() / "journal.json")
        stopper = _Stopper(self.client, "stop", journal, self._log) if self.client else None
        slots: list[_Slot] = []
        made_volumes: list[str] = []
        made_containers: list[str] = []
        stopped = resumed = False
        extractor = Extractor(self.reader, self._on_written, self.cancel,
                              chown=os.geteuid() == 0, rehash=self._source_id is None,
                              readers=self._readers)
        self._extractor = extractor
        try:
            for name in self.sel.volumes_to_create[item.id]:
                self._create_volume(next(t for t in targets if t.dest == name))
                made_volumes.append(name)
            if targets:
                self._item_state(item.id, "copying", "extracting")
            for t in targets:
                slot = self._slot(t, contents[id(t)])
                slots.append(slot)
                slot.stage(extractor)
            self._warn_owners(extractor)
            # Durable before the swap, so a power cut never leaves the new tree half written
            # with the old one gone; done while the app still runs, so it costs no downtime.
            _sync_filesystems(slots)
            if self._source_id is not None and \
                    _file_identity(self._source_fd) != self._source_id:
                raise UnsafeArchive("the archive file changed during the restore")
            if self.cancel.is_set():
                raise Cancelled("the restore was cancelled; nothing was changed")
            if stops and stopper is not None:
                self._item_state(item.id, "stopping", ", ".join(c.name for c in stops))
                stopped = True
                stopper.quiesce(item.label, stops)
            elif stops:
                self._log("warning", f"{item.id}: Docker is not reachable; containers using "
                                     "these files were not stopped")
            if slots:
                self._item_state(item.id, "copying", "swapping")
            for slot in slots:
                slot.swap()
            if self.options.fail_after_swap == item.id:
                raise PortalBackupError(f"injected failure after swapping in {item.id}")
            if stopped and stopper is not None:
                self._item_state(item.id, "restarting")
                errors = stopper.resume_all()
                resumed = True
                if errors:
                    raise PortalBackupError("; ".join(errors))
            for cp in recreate:
                made_containers.append(self._create_container(item, cp))
            for cid, cp in zip(made_containers, recreate, strict=True):
                self._bring_to_state(cid, cp)
        except BaseException as exc:
            self._undo(item, slots, stopper if stopped else None, resumed, stops,
                       made_containers, made_volumes)
            if isinstance(exc, KeyboardInterrupt):
                raise Cancelled("the restore was interrupted; the previous data is back") from None
            raise
        self._files += extractor.stats.files
        self._extractor = None
        self.created += [cp.name for cp in recreate]
        for slot in slots:
            slot.finish(self.options.keep_old, self.stamp)
            if slot.kept:
                self.kept.append(slot.kept)
                self._log("info", f"{item.id}: the previous data is kept at {slot.kept}")

    def _undo(self, item: ItemPlan, slots: list[_Slot], stopper: _Stopper | None,
              resumed: bool, stops: list[ContainerInfo], made_containers: list[str],
              made_volumes: list[str]) -> None:
        """Puts everything back as it was before this item; reports what it could not."""
        for cid in reversed(made_containers):
            with contextlib.suppress(Exception):
                assert self.client is not None
                self.client.api.remove_container(cid, force=True)
        if stopper is not None and resumed:
            try:  # they run on the new data again: stop them before it is taken away
                stopper.quiesce(item.label, stops)
            except PortalBackupError as exc:
                self._log("error", str(exc))
        for slot in reversed(slots):
            try:
                slot.rollback()
            except Exception as exc:
                self._log("error", f"could not put the previous data of {slot.target.label} "
                                   f"back: {first_line(exc)}")
            try:
                slot.discard()
            except Exception as exc:
                self._log("error", f"could not clean up beside {slot.target.label}: "
                                   f"{first_line(exc)}")
        if stopper is not None:
            for e in stopper.resume_all():
                self._log("error", e)
        for name in made_volumes:
            with contextlib.suppress(Exception):
                assert self.client is not None
                self.client.api.remove_volume(name)
        self._item_state(item.id, "restarting", "the previous data is back")

    # ------------------------------------------------------------------ contents

    def _content(self, t: TargetPlan) -> _Content:
        names = [n for n in self.plan.entry_names if relative(n, t.archive_path) is not None]
        if not names:
            raise UnsafeArchive(f"the archive holds nothing at {show(t.archive_path)}")
        records = join_records(self.reader, self.plan.manifest["entries"], names)
        content = _Content(records, t.archive_path)
        if not t.is_dir and (len(records) != 1 or records[0].type == "dir"):
            raise UnsafeArchive(f"{show(t.archive_path)}: expected one file in the archive")
        if t.kind == "db":
            content.data, content.meta = self._db_bytes(t, records[0])
        return content

    def _db_bytes(self, t: TargetPlan, rec: Record) -> tuple[bytes, tuple[int, int, int, int]]:
        """The database to write when it cannot be restored byte for byte."""
        stored = portaldb.load(self.reader.read_entry(rec.entry, limit=1 << 30))
        current: dict[str, Any] = {}
        with contextlib.suppress(OSError, PortalBackupError):
            current = portaldb.load(portaldb.read_consistent(Path(t.dest)))
        if t.merge == "identities":
            # Only the identities change: the rest of this Portal's database stays as it is.
            merged = dict(current)
            merged["identities"] = stored.get("identities") or {}
        else:
            # The stored database lacks private keys: keep this Portal's keys where ids match.
            merged = stored
            keys = {r.get("id"): r.get("private_key") for r in
                    (current.get("identities") or {}).values() if isinstance(r, dict)}
            for r in (merged.get("identities") or {}).values():
                if isinstance(r, dict) and keys.get(r.get("id")):
                    r["private_key"] = keys[r.get("id")]
        try:
            st = os.stat(t.dest)
            meta = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, time.time_ns())
        except OSError:
            meta = (0o600, rec.uid, rec.gid, time.time_ns())
        return json.dumps(merged).encode(), meta

    def _parent_meta(self, path: str) -> Record | None:
        root = self.plan.portal_root
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):
            return None
        rec = self._entries.get(rel + "/")
        entry = self.reader.get(rel + "/")
        if rec is None or entry is None or rec.get("type") != "dir":
            return None
        return join_records(self.reader, [rec], [rel + "/"])[0]

    def _slot(self, t: TargetPlan, content: _Content) -> _Slot:
        self._slot_count += 1
        key = f"{self.token}-{self._slot_count}"
        if t.kind != "volume":
            root = self.plan.portal_root
            under = root if os.path.normpath(t.dest).startswith(root + "/") else None
            return _HostSlot(t, t.dest, content, key, SwapJournal(), under, self._parent_meta,
                             self._made_parents)
        assert self.client is not None
        mountpoint = self.client.api.inspect_volume(t.dest).get("Mountpoint") or ""
        access = self.options.volume_access
        writable = bool(mountpoint) and os.access(mountpoint, os.W_OK | os.X_OK) and \
            os.access(os.path.dirname(mountpoint), os.W_OK | os.X_OK)
        if access != "docker" and writable:
            return _HostSlot(t, mountpoint, content, key, SwapJournal(), None,
                             lambda _p: None, self._made_parents)
        if access == "host":
            raise PortalBackupError(f"cannot write volume {t.dest} from the host "
                                    "(run as root)")
        return _DockerVolumeSlot(t, content, key, self.client, self._helper_image(t),
                                 self.reader, self._on_written, self.cancel)

    def _helper_image(self, t: TargetPlan) -> str:
        assert self.client is not None
        candidates = [c.image for c in self.plan.host_containers
                      if any(m.type == "volume" and m.source == t.dest for m in c.mounts)]
        for item in self.plan.items:
            candidates += [c.config.get("image") or c.image for c in item.containers]
        for image in candidates:
            if not image:
                continue
            try:
                self.client.api.inspect_image(image)
            except Exception:
                continue
            return image
        raise PortalBackupError(f"cannot write volume {t.dest}: its files are not writable "
                                "here and no local image can run a helper; run as root")

    def _check_space(self, targets: list[TargetPlan]) -> None:
        for t in targets:
            where = (os.path.dirname(t.dest) if t.kind != "volume" else t.mountpoint) or ""
            while where and not os.path.isdir(where):
                where = os.path.dirname(where)
            if not where:
                continue
            try:
                vfs = os.statvfs(where)
            except OSError:
                continue
            need = t.size_archive.bytes + (1 << 20)
            free = vfs.f_bavail * vfs.f_frsize
            if need > free:
                raise PortalBackupError(f"not enough free space beside {t.label}: the restore "
                                        f"needs {need} bytes and {free} are free")

    # ------------------------------------------------------------------ Docker objects

    def _create_volume(self, t: TargetPlan) -> None:
        assert self.client is not None
        rec = t.volume or {}
        self.client.api.create_volume(
            name=t.dest, driver=rec.get("driver") or "local",
            driver_opts=rec.get("options") or None, labels=rec.get("labels") or None)
        self._log("info", f"created volume {t.dest}")

    def _create_container(self, item: ItemPlan, cp: ContainerPlan) -> str:
        """A container like the archived one: same name, image, command, env, labels, mounts
        (bind sources moved to this Portal root), restart policy, network and user."""
        from docker.types import Mount

        assert self.client is not None
        api = self.client.api
        cfg = cp.config
        mounts = []
        for m in cfg.get("mounts") or []:
            source = m.get("source") or ""
            if m.get("type") == "bind":
                source = self._remap(source)
                if not os.path.exists(source):
                    os.makedirs(source, mode=0o755, exist_ok=True)
                    self._log("warning", f"{cp.name}: created the empty bind source {source} "
                                         "(the archive does not hold it)")
            mounts.append(Mount(target=m.get("target") or "", source=source,
                                type=m.get("type") or "bind",
                                read_only=bool(m.get("read_only"))))
        policy = cfg.get("restart_policy") or {}
        network = self._network(cfg.get("network_mode"), item, cp)
        ports = {k: v for k, v in (cfg.get("ports") or {}).items() if v} or None
        exposed = {p: {} for p in cfg.get("exposed_ports") or ports or ()} or None
        host_config = api.create_host_config(
            mounts=mounts, restart_policy=policy if policy.get("Name") else None,
            network_mode=network, port_bindings=ports)
        networking = None
        if network and network not in ("none", "host", "bridge", "default") and \
                not network.startswith("container:") and cp.service:
            networking = api.create_networking_config(
                {network: api.create_endpoint_config(aliases=[cp.service])})
        hostname = cfg.get("hostname")
        if hostname and cp.old_id.startswith(hostname):
            hostname = None  # Docker's default (the old container ID): let it pick a new one
        image = cfg.get("image") or cp.image
        try:
            api.inspect_image(image)
        except Exception:
            image = cfg.get("image_id") or image
        try:
            created = api.create_container(
                image, command=cfg.get("command"), entrypoint=cfg.get("entrypoint"),
                environment=cfg.get("env") or None, labels=cfg.get("labels") or None,
                working_dir=cfg.get("working_dir") or None, user=cfg.get("user") or None,
                hostname=hostname, name=cp.name, host_config=host_config,
                networking_config=networking,
                ports=exposed)  # a dict passes through as ExposedPorts unchanged
        except Exception as exc:
            raise PortalBackupError(f"could not create {cp.name}: {first_line(exc)}") from exc
        self._log("info", f"created container {cp.name}")
        return str(created["Id"])

    def _network(self, mode: str | None, item: ItemPlan, cp: ContainerPlan) -> str | None:
        if not mode or mode in ("none", "host", "bridge", "default"):
            return mode or None
        assert self.client is not None
        if mode.startswith("container:"):
            old = mode.split(":", 1)[1]
            for other in self.plan.items:
                for c in other.containers:
                    if c.old_id and c.old_id.startswith(old):
                        return f"container:{c.name}"
            return mode
        try:
            self.client.api.inspect_network(mode)
        except Exception:
            labels = {"com.docker.compose.project": item.label}
            if mode.startswith(item.label + "_"):
                labels["com.docker.compose.network"] = mode[len(item.label) + 1:]
            try:
                self.client.api.create_network(mode, driver="bridge", labels=labels)
            except Exception as exc:
                raise PortalBackupError(f"could not create network {mode} for {cp.name}: "
                                        f"{first_line(exc)}") from exc
            self._log("info", f"created network {mode}")
        return mode

    def _remap(self, source: str) -> str:
        old = self.plan.archive.portal_root
        new = self.plan.portal_root
        norm = os.path.normpath(source)
        if old and (norm == old or norm.startswith(old.rstrip("/") + "/")):
            return new + norm[len(old.rstrip("/")):]
        return norm

    def _bring_to_state(self, cid: str, cp: ContainerPlan) -> None:
        """Running and paused containers are started (and paused); the rest stay created,
        so nothing runs that was not running when the backup was made."""
        assert self.client is not None
        if cp.state_before not in ("running", "paused", "restarting"):
            return
        try:
            self.client.api.start(cid)
            if cp.state_before == "paused":
                self.client.api.pause(cid)
        except Exception as exc:
            raise PortalBackupError(f"could not start {cp.name}: {first_line(exc)}") from exc
        self._log("info", f"{'started and paused' if cp.state_before == 'paused' else 'started'}"
                          f" {cp.name}")

    # ------------------------------------------------------------------ events

    def _on_verified(self, n: int) -> None:
        with self._lock:  # checker threads report here
            self._verified += n
            self._progress()

    def _on_written(self, n: int) -> None:
        self._written += n
        self._progress()

    def _progress(self, force: bool = False) -> None:
        if not self._throttle.ready(force):
            return
        # Every byte is read twice (verified, then written): count each pass as half.
        done = (self._verified + self._written) // 2
        rate = self._rate.update(done)
        self.emit(Progress(
            bytes_done=done, bytes_total=max(self._bytes_total, done),
            files_done=self._files + (self._extractor.stats.files if self._extractor else 0),
            files_total=self._files_total, item=self._item, path=None,
            rate=rate, eta=self._rate.eta(done, self._bytes_total),
            elapsed=self._rate.elapsed()))

    def _warn_owners(self, extractor: Extractor) -> None:
        if extractor.stats.owners_skipped and not self._owners_warned:
            self._owners_warned = True
            msg = "not running as root: file owners (uid/gid) were not restored"
            self.warnings.append(msg)
            self._log("warning", msg)

    def _item_state(self, item: str, state: str, detail: str | None = None) -> None:
        self.emit(ItemState(item, state, detail))  # type: ignore[arg-type]

    def _log(self, level: str, message: str) -> None:
        self.emit(Log(level, message))  # type: ignore[arg-type]


def run_restore(reader: ZipReader, selection: RestoreSelection, options: RestoreOptions,
                client: Any | None, on_event: EventSink,
                cancel: threading.Event | None = None) -> RestoreFinished:
    return RestoreRun(reader, selection, options, client, on_event, cancel).run()


def run_restore_cli(args: Any) -> int:
    """The `portal-backup restore` command (its printing lives outside tui/core)."""
    from ..restore_cli import run_restore_cli as run

    return run(args)
