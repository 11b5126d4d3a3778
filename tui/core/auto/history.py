"""The run history: one JSON line per (run, destination) in state_dir()/history.jsonl.

Appended with O_APPEND and fsync, so a run killed mid-write leaves at most a torn last line,
which readers skip (and the next append starts on a fresh line). `status`, the TUI and the
login reminder read it; it holds no secrets (targets are labels, errors are sentences).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tui.core.errors import PortalBackupError
from tui.core.state import state_dir

HISTORY_NAME = "history.jsonl"
Result = Literal["ok", "failed"]


@dataclass(frozen=True)
class RunRecord:
    started: float  # unix time
    ended: float
    result: Result
    destination: str  # the destination's name in the config
    target: str = ""  # its label (secrets hidden)
    kind: str = "full"  # "full" | "differential"
    archive: str | None = None  # the archive's name at the destination
    items: list[str] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0  # the archive's size
    duration: float = 0.0
    downtime: dict[str, float] = field(default_factory=dict)  # app -> seconds stopped/paused
    error: str | None = None  # one sentence when result is "failed"
    verified: bool = False
    run: str = ""  # the same for every destination of one run
    pruned: list[str] = field(default_factory=list)  # archives prune removed after this upload
    prune_error: str | None = None  # the backup is good; its prune failed (one sentence)

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def history_path() -> Path:
    return state_dir() / HISTORY_NAME


def append_run(record: RunRecord | Mapping[str, Any], path: Path | None = None) -> None:
    """Appends one record as one line, durably. PortalBackupError (one sentence) on failure."""
    data = record.to_json() if isinstance(record, RunRecord) else dict(record)
    line = json.dumps(data, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    path = path or history_path()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            if _ends_torn(fd):  # a killed writer's half line must not swallow this one
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "its disk is full" if full else (exc.strerror or str(exc))
        raise PortalBackupError(f"cannot append to the run history {path}: {why}") from exc


def _ends_torn(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_runs(limit: int | None = None, path: Path | None = None) -> list[RunRecord]:
    """The records, oldest first (the last `limit` of them); torn or foreign lines skipped."""
    path = path or history_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise PortalBackupError(
            f"cannot read the run history {path}: {exc.strerror or exc}"
        ) from exc
    runs = [r for r in map(parse_record, raw.splitlines()) if r is not None]
    return runs[-limit:] if limit is not None and limit > 0 else runs


def parse_record(line: bytes | str) -> RunRecord | None:
    """One line -> a RunRecord, or None when it is torn or not a record (never raises)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        data = json.loads(line)
        if isinstance(data, dict):
            return _from_mapping(data)
    return None


def _from_mapping(d: Mapping[str, Any]) -> RunRecord | None:
    result = d.get("result")
    if result not in ("ok", "failed") or not _number(d.get("started")):
        return None
    if not _number(d.get("ended")):
        return None
    started, ended = float(d["started"]), float(d["ended"])
    if not isinstance(d.get("destination"), str):
        return None
    downtime = d.get("downtime")
    return RunRecord(
        started=started,
        ended=ended,
        result=result,
        destination=d["destination"],
        target=_str(d.get("target")) or "",
        kind=_str(d.get("kind")) or "full",
        archive=_str(d.get("archive")),
        items=[i for i in d.get("items") or [] if isinstance(i, str)],
        bytes_in=int(d["bytes_in"]) if _number(d.get("bytes_in")) else 0,
        bytes_out=int(d["bytes_out"]) if _number(d.get("bytes_out")) else 0,
        duration=float(d["duration"]) if _number(d.get("duration")) else ended - started,
        downtime={str(k): float(v) for k, v in (downtime or {}).items() if _number(v)}
        if isinstance(downtime, dict)
        else {},
        error=_str(d.get("error")),
        verified=d.get("verified") is True,
        run=_str(d.get("run")) or "",
        pruned=[p for p in d.get("pruned") or [] if isinstance(p, str)],
        prune_error=_str(d.get("prune_error")),
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
