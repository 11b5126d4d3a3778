"""The swap of one restore destination, as journalled phases that a crash can resume.

The same step functions run forward in a restore and again in the repair after a kill, so
the repair never guesses: the recorded phase says which tree is complete.

Whole mode (the destination is renamed) and content mode (the destination is a mount point,
so its children are moved) go through the same phases; each is recorded durably (the journal
is fsynced, then its directory) before the step it names begins, and every step's renames are
fsynced before the next phase is recorded:

- "staging": the new tree is being written into `staging`. Repair: roll back.
- "old-out": the old data is moving into `aside`. Repair: roll back (aside's entries return,
  staging is removed: the archive still holds it).
- "new-in": the old data is all in `aside` (durable), the staged tree is complete (synced
  before the swap began) and moving in. Repair: roll forward.
- "swapped": the new tree is in place; `aside` holds the old data. Repair: keep it under a
  `.pre-restore-*` name and say where (it may be the only copy).
- "dropping-old": the run was deleting `aside`. Repair: finish deleting it.
- "undo-out" / "undo-in": a failed run is putting the old data back (the new tree moving into
  `staging`, then the old out of `aside`). Repair: roll the undo forward.

See docs/restore.md, "Crash safety, step by step", for why every repair converges.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tui.core.anchored import O_DIR, lstat_at, open_beneath, rename_noreplace, split_under
from tui.core.archive.extract import remove_tree_at
from tui.core.checkpoint import checkpoint
from tui.core.errors import PortalBackupError

Phase = Literal["staging", "old-out", "new-in", "swapped", "dropping-old", "undo-out", "undo-in"]
PHASES: tuple[str, ...] = (
    "staging",
    "old-out",
    "new-in",
    "swapped",
    "dropping-old",
    "undo-out",
    "undo-in",
)
SwapMode = Literal["whole", "content"]
RootKind = Literal["portal", "volume", "bind"]
Meta = list[int]  # mode, uid, gid, atime_ns, mtime_ns


@dataclass
class SwapRecord:
    key: str
    mode: SwapMode  # whole: rename the destination itself; content: move its children
    dir: str  # whole: the destination's parent; content: the destination (a mount point)
    name: str  # whole: the destination's name in dir; content: ""
    staging: str  # a name in dir
    aside: str  # a name in dir: where the previous data goes
    phase: Phase
    root: RootKind = "portal"  # which managed root `dir` lies in (checked before a repair)
    old_root: Meta | None = None  # content mode: the mount point's metadata before
    new_root: Meta | None = None  # content mode: the staged root's metadata (the archive's)
    had_old: bool = False


def meta_of(st: os.stat_result) -> Meta:
    return [stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns]


def apply_meta(fd: int, meta: Meta | None) -> None:
    if not meta:
        return
    mode, uid, gid, atime, mtime = meta
    with contextlib.suppress(PermissionError):
        os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)
    os.utime(fd, ns=(atime, mtime))


class Swap:
    """Drives one record through its phases in the directory `dfd` (`rec.dir`)."""

    def __init__(self, rec: SwapRecord, dfd: int, save: Callable[[SwapRecord], None]) -> None:
        self.rec = rec
        self.dfd = dfd
        self.save = save

    def _phase(self, phase: Phase) -> None:
        self.rec.phase = phase
        self.save(self.rec)  # durable (fsync of the journal and its directory) before the step
        checkpoint(f"swap.{phase}")

    def _exists(self, name: str) -> bool:
        return lstat_at(self.dfd, name) is not None

    # -- forward -------------------------------------------------------------------------------

    def swap(self) -> None:
        """staging -> old-out -> new-in -> swapped."""
        r = self.rec
        if r.mode == "whole":
            if self._exists(r.name):
                r.had_old = True
                self._phase("old-out")
                rename_noreplace(self.dfd, r.name, self.dfd, r.aside)
                os.fsync(self.dfd)
                checkpoint("swap.old-moved")
        else:
            self._phase("old-out")
            os.mkdir(r.aside, 0o700, dir_fd=self.dfd)
            r.had_old = self._move_out(r.aside, "swap.old-moved")
            sfd = os.open(r.staging, O_DIR, dir_fd=self.dfd)
            try:
                r.new_root = meta_of(os.fstat(sfd))  # before the moves change its mtime
            finally:
                os.close(sfd)
        self._phase("new-in")
        self._roll_in()

    def _move_out(self, into: str, step: str) -> bool:
        """Content mode: every entry of the destination but ours into `into`; all durable."""
        r = self.rec
        ifd = os.open(into, O_DIR, dir_fd=self.dfd)
        moved = False
        try:
            for child in sorted(os.listdir(self.dfd)):
                if child not in (r.staging, r.aside):
                    rename_noreplace(self.dfd, child, ifd, child)
                    moved = True
                    checkpoint(step)
            os.fsync(ifd)
        finally:
            os.close(ifd)
        os.fsync(self.dfd)
        return moved

    def _move_in(self, source: str, step: str) -> None:
        """Content mode: every entry of `source` into the destination, then `source` goes."""
        sfd = os.open(source, O_DIR, dir_fd=self.dfd)
        try:
            for child in sorted(os.listdir(sfd)):
                rename_noreplace(sfd, child, self.dfd, child)
                checkpoint(step)
        finally:
            os.close(sfd)
        os.rmdir(source, dir_fd=self.dfd)
        os.fsync(self.dfd)

    def _roll_in(self) -> None:
        """new-in, resumable: the staged tree into place, then "swapped"."""
        r = self.rec
        if r.mode == "whole":
            if self._exists(r.staging):
                rename_noreplace(self.dfd, r.staging, self.dfd, r.name)
                checkpoint("swap.new-moved")
        elif self._exists(r.staging):
            self._move_in(r.staging, "swap.new-moved")
        if r.mode == "content":
            apply_meta(self.dfd, r.new_root)
        os.fsync(self.dfd)
        self._phase("swapped")

    def drop_old(self) -> None:
        """dropping-old: the previous data is deleted (resumable)."""
        if self.rec.had_old or self._exists(self.rec.aside):
            self._phase("dropping-old")
            remove_tree_at(self.dfd, self.rec.aside)
        if self.rec.mode == "content":
            apply_meta(self.dfd, self.rec.new_root)  # removing it changed the root's mtime

    def undo(self) -> None:
        """A failed run after the swap: undo-out -> undo-in, back to the old tree."""
        r = self.rec
        self._phase("undo-out")
        if r.mode == "whole":
            if self._exists(r.name) and not self._exists(r.staging):
                rename_noreplace(self.dfd, r.name, self.dfd, r.staging)
                os.fsync(self.dfd)
        else:
            if not self._exists(r.staging):
                os.mkdir(r.staging, 0o700, dir_fd=self.dfd)
            self._move_out(r.staging, "swap.undo-moved")
        self._phase("undo-in")
        self._put_old_back()

    # -- back to the old tree ---------------------------------------------------------------------

    def _put_old_back(self) -> None:
        """Resumable: `aside` back in place, `staging` (a copy of the archive's) removed."""
        r = self.rec
        if r.mode == "whole":
            if self._exists(r.aside) and not self._exists(r.name):
                rename_noreplace(self.dfd, r.aside, self.dfd, r.name)
                checkpoint("swap.old-returned")
        elif self._exists(r.aside):
            self._move_in(r.aside, "swap.old-returned")
        os.fsync(self.dfd)
        remove_tree_at(self.dfd, r.staging)
        if r.mode == "content":
            apply_meta(self.dfd, r.old_root)  # last: every move above changed it

    # -- repair after a crash ------------------------------------------------------------------

    def repair(self, portal: str | None = None) -> str | None:
        """Converges the recorded phase to the old or the new tree; returns what it did.

        `portal`: the Portal root's real path when the record lies in it (where a completed
        swap's previous data is kept)."""
        r = self.rec
        where = os.path.join(r.dir, r.name) if r.mode == "whole" else r.dir
        if r.phase in ("staging", "old-out"):
            self._put_old_back()
            return f"put the previous data back at {where}"
        if r.phase in ("undo-out", "undo-in"):
            self.undo() if r.phase == "undo-out" else self._put_old_back()
            return f"put the previous data back at {where}"
        if r.phase == "new-in":
            self._roll_in()
        if r.phase == "dropping-old":
            self.drop_old()
            return f"finished the restore of {where}"
        remove_tree_at(self.dfd, r.staging)  # only ever a copy of the archive's data here
        if not self._exists(r.aside):
            return f"finished the restore of {where}"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = (
            self.keep_in_portal(portal, split_under(portal, where), stamp)
            if portal and r.mode == "whole"
            else None
        ) or os.path.join(r.dir, self.keep(stamp))
        return f"finished the restore of {where}; the previous data is kept at {kept}"

    def keep_in_portal(self, portal: str, rel: list[str], stamp: str) -> str | None:
        """Whole mode: the previous data to <portal root>/.pre-restore/<stamp>/<path>, outside
        app_data (so it is never taken for an app of its own), reached without following
        symlinks. None when that is another filesystem."""
        try:
            kfd = open_beneath(
                portal,
                [".pre-restore", stamp, *rel[:-1]],
                on_made=lambda _p, fd: os.fchmod(fd, 0o700),
            )
        except PortalBackupError:
            return None
        try:
            rename_noreplace(self.dfd, self.rec.aside, kfd, rel[-1])
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return None
            raise
        finally:
            os.close(kfd)
        return os.path.join(portal, ".pre-restore", stamp, *rel)

    def keep(self, stamp: str) -> str:
        """The previous data under a name a person will find (in `dir`); returns the name."""
        r = self.rec
        base = f".pre-restore-{stamp}" if r.mode == "content" else f".{r.name}.pre-restore-{stamp}"
        name, n = base, 1
        while True:
            try:
                rename_noreplace(self.dfd, r.aside, self.dfd, name)
                break
            except FileExistsError:
                n += 1
                name = f"{base}-{n}"
        if r.mode == "content":
            apply_meta(self.dfd, r.new_root)
        os.fsync(self.dfd)
        return name
