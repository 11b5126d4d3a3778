"""Whole-entry packing of small files in worker processes, past the GIL.

Each worker reads, CRCs, hashes and deflates a whole batch of files (hundreds of files, a few
MiB) and leaves the packed bytes in a slot of one shared memory area (a memfd both sides map);
only the per-file figures (sizes, CRC, SHA-256, method, where the bytes are) travel back
through a pipe. The zip writer appends the entries in the order they were added and frees the
slot. A batch goes to worker `k % n`, and each worker answers its batches in turn, so the
writer reads batch k's answer from that worker's pipe with nothing to reorder.

The zip writer starts workers with `fork`, only when the process has no other thread yet
(cheap, and safe without threads: the CLI). With threads (the TUI) it keeps small files in its
thread pool: a `forkserver` start works here (tests/test_packer.py) but failed inside the TUI
("bad value(s) in fds_to_keep") and is not used yet. A worker that dies makes the batch
waiting on it fail with one sentence; nothing waits forever on it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import multiprocessing
import multiprocessing.connection
import os
import signal
import stat
import struct
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal, Protocol

from tui.core.archive import deflate
from tui.core.errors import PortalBackupError

SLOT_BYTES = 4 << 20  # one batch's packed bytes
BATCH_BYTES = 2 << 20  # a batch closes past this many bytes of files (at most 1 MiB more)
BATCH_FILES = 256
HEADER = 4096  # per-worker counters of finished batches, before the slots
_COUNTER = struct.Struct("<Q")

StartMethod = Literal["fork", "forkserver"]
Status = Literal["ok", "vanished", "fallback"]

# What the writer sends for one file: host path, compress (None: try), size at listing time.
FileJob = tuple[str, bool | None, int]


@dataclass(slots=True)
class Packed:
    """One file as a worker packed it; its bytes are at `offset` in the batch's slot."""

    status: Status  # "fallback": did not fit the slot (it grew); the writer streams it itself
    size: int = 0
    crc: int = 0
    sha256: str = ""
    method: int = 0
    offset: int = 0
    csize: int = 0


class PackerError(PortalBackupError):
    pass


@dataclass(slots=True)
class Ticket:
    """A submitted batch: its slot, its worker and its sequence number on that worker."""

    slot: int
    worker: int
    seq: int


def start_method() -> StartMethod:
    """`fork` while this process has a single thread (a fork with threads can copy a held
    lock), else `forkserver`."""
    return "fork" if threading.active_count() == 1 else "forkserver"


class _Worker(Protocol):
    """What we use of a worker process (a multiprocessing.Process or a _Forked)."""

    pid: int | None
    exitcode: int | None

    @property
    def sentinel(self) -> int: ...

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...

    def kill(self) -> None: ...


class _Forked:
    """A worker forked from this (single-threaded) process.

    The child closes every descriptor it inherited but its own pipes and the shared memory:
    the run lock, the archive and the other workers' pipes stay with the parent (so a worker
    sees EOF when the parent dies, and a killed run leaves no lock holder behind), and it dies
    with its parent (PR_SET_PDEATHSIG).
    """

    def __init__(self, target: Any, args: tuple[Any, ...], keep: set[int]) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its work is checked through the parent
            code = 1
            try:
                _close_all_but(keep | {0, 1, 2})
                _die_with_parent(parent)
                target(*args)
                code = 0
            finally:
                os._exit(code)
        self.pid: int | None = pid
        self.exitcode: int | None = None
        self._pidfd = os.pidfd_open(pid)

    @property
    def sentinel(self) -> int:
        return self._pidfd  # readable once the process has exited

    def is_alive(self) -> bool:
        if self.exitcode is None:
            assert self.pid is not None
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
                os.close(self._pidfd)
        return self.exitcode is None

    def join(self, timeout: float | None = None) -> None:
        if self.is_alive():
            multiprocessing.connection.wait([self._pidfd], timeout)
            self.is_alive()

    def kill(self) -> None:
        if self.is_alive():
            assert self.pid is not None
            os.kill(self.pid, signal.SIGKILL)


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _die_with_parent(parent: int) -> None:
    import ctypes  # the child only

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the prctl
        os._exit(1)


