"""Runs a plan: quiesce each app in turn, stream its trees into the zip, emit progress.

Guarantees, whatever happens (error, cancel, SIGTERM/SIGHUP turned into a cancel by the caller):
every container this run stopped or paused is resumed, and no file exists under the final
name unless it is complete (temporary name, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import os
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core import naming, portaldb
from tui.core.archive.manifest import (
    build_manifest,
    entry_record,
    item_records,
    readme_text,
    sums_line,
    tool_record,
    volume_records,
)
from tui.core.archive.manifest_model import (
    DifferentialRecord,
    Manifest,
    ManifestEntry,
    PortalRecord,
    SkippedRecord,
)
from tui.core.archive.zipwriter import EntryMeta, WrittenEntry, ZipWriter
from tui.core.backup.changes import BaseState, ChangeDetector, Observed
from tui.core.backup.sinks import (
    FileSink,
    Published,
    Sink,
    StdoutSink,
    UploadSink,
    mount_point,
)
from tui.core.backup.sources import Node, volume_readable, walk_path, walk_volume_via_docker
from tui.core.backup.sqlite_copy import SIDECARS, Snapshot, looks_like_sqlite
from tui.core.checkpoint import checkpoint
from tui.core.errors import Cancelled, PortalBackupError
from tui.core.events import (
    EventSink,
    Finished,
    ItemPhase,
    ItemState,
    Log,
    LogLevel,
    Progress,
    RateMeter,
    Throttle,
    Upload,
)
from tui.core.model import (
    DB_REL,
    IDENTITY_ARCHIVE_REL,
    MANIFEST_NAME,
    META_NAMES,
    README_NAME,
    SIGNATURE_NAME,
    SUMS_NAME,
    Inventory,
    Size,
    Source,
)
from tui.core.plan import Plan, PlanStep, nested_claims
from tui.core.quiesce import Journal, QuiesceMode, Quiescer, RunLock
from tui.core.sizes import scan_size, volume_size
from tui.core.state import record_last_backup, state_dir

if TYPE_CHECKING:
    from tui.core.dest.target import Dest


@dataclass
class BackupOptions:
    output: str | None = None  # a directory or a file name; default: the current directory
    quiesce: QuiesceMode = "stop"
    level: int | None = None
    threads: int | None = None
    volume_access: str = "auto"  # "auto", "host" or "docker"
    sign: bool = True
    encrypt_to: list[Any] = field(default_factory=list)  # age recipients; empty: plain zip
    stdout: bool = False  # -o -: the archive on stdout
    to: Dest | None = None  # --to DEST: streamed to a destination
    verify_upload: bool = False  # read the upload back and compare its SHA-256
    rclone_config: Path | None = None  # the rclone config for remote destinations
    since: BaseState | None = None  # --since BASE: a differential against this full backup
    # Test hook: a path; while it exists, the run waits after quiescing this item's app.
    hold_file: str | None = None
    hold_item: str | None = None
    fail_item: str | None = None  # test hook: fail after reading this item


def archive_name(
    inventory: Inventory, now: datetime, encrypted: bool, since: BaseState | None
) -> str:
    """A new archive's name; a differential names its base's time after "-since-"."""
    name = naming.default_archive_name(inventory, now)
    if since is not None:
        from tui.core.backup.since import differential_name

        name = differential_name(name, since)
    return name + (".age" if encrypted else "")


def resolve_output(
    output: str | None,
    inventory: Inventory,
    now: datetime,
    encrypted: bool,
    since: BaseState | None = None,
) -> tuple[Path, bool]:
    """The archive's final path, and whether it is a default name (which may get a -N
    suffix if another run took it within the same second)."""
    name = archive_name(inventory, now, encrypted, since)
    if output is None:
        return Path.cwd() / name, True
    path = Path(output).expanduser()
    if path.is_dir():
        return path / name, True
    if not path.parent.is_dir():
        raise PortalBackupError(f"the directory {path.parent} does not exist")
    return path, False


class _Counters:
    def __init__(self, total_bytes: int, total_files: int) -> None:
        self.bytes = 0
        self.files = 0
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.item: str | None = None
        self.path: str | None = None
        self.lock = threading.Lock()


class BackupRun:
    """One backup. Build it, call run(); `cancel` may be set from any thread."""

    def __init__(
        self,
        inventory: Inventory,
        plan: Plan,
        options: BackupOptions,
        client: Any | None,
        on_event: EventSink,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inventory = inventory
        self.plan = plan
        self.options = options
        self.client = client
        self.emit = on_event
        self.cancel = cancel or threading.Event()
        self.clock = clock
        self.entries: list[ManifestEntry] = []
        self.sums: list[str] = []
        self.skipped: list[SkippedRecord] = []
        self.warnings: list[str] = []
        self._throttle = Throttle(8, clock)
        self._rate = RateMeter(clock)
        self._sqlite_copied: set[str] = set()
        self._parents_done: set[str] = set()
        self._df_cache: dict[str, Size] = {}
        self._prune = nested_claims(plan)  # host trees stored by another step, per source
        # A differential (--since): entries unchanged since the base are not stored again.
        self.changes = ChangeDetector(options.since) if options.since is not None else None
        self.kept: list[ManifestEntry] = []  # unchanged, held by the base
        self._order: dict[str, int] = {}  # walk order of every entry, to list them in it
        self._stat_ids: dict[str, tuple[int | None, int | None]] = {}
        self._manifest_raw = b""

    # ------------------------------------------------------------------ public

    def run(self) -> Finished:
        started = self.clock()
        now = datetime.now(UTC).replace(microsecond=0)
        sink = self._make_sink(now)
        if self.options.since is not None and self.options.since.note:
            self._log("info", self.options.since.note)
        self._log("info", "computing sizes")
        self._check_cancel()
        total_bytes, total_files = self._plan_totals()
        self.counters = _Counters(total_bytes, total_files)
        sink.prepare(total_bytes, lambda message: self._log("info", message))

        lock = RunLock()
        lock.acquire()
        journal = Journal(state_dir() / "journal.json")
        quiescer = Quiescer(self.client, self.options.quiesce, journal, self._log)
        writer: ZipWriter | None = None
        published: Published | None = None
        gc_on = gc.isenabled()
        gc.disable()  # ~10 objects per file, none in cycles: collections would only cost time
        try:
            out = sink.open()
            checkpoint("backup.partial-created")
            archive_out, closer = self._open_sink(out)
            writer = ZipWriter(
                archive_out,
                level=self.options.level,
                threads=self.options.threads,
                on_written=self._on_written,
            )
            for step in self.plan.steps:
                self._run_step(step, writer, quiescer)
            self._write_metadata(writer, quiescer, now)
            writer.close()
            closer()
            self._check_cancel()  # the last chance to keep nothing: after this it is published
            published = sink.commit()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise _disk_full(exc) from exc
            raise
        finally:
            # Containers first: the apps' downtime matters more than our cleanup.
            errors = quiescer.resume_all()
            if published is None:
                if writer is not None:
                    writer.abort()
                sink.abort()
            lock.release()
            if gc_on:
                gc.enable()
            for e in errors:
                self._log("error", e)
        if errors:
            raise PortalBackupError(
                "the archive was written but some containers could not be "
                "restarted: " + "; ".join(errors)
            )
        return self._finish(published, started, quiescer)

    def _make_sink(self, now: datetime) -> Sink:
        o = self.options
        encrypted = bool(o.encrypt_to)
        if o.stdout:
            return StdoutSink(on_sent=self._upload_meter("stdout"))
        if o.to is not None:
            from tui.core.dest.store import open_store

            store = open_store(o.to, rclone_config=o.rclone_config)
            name = archive_name(self.inventory, now, encrypted, o.since)
            return UploadSink(
                store, name, verify=o.verify_upload, on_sent=self._upload_meter(o.to.label)
            )
        final, default_name = resolve_output(o.output, self.inventory, now, encrypted, o.since)
        return FileSink(final, default_name=default_name, private=self.plan.include_identity)

    # ------------------------------------------------------------------ steps

    def _run_step(self, step: PlanStep, writer: ZipWriter, quiescer: Quiescer) -> None:
        self._check_cancel()
        ids = step.item_ids
        if step.containers:
            for i in ids:
                self._item_state(i, "waiting")
        self.counters.item = ids[0]
        try:
            if step.containers and self.options.quiesce != "none":
                phase: ItemPhase = "stopping" if self.options.quiesce == "stop" else "pausing"
                self._item_state(ids[0], phase)
            quiescer.quiesce(step.app or step.label, step.containers)
            self._hold_if_asked(ids)
            self._item_state(ids[0], "copying")
            if step.special == "db":
                self._store_db(writer)
            elif step.special == "identity":
                self._store_identity(writer)
            for src in step.sources:
                self._store_source(src, writer, step, self._prune)
            writer.barrier()
            if self.options.fail_item in ids:
                raise PortalBackupError(f"injected failure after reading {self.options.fail_item}")
        except BaseException as exc:
            # A cancel interrupts the item; it did not fail.
            cancelled = isinstance(exc, Cancelled) or self.cancel.is_set()
            for i in ids:
                self._item_state(i, "cancelled" if cancelled else "failed")
            raise
        if step.containers and quiescer.journal.changes:
            self._item_state(ids[0], "restarting")
        errors = quiescer.resume(step.app)
        for e in errors:
            self._log("error", e)
        if errors:
            raise PortalBackupError("; ".join(errors))
        for i in ids:
            self._item_state(i, "done")

    def _hold_if_asked(self, ids: list[str]) -> None:
        hold = self.options.hold_file
        if hold and self.options.hold_item in ids:
            self._log("info", f"holding at {self.options.hold_item} while {hold} exists")
            while os.path.exists(hold):
                if self.cancel.wait(0.05):
                    break

    def _store_db(self, writer: ZipWriter) -> None:
        root = Path(self.inventory.portal.root if self.inventory.portal else "")
        path = root / DB_REL
        data = portaldb.read_consistent(path)
        st = path.stat()
        if self.plan.strip_private_keys:
            data = portaldb.without_private_keys(portaldb.load(data))
            self.warnings.append("the database was stored without the identities' private keys")
        self._add_bytes(writer, DB_REL, data, st)

    def _store_identity(self, writer: ZipWriter) -> None:
        root = Path(self.inventory.portal.root if self.inventory.portal else "")
        path = root / DB_REL
        doc = portaldb.load(portaldb.read_consistent(path))
        self._add_bytes(writer, IDENTITY_ARCHIVE_REL, portaldb.identities_only(doc), path.stat())

    def _add_bytes(self, writer: ZipWriter, name: str, data: bytes, st: os.stat_result) -> None:
        meta = EntryMeta(name, st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime_ns)
        if self.changes is not None:
            now = Observed("file", len(data), meta.mode, meta.uid, meta.gid, meta.mtime_ns)
            sha = hashlib.sha256(data).hexdigest()
            if self._keep(self.changes.unchanged_bytes(name, sha, now)):
                return
        self._in_order(name)
        writer.add_bytes(meta, data)

    def _in_order(self, name: str) -> None:
        """A differential lists stored and unchanged entries in the order the walk met them."""
        if self.changes is not None:
            self._order.setdefault(name, len(self._order))

    def _keep(self, rec: ManifestEntry | None) -> bool:
        """Records an entry unchanged since the base (True), which is then not stored."""
        if rec is None:
            return False
        self._in_order(rec.path)
        self.kept.append(rec)
        c = self.counters
        with c.lock:  # what is left to read shrinks
            c.total_files -= rec.type != "dir"
            c.total_bytes -= rec.size if rec.type == "file" else 0
        return True

    def _unchanged(self, node: Node) -> bool:
        """For a differential: whether `node` is as in the base (then it is not stored)."""
        assert self.changes is not None
        if node.kind == "special":
            return False
        if node.host_path is None and node.kind == "file":
            self.changes.stored(node.name)  # read through Docker: no stat identity to compare
            return False
        rec = self.changes.unchanged(node.name, node, node.host_path)
        if rec is not None and node.host_path is not None and _sqlite_busy(node):
            return False  # a live journal beside a database holds changes the file lacks
        return self._keep(rec)

    def _store_source(
        self, src: Source, writer: ZipWriter, step: PlanStep, prune: dict[str, list[str]]
    ) -> None:
        if src.kind == "path":
            self._add_parent_dirs(src, writer)
            nodes = walk_path(
                src.location, src.archive_path, frozenset(prune.get(src.location, []))
            )
        else:
            vol = self.inventory.volumes.get(src.location)
            mode = self.options.volume_access
            if vol is not None and mode != "docker" and volume_readable(vol.mountpoint):
                nodes = walk_path(vol.mountpoint, src.archive_path)
            elif mode == "host":
                raise PortalBackupError(f"cannot read volume {src.location} from the host")
            else:
                nodes = walk_volume_via_docker(
                    self.client,
                    src.location,
                    src.archive_path,
                    step.containers,
                    self._helper_image(),
                )
        for node in nodes:
            self._check_cancel()
            self._store_node(node, writer)

    def _add_parent_dirs(self, src: Source, writer: ZipWriter) -> None:
        """Entries for user_data/, user_data/app_data/... so modes survive a plain unzip."""
        portal = self.inventory.portal
        if portal is None or src.archive_path.startswith(("binds/", "volumes/")):
            return
        parts = src.archive_path.rstrip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            rel = "/".join(parts[:depth]) + "/"
            if rel in self._parents_done:
                continue
            self._parents_done.add(rel)
            try:
                st = os.lstat(os.path.join(portal.root, rel))
            except OSError:
                continue
            meta = EntryMeta(rel, st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime_ns)
            self._stat_ids[rel] = (st.st_ino, st.st_ctime_ns)
            if self.changes is not None:
                now = Observed("dir", 0, meta.mode, meta.uid, meta.gid, meta.mtime_ns)
                if self._keep(self.changes.unchanged(rel, now, None)):
                    continue
            self._in_order(rel)
            writer.add_dir(meta)

    def _store_node(self, node: Node, writer: ZipWriter) -> None:
        meta = EntryMeta(node.name, node.mode, node.uid, node.gid, node.mtime_ns)
        self.counters.path = node.name
        if self.changes is not None and self._unchanged(node):
            if node.host_path is not None and node.kind == "file":
                self._kept_sqlite(node.host_path, node.name)
            self._maybe_progress()
            return
        self._in_order(node.name)
        if node.ino is not None:
            self._stat_ids[node.name] = (node.ino, node.ctime_ns)
        if node.kind == "dir":
            writer.add_dir(meta)
        elif node.kind == "symlink":
            writer.add_symlink(meta, node.target or "")
        elif node.kind == "special":
            self.skipped.append(
                SkippedRecord(node.name, node.special or "special", _skip_reason(node.special))
            )
            self._log("warning", f"skipped {node.special} {node.name}")
        elif node.stream is not None:
            writer.add_stream(meta, node.stream, node.size)
        elif node.host_path is not None:
            if self._is_sqlite_sidecar(node.host_path):
                self.skipped.append(
                    SkippedRecord(
                        node.name,
                        "sqlite-journal",
                        "the database beside it was copied as one consistent snapshot",
                    )
                )
                return
            if looks_like_sqlite(node.host_path, node.size):
                self._store_sqlite(node, meta, writer)
                return
            writer.add_file(meta, node.host_path, node.size)
        self._maybe_progress()

    # ------------------------------------------------------------------ SQLite

    def _kept_sqlite(self, host_path: str, name: str) -> None:
        """An unchanged database the base copied through SQLite's API: its journals stay
        skipped, as they were in the base."""
        assert self.changes is not None
        journals = {name + s for s in SIDECARS}
        if any(s.path in journals for s in self.changes.base.manifest.skipped):
            self._sqlite_copied.add(host_path)

    def _is_sqlite_sidecar(self, path: str) -> bool:
        return any(path.endswith(s) and path[: -len(s)] in self._sqlite_copied for s in SIDECARS)

    def _store_sqlite(self, node: Node, meta: EntryMeta, writer: ZipWriter) -> None:
        assert node.host_path is not None
        try:
            snap = Snapshot(node.host_path)
        except sqlite3.Error as exc:
            self._log(
                "warning",
                f"{node.name}: not a usable SQLite database ({exc}); stored as a plain file",
            )
            writer.add_file(meta, node.host_path, node.size)
            return
        checkpoint("backup.sqlite-snapshot")
        self._sqlite_copied.add(node.host_path)
        with snap:  # read under SQLite's lock, or from memory (see Snapshot)
            writer.add_stream(meta, snap.reader, snap.size, source=node.host_path)
        self._log("info", f"copied SQLite database {node.name} as a consistent snapshot")

    # ------------------------------------------------------------------ metadata

    def _write_metadata(self, writer: ZipWriter, quiescer: Quiescer, now: datetime) -> None:
        writer.drain()  # every data entry's record must be in before the manifest is built
        model = self._manifest(quiescer, now)
        readme = readme_text(model).encode("utf-8", "surrogateescape")
        meta_time = int(now.timestamp()) * 1_000_000_000
        self._meta_file(writer, README_NAME, readme, meta_time)
        manifest = build_manifest(model)
        self._manifest_raw = manifest
        self._meta_file(writer, MANIFEST_NAME, manifest, meta_time)
        sig = self._signature(manifest)
        if sig is not None:
            self._meta_file(writer, SIGNATURE_NAME, sig, meta_time)
        writer.drain()
        # Names that are not UTF-8 are listed with their raw bytes, as sha256sum would.
        sums = "".join(self.sums).encode("utf-8", "surrogateescape")
        writer.add_bytes(EntryMeta(SUMS_NAME, 0o644, 0, 0, meta_time), sums)

    def _meta_file(self, writer: ZipWriter, name: str, data: bytes, mtime_ns: int) -> None:
        writer.add_bytes(EntryMeta(name, 0o644, 0, 0, mtime_ns), data)

    def _signature(self, manifest: bytes) -> bytes | None:
        key = self._identity_key()
        if not self.options.sign or key is None:
            return None
        try:
            from tui.core.crypto.signing import sign_manifest
        except ImportError:  # pragma: no cover - signing arrives with the crypto module
            return None
        return sign_manifest(manifest, key)

    def _identity_key(self) -> str | None:
        portal = self.inventory.portal
        if portal is None:
            return None
        try:
            doc = portaldb.load(portaldb.read_consistent(Path(portal.root) / DB_REL))
        except (OSError, PortalBackupError):
            return None
        ident = portaldb.default_identity(doc)
        key = ident.get("private_key") if ident else None
        return key if isinstance(key, str) else None

    def _manifest(self, quiescer: Quiescer, now: datetime) -> Manifest:
        portal = self.inventory.portal
        portal_info: PortalRecord | None = None
        if portal is not None:
            public_key = None
            key = self._identity_key()
            if key:
                with contextlib.suppress(Exception):
                    from tui.core.crypto.signing import public_key_pem

                    public_key = public_key_pem(key)
            portal_info = PortalRecord(portal.id, portal.name, portal.root, public_key)
        return Manifest(
            tool=tool_record(),
            created=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            host=socket.gethostname(),
            portal=portal_info,
            quiesce=self.options.quiesce,
            identity_included=self.plan.include_identity,
            db_private_keys_removed=self.plan.strip_private_keys,
            items=item_records(self.plan, self.inventory, quiescer.how),
            volumes=volume_records(self.plan, self.inventory),
            entries=self._all_entries(),
            skipped=tuple(self.skipped),
            warnings=tuple(self.warnings),
            differential=self._differential(),
        )

    def _all_entries(self) -> tuple[ManifestEntry, ...]:
        if self.changes is None:
            return tuple(self.entries)
        # Stored and unchanged entries together, in the order the walk met them.
        last = len(self._order)
        combined = [*self.entries, *self.kept]
        return tuple(sorted(combined, key=lambda e: self._order.get(e.path, last)))

    def _differential(self) -> DifferentialRecord | None:
        if self.changes is None:
            return None
        base = self.changes.base
        return DifferentialRecord(base.name, base.created, base.sha256, self.changes.deleted())

    # ------------------------------------------------------------------ sink and events

    def _open_sink(self, out: Any) -> tuple[Any, Callable[[], None]]:
        if not self.options.encrypt_to:
            return out, lambda: None
        from tui.core.crypto.age import AgeWriter

        enc = AgeWriter(out, self.options.encrypt_to)
        return enc, enc.close

    def _on_written(self, e: WrittenEntry) -> None:
        # Runs on the writer thread; keep it cheap.
        if e.type == "file" and e.sha256 and e.name != SUMS_NAME:
            self.sums.append(sums_line(e.sha256, e.name))
        if e.name in META_NAMES:
            return
        if self.changes is not None:
            self.changes.stored(e.name)
        # Popped: only entries in flight are held, not a million tuples.
        self.entries.append(entry_record(e, self._stat_ids.pop(e.name, (None, None))))
        c = self.counters
        with c.lock:
            if e.type != "dir":
                c.files += 1
            c.bytes += e.size if e.type == "file" else 0
        self._maybe_progress()

    def _maybe_progress(self, force: bool = False) -> None:
        if not self._throttle.ready(force):
            return
        c = self.counters
        rate = self._rate.update(c.bytes)
        self.emit(
            Progress(
                bytes_done=c.bytes,
                bytes_total=max(c.total_bytes, c.bytes),
                files_done=c.files,
                files_total=max(c.total_files, c.files),
                item=c.item,
                path=c.path,
                rate=rate,
                eta=self._rate.eta(c.bytes, c.total_bytes),
                elapsed=self._rate.elapsed(),
            )
        )

    def _upload_meter(self, destination: str) -> Callable[[int], None]:
        """Upload events for bytes handed to stdout or a destination (writer thread)."""
        throttle = Throttle(4, self.clock)
        meter = RateMeter(self.clock)

        def sent(total: int) -> None:
            # An upload can outlast the reading by hours: a cancel must stop it too.
            self._check_cancel()
            if throttle.ready():
                self.emit(
                    Upload(bytes_sent=total, rate=meter.update(total), destination=destination)
                )

        return sent

    def _item_state(self, item: str, state: ItemPhase, detail: str | None = None) -> None:
        self.emit(ItemState(item, state, detail))

    def _log(self, level: LogLevel, message: str) -> None:
        self.emit(Log(level, message))

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled(
                "the backup was cancelled; nothing was kept and every container was restarted"
            )

    def _helper_image(self) -> str | None:
        for it in self.inventory.items:
            for c in it.containers:
                if c.image:
                    return c.image
        return None

    def _plan_totals(self) -> tuple[int, int]:
        """What this plan will read: each stored tree counted once (du-like, no reads)."""
        total = Size(0, 0)
        for step in self.plan.steps:
            for src in step.sources:
                if src.kind == "path":
                    size: Size | None = scan_size(src.location, self.cancel)
                else:
                    size = volume_size(src, self.inventory, self.client, self._df_cache)
                if size is not None:
                    total = Size(total.bytes + size.bytes, total.files + size.files)
        return total.bytes, total.files

    def _cache_manifest(self, published: Published) -> None:
        """Keeps the uploaded archive's manifest, so `--since DEST:NAME` later reads nothing
        from the destination."""
        from tui.core.backup.since import cache_manifest

        assert published.destination is not None and published.name is not None
        try:
            cache_manifest(
                published.destination, published.name, published.sha256, self._manifest_raw
            )
        except OSError as exc:
            self._log("warning", f"could not keep the archive's manifest: {exc.strerror}")

    def _finish(self, published: Published, started: float, quiescer: Quiescer) -> Finished:
        # Estimates were made before reading; the last report states what was really read.
        c = self.counters
        c.total_bytes, c.total_files = c.bytes, c.files
        self._maybe_progress(force=True)
        if self.changes is not None:
            d = self.changes
            self._log(
                "info",
                f"differential since {d.base.name}: {len(self.entries)} entries stored, "
                f"{len(self.kept)} unchanged, {len(d.deleted())} deleted"
                + (f", {d.hashed} files read to compare their contents" if d.hashed else ""),
            )
        downtime = {
            a: round((d.ended or d.started) - d.started, 3) for a, d in quiescer.downtime.items()
        }
        if self.options.stdout or self.options.to is not None:  # the last word on the upload
            seconds = max(self.clock() - started, 1e-6)
            self.emit(
                Upload(
                    bytes_sent=published.size,
                    rate=published.size / seconds,
                    destination=published.destination or "stdout",
                )
            )
        result = Finished(
            path=published.location,
            bytes=published.size,
            bytes_in=self.counters.bytes,
            files=self.counters.files,
            seconds=round(self.clock() - started, 3),
            sha256=published.sha256,
            holds_identity=self.plan.include_identity,
            downtime=downtime,
            destination=published.destination,
            name=published.name,
            verified=published.verified,
        )
        if published.destination is not None and published.name is not None:
            self._cache_manifest(published)
        with contextlib.suppress(OSError):
            record_last_backup(
                {
                    "path": published.location,
                    "time": time.time(),
                    "bytes": published.size,
                    "items": self.plan.item_ids,
                    "sha256": published.sha256,
                    "destination": published.destination,
                }
            )
        self.emit(result)
        return result


def _sqlite_busy(node: Node) -> bool:
    """A database-sized file with a non-empty journal beside it (stat only: SQLite files are
    whole 512-byte pages, so most files are never looked at)."""
    if node.size < 512 or node.size % 512 or node.host_path is None:
        return False
    for suffix in ("-wal", "-journal"):
        with contextlib.suppress(OSError):
            if os.lstat(node.host_path + suffix).st_size > 0:
                return True
    return False


def _skip_reason(kind: str | None) -> str:
    return {
        "fifo": "FIFOs cannot be archived",
        "socket": "sockets cannot be archived",
        "device": "device files cannot be archived",
        "hardlink": "hard links read through Docker are not stored",
    }.get(kind or "", "special file")


def _disk_full(exc: OSError) -> PortalBackupError:
    """A sentence for ENOSPC that did not come from the archive file: it names the disk that
    is full (the state directory's or the temporary directory's), never the output disk."""
    if exc.filename:
        where = Path(os.fsdecode(exc.filename)).parent
    else:  # os.write() does not say which file; the fullest of the two candidates is it
        where = min((state_dir(), Path(tempfile.gettempdir())), key=_free_bytes)
    return PortalBackupError(
        f"the disk holding {where} ({mount_point(where)}) is full; the "
        "backup was abandoned and nothing was left behind"
    )


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 1 << 62
    return st.f_bavail * st.f_frsize


def run_backup(
    inventory: Inventory,
    plan: Plan,
    options: BackupOptions,
    client: Any | None,
    on_event: EventSink,
    cancel: threading.Event | None = None,
) -> Finished:
    return BackupRun(inventory, plan, options, client, on_event, cancel).run()
