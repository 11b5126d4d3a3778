"""The quiesce journal: which containers a run stopped or paused, written before it does so.

The next run acts on it (starts and unpauses containers), so it is read as untrusted input:
anything but the exact shape written here is refused with a sentence and left for a person.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tui.core.errors import PortalBackupError
from tui.core.state import write_json_atomic

JOURNAL_NAME = "journal.json"
Action = Literal["stopped", "paused", "stopped-paused"]
ACTIONS: tuple[Action, ...] = ("stopped", "paused", "stopped-paused")
MAX_CHANGES = 10_000
_ID = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")  # Docker's container name rule


@dataclass
class Change:
    id: str
    name: str
    # "stopped-paused": a paused container that a restore stopped; it is started and paused.
    action: Action


@dataclass
class JournalFile:
    pid: int | None
    written: float | None
    changes: list[Change]


@dataclass
class Journal:
    path: Path
    changes: list[Change] = field(default_factory=list)
    _adopted: bool = field(default=False, repr=False, compare=False)

    def save(self) -> None:
        if not self._adopted:
            self._adopt_leftovers()
        write_json_atomic(
            self.path,
            {
                "pid": os.getpid(),
                "written": time.time(),
                "changes": [c.__dict__ for c in self.changes],
            },
        )

    def clear(self) -> None:
        self.changes.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _adopt_leftovers(self) -> None:
        """Keeps what an earlier run (or an earlier item) could not undo: overwriting the file
        would forget containers that still wait to be started. Refuses an invalid file."""
        old = load_journal(self.path)
        self._adopted = True
        if old is None:
            return
        have = {(c.id, c.action) for c in self.changes}
        self.changes[:0] = [c for c in old.changes if (c.id, c.action) not in have]


def load_journal(path: Path) -> JournalFile | None:
    """The journal at path, None when there is none; a sentence when it is not valid."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PortalBackupError(f"cannot read the journal {path}: {exc.strerror}") from exc
    try:
        return parse_journal(raw)
    except ValueError as exc:
        raise PortalBackupError(
            f"the journal {path} is not valid ({exc}); it was left as it is: check which "
            "containers it names, start them by hand if needed, then delete it"
        ) from None


def parse_journal(raw: bytes) -> JournalFile:
    """Raises ValueError (a short reason) for anything but the shape Journal.save writes."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("it is not JSON") from None
    if not isinstance(data, dict) or set(data) - {"pid", "written", "changes"}:
        raise ValueError("unexpected keys")
    pid, written, changes = data.get("pid"), data.get("written"), data.get("changes", [])
    if pid is not None and (type(pid) is not int or not 0 < pid < 2**32):
        raise ValueError("bad pid")
    if written is not None and (type(written) not in (int, float) or not 0 <= written < 2**40):
        raise ValueError("bad time")
    if not isinstance(changes, list) or len(changes) > MAX_CHANGES:
        raise ValueError("bad list of changes")
    return JournalFile(
        pid, float(written) if written is not None else None, [_change(c) for c in changes]
    )


def _change(c: Any) -> Change:
    if not isinstance(c, dict) or set(c) != {"id", "name", "action"}:
        raise ValueError("a change without exactly id, name and action")
    cid, name, action = c["id"], c["name"], c["action"]
    if not isinstance(cid, str) or not (_ID.fullmatch(cid) or _NAME.fullmatch(cid)):
        raise ValueError("a container id that is neither an id nor a name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("a container name Docker would not accept")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {str(action)[:20]!r}")
    return Change(cid, name, action)
