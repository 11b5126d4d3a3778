"""The zip writer's worker processes (tui/core/archive/packer.py): the same archive as the
single-process path, files that change or vanish before a worker reads them, and a worker that
dies: one sentence, no hang, no partial archive."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import COMMAND
from test_zipwriter import check_with_tools, meta, text_block

from tui.core.archive import packer
from tui.core.archive.zipwriter import PIECE, WrittenEntry, ZipWriteError, ZipWriter
from tui.core.errors import PortalBackupError

DEADLINE = 60.0


def wait_for(cond: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def make_tree(root: Path, files: int = 700) -> list[tuple[str, Path]]:
    """Files of every kind the packer meets, in walk order: text, random bytes, empty,
    compressed suffixes, sizes up to PIECE; directories between them."""
    rnd = random.Random(7)
    pool = text_block(2 * PIECE, 7)
    out: list[tuple[str, Path]] = []
    for i in range(files):
        kind = i % 5
        size = rnd.choice([0, 1, 100, 4000, 70_000, 300_000, PIECE])
        start = rnd.randrange(PIECE)
        data = pool[start : start + size] if kind < 3 else rnd.randbytes(size)
        name = f"d{i // 100}/f{i:04d}" + (".jpg" if kind == 4 else ".txt")
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append((name, path))
    return out


def write_tree(
    dest: Path, tree: list[tuple[str, Path]], **kw: object
) -> tuple[bytes, list[WrittenEntry]]:
    written: list[WrittenEntry] = []
    buf = io.BytesIO()
    w = ZipWriter(buf, on_written=written.append, **kw)  # type: ignore[arg-type]
    dirs: set[str] = set()
    for i, (name, path) in enumerate(tree):
        d = name.split("/")[0] + "/"
        if d not in dirs:
            dirs.add(d)
            w.add_dir(meta(d, 0o755))
        w.add_file(meta(name), str(path), path.stat().st_size)
        if i % 97 == 0:  # in-memory entries and links ride in the same batches
            w.add_bytes(meta(f"{d}mem{i}"), text_block(i * 10, i))
            w.add_symlink(meta(f"{d}link{i}", 0o777), "f0000.txt")
        if i == 350:
            w.barrier()
    w.close()
    dest.write_bytes(buf.getvalue())
    return buf.getvalue(), written


def test_workers_write_the_same_archive_as_one_process(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    # Workers for sure (a forkserver: this test process may run threads left by others).
    with_workers, w_entries = write_tree(
        tmp_path / "p.zip", tree, threads=2, processes=True, start="forkserver"
    )
    single, s_entries = write_tree(tmp_path / "s.zip", tree, threads=1)
    # Byte for byte: the same entries, order, data, metadata, CRCs and SHA-256s.
    assert with_workers == single
    assert [(e.name, e.sha256, e.offset) for e in w_entries] == [
        (e.name, e.sha256, e.offset) for e in s_entries
    ]
    assert len(w_entries) == len(tree) + 2 * 8 + 7  # files, 8 x (bytes, link), 7 dirs
    check_with_tools(tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as z:
        for name, path in tree[::50]:
            assert z.read(name) == path.read_bytes()


def test_the_forkserver_start_packs_the_same(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", files=60)
    buf = io.BytesIO()
    # A forkserver is safe whatever threads this test process runs (earlier tests may leave
    # some; then `fork` is never used).
    w = ZipWriter(buf, threads=2, processes=True, start="forkserver")
    assert w._packer is not None
    for name, path in tree:
        w.add_file(meta(name), str(path), path.stat().st_size)
    w.close()
    write_tree(tmp_path / "s.zip", tree, threads=1)
    (tmp_path / "p.zip").write_bytes(buf.getvalue())
    check_with_tools(tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as z, zipfile.ZipFile(tmp_path / "s.zip") as s:
        for name, _ in tree:
            assert z.getinfo(name).CRC == s.getinfo(name).CRC
            assert z.read(name) == s.read(name)


def test_files_that_change_or_vanish_before_a_worker_reads_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shrunk, grew, grew_big, vanished, linked, fifo, ok = (
        src / n for n in ("shrunk", "grew", "grew_big", "vanished", "linked", "fifo", "ok")
    )
    for p in (shrunk, grew, grew_big, vanished, linked, ok):
        p.write_bytes(text_block(5000, 1))
    os.mkfifo(fifo)
    buf = io.BytesIO()
    written: list[WrittenEntry] = []
    w = ZipWriter(buf, threads=2, processes=True, start="forkserver", on_written=written.append)
    assert w._packer is not None
    # Size hints as listed; the files change after listing, before the batch is read.
    shrunk.write_bytes(b"short")
    grew.write_bytes(text_block(9000, 2))
    big = random.Random(3).randbytes(packer.SLOT_BYTES + PIECE)  # past a worker's slot
    grew_big.write_bytes(big)
    vanished.unlink()
    linked.unlink()
    linked.symlink_to("/etc/passwd")  # swapped for a link: never followed
    for p in (shrunk, grew, grew_big, vanished, linked, fifo, ok):
        w.add_file(meta(p.name), str(p), 5000)
    w.close()
    out = tmp_path / "a.zip"
    out.write_bytes(buf.getvalue())
    check_with_tools(out)
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["shrunk", "grew", "grew_big", "ok"]
        assert z.read("shrunk") == b"short"
        assert z.read("grew") == text_block(9000, 2)
        assert z.read("grew_big") == big
        assert z.read("ok") == text_block(5000, 1)
    assert [e.size for e in written] == [5, 9000, len(big), 5000]


def test_a_killed_worker_fails_the_writer_with_one_sentence(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", files=200)
    w = ZipWriter(io.BytesIO(), threads=2, processes=True, start="forkserver")
    assert w._packer is not None
    victim = w._packer.pids[0]
    os.kill(victim, signal.SIGKILL)
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for name, path in tree:
                w.add_file(meta(name), str(path), path.stat().st_size)
            w.close()
        except BaseException as exc:
            failure.append(exc)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    t.join(DEADLINE)
    assert not t.is_alive(), "the writer hung on a dead worker"
    assert failure and isinstance(failure[0], PortalBackupError | ZipWriteError)
    message = str(failure[0])
    assert f"pid {victim}" in message and "killed by signal 9" in message
    assert "\n" not in message
    w.abort()
    pids = w._packer.pids
    wait_for(lambda: not any(_alive(p) for p in pids), "every worker gone")  # none left


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(") ", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _workers(pid: int) -> list[int]:
    """The packing workers among a run's descendants (not a forkserver or resource tracker)."""
    found = []
    for d in _descendants(pid):
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing" not in cmd and not _descendants(d):
            found.append(d)
    return found


