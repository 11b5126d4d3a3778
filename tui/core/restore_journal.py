"""The restore's data journal: an interrupted swap is repaired before containers start again.

Each host path a restore replaces goes through phases recorded here before they happen:
"staging" (a new tree is being written beside the destination), "swapping" (the destination is
moved aside and the staged tree moved in) and "swapped". A run that was killed leaves the
record behind; `recover_restore` then removes half-written staging trees and, when the
destination is missing, moves the previous data back. Nothing is ever deleted that might be the
only copy: a completed swap keeps the previous data aside and says where.

The CLI runs this before the quiesce journal's recovery, so containers never restart on a
missing or half-swapped directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from .errors import PortalBackupError
from .extract import put_children_back, remove_tree_at
from .quiesce import RunLock
from .state import read_json, state_dir, write_json_atomic

JOURNAL_NAME = "restore-journal.json"
Phase = Literal["staging", "swapping", "swapped"]
SwapMode = Literal["whole", "content"]


@dataclass
class SwapRecord:
    key: str
    mode: SwapMode  # whole: rename the destination itself; content: move its children
    dir: str  # whole: the destination's parent; content: the destination (a mount point)
    name: str  # whole: the destination's name in dir; content: ""
    staging: str  # a name in dir
    aside: str  # a name in dir: where the previous data goes
    phase: Phase
    old_root: list[int] | None = None  # content mode: mode, uid, gid, atime_ns, mtime_ns


class SwapJournal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / JOURNAL_NAME
        self.records: dict[str, SwapRecord] = {}

    def set(self, record: SwapRecord) -> None:
        self.records[record.key] = record
        self._save()

    def phase(self, key: str, phase: Phase) -> None:
        self.records[key].phase = phase
        self._save()

    def drop(self, key: str) -> None:
        if self.records.pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.records:
            write_json_atomic(self.path, {"pid": os.getpid(),
                                          "swaps": [asdict(r) for r in self.records.values()]})
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def recover_restore(log: Callable[[str, str], None]) -> list[str]:
    """Repairs swaps a killed restore left half done. Returns error sentences.

    Does nothing while another live run holds the lock.
    """
    path = state_dir() / JOURNAL_NAME
    if not path.exists():
        return []
    lock = RunLock()
    try:
        lock.acquire()
    except PortalBackupError:
        return []
    errors: list[str] = []
    try:
        data = read_json(path) or {}
        records = []
        for raw in data.get("swaps") or []:
            with contextlib.suppress(TypeError):
                records.append(SwapRecord(**raw))
        if records:
            log("warning", f"an earlier restore (pid {data.get('pid')}) was interrupted; "
                           "repairing what it left")
        for rec in records:
            try:
                _repair(rec, log)
            except OSError as exc:
                errors.append(f"could not repair {_where(rec)}: {exc.strerror or exc}")
        if not errors:
            path.unlink(missing_ok=True)
    finally:
        lock.release()
    return errors


def _where(rec: SwapRecord) -> str:
    return os.path.join(rec.dir, rec.name) if rec.mode == "whole" else rec.dir


def _repair(rec: SwapRecord, log: Callable[[str, str], None]) -> None:
    try:
        dfd = os.open(rec.dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        if rec.mode == "whole":
            _repair_whole(rec, dfd, log)
        else:
            _repair_content(rec, dfd, log)
    finally:
        os.close(dfd)


def _exists(name: str, dfd: int) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _repair_whole(rec: SwapRecord, dfd: int, log: Callable[[str, str], None]) -> None:
    dest = os.path.join(rec.dir, rec.name)
    if rec.phase != "staging" and not _exists(rec.name, dfd) and _exists(rec.aside, dfd):
        os.rename(rec.aside, rec.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        log("warning", f"put the previous data back at {dest}")
    elif _exists(rec.aside, dfd):
        log("warning", f"the restore of {dest} completed before it was interrupted; the "
                       f"previous data is kept at {os.path.join(rec.dir, rec.aside)}")
    remove_tree_at(dfd, rec.staging)


def _repair_content(rec: SwapRecord, dfd: int, log: Callable[[str, str], None]) -> None:
    staged_left = _exists(rec.staging, dfd) and bool(_children(dfd, rec.staging))
    if rec.phase != "staging" and staged_left and _exists(rec.aside, dfd):
        # The swap stopped half way: what was moved in goes back to staging, the old comes back.
        put_children_back(dfd, rec.aside, rec.staging)
        remove_tree_at(dfd, rec.staging)
        if rec.old_root and len(rec.old_root) == 5:  # last: every move above changed it
            mode, uid, gid, atime, mtime = rec.old_root
            with contextlib.suppress(PermissionError):
                os.fchown(dfd, uid, gid)
            os.fchmod(dfd, mode)
            os.utime(dfd, ns=(atime, mtime))
        log("warning", f"put the previous data back in {rec.dir}")
        return
    if _exists(rec.aside, dfd):
        log("warning", f"the restore of {rec.dir} completed before it was interrupted; the "
                       f"previous data is kept in {os.path.join(rec.dir, rec.aside)}")
    remove_tree_at(dfd, rec.staging)


def _children(dfd: int, name: str) -> list[str]:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)
