"""A streaming, parallel ZIP writer with ZIP64 and Unix metadata.

Entries are written strictly in the order they are added, while the reading and deflating of
later files runs ahead: small files whole, in batches, in worker processes (packer.py: past the
GIL, results in shared memory), large files in pieces in a thread pool (the compressors and
hashes release the GIL). With one thread, or `processes=False`, small batches use the thread
pool too. Memory is bounded by a byte budget of data in flight, not by the size of the tree.
The central directory is spooled to a temporary file, so a million entries cost little RAM.

Layout per entry (APPNOTE 6.3): local header [+ ZIP64 extra] + UT (0x5455) + ux (0x7875),
the data, then a data descriptor for entries that were streamed in pieces.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from tui.core.archive import deflate, packer
from tui.core.errors import PortalBackupError
from tui.core.model import MAX_PATH_DEPTH

PIECE = 1 << 20  # the unit of parallel deflate and of streamed reads
SMALL_BATCH_BYTES = 1 << 20  # small files are read and deflated in batches of about this size
SMALL_BATCH_FILES = 64
ZIP64_LIMIT = 0xFFFFFFFF
ZIP64_STREAM_HINT = 0xF0000000  # streamed entries this large get a ZIP64 local header up front

METHOD_STORED = 0
METHOD_DEFLATED = 8
FLAG_DESCRIPTOR = 0x08
FLAG_UTF8 = 0x800
MADE_BY = (3 << 8) | 63  # Unix, APPNOTE 6.3

EntryType = Literal["file", "dir", "symlink"]

# Small files are packed in worker processes unless a caller asks otherwise.
PROCESSES_DEFAULT = True


class ZipWriteError(PortalBackupError):
    pass


@dataclass(slots=True)
class EntryMeta:
    """What the archive keeps about one file besides its bytes."""

    name: str  # archive path; directories end with "/"
    mode: int  # permission bits only
    uid: int
    gid: int
    mtime_ns: int


@dataclass(slots=True)
class WrittenEntry:
    name: str
    type: EntryType
    size: int
    compressed_size: int
    crc: int
    sha256: str | None
    method: int
    offset: int
    meta: EntryMeta
    target: str | None = None  # symlinks
    source: str | None = None  # host path, for messages


@dataclass(slots=True)
class _Piece:
    raw: bytes | memoryview
    packed: bytes | memoryview


# (kind, meta, host path, in-memory data, compress?, symlink target, size at listing time)
_SmallJob = tuple[EntryType, EntryMeta, str | None, bytes | None, bool | None, str | None, int]


class _Vanished:
    """A small file that disappeared between listing and reading."""

    def __init__(self, path: str) -> None:
        self.path = path


def _dos_datetime(mtime_ns: int) -> tuple[int, int]:
    secs = mtime_ns // 1_000_000_000
    try:
        t = time.localtime(secs)
    except (OverflowError, OSError, ValueError):
        t = time.localtime(0)
    if t.tm_year < 1980:
        return 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00; the UT field holds the truth
    if t.tm_year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def _unix_extras(meta: EntryMeta) -> bytes:
    secs = max(-(2**31), min(2**31 - 1, meta.mtime_ns // 1_000_000_000))
    ut = struct.pack("<HHBi", 0x5455, 5, 1, secs)
    ux = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, meta.uid & 0xFFFFFFFF, 4, meta.gid & 0xFFFFFFFF)
    return ut + ux


class _Budget:
    """Bytes in flight between the reader and the writer thread; bounds memory."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._cond = threading.Condition()
        self.aborted = False

    def acquire(self, n: int) -> None:
        with self._cond:
            while self._used and self._used + n > self._limit and not self.aborted:
                self._cond.wait()
            self._used += n

    def release(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self.aborted = True
            self._cond.notify_all()


class _Out:
    """Buffered writes to the sink with a running offset."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self._buf = bytearray()
        self.pos = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if n >= PIECE // 2:
            self.flush()
            # A view of a packer slot is reused once written: a sink must get its own bytes.
            self._sink.write(bytes(data) if isinstance(data, memoryview) else data)
        else:
            self._buf += data
            if len(self._buf) >= PIECE:
                self.flush()
        self.pos += n

    def flush(self) -> None:
        if self._buf:
            self._sink.write(self._buf)
            self._buf = bytearray()


class ZipWriter:
    """Write a zip to `sink` (any object with write()); call close() to finish it.

    `on_written` is called from the writer thread after each entry is in the sink.
    """

    def __init__(
        self,
        sink: BinaryIO,
        *,
        level: int | None = None,
        threads: int | None = None,
        max_inflight: int = 32 << 20,
        on_written: Callable[[WrittenEntry], None] | None = None,
        processes: bool | None = None,
        start: packer.StartMethod | None = None,
    ) -> None:
        self.level = deflate.DEFAULT_LEVEL if level is None else min(level, deflate.MAX_LEVEL)
        self._out = _Out(sink)
        self._on_written = on_written
        workers = threads or os.cpu_count() or 2
        use_processes = PROCESSES_DEFAULT if processes is None else processes
        # Forked before our own threads start, and only from a process that has no other thread
        # (the CLI): with threads (the TUI), small files go to the thread pool as before.
        self._packer: packer.Packer | None = None
        # `start` asks for a start method explicitly (a forkserver is safe with threads).
        method = start or packer.start_method()
        if use_processes and workers > 1 and (method == "fork" or start is not None):
            self._packer = packer.Packer(workers, self.level, method=method)
        self._batch_bytes = packer.BATCH_BYTES if self._packer else SMALL_BATCH_BYTES
        self._batch_files = packer.BATCH_FILES if self._packer else SMALL_BATCH_FILES
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zip-deflate")
        self._budget = _Budget(max_inflight)
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1024)
        self._pending_small: list[_SmallJob] = []
        self._pending_small_bytes = 0
        self._futures: set[Future[object]] = set()
        self._futures_lock = threading.Lock()
        self._central = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115
        self._count = 0
        self._error: BaseException | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="zip-writer", daemon=True)
        self._writer.start()

    # ----------------------------------------------------------------- public API

    def add_dir(self, meta: EntryMeta) -> None:
        if not meta.name.endswith("/"):
            meta.name += "/"
        # Directories and links ride in the small-file batches: one queue hop per batch.
        self._add_small("dir", meta, None, b"", False, None)

    def add_symlink(self, meta: EntryMeta, target: str) -> None:
        self._add_small("symlink", meta, None, os.fsencode(target), False, target)

    def add_bytes(self, meta: EntryMeta, data: bytes, compress: bool | None = None) -> None:
        """Small in-memory content (a database copy, the manifest); batched like small files."""
        self._add_small("file", meta, None, data, compress, None)

    def add_file(
        self, meta: EntryMeta, path: str, size_hint: int, compress: bool | None = None
    ) -> None:
        """A regular file from disk. Returns once it is queued (small) or read (large)."""
        if compress is None and deflate.suffix_is_compressed(meta.name):
            compress = False
        if size_hint <= PIECE:
            self._add_small("file", meta, path, None, compress, None, size_hint)
            return
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with f:
            self.add_stream(meta, f, size_hint, compress, source=path)

    def add_stream(
        self,
        meta: EntryMeta,
        reader: BinaryIO,
        size_hint: int,
        compress: bool | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Read `reader` to EOF in this thread, deflating pieces in the pool."""
        self._add_pieces(meta, _reader_pieces(reader), size_hint, compress, source)

    def add_buffer(
        self,
        meta: EntryMeta,
        data: bytes,
        compress: bool | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Large in-memory content (a database snapshot), deflated in pieces like a file.

        The pieces are views of `data`, not copies: its bytes are in memory only once.
        """
        view = memoryview(data)
        pieces = (view[i : i + PIECE] for i in range(0, len(view), PIECE))
        self._add_pieces(meta, pieces, len(view), compress, source)

    def _add_pieces(
        self,
        meta: EntryMeta,
        chunks: Iterator[bytes | memoryview],
        size_hint: int,
        compress: bool | None,
        source: str | None,
    ) -> None:
        self._flush_small()
        self._check()
        _encode_name(meta.name)
        first = next(chunks, b"")
        if compress is None:
            compress = deflate.looks_compressible(bytes(first[:65536]))
        zip64 = size_hint >= ZIP64_STREAM_HINT
        pieces: queue.Queue[Future[_Piece] | None] = queue.Queue()
        self._enqueue(
            lambda: self._write_streamed(
                meta, self._queued_pieces(pieces), bool(compress), zip64, source
            )
        )
        prev_tail: bytes | None = None
        data = first
        while data:
            self._check()
            self._budget.acquire(len(data))
            pieces.put(self._submit(_pack_piece, data, compress, self.level, prev_tail))
            prev_tail = bytes(data[-deflate.WINDOW :])
            if len(data) < PIECE:
                break
            data = next(chunks, b"")
        pieces.put(None)

    def barrier(self) -> None:
        """Wait until everything added so far has been read from its source.

        Quiescing uses this: an app may run again once its files are read, even before they
        are all written.
        """
        self._flush_small()
        while True:
            with self._futures_lock:
                pending = list(self._futures)
            if not pending:
                break
            for fut in pending:
                with contextlib.suppress(BaseException):
                    fut.result()
                with self._futures_lock:
                    self._futures.discard(fut)
        if self._packer is not None:
            self._packer.wait_read(self._check)
        self._check()

    def drain(self) -> None:
        """Wait until everything added so far is in the sink (on_written has run for it)."""
        self._flush_small()
        done = threading.Event()
        self._enqueue(done.set)
        while not done.wait(0.2):
            self._check()
        self._check()

    def close(self) -> int:
        """Finish the archive: central directory and end records. Returns the archive size."""
        if self._closed:
            return self._out.pos
        self._flush_small()
        self._jobs.put(None)
        self._writer.join()
        self._pool.shutdown(wait=True)
        if self._packer is not None:
            self._packer.close()
        self._closed = True
        self._check()
        self._write_central()
        self._out.flush()
        self._central.close()
        return self._out.pos

    def abort(self) -> None:
        """Stop as soon as possible, discarding whatever is in flight."""
        if self._closed:
            return
        self._error = self._error or ZipWriteError("the archive was abandoned")
        self._budget.abort()
        if self._packer is not None:
            self._packer.close(kill=True)  # a writer waiting on a worker sees it gone
        self._drain_jobs()
        with contextlib.suppress(queue.Full):  # just drained; only a racing submitter refills
            self._jobs.put_nowait(None)
        self._writer.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True
        self._central.close()

    @property
    def entry_count(self) -> int:
        return self._count

    @property
    def position(self) -> int:
        return self._out.pos

    # ----------------------------------------------------------------- submission side

    def _check(self) -> None:
        if self._error is not None:
            if isinstance(self._error, PortalBackupError | OSError):
                raise self._error
            raise ZipWriteError(f"writing the archive failed: {self._error}") from self._error

    def _submit(self, fn: Callable[..., object], *args: object) -> Future[Any]:
        fut = self._pool.submit(fn, *args)
        with self._futures_lock:
            self._futures.add(fut)
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future[Any]) -> None:
        with self._futures_lock:
            self._futures.discard(fut)

    def _enqueue(self, job: Callable[[], None]) -> None:
        self._check()
        while True:
            try:
                self._jobs.put(job, timeout=0.5)
                return
            except queue.Full:
                self._check()

    def _add_small(
        self,
        kind: EntryType,
        meta: EntryMeta,
        path: str | None,
        data: bytes | None,
        compress: bool | None,
        target: str | None,
        size_hint: int = 0,
    ) -> None:
        if self._error is not None:
            self._check()
        _encode_name(meta.name)  # refuse a bad name here, in the caller's thread
        size = len(data) if data is not None else size_hint
        self._pending_small.append((kind, meta, path, data, compress, target, size))
        self._pending_small_bytes += size
        if (
            self._pending_small_bytes >= self._batch_bytes
            or len(self._pending_small) >= self._batch_files
        ):
            self._flush_small()

    def _flush_small(self) -> None:
        if not self._pending_small:
            return
        batch, budget = self._pending_small, self._pending_small_bytes
        self._pending_small, self._pending_small_bytes = [], 0
        self._budget.acquire(budget)
        files = [(j[2], j[4], j[6]) for j in batch if j[0] == "file" and j[2] is not None]
        if self._packer is not None and files:
            try:
                ticket = self._packer.submit(files)
            except BaseException:
                self._budget.release(budget)
                self._check()  # the writer's own failure says more than "abandoned"
                raise
            self._enqueue(lambda: self._write_packed_batch(batch, ticket, budget))
            return
        fut = self._submit(_pack_small_batch, batch, self.level)
        self._enqueue(lambda: self._write_small_batch(fut, budget))

    # ----------------------------------------------------------------- writer thread

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._error is not None:
                continue  # drain without writing; the submitter will see the error
            try:
                job()
            except BaseException as exc:
                self._error = exc
                self._budget.abort()
                if self._packer is not None:
                    self._packer.wake()

    def _drain_jobs(self) -> None:
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                return

    def _write_small_batch(self, fut: Future[Any], budget: int) -> None:
        try:
            results = fut.result()
        finally:
            self._budget.release(budget)
        for res in results:
            self._write_small_result(res)

    def _write_small_result(self, res: SmallResult | _Vanished) -> None:
        if isinstance(res, _Vanished):
            return
        kind, meta, raw_len, packed, crc, digest, method, path, target = res
        self._write_whole(
            meta,
            kind,
            b"",
            packed,
            crc,
            digest,
            method,
            _attr(kind, meta),
            target,
            size=raw_len,
            source=path,
        )

    def _write_packed_batch(
        self, batch: list[_SmallJob], ticket: packer.Ticket, budget: int
    ) -> None:
        """A batch whose files a worker process packed; its other entries are packed here."""
        assert self._packer is not None
        try:
            results = iter(self._packer.result(ticket))
        finally:
            self._budget.release(budget)
        try:
            for job in batch:
                kind, meta, path, _, compress, _, _ = job
                if kind != "file" or path is None:
                    self._write_small_result(_pack_small_batch([job], self.level)[0])
                    continue
                p = next(results)
                if p.status == "vanished":
                    continue
                if p.status == "fallback":  # it grew past the slot: streamed here instead
                    self._stream_here(meta, path, compress)
                    continue
                with self._packer.data(ticket, p) as packed:
                    self._write_whole(
                        meta,
                        "file",
                        b"",
                        packed,
                        p.crc,
                        p.sha256,
                        p.method,
                        _attr("file", meta),
                        None,
                        size=p.size,
                        source=path,
                    )
        finally:
            self._packer.release(ticket)

    def _stream_here(self, meta: EntryMeta, path: str, compress: bool | None) -> None:
        """A file that grew while queued, read and deflated in the writer thread (rare)."""
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with f:
            first = _read_full(f, PIECE)
            if compress is None:
                compress = deflate.looks_compressible(first[:65536])
            zip64 = os.fstat(f.fileno()).st_size >= ZIP64_STREAM_HINT

            def pieces() -> Iterator[_Piece]:
                data, tail = first, None
                while data:
                    yield _pack_piece(data, bool(compress), self.level, tail)
                    if len(data) < PIECE:
                        return
                    tail = data[-deflate.WINDOW :]
                    data = _read_full(f, PIECE)

            self._write_streamed(meta, pieces(), bool(compress), zip64, path)

    def _queued_pieces(self, pieces: queue.Queue[Future[_Piece] | None]) -> Iterator[_Piece]:
        while (fut := pieces.get()) is not None:
            piece = fut.result()
            self._budget.release(len(piece.raw))
            yield piece

    def _write_whole(
        self,
        meta: EntryMeta,
        kind: EntryType,
        raw: bytes,
        packed: bytes | memoryview,
        crc: int,
        digest: str | None,
        method: int,
        attr: int,
        target: str | None,
        *,
        size: int | None = None,
        source: str | None = None,
    ) -> None:
        usize = len(raw) if size is None else size
        csize = len(packed)
        offset = self._out.pos
        name_b, flags = _encode_name(meta.name)
        zip64 = usize >= ZIP64_LIMIT or csize >= ZIP64_LIMIT
        unix = extra = _unix_extras(meta)
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, usize, csize) + extra
        dos_time, dos_date = _dos_datetime(meta.mtime_ns)
        version = 45 if zip64 else 20
        self._out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                version,
                flags,
                method,
                dos_time,
                dos_date,
                crc,
                ZIP64_LIMIT if zip64 else csize,
                ZIP64_LIMIT if zip64 else usize,
                len(name_b),
                len(extra),
            )
        )
        self._out.write(name_b)
        self._out.write(extra)
        self._out.write(packed)
        self._record(
            unix,
            name_b,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            csize,
            usize,
            offset,
            attr,
            version,
        )
        self._notify(
            WrittenEntry(
                meta.name, kind, usize, csize, crc, digest, method, offset, meta, target, source
            )
        )

    def _write_streamed(
        self,
        meta: EntryMeta,
        pieces: Iterator[_Piece],
        compress: bool,
        zip64: bool,
        source: str | None,
    ) -> None:
        offset = self._out.pos
        name_b, name_flag = _encode_name(meta.name)
        method = METHOD_DEFLATED if compress else METHOD_STORED
        flags = name_flag | FLAG_DESCRIPTOR
        unix = extra = _unix_extras(meta)
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, 0, 0) + extra
        dos_time, dos_date = _dos_datetime(meta.mtime_ns)
        version = 45 if zip64 else 20
        self._out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                version,
                flags,
                method,
                dos_time,
                dos_date,
                0,
                ZIP64_LIMIT if zip64 else 0,
                ZIP64_LIMIT if zip64 else 0,
                len(name_b),
                len(extra),
            )
        )
        self._out.write(name_b)
        self._out.write(extra)
        sha = hashlib.sha256()
        crc = 0
        usize = csize = 0
        for piece in pieces:
            sha.update(piece.raw)
            crc = deflate.crc32(piece.raw, crc)
            usize += len(piece.raw)
            self._out.write(piece.packed)
            csize += len(piece.packed)
        if compress:
            self._out.write(deflate.FINAL_EMPTY_BLOCK)
            csize += len(deflate.FINAL_EMPTY_BLOCK)
        if not zip64 and (usize >= ZIP64_LIMIT or csize >= ZIP64_LIMIT):
            raise ZipWriteError(f"{meta.name} grew past 4 GiB while it was being read")
        if zip64:
            self._out.write(struct.pack("<IIQQ", 0x08074B50, crc, csize, usize))
        else:
            self._out.write(struct.pack("<IIII", 0x08074B50, crc, csize, usize))
        attr = _attr("file", meta)
        self._record(
            unix,
            name_b,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            csize,
            usize,
            offset,
            attr,
            version,
        )
        self._notify(
            WrittenEntry(
                meta.name,
                "file",
                usize,
                csize,
                crc,
                sha.hexdigest(),
                method,
                offset,
                meta,
                None,
                source,
            )
        )

    def _notify(self, entry: WrittenEntry) -> None:
        self._count += 1
        if self._on_written is not None:
            self._on_written(entry)

    def _record(
        self,
        unix: bytes,
        name_b: bytes,
        flags: int,
        method: int,
        dos_time: int,
        dos_date: int,
        crc: int,
        csize: int,
        usize: int,
        offset: int,
        attr: int,
        version: int,
    ) -> None:
        z64 = b""
        if usize >= ZIP64_LIMIT:
            z64 += struct.pack("<Q", usize)
        if csize >= ZIP64_LIMIT:
            z64 += struct.pack("<Q", csize)
        if offset >= ZIP64_LIMIT:
            z64 += struct.pack("<Q", offset)
        extra = unix
        if z64:
            extra = struct.pack("<HH", 1, len(z64)) + z64 + extra
            version = 45
        self._central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                MADE_BY,
                version,
                flags,
                method,
                dos_time,
                dos_date,
                crc,
                min(csize, ZIP64_LIMIT),
                min(usize, ZIP64_LIMIT),
                len(name_b),
                len(extra),
                0,
                0,
                0,
                attr,
                min(offset, ZIP64_LIMIT),
            )
        )
        self._central.write(name_b)
        self._central.write(extra)

    def _write_central(self) -> None:
        cd_start = self._out.pos
        self._central.seek(0)
        while chunk := self._central.read(PIECE):
            self._out.write(chunk)
        cd_size = self._out.pos - cd_start
        count = self._count
        if count >= 0xFFFF or cd_start >= ZIP64_LIMIT or cd_size >= ZIP64_LIMIT:
            eocd64 = self._out.pos
            self._out.write(
                struct.pack(
                    "<IQHHIIQQQQ",
                    0x06064B50,
                    44,
                    MADE_BY,
                    45,
                    0,
                    0,
                    count,
                    count,
                    cd_size,
                    cd_start,
                )
            )
            self._out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
        self._out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(count, 0xFFFF),
                min(count, 0xFFFF),
                min(cd_size, ZIP64_LIMIT),
                min(cd_start, ZIP64_LIMIT),
                0,
            )
        )


# --------------------------------------------------------------------- pool tasks


def _attr(kind: EntryType, meta: EntryMeta) -> int:
    """The central directory's external attributes: Unix type and mode (and MS-DOS dir bit)."""
    if kind == "file":
        return (stat.S_IFREG | meta.mode) << 16
    if kind == "dir":
        return ((stat.S_IFDIR | meta.mode) << 16) | 0x10
    return (stat.S_IFLNK | 0o777) << 16


def _pack_piece(
    data: bytes | memoryview, compress: bool, level: int, zdict: bytes | None
) -> _Piece:
    if not compress:
        return _Piece(data, data)
    return _Piece(data, deflate.deflate_piece(data, level, zdict))


SmallResult = tuple[EntryType, EntryMeta, int, bytes, int, str | None, int, str | None, str | None]


def _pack_small_batch(batch: list[_SmallJob], level: int) -> list[SmallResult | _Vanished]:
    out: list[SmallResult | _Vanished] = []
    for kind, meta, path, data, compress, target, hint in batch:
        if kind != "file":
            assert data is not None
            out.append(
                (
                    kind,
                    meta,
                    len(data),
                    data,
                    deflate.crc32(data, 0),
                    None,
                    METHOD_STORED,
                    None,
                    target,
                )
            )
            continue
        if data is None:
            assert path is not None
            read = packer.read_small(path, hint, 1 << 62)
            if not isinstance(read, bytes):
                out.append(_Vanished(path))
                continue
            data = read
        crc = deflate.crc32(data, 0)
        digest = hashlib.sha256(data).hexdigest()
        packed, method = data, METHOD_STORED
        if compress is not False and data:
            squeezed = deflate.deflate_all(data, level)
            if len(squeezed) < len(data):
                packed, method = squeezed, METHOD_DEFLATED
        out.append(("file", meta, len(data), packed, crc, digest, method, path, None))
    return out


def _reader_pieces(reader: BinaryIO) -> Iterator[bytes]:
    while data := _read_full(reader, PIECE):
        yield data
        if len(data) < PIECE:
            return


def _read_full(reader: BinaryIO, n: int) -> bytes:
    """read() until n bytes or EOF: pipes and tar streams return short reads."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        b = reader.read(n - got)
        if not b:
            break
        chunks.append(b)
        got += len(b)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _encode_name(name: str) -> tuple[bytes, int]:
    """The stored name and its flag bits: UTF-8 with bit 11, or else the raw bytes of a name
    that is not UTF-8 (a str from os.fsdecode, surrogate-escaped) without it, as Info-ZIP does."""
    if name.startswith("/") or ".." in name.split("/"):
        raise ZipWriteError(f"refusing to store the unsafe name {name!r}")
    if name.rstrip("/").count("/") >= MAX_PATH_DEPTH:  # verify and restore refuse deeper
        raise ZipWriteError(
            f"refusing to store {name[:80]!r}...: it is more than {MAX_PATH_DEPTH} directories deep"
        )
    try:
        return name.encode("utf-8"), FLAG_UTF8
    except UnicodeEncodeError:
        pass
    try:
        return name.encode("utf-8", "surrogateescape"), 0
    except UnicodeEncodeError as exc:
        raise ZipWriteError(f"the file name {name!r} cannot be stored") from exc
