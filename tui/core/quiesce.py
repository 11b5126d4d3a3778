"""Stopping or pausing an app's containers while its data is read, and always undoing it.

Every change is written to a journal in the state directory *before* it is made. A run that
ends in any way resumes what it changed and deletes the journal; a run that was killed leaves
the journal behind, and the next run of any command finds it and resumes those containers first.
A kill can land while Docker is still stopping a container (it reports "running" until the
container exits), so recovery first waits for such a stop to settle, then decides. A journal
entry is dropped only once its container is back in the state it had. A host-wide lock keeps
two runs from quiescing at the same time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tui.core.checkpoint import active as checkpoints_active
from tui.core.checkpoint import checkpoint
from tui.core.errors import PortalBackupError, first_line
from tui.core.events import LogLevel
from tui.core.model import ContainerInfo
from tui.core.quiesce_journal import JOURNAL_NAME, Action, Change, Journal, load_journal
from tui.core.runlock import RunLock, lock_path
from tui.core.state import state_dir, write_json_atomic

LogSink = Callable[[LogLevel, str], None]  # level ("info", "warning", "error"), message

__all__ = [
    "STOP_TIMEOUT",
    "AppDowntime",
    "Change",
    "Journal",
    "QuiesceMode",
    "Quiescer",
    "RestoreStopper",
    "RunLock",
    "lock_path",
    "recover_journal",
    "resume_changes",
]

QuiesceMode = Literal["stop", "pause", "none"]
STOP_TIMEOUT = 30  # seconds docker gives a container between SIGTERM and SIGKILL
SETTLE_MARGIN = 10  # seconds past STOP_TIMEOUT for the daemon to kill and reap a container
SIGNAL_GRACE = 2.0  # seconds a stop request sent just before a crash may take to be signalled


@dataclass
class AppDowntime:
    app: str
    started: float
    ended: float | None = None


class Quiescer:
    """Quiesces one app at a time; `resume_all` undoes everything, whatever happened."""

    def __init__(self, client: Any, mode: QuiesceMode, journal: Journal, log: LogSink) -> None:
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
            self.downtime.setdefault(app, AppDowntime(app, time.monotonic()))
            self._apply(c, "stopped" if self.mode == "stop" else "paused")

    def _apply(self, c: ContainerInfo, action: Action, note: str = "") -> None:
        """Journal first, durably: a crash right after (or during) the call is still undone."""
        checkpoint("quiesce.journal-write")
        self.journal.changes.append(Change(c.id, c.name, action))
        self.journal.save()
        checkpoint("quiesce.journaled")
        verb = "pause" if action == "paused" else "stop"
        try:
            if action == "paused":
                self.client.api.pause(c.id)
            else:
                if action == "stopped-paused":
                    self.client.api.unpause(c.id)
                    checkpoint("quiesce.unpaused")
                stop_container(self.client, c.id)
        except Exception as exc:
            raise PortalBackupError(f"could not {verb} {c.name}: {first_line(exc)}") from exc
        checkpoint(f"quiesce.{verb}-returned")
        self.how[c.id] = action
        self.log("info", f"{action} {c.name}{note}")

    def resume(self, app: str | None = None) -> list[str]:
        """Undo changes in reverse order; returns error sentences. Changes that could not be
        undone stay in the journal, so the next command tries again."""
        if self.journal.changes:
            checkpoint("quiesce.resuming")
            errors, unresolved = resume_changes(
                self.client, list(reversed(self.journal.changes)), self.log
            )
            checkpoint("quiesce.resumed")
            self.journal.changes = [c for c in self.journal.changes if c in unresolved]
            if self.journal.changes:
                self.journal.save()
            else:
                self.journal.clear()
            checkpoint("quiesce.journal-cleared")
        else:
            errors = []
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
            status: str = self.client.api.inspect_container(c.id)["State"]["Status"]
            return status
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
                self._apply(c, "stopped", " (it was restarting)")
            elif state == "paused":
                self._apply(c, "stopped-paused", " (it was paused)")
            else:
                plain.append(c)
        super().quiesce(app, plain)


def stop_container(client: Any, cid: str) -> None:
    """`docker stop`. Under a crash test it also marks the moment Docker has signalled the
    container and is waiting for it to exit ("quiesce.stop-in-flight"), so a test can kill
    this process exactly while the daemon goes on stopping the container."""
    if not checkpoints_active():
        client.api.stop(cid, timeout=STOP_TIMEOUT)
        return
    events = client.api.events(filters={"container": [cid], "event": ["kill"]}, decode=True)
    seen = threading.Event()
    failure: list[BaseException] = []

    def stop() -> None:
        try:
            client.api.stop(cid, timeout=STOP_TIMEOUT)
        except BaseException as exc:
            failure.append(exc)
        seen.wait(5)  # the daemon emits "kill" before the stop returns; a bound all the same
        events.close()

    worker = threading.Thread(target=stop, daemon=True)
    worker.start()
    with contextlib.suppress(Exception):
        for _event in events:
            seen.set()
            checkpoint("quiesce.stop-in-flight")
            break
    seen.set()
    worker.join()
    if failure:
        raise failure[0]


def _is_back(action: str, state: str) -> bool:
    """Whether a container is again in the state it had before the change."""
    if action == "stopped-paused":
        return state == "paused"
    if action == "paused":
        return state != "paused"
    return state in ("running", "paused", "restarting")


def resume_changes(
    client: Any, changes: list[Change], log: LogSink
) -> tuple[list[str], list[Change]]:
    """Undoes changes; returns error sentences and the changes not yet undone.

    A container that no longer exists is reported and dropped: nothing can bring it back.
    """
    import docker.errors

    errors: list[str] = []
    unresolved: list[Change] = []
    for ch in changes:
        try:
            state = _status(client, ch.id)
            if ch.action == "paused" and state == "paused":
                client.api.unpause(ch.id)
                log("info", f"unpaused {ch.name}")
            elif ch.action == "stopped" and not _is_back(ch.action, state):
                client.api.start(ch.id)
                log("info", f"started {ch.name}")
            elif ch.action == "stopped-paused" and state != "paused":
                if state not in ("running", "restarting"):
                    client.api.start(ch.id)
                client.api.pause(ch.id)
                log("info", f"started and paused {ch.name}")
            state = _status(client, ch.id)
        except docker.errors.NotFound:
            errors.append(f"container {ch.name} is gone; it cannot be restarted")
            continue
        except Exception as exc:
            errors.append(f"could not restart {ch.name}: {first_line(exc)}")
            unresolved.append(ch)
            continue
        if not _is_back(ch.action, state):
            errors.append(
                f"container {ch.name} is {state} after being restarted; the next "
                "portal-backup command tries again"
            )
            unresolved.append(ch)
    return errors, unresolved


def _status(client: Any, cid: str) -> str:
    return str(client.api.inspect_container(cid)["State"]["Status"])


def _may_be_changing(ch: Change, state: str | None) -> bool:
    """A journalled change whose container still looks untouched: the call may be in flight."""
    if state is None:
        return False
    if ch.action == "paused":
        return state == "running"
    return state in ("running", "restarting")


def wait_for_changes_in_flight(
    client: Any, changes: list[Change], written: float | None, log: LogSink
) -> None:
    """Waits until no container of the journal is still being stopped or paused.

    Docker signals a container and only then reports it "exited"; a run killed in between
    leaves a container that looks running but is about to exit. Docker's event log says
    whether its latest event since the journal was written is that signal (or a pause); if
    so, wait for it to settle, at most until the daemon's own SIGKILL would have ended it.
    """
    now = time.time()
    start = min(written or now, now)
    deadline = start + STOP_TIMEOUT + SETTLE_MARGIN
    if now >= deadline:
        return
    suspects = [c for c in changes if _may_be_changing(c, _status_or_none(client, c.id))]
    if not suspects:
        return
    # A request sent just before the crash may reach the daemon a moment later: listen a little.
    latest = _latest_events(client, suspects, start - 1, max(now, start + SIGNAL_GRACE))
    tick = threading.Event()
    for ch in suspects:
        last = None if latest is None else latest.get(ch.id, latest.get(ch.name, ""))
        if last not in (None, "kill", "pause"):
            continue  # never signalled, or it already exited, started or unpaused since
        log(
            "info",
            f"waiting for {ch.name} to finish {'pausing' if ch.action == 'paused' else 'stopping'}",
        )
        while time.time() < deadline and _may_be_changing(ch, _status_or_none(client, ch.id)):
            tick.wait(0.1)


def _status_or_none(client: Any, cid: str) -> str | None:
    try:
        return _status(client, cid)
    except Exception:
        return None


def _latest_events(
    client: Any, changes: list[Change], since: float, until: float
) -> dict[str, str] | None:
    """Container id and name -> its latest lifecycle event in [since, until]; None when the
    event log cannot be read (then every suspect is waited for)."""
    latest: dict[str, str] = {}
    try:
        events = client.api.events(
            since=f"{since:.3f}",
            until=f"{until:.3f}",
            decode=True,
            filters={
                "container": [c.id for c in changes],
                "event": ["kill", "die", "start", "pause", "unpause"],
            },
        )
        for ev in events:
            actor = ev.get("Actor") or {}
            action = str(ev.get("Action") or ev.get("status") or "")
            latest[str(actor.get("ID") or ev.get("id") or "")] = action
            latest[str((actor.get("Attributes") or {}).get("name") or "")] = action
    except Exception:
        return None
    return latest


def recover_journal(client_factory: Callable[[], Any], log: LogSink) -> list[str]:
    """Resume containers left stopped or paused by a run that was killed. Returns messages.

    Does nothing while another live run holds the lock (its journal is its own business).
    """
    path = state_dir() / JOURNAL_NAME
    if not path.exists():
        return []
    lock = RunLock()
    try:
        lock.acquire()
    except PortalBackupError:
        return []
    try:
        try:
            journal = load_journal(path)
        except PortalBackupError as exc:
            return [str(exc)]
        if journal is None:
            return []
        if not journal.changes:
            path.unlink(missing_ok=True)
            return []
        log(
            "warning",
            f"an earlier run (pid {journal.pid}) was interrupted; "
            f"restoring {len(journal.changes)} container(s) it had stopped or paused",
        )
        try:
            client = client_factory()
        except Exception as exc:
            return [f"cannot restore containers from the journal: {first_line(exc)}"]
        wait_for_changes_in_flight(client, journal.changes, journal.written, log)
        errors, unresolved = resume_changes(client, list(reversed(journal.changes)), log)
        if unresolved:  # keep what is not back yet, with the original time
            write_json_atomic(
                path,
                {
                    "pid": journal.pid,
                    "written": journal.written,
                    "changes": [c.__dict__ for c in journal.changes if c in unresolved],
                },
            )
        else:
            path.unlink(missing_ok=True)
        return errors
    finally:
        lock.release()
