"""GNU find as the stat walker of change_scan: the paths whose ctime is newer than a time.

CPython cannot stat a million files as fast as find does (building each os.stat_result costs
more than the system call), so the walk runs in find, one process per core over disjoint
start points, and Python reads only the names it prints. Processes are started through
subprocess (vfork/posix_spawn, never a Python fork: the TUI runs threads).
"""

from __future__ import annotations

import functools
import os
import selectors
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["find_tool", "newer_than"]

_PRINT = "%H\\0%P\\0"  # the start point, then the path below it ("" for the start itself)


@functools.cache
def find_tool() -> str | None:
    """The path of a find that has -newerct and -printf (GNU findutils), else None (busybox's
    find has neither; then the caller walks in Python). Asked once per process."""
    path = shutil.which("find")
    if path is None:
        return None
    probe = [path, "/", "-maxdepth", "0", "-newerct", "@0", "-printf", _PRINT]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 and done.stdout == b"/\0\0" else None


def newer_than(
    tool: str,
    starts: Sequence[tuple[str, frozenset[str]]],
    since_ns: int,
    processes: int = 1,
    limit: int | None = None,
) -> list[tuple[str, str]] | None:
    """(start point, path below it: "" for the start itself) of every entry under the start
    points whose ctime is after `since_ns`. Each start point comes with the paths to skip
    below it, with all they hold (as find writes them: start + "/" + name). Up to `processes`
    find processes run at the same time; the start points are dealt out in more chunks than
    processes, each chunk handed to the next free process, so that unequal subtrees still
    keep every core busy. Entries find cannot read are skipped: the backup reports them.
    None, and the processes stopped, as soon as there are more than `limit` of them."""
    seconds, nanos = divmod(since_ns, 1_000_000_000)
    test = ["-newerct", f"@{seconds}.{nanos:09d}", "-printf", _PRINT]
    given = {_start(s): s for s, _ in starts}  # find's %H is the start point as it got it
    by_prune: dict[frozenset[str], list[str]] = {}
    for start, prune in starts:
        by_prune.setdefault(prune, []).append(_start(start))
    pending: deque[list[str]] = deque()
    for prune, group in by_prune.items():
        expr = [*_prune_expr(map(_start, prune)), *test]
        count = min(len(group), max(1, processes) * 4)
        pending += ([*group[i::count], *expr] for i in range(count))
    found: list[tuple[str, str]] = []
    running: dict[int, tuple[subprocess.Popen[bytes], list[bytes]]] = {}
    nuls, most = 0, None if limit is None else 2 * limit  # two "\0" per entry
    try:
        with selectors.DefaultSelector() as sel:
            while pending or running:
                while pending and len(running) < processes:
                    proc = subprocess.Popen(
                        [tool, *pending.popleft()],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,  # "Permission denied", a file gone meanwhile
                    )
                    assert proc.stdout is not None
                    running[proc.stdout.fileno()] = (proc, [])
                    sel.register(proc.stdout, selectors.EVENT_READ)
                for key, _ in sel.select():
                    proc, chunks = running[key.fd]
                    data = os.read(key.fd, 1 << 20)
                    if data:
                        chunks.append(data)
                        nuls += data.count(b"\0")
                        if most is not None and nuls > most:
                            return None
                        continue
                    sel.unregister(key.fileobj)
                    del running[key.fd]
                    _finish(proc)
                    found += _parsed(b"".join(chunks), given)
    finally:
        for proc, _ in running.values():
            proc.kill()
            _finish(proc)
    return found


def _parsed(out: bytes, given: dict[str, str]) -> list[tuple[str, str]]:
    """find's output: one decode (a "\0" never occurs inside a UTF-8 sequence; names that are
    not UTF-8 come out as os.fsdecode makes them, surrogate escapes), one split."""
    fields = os.fsdecode(out).split("\0")
    return [(given[h], below) for h, below in zip(fields[0:-1:2], fields[1::2], strict=True)]


def _finish(proc: subprocess.Popen[bytes]) -> None:
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _start(path: str) -> str:
    """A start point find cannot take for an option."""
    return path if path.startswith("/") else f"./{path}"


def _prune_expr(prune: Iterable[str]) -> list[str]:
    """`( -path P1 -o -path P2 ) -prune -o`, with P's glob characters escaped."""
    tests: list[str] = []
    for p in sorted(prune):
        escaped = "".join("\\" + c if c in "\\*?[" else c for c in p)
        tests += [*(["-o"] if tests else []), "-path", escaped]
    return ["(", *tests, ")", "-prune", "-o"] if tests else []