def _held_create(portal_root: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """A `create` of many small files held before `shared` (its workers started):
    (the run, its output directory, the hold file)."""
    shared = portal_root / pf.SHARED / "many"
    shared.mkdir(parents=True)
    for i in range(400):
        (shared / f"n{i}.txt").write_bytes(text_block(3000, i))
    out = tmp_path / "out"
    out.mkdir()
    hold = tmp_path / "hold"
    hold.write_text("hold")
    env = {
        **os.environ,
        "PORTAL_ROOT": str(portal_root),
        "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
        "PORTAL_BACKUP_TEST_HOLD_ITEM": "shared",
    }
    proc = subprocess.Popen(
        [*COMMAND, "create", "core/config", "shared", "-o", str(out), "--progress", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(lambda: len(_workers(proc.pid)) >= 2, "the packing workers")
    except BaseException:
        proc.kill()
        raise
    return proc, out, hold


def test_worker_death_mid_backup_fails_cleanly_and_keeps_nothing(
    portal_root: Path, tmp_path: Path
) -> None:
    proc, out, hold = _held_create(portal_root, tmp_path)
    try:
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        hold.unlink()  # the run goes on to `shared` and meets the dead worker
        _stdout, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "packing process" in stderr and "killed by signal 9" in stderr, stderr
    assert "Traceback" not in stderr
    assert os.listdir(out) == []  # no partial archive under any name
    wait_for(lambda: not _descendants(proc.pid), "every worker gone")


def test_workers_die_with_a_killed_run(portal_root: Path, tmp_path: Path) -> None:
    proc, out, _hold = _held_create(portal_root, tmp_path)
    workers = _workers(proc.pid)
    proc.kill()
    proc.wait(timeout=DEADLINE)
    # None lingers (holding the run lock or the partial archive open).
    wait_for(lambda: not any(_alive(p) for p in workers), "every worker gone")
    assert not any(n.endswith(".zip") for n in os.listdir(out))


def test_the_pool_is_not_used_with_one_thread() -> None:
    for w in (
        ZipWriter(io.BytesIO(), threads=1, processes=True),
        ZipWriter(io.BytesIO(), threads=2, processes=False),
    ):
        assert w._packer is None
        w.close()


@pytest.mark.parametrize("hint", [0, 3, 4, 5])
def test_read_small_reads_whatever_size_the_file_has(tmp_path: Path, hint: int) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abcd")
    assert packer.read_small(str(p), hint, 1 << 20) == b"abcd"
    if hint != 4:  # not the size it was listed with: read on, up to the cap
        assert packer.read_small(str(p), hint, 2) == 4  # past the cap: its size so far
    assert packer.read_small(str(tmp_path / "none"), hint, 10) is None
