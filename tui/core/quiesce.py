"""Stopping or pausing an app's containers while its data is read, and always undoing it.

Every change is written to a journal in the state directory *before* it is made. A run that
ends in any way resumes what it changed and deletes the journal; a run that was killed leaves
the journal behind, and the next run of any command finds it and resumes those containers first.
A lock file keeps two runs from quiescing at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import PortalBackupError, first_line
from .model import ContainerInfo
from .state import read_json, state_dir, write_json_atomic

QuiesceMode = Literal["stop", "pause", "none"]
STOP_TIMEOUT = 30  # seconds docker gives a container between SIGTERM and SIGKILL


@dataclass
class Change:
    id: str
    name: str
    # "stopped-paused": a paused container that a restore stopped; it is started and paused.
    action: Literal["stopped", "paused", "stopped-paused"]


@dataclass
class AppDowntime:
    app: str
    started: float
    ended: float | None = None


@dataclass
class Journal:
    path: Path
    changes: list[Change] = field(default_factory=list)

    def save(self) -> None:
        write_json_atomic(self.path, {
            "pid": os.getpid(), "written": time.time(),
            "changes": [c.__dict__ for c in self.changes]})

    def clear(self) -> None:
        self.changes.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class RunLock:
    """An exclusive flock on state_dir/run.lock, held for one backup or restore."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or state_dir()) / "run.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PortalBackupError(
                "another portal-backup run is in progress on this host; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Quiescer:
    """Quiesces one app at a time; `resume_all` undoes everything, whatever happened."""

    def __init__(self, client: Any, mode: QuiesceMode, journal: Journal,
                 log: Callable[[str, str], None]) -> None:
        self.client = client
        self.mode = mode
        self.journal = journal
        self.log = log
        self.how: dict[str, str] = {}  # container id -> how it was quiesced (for the manifest)
        self.downtime: dict[str, AppDowntime] = {}

    def quiesce(self, app: str, containers: list[ContainerInfo]) -> None:
        for c in containers:
            current = self._state(c)
            if current is None:
                self.how[c.id] = "gone"
                self.log("warning", f"container {c.name} no longer exists")
                continue
            if self.mode == "none" or current != "running":
                self.how[c.id] = "none" if current == "running" else f"not running ({current})"
                continue
            action: Literal["stopped", "paused"] = "stopped" if self.mode == "stop" else "paused"
            self.journal.changes.append(Change(c.id, c.name, action))
            self.journal.save()  # intent first: a crash right after the call is still undone
            self.downtime.setdefault(app, AppDowntime(app, time.monotonic()))
            try:
                if action == "stopped":
                    self.client.api.stop(c.id, timeout=STOP_TIMEOUT)
                else:
                    self.client.api.pause(c.id)
            except Exception as exc:
                raise PortalBackupError(
                    f"could not {'stop' if action == 'stopped' else 'pause'} {c.name}: "
                    f"{first_line(exc)}") from exc
            self.how[c.id] = action
            self.log("info", f"{action} {c.name}")

    def resume(self, app: str | None = None) -> list[str]:
        """Undo changes (of one app, or all) in reverse order; returns error sentences."""
        names = {c.id for c in self.journal.changes}
        errors = resume_changes(self.client, list(reversed(self.journal.changes)), self.log)
        self.journal.changes = [c for c in self.journal.changes if c.id not in names]
        if self.journal.changes:
            self.journal.save()
        else:
            self.journal.clear()
        if app is not None and app in self.downtime:
            self.downtime[app].ended = time.monotonic()
        for d in self.downtime.values():
            if d.ended is None:
                d.ended = time.monotonic()
        return errors

    def resume_all(self) -> list[str]:
        return self.resume(None)

    def _state(self, c: ContainerInfo) -> str | None:
        try:
            return self.client.api.inspect_container(c.id)["State"]["Status"]
        except Exception:
            return None


class RestoreStopper(Quiescer):
    """The Quiescer in stop mode, which also stops paused containers (unpause, stop) and journals
    them so that they are started and paused again, even after a crash."""

    def quiesce(self, app: str, containers: list[ContainerInfo]) -> None:
        plain = []
        for c in containers:
            state = self._state(c)
            if state == "restarting":  # the Quiescer leaves these alone; a restore cannot
                self.journal.changes.append(Change(c.id, c.name, "stopped"))
                self.journal.save()
                try:
                    self.client.api.stop(c.id, timeout=STOP_TIMEOUT)
                except Exception as exc:
                    raise PortalBackupError(
                        f"could not stop {c.name}: {first_line(exc)}") from exc
                self.how[c.id] = "stopped"
                self.log("info", f"stopped {c.name} (it was restarting)")
                continue
            if state != "paused":
                plain.append(c)
                continue
            self.journal.changes.append(Change(c.id, c.name, "stopped-paused"))
            self.journal.save()
            try:
                self.client.api.unpause(c.id)
                self.client.api.stop(c.id, timeout=STOP_TIMEOUT)
            except Exception as exc:
                raise PortalBackupError(f"could not stop {c.name}: {first_line(exc)}") from exc
            self.how[c.id] = "stopped-paused"
            self.log("info", f"stopped {c.name} (it was paused)")
        super().quiesce(app, plain)


def resume_changes(client: Any, changes: list[Change],
                   log: Callable[[str, str], None]) -> list[str]:
    errors = []
    for ch in changes:
        try:
            state = client.api.inspect_container(ch.id)["State"]["Status"]
        except Exception:
            errors.append(f"container {ch.name} is gone; it cannot be restarted")
            continue
        try:
            if ch.action == "paused" and state == "paused":
                client.api.unpause(ch.id)
                log("info", f"unpaused {ch.name}")
            elif ch.action == "stopped" and state not in ("running", "paused", "restarting"):
                client.api.start(ch.id)
                log("info", f"started {ch.name}")
            elif ch.action == "stopped-paused" and state != "paused":
                if state not in ("running", "restarting"):
                    client.api.start(ch.id)
                client.api.pause(ch.id)
                log("info", f"started and paused {ch.name}")
        except Exception as exc:
            errors.append(f"could not restart {ch.name}: {first_line(exc)}")
    return errors


def recover_journal(client_factory: Callable[[], Any],
                    log: Callable[[str, str], None]) -> list[str]:
    """Resume containers left stopped or paused by a run that was killed. Returns messages.

    Does nothing while another live run holds the lock (its journal is its own business).
    """
    directory = state_dir()
    path = directory / "journal.json"
    if not path.exists():
        return []
    lock = RunLock(directory)
    try:
        lock.acquire()
    except PortalBackupError:
        return []
    try:
        data = read_json(path) or {}
        changes = [Change(**c) for c in data.get("changes", [])]
        if not changes:
            path.unlink(missing_ok=True)
            return []
        log("warning", f"an earlier run (pid {data.get('pid')}) was interrupted; "
                       f"restoring {len(changes)} container(s) it had stopped or paused")
        try:
            client = client_factory()
        except Exception as exc:
            return [f"cannot restore containers from the journal: {first_line(exc)}"]
        errors = resume_changes(client, list(reversed(changes)), log)
        if not errors:
            path.unlink(missing_ok=True)
        return errors
    finally:
        lock.release()
