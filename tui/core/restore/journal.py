"""The restore's data journal: an interrupted swap is repaired before containers start again.

Each destination a restore replaces has one record here, rewritten (and fsynced) before every
phase of its swap begins (restore_swap.py lists the phases and what repair does in each). A
run that was killed leaves records behind; `recover_restore` resumes each one to the old or
the new tree, complete.

The journal lives in the state directory, which is root's, yet a record is never trusted as
it is: its names must be this tool's own (`.pb-restore-<key>`, `.pb-old-<key>`, a plain file
name), and its directory must lie in a root the tool manages (the Portal root, a Docker
volume's directory, or a bind destination outside system paths), reached from that root with
O_NOFOLLOW. Anything else is refused with a sentence and left alone.

The CLI runs this before the quiesce journal's recovery, so containers never restart on a
missing or half-swapped directory.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from tui.core.anchored import open_beneath, split_under
from tui.core.errors import PortalBackupError
from tui.core.quiesce import RunLock
from tui.core.restore.policy import bind_target_refusal
from tui.core.restore.swap import PHASES, Swap, SwapRecord
from tui.core.state import state_dir, write_json_atomic

__all__ = [
    "JOURNAL_NAME",
    "SwapJournal",
    "SwapRecord",
    "anchor_for",
    "docker_root_from",
    "recover_restore",
]

JOURNAL_NAME = "restore-journal.json"
KEY_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9]{1,6}")
_FIELDS = {f.name for f in fields(SwapRecord)}


class SwapJournal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / JOURNAL_NAME
        self.records: dict[str, SwapRecord] = {}
        self.unknown: list[Any] = []  # records refused by a repair: kept as they are

    def set(self, record: SwapRecord) -> None:
        self.records[record.key] = record
        self._save()

    def drop(self, key: str) -> None:
        if self.records.pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.records or self.unknown:
            swaps = [asdict(r) for r in self.records.values()] + self.unknown
            write_json_atomic(self.path, {"pid": os.getpid(), "swaps": swaps})
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def recover_restore(
    log: Callable[[str, str], None],
    portal_root: str | None = None,
    docker_root: Callable[[], str | None] = lambda: None,
) -> list[str]:
    """Repairs swaps a killed restore left half done. Returns error sentences.

    `portal_root` defaults to $PORTAL_ROOT or /home/portal; `docker_root` gives Docker's data
    directory (asked only for a volume's record). Does nothing while another live run holds
    the lock. A record that cannot be repaired stays, and is reported each time; it never
    stops the command that found it.
    """
    path = state_dir() / JOURNAL_NAME
    if not path.exists():
        return []
    lock = RunLock()
    try:
        lock.acquire()
    except PortalBackupError:
        return []
    root = portal_root or os.environ.get("PORTAL_ROOT") or "/home/portal"
    try:
        return _recover(path, root, docker_root, log)
    finally:
        lock.release()


def docker_root_from(connect: Callable[[], Any]) -> Callable[[], str | None]:
    """Asks Docker (lazily) for its data directory, where volumes live; None if it fails."""

    def ask() -> str | None:
        try:
            return str(connect().info().get("DockerRootDir") or "") or None
        except Exception:  # Docker down or refusing: volume records are then left alone
            return None

    return ask


def _recover(
    path: Path,
    portal_root: str,
    docker_root: Callable[[], str | None],
    log: Callable[[str, str], None],
) -> list[str]:
    try:
        data = _read(path)
    except PortalBackupError as exc:
        return [str(exc)]
    swaps = data.get("swaps") if isinstance(data.get("swaps"), list) else None
    if swaps is None:
        return [f"the restore journal {path} is not one this tool wrote; it was left alone"]
    if swaps:
        log(
            "warning",
            f"an earlier restore (pid {data.get('pid')}) was interrupted; repairing what it left",
        )
    journal = SwapJournal(path)
    errors: list[str] = []
    for raw in swaps:  # all of them first: each save below rewrites the whole journal
        rec = parse_record(raw)
        if rec is None:
            journal.unknown.append(raw)
            errors.append(
                f"the restore journal {path} holds a record this tool did not write; "
                "nothing was changed for it"
            )
        else:
            journal.records[rec.key] = rec
    for rec in list(journal.records.values()):
        try:
            message = _repair(rec, portal_root, docker_root, journal)
        except PortalBackupError as exc:
            errors.append(f"could not repair the restore of {_where(rec)}: {exc}")
            continue
        except OSError as exc:
            errors.append(f"could not repair the restore of {_where(rec)}: {exc.strerror or exc}")
            continue
        if message:
            log("warning", message)
        journal.drop(rec.key)
    if not journal.records and not journal.unknown:
        path.unlink(missing_ok=True)
    return errors


def _read(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise PortalBackupError(
            f"the restore journal {path} cannot be read ({type(exc).__name__}); it was left alone"
        ) from None
    if not isinstance(data, dict):
        raise PortalBackupError(
            f"the restore journal {path} is not one this tool wrote; it was left alone"
        )
    return data


def parse_record(raw: Any) -> SwapRecord | None:
    """A record whose every field has this tool's shape, or None."""
    if not isinstance(raw, dict) or not set(raw) <= _FIELDS:
        return None
    try:
        rec = SwapRecord(**raw)
    except TypeError:
        return None
    strings = (rec.key, rec.dir, rec.name, rec.staging, rec.aside)
    if not all(isinstance(s, str) and "\0" not in s for s in strings):
        return None
    metas_ok = all(
        m is None
        or (
            isinstance(m, list)
            and len(m) == 5
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in m)
        )
        for m in (rec.old_root, rec.new_root)
    )
    plain_name = (
        rec.name == ""
        if rec.mode == "content"
        else (
            rec.name not in ("", ".", "..")
            and "/" not in rec.name
            and not rec.name.startswith((".pb-restore-", ".pb-old-"))
        )
    )
    ok = (
        KEY_PATTERN.fullmatch(rec.key) is not None
        and rec.staging == f".pb-restore-{rec.key}"
        and rec.aside == f".pb-old-{rec.key}"
        and rec.mode in ("whole", "content")
        and rec.phase in PHASES
        and rec.root in ("portal", "volume", "bind")
        and isinstance(rec.had_old, bool)
        and os.path.isabs(rec.dir)
        and os.path.normpath(rec.dir) == rec.dir
        and plain_name
        and metas_ok
    )
    return rec if ok else None


