"""Restoring items from an archive: verify, stage, stop, swap, restart, and undo on failure.

First every entry of every chosen item is checked (names, then CRC-32, size and SHA-256
against the manifest); one failure refuses the whole restore before anything is touched.
Then for each item, in archive order:

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
import io
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from tui.core import portaldb
from tui.core.archive.chain import ChainReader
from tui.core.archive.extract import (
    Extractor,
    PreadFile,
    Record,
    UnsafeArchive,
    check_names,
    join_records,
    relative,
    verify_entries,
)
from tui.core.archive.zipreader import ZipReader, show
from tui.core.errors import Cancelled, PortalBackupError, first_line
from tui.core.events import (
    EventSink,
    ItemPhase,
    ItemState,
    Log,
    Progress,
    RateMeter,
    RestoreFinished,
    Throttle,
    log_level,
)
from tui.core.model import ContainerInfo
from tui.core.quiesce import Journal, RestoreStopper, RunLock, recover_journal
from tui.core.restore.docker_objects import DockerObjects
from tui.core.restore.journal import SwapJournal, docker_root_from, recover_restore
from tui.core.restore.plan import (
    ItemPlan,
    RestorePlan,
    RestoreSelection,
    StopPlan,
    TargetPlan,
    load_plan,
)
from tui.core.restore.slots import Content, DockerVolumeSlot, HostSlot, Slot, sync_filesystems
from tui.core.state import state_dir

__all__ = [
    "RestoreFinished",
    "RestoreOptions",
    "RestorePlan",
    "RestoreRun",
    "RestoreSelection",
    "load_plan",
    "run_restore",
]

HELPER_LABEL = "org.portal-backup.helper"
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass
class RestoreOptions:
    keep_old: bool = False  # keep the previous data (its path is reported) instead of deleting it
    allow_identity_change: bool = False  # restore core/db or core/identity over another Portal
    volume_access: str = "auto"  # "auto", "host" (mountpoints) or "docker" (the archive API)
    # Test hooks (set only by tests, through the faces: tui/cli/test_hooks.py).
    fail_after_swap: str | None = None  # fail this item right after its swap
    # While hold_file exists, the restore of hold_item waits after staging and stopping, just
    # before the swap, so a test can kill it at that exact point.
    hold_file: str | None = None
    hold_item: str | None = None


def _as_container(s: StopPlan) -> ContainerInfo:
    return ContainerInfo(id=s.id, name=s.name, image="", state=s.state, service=None, mounts=())


def _regular_fd(source: Any | None) -> int | None:
    """The descriptor of a plain archive file whose bytes are the zip itself, else None (a
    decrypting reader, a pipe...: its bytes are hashed again while written instead)."""
    if source is None or not isinstance(getattr(source, "raw", source), io.FileIO):
        return None
    try:
        fd = source.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError):
        return None


def _file_identity(fd: int | None) -> tuple[int, ...] | None:
    """What changes whenever the file's bytes do (ctime cannot be set back by a user)."""
    if fd is None:
        return None
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# --------------------------------------------------------------------------- the run