class _InheritedFd:
    """A file descriptor for a worker: inherited by `fork`, sent by the forkserver."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        from multiprocessing.reduction import DupFd

        return _rebuild_fd, (DupFd(self.fd),)


def _rebuild_fd(dup: Any) -> _InheritedFd:
    return _InheritedFd(dup.detach())


class Packer:
    """`workers` processes packing batches for one zip writer."""

    def __init__(self, workers: int, level: int, method: StartMethod | None = None) -> None:
        self.level = level
        self.slots = 2 * workers + 2
        self._size = HEADER + self.slots * SLOT_BYTES
        method = method or start_method()
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload([__name__])
        fd = os.memfd_create("portal-backup-packer", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, self._size)
            self._map = mmap.mmap(fd, self._size)
            self._view = memoryview(self._map)
            self._procs: list[_Worker] = []
            self._jobs: list[Connection] = []
            self._results: list[Connection] = []
            for i in range(workers):
                jobs_r, jobs_w = ctx.Pipe(duplex=False)
                res_r, res_w = ctx.Pipe(duplex=False)
                args = (i, jobs_r, res_w, _InheritedFd(fd), self._size, level)
                proc: _Worker
                if method == "fork":
                    proc = _Forked(_worker_main, args, {jobs_r.fileno(), res_w.fileno(), fd})
                else:
                    started = ctx.Process(  # type: ignore[attr-defined]  # the context's Process
                        target=_worker_main, args=args, name=f"zip-pack-{i}", daemon=True
                    )
                    started.start()
                    proc = started
                # Our copies of the worker's ends: closed, so its death reads as EOF here.
                jobs_r.close()
                res_w.close()
                self._procs.append(proc)
                self._jobs.append(jobs_w)
                self._results.append(res_r)
        finally:
            os.close(fd)
        self._free = list(range(self.slots))
        self._free_cond = threading.Condition()
        self._aborted = False
        self._next = 0
        self._sent = [0] * workers  # batches sent to each worker
        self._closed = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def submit(self, files: list[FileJob]) -> Ticket:
        """Hands a batch to the next worker. Blocks while every slot is in use."""
        with self._free_cond:
            while not self._free and not self._aborted:
                self._free_cond.wait()
            if self._aborted:
                raise PackerError("the archive was abandoned")
            slot = self._free.pop()
        worker = self._next % len(self._procs)
        self._next += 1
        self._sent[worker] += 1
        ticket = Ticket(slot, worker, self._sent[worker])
        try:
            self._jobs[worker].send((slot, files))
        except OSError as exc:  # the worker is gone: its pipe is broken
            raise self._death(worker) from exc
        return ticket

    def result(self, ticket: Ticket) -> list[Packed]:
        """The batch's packed files, in order (the writer thread calls this, in order)."""
        conn = self._results[ticket.worker]
        proc = self._procs[ticket.worker]
        multiprocessing.connection.wait([conn, proc.sentinel])
        try:
            answer: list[Packed] | str = conn.recv()
        except (EOFError, OSError) as exc:
            raise self._death(ticket.worker) from exc
        if isinstance(answer, str):  # the worker's own failure, as a sentence
            raise PackerError(answer)
        return answer

    def data(self, ticket: Ticket, p: Packed) -> memoryview:
        base = HEADER + ticket.slot * SLOT_BYTES
        return self._view[base + p.offset : base + p.offset + p.csize]

    def release(self, ticket: Ticket) -> None:
        with self._free_cond:
            self._free.append(ticket.slot)
            self._free_cond.notify()

    def read_done(self) -> bool:
        """Whether every batch sent so far has been read from disk (by the workers)."""
        for i, proc in enumerate(self._procs):
            done = _COUNTER.unpack_from(self._map, i * _COUNTER.size)[0]
            if done < self._sent[i]:
                if not proc.is_alive():
                    raise self._death(i)
                return False
        return True

    def wait_read(self, check: Any) -> None:
        """Waits until read_done(); `check` raises the writer's error if there is one."""
        delay = 0.0005
        while not self.read_done():
            check()
            time.sleep(delay)  # workers finish batches in milliseconds; no event to wait on
            delay = min(delay * 2, 0.01)

    def wake(self) -> None:
        """Wakes a submitter waiting for a slot after the writer failed."""
        with self._free_cond:
            self._aborted = True
            self._free_cond.notify_all()

    def close(self, kill: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        self.wake()
        for conn in self._jobs:
            with contextlib.suppress(OSError):
                if not kill:
                    conn.send(None)
            conn.close()
        for proc in self._procs:
            if kill:
                with contextlib.suppress(OSError):
                    proc.kill()
            proc.join(timeout=10)
            if proc.is_alive():  # pragma: no cover - a worker stuck in a read
                proc.kill()
                proc.join()
        for conn in self._results:
            conn.close()
        # The writer thread may still hold a view after a kill; then the GC frees the map.
        with contextlib.suppress(BufferError):
            self._view.release()
            self._map.close()

    def _death(self, worker: int) -> PackerError:
        proc = self._procs[worker]
        proc.join(timeout=1)
        code = proc.exitcode
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else f"exited with status {code}"
            if code is not None
            else "stopped answering"
        )
        return PackerError(
            f"a packing process (pid {proc.pid}) {how} while reading files; the backup was "
            "abandoned and nothing was kept"
        )