def anchor_for(rec: SwapRecord, portal_root: str, docker_root: Callable[[], str | None]) -> str:
    """The trusted directory `rec.dir` is reached from; refuses a dir outside managed roots."""
    where = _where(rec)
    if rec.root == "portal":
        anchor = os.path.realpath(portal_root)
        if where != anchor and where.startswith(anchor.rstrip("/") + "/"):
            return anchor
        raise PortalBackupError(
            f"{where} does not lie in the Portal root {anchor}; nothing was changed"
        )
    if rec.root == "volume":
        top = docker_root()
        if top:
            volumes = os.path.join(os.path.realpath(top), "volumes")
            parts = os.path.relpath(where, volumes).split("/")
            if len(parts) == 2 and parts[1] == "_data" and parts[0] not in ("", ".", ".."):
                return volumes
        raise PortalBackupError(
            f"{where} is not a Docker volume's directory (or Docker does "
            "not answer); nothing was changed"
        )
    # The same rule as the restore itself: only under the places binds may be restored to.
    refusal = bind_target_refusal(where, os.path.realpath(portal_root))
    if refusal or where.startswith(os.path.realpath(portal_root).rstrip("/") + "/"):
        raise PortalBackupError(
            f"{where} is not a bind destination this tool may repair "
            f"({refusal or 'it lies in the Portal root'}); nothing was "
            "changed"
        )
    return "/"


def _repair(
    rec: SwapRecord, portal_root: str, docker_root: Callable[[], str | None], journal: SwapJournal
) -> str | None:
    anchor = anchor_for(rec, portal_root, docker_root)
    try:
        dfd = open_beneath(anchor, split_under(anchor, rec.dir))
    except FileNotFoundError:
        return None  # the directory itself is gone: nothing of ours is left in it
    try:
        return Swap(rec, dfd, journal.set).repair(anchor if rec.root == "portal" else None)
    finally:
        os.close(dfd)


def _where(rec: SwapRecord) -> str:
    return os.path.join(rec.dir, rec.name) if rec.mode == "whole" else rec.dir