class RestoreRun:
    """One restore. Build it, call run(); `cancel` may be set from any thread (it is honoured
    until an item's data is swapped in; after that the item completes)."""

    def __init__(
        self,
        reader: ZipReader,
        selection: RestoreSelection,
        options: RestoreOptions,
        client: Any | None,
        on_event: EventSink,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        source: Any | None = None,
    ) -> None:
        """`source` is the archive's file object: when it is a regular file, proving it
        unchanged between verification and swap replaces hashing every byte twice."""
        self.reader = reader
        self._swap_journal: SwapJournal | None = None
        # A differential's chain reads two files: its bytes are hashed again while written.
        self._source_fd = None if isinstance(reader, ChainReader) else _regular_fd(source)
        self._source_id = _file_identity(self._source_fd)
        # One reader per thread over the same file (pread), for parallel checks and writes.
        workers = min(4, os.cpu_count() or 1)
        self._readers = (
            # PreadFile has the read/seek/tell that ZipReader uses, with a position per thread.
            [reader.sharing(cast(BinaryIO, PreadFile(self._source_fd))) for _ in range(workers)]
            if self._source_fd is not None and workers > 1
            else None
        )
        self.sel = selection
        self.plan = selection.plan
        self.options = options
        self.client = client
        self.emit = on_event
        self.cancel = cancel or threading.Event()
        self.clock = clock
        self.docker = DockerObjects(client, selection.plan, self._log)
        self.token = secrets.token_hex(4)
        self.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self._throttle = Throttle(8, clock)
        self._rate = RateMeter(clock)
        self._verified = 0
        self._written = 0
        self._files = 0
        self._files_total = sum(
            t.size_archive.files for ts in selection.targets.values() for t in ts
        )
        self._bytes_total = selection.bytes_total
        self._item: str | None = None
        self._extractor: Extractor | None = None  # the current item's, for files_done
        self._lock = threading.Lock()
        self._slot_count = 0
        self._entries = {e.path: e for e in self.plan.manifest.entries}
        self._made_parents: dict[str, Record] = {}  # parent dirs created on a fresh host
        self.kept: list[str] = []
        self.created: list[str] = []
        self.warnings: list[str] = []
        self._owners_warned = False

    # ------------------------------------------------------------------ public

    def run(self) -> RestoreFinished:
        started = self.clock()
        for e in recover_restore(
            self._log, self.plan.portal_root, docker_root_from(lambda: self.client)
        ):
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
                    msg = (
                        str(exc)
                        if isinstance(exc, PortalBackupError)
                        else (f"{type(exc).__name__}: {exc}")
                    )
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
            archive=self.plan.archive.name,
            done=done,
            failed=failed,
            bytes=self._written,
            files=self._files,
            seconds=round(self.clock() - started, 3),
            kept=self.kept,
            created=self.created,
            warnings=self.warnings,
        )
        self.emit(result)
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
        if (
            item.id in ("core/db", "core/identity")
            and self.sel.identity_conflict
            and not self.options.allow_identity_change
        ):
            cur, arch = self.sel.identity_conflict
            return (
                f"this Portal's identity is {cur[:6]}, the archive's is {arch[:6]}; "
                "confirm the identity change to restore it"
            )
        return None

    # ------------------------------------------------------------------ one item

    def _check_all(self, items: list[ItemPlan]) -> dict[str, dict[int, Content]]:
        """Every entry of every chosen item: names first (cheap), then CRC-32, size and
        SHA-256. Any failure refuses the whole restore before anything is touched."""
        contents: dict[str, dict[int, Content]] = {}
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
                    verify_entries(
                        self.reader, c.records, self._on_verified, self.cancel, self._readers
                    )
                self._check_space(self.sel.targets[item.id])
        except UnsafeArchive as exc:
            self._item_state(current, "failed", str(exc))
            raise UnsafeArchive(
                f"refusing to restore from {self.plan.archive.name}: {exc} Nothing was changed."
            ) from exc
        return contents

    def _restore_item(self, item: ItemPlan, contents: dict[int, Content]) -> None:
        targets = self.sel.targets[item.id]
        stops = [_as_container(s) for s in self.sel.stops[item.id]]
        recreate = self.sel.recreate[item.id]

        journal = Journal(state_dir() / "journal.json")
        stopper = RestoreStopper(self.client, "stop", journal, self._log) if self.client else None
        slots: list[Slot] = []
        made_volumes: list[str] = []
        made_containers: list[str] = []
        stopped = resumed = False
        extractor = Extractor(
            self.reader,
            self._on_written,
            self.cancel,
            chown=os.geteuid() == 0,
            rehash=self._source_id is None,
            readers=self._readers,
        )
        self._extractor = extractor
        try:
            for name in self.sel.volumes_to_create[item.id]:
                self.docker.create_volume(next(t for t in targets if t.dest == name))
                made_volumes.append(name)
            for t in targets:  # every destination checked before anything is written
                slot = self._slot(t, contents[id(t)])
                slots.append(slot)
                if isinstance(slot, HostSlot):
                    slot.prepare()
            if targets:
                self._item_state(item.id, "copying", "extracting")
            for slot in slots:
                slot.stage(extractor)
            self._warn_owners(extractor)
            # Durable before the swap, so a power cut never leaves the new tree half written
            # with the old one gone; done while the app still runs, so it costs no downtime.
            sync_filesystems(slots)
            if self._source_id is not None and _file_identity(self._source_fd) != self._source_id:
                raise UnsafeArchive("the archive file changed during the restore")
            if self.cancel.is_set():
                raise Cancelled("the restore was cancelled; nothing was changed")
            if stops and stopper is not None:
                self._item_state(item.id, "stopping", ", ".join(c.name for c in stops))
                stopped = True
                stopper.quiesce(item.label, stops)
            elif stops:
                self._log(
                    "warning",
                    f"{item.id}: Docker is not reachable; containers using "
                    "these files were not stopped",
                )
            self._hold_for_test(item.id)
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
                made_containers.append(self.docker.create_container(item, cp))
            for cid, cp in zip(made_containers, recreate, strict=True):
                self.docker.bring_to_state(cid, cp)
        except BaseException as exc:
            self._undo(
                item,
                slots,
                stopper if stopped else None,
                resumed,
                stops,
                made_containers,
                made_volumes,
            )
            if isinstance(exc, KeyboardInterrupt):
                raise Cancelled("the restore was interrupted; the previous data is back") from None
            raise
        self._files += extractor.stats.files
        self._extractor = None
        self.created += [cp.name for cp in recreate]
        for slot in slots:
            try:
                slot.finish(self.options.keep_old, self.stamp)
            except Exception as exc:  # the restore itself succeeded: say what is left over
                msg = (
                    f"{item.id}: the previous data beside {slot.target.label} could not be "
                    f"removed ({first_line(exc)}); the next portal-backup command finishes "
                    "removing it"
                )
                self.warnings.append(msg)
                self._log("warning", msg)
                continue
            if slot.kept:
                self.kept.append(slot.kept)
                self._log("info", f"{item.id}: the previous data is kept at {slot.kept}")

    def _undo(
        self,
        item: ItemPlan,
        slots: list[Slot],
        stopper: RestoreStopper | None,
        resumed: bool,
        stops: list[ContainerInfo],
        made_containers: list[str],
        made_volumes: list[str],
    ) -> None:
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
                self._log(
                    "error",
                    f"could not put the previous data of {slot.target.label} "
                    f"back: {first_line(exc)}",
                )
            try:
                slot.discard()
            except Exception as exc:
                self._log(
                    "error", f"could not clean up beside {slot.target.label}: {first_line(exc)}"
                )
        if stopper is not None:
            for e in stopper.resume_all():
                self._log("error", e)
        for name in made_volumes:
            with contextlib.suppress(Exception):
                assert self.client is not None
                self.client.api.remove_volume(name)
        self._item_state(item.id, "restarting", "the previous data is back")

    # ------------------------------------------------------------------ contents

    def _content(self, t: TargetPlan) -> Content:
        names = [n for n in self.plan.entry_names if relative(n, t.archive_path) is not None]
        if not names:
            raise UnsafeArchive(f"the archive holds nothing at {show(t.archive_path)}")
        listed = (self._entries[n].to_json() for n in names if n in self._entries)
        records = join_records(self.reader, listed, names)
        content = Content(records, t.archive_path)
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
            keys = {
                r.get("id"): r.get("private_key")
                for r in (current.get("identities") or {}).values()
                if isinstance(r, dict)
            }
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
        if rec is None or entry is None or rec.type != "dir":
            return None
        return join_records(self.reader, [rec.to_json()], [rel + "/"])[0]

    def _parent_meta_real(self, path: str) -> Record | None:
        """_parent_meta for a path under the Portal root's real path."""
        real = os.path.realpath(self.plan.portal_root)
        return self._parent_meta(os.path.join(self.plan.portal_root, os.path.relpath(path, real)))

    def _journal(self) -> SwapJournal:
        """One journal for the whole run: each slot's record must survive the others' saves."""
        if self._swap_journal is None:
            self._swap_journal = SwapJournal()
        return self._swap_journal

    def _slot(self, t: TargetPlan, content: Content) -> Slot:
        self._slot_count += 1
        key = f"{self.token}-{self._slot_count}"
        if t.kind != "volume":
            # Reached from a trusted anchor with O_NOFOLLOW below it: the real path of the
            # Portal root (the admin chose it), or "/" for a bind outside it.
            root = self.plan.portal_root
            if os.path.normpath(t.dest).startswith(root.rstrip("/") + "/"):
                real = os.path.realpath(root)
                dest = os.path.join(real, os.path.relpath(t.dest, root))
                # A fresh host may lack the root itself: anchor at its nearest existing
                # ancestor, and the missing components are made (O_NOFOLLOW) while staging.
                anchor = real
                while not os.path.isdir(anchor):
                    anchor = os.path.dirname(anchor)
                return HostSlot(
                    t,
                    dest,
                    content,
                    key,
                    self._journal(),
                    real,
                    self._parent_meta_real,
                    self._made_parents,
                    anchor,
                    "portal",
                )
            return HostSlot(
                t,
                t.dest,
                content,
                key,
                self._journal(),
                None,
                self._parent_meta,
                self._made_parents,
                "/",
                "bind",
            )
        assert self.client is not None
        mountpoint = self.client.api.inspect_volume(t.dest).get("Mountpoint") or ""
        access = self.options.volume_access
        writable = (
            bool(mountpoint)
            and os.access(mountpoint, os.W_OK | os.X_OK)
            and os.access(os.path.dirname(mountpoint), os.W_OK | os.X_OK)
        )
        if access != "docker" and writable:
            # Docker's <root>/volumes/<name>/_data, reached from <root>/volumes.
            volumes = os.path.dirname(os.path.dirname(os.path.realpath(mountpoint)))
            return HostSlot(
                t,
                os.path.realpath(mountpoint),
                content,
                key,
                self._journal(),
                None,
                lambda _p: None,
                self._made_parents,
                volumes,
                "volume",
            )
        if access == "host":
            raise PortalBackupError(f"cannot write volume {t.dest} from the host (run as root)")
        return DockerVolumeSlot(
            t,
            content,
            key,
            self.client,
            self.docker.helper_image(t),
            self.reader,
            self._on_written,
            self.cancel,
        )

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
                raise PortalBackupError(
                    f"not enough free space beside {t.label}: the restore "
                    f"needs {need} bytes and {free} are free"
                )

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
        self.emit(
            Progress(
                bytes_done=done,
                bytes_total=max(self._bytes_total, done),
                files_done=self._files + (self._extractor.stats.files if self._extractor else 0),
                files_total=self._files_total,
                item=self._item,
                path=None,
                rate=rate,
                eta=self._rate.eta(done, self._bytes_total),
                elapsed=self._rate.elapsed(),
            )
        )

    def _warn_owners(self, extractor: Extractor) -> None:
        if extractor.stats.owners_skipped and not self._owners_warned:
            self._owners_warned = True
            msg = "not running as root: file owners (uid/gid) were not restored"
            self.warnings.append(msg)
            self._log("warning", msg)

    def _item_state(self, item: str, state: ItemPhase, detail: str | None = None) -> None:
        self.emit(ItemState(item, state, detail))

    def _hold_for_test(self, item_id: str) -> None:
        hold = self.options.hold_file
        if hold and self.options.hold_item == item_id:
            self._log("info", f"holding at {item_id} while {hold} exists")
            while os.path.exists(hold) and not self.cancel.wait(0.05):
                pass

    def _log(self, level: str, message: str) -> None:
        # A str: quiesce, journal and docker_objects call back with Callable[[str, str], None].
        self.emit(Log(log_level(level), message))


def run_restore(
    reader: ZipReader,
    selection: RestoreSelection,
    options: RestoreOptions,
    client: Any | None,
    on_event: EventSink,
    cancel: threading.Event | None = None,
) -> RestoreFinished:
    return RestoreRun(reader, selection, options, client, on_event, cancel).run()