# --------------------------------------------------------------------- worker side


def _worker_main(
    index: int, jobs: Connection, results: Connection, shm: _InheritedFd, size: int, level: int
) -> None:
    # Ctrl-C reaches the whole process group: the parent cancels and closes our pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    area = mmap.mmap(shm.fd, size)
    os.close(shm.fd)
    view = memoryview(area)
    done = 0
    while True:
        try:
            msg = jobs.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        slot, files = msg
        base = HEADER + slot * SLOT_BYTES
        try:
            answer: list[Packed] | str = _pack_batch(files, view, base, level)
        except OSError as exc:
            answer = _read_error(exc)
        done += 1
        _COUNTER.pack_into(area, index * _COUNTER.size, done)
        try:
            results.send(answer)
        except OSError:
            return


def _pack_batch(files: list[FileJob], view: memoryview, base: int, level: int) -> list[Packed]:
    out: list[Packed] = []
    pos = 0
    for path, compress, hint in files:
        data = read_small(path, hint, SLOT_BYTES - pos)
        if data is None:
            out.append(Packed("vanished"))
            continue
        if isinstance(data, int):
            out.append(Packed("fallback"))
            continue
        packed, method = data, 0
        if compress is not False and data:
            squeezed = deflate.deflate_all(data, level)
            if len(squeezed) < len(data):
                packed, method = squeezed, 8
        n = len(packed)
        if pos + n > SLOT_BYTES:
            out.append(Packed("fallback"))
            continue
        view[base + pos : base + pos + n] = packed
        crc = deflate.crc32(data, 0)
        digest = hashlib.sha256(data).hexdigest()
        out.append(Packed("ok", len(data), crc, digest, method, pos, n))
        pos += n
    return out


_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def read_small(path: str, hint: int, cap: int) -> bytes | int | None:
    """A small file's bytes with one open and (usually) one read: None when it vanished or
    is no longer a regular file, an int (its size so far) when it grew past `cap`.

    O_NOFOLLOW and the fstat refuse a symlink or FIFO swapped in since the listing.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now stands there
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, hint + 1)
        if len(data) == hint:
            return data  # the size it had: the common case, one read
        chunks = [data]
        got = len(data)
        while data and got <= cap:  # it grew, or shrank: read to the end to be sure
            data = os.read(fd, max(hint, 1 << 16))
            chunks.append(data)
            got += len(data)
        return got if got > cap else b"".join(chunks)
    finally:
        os.close(fd)


def _read_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot read{where}: {exc.strerror or exc}"
