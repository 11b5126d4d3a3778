"""`auto run`: the configured job once. A backup streamed to each destination in turn, each
upload read back, then that destination pruned (only after its verified upload), one history
record per destination, and the notifications the config asks for.

The whole job holds the host-wide run lock (a second `auto run`, or any backup or restore,
is refused while it runs, naming the holder); the backups inside take it without waiting.
A destination that fails does not stop the others, and never costs them their backups.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tui.core.auto.config import DestinationConfig, JobConfig
from tui.core.auto.history import RunRecord, append_run
from tui.core.auto.notify import host_name, notify, wants
from tui.core.auto.status import dest_label
from tui.core.errors import Cancelled, PortalBackupError, error_sentence
from tui.core.events import Event, EventSink, Finished, Log
from tui.core.runlock import job_lock

LOG_TAIL = 20  # log lines a failure notification carries


@dataclass(frozen=True)
class DestinationResult:
    name: str
    target: str  # label
    ok: bool  # a verified backup is there
    archive: str | None = None
    size: int = 0
    error: str | None = None
    pruned: list[str] = field(default_factory=list)
    prune_error: str | None = None
    kind: str = "full"  # "full" | "differential" (issue 14)


@dataclass(frozen=True)
class JobResult:
    run: str
    destinations: list[DestinationResult]
    notify_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every destination got a verified backup (exit status 0)."""
        return bool(self.destinations) and all(d.ok for d in self.destinations)


@dataclass
class _Prepared:
    inventory: Any
    plan: Any
    client: Any | None
    recipients: list[Any]


def run_job(
    config: JobConfig,
    on_event: EventSink,
    cancel: threading.Event | None = None,
    *,
    portal_root: str | None = None,
    now: datetime | None = None,
) -> JobResult:
    """Runs the job once. PortalBackupError only when it cannot start (another run holds the
    lock, no destination); every later failure is in the result, the history and a notification.
    `now` is the time the full-or-differential policy reasons with (default: the clock)."""
    if not config.destinations:
        raise PortalBackupError(
            f"{config.path} has no [[destinations]]: add one (see docs/automatic-backups.md)"
        )
    cancel = cancel or threading.Event()
    root = portal_root or os.environ.get("PORTAL_ROOT") or "/home/portal"
    job = _Job(config, on_event, cancel, root, now)
    with job_lock():
        return job.run()


class _Job:
    def __init__(
        self,
        config: JobConfig,
        on_event: EventSink,
        cancel: threading.Event,
        root: str,
        now: datetime | None = None,
    ) -> None:
        self.config = config
        self.emit_outer = on_event
        self.cancel = cancel
        self.root = root
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.items: list[str] = []
        self.notify_errors: list[str] = []
        self.now = now  # the policy's clock (tests); None: the time of each decision

    def emit(self, event: Event) -> None:
        if isinstance(event, Log):
            self.tail.append(f"{event.level}: {event.message}")
        self.emit_outer(event)

    def log(self, level: str, message: str) -> None:
        from tui.core.events import log_level

        self.emit(Log(log_level(level), message))

    def run(self) -> JobResult:
        results: list[DestinationResult] = []
        try:
            prepared: _Prepared | None = self.prepare()
            setup_error = None
        except Exception as exc:  # nothing can be backed up: every destination failed
            prepared, setup_error = None, error_sentence(exc)
            self.log("error", setup_error)
        try:
            for dest in self.config.destinations:
                if setup_error is None and self.cancel.is_set():
                    setup_error = "the run was cancelled before this destination"
                results.append(self.one(dest, prepared, setup_error))
        finally:
            if prepared is not None and prepared.client is not None:
                with contextlib.suppress(Exception):
                    prepared.client.close()
        self.send_notifications(results)
        return JobResult(self.run_id, results, self.notify_errors)

    def prepare(self) -> _Prepared:
        from tui.core.host import open_host
        from tui.core.inventory import match_item_ids
        from tui.core.plan import build_plan, resolve_selection

        recipients = job_recipients(self.config)
        host = open_host(self.root)
        inventory = host.inventory(sizes=False)
        for warning in inventory.warnings:
            self.log("warning", warning)
        known = [i.id for i in inventory.items]
        wanted = [i for i in self.config.items if i != "all"]
        items = resolve_selection(
            inventory,
            match_item_ids(wanted, known),
            select_all="all" in self.config.items,
            exclude=match_item_ids(self.config.exclude, known),
        )
        plan = build_plan(inventory, items)
        self.items = list(plan.item_ids)
        return _Prepared(inventory, plan, host.client, recipients)

    def one(
        self, dest: DestinationConfig, prepared: _Prepared | None, setup_error: str | None
    ) -> DestinationResult:
        started = time.time()
        label = dest_label(dest.target)
        finished: Finished | None = None
        kind = "full"
        error = setup_error
        if prepared is not None and error is None:
            self.log("info", f"backing up to {dest.name} ({label})")
            try:
                kind, base = self.choose(dest, prepared)
                finished = self.backup(dest, prepared, base)
                # A differential with `verify = false` had its size checked, not read back.
                if not finished.verified and (kind == "full" or dest.verify):
                    error = f"the upload to {label} could not be verified"
            except Cancelled as exc:
                error = str(exc) or "the run was cancelled"
            except Exception as exc:  # one destination's failure never stops the others
                error = error_sentence(exc)
            if error is not None:
                self.log("error", f"{dest.name}: {error}")
        pruned: list[str] = []
        prune_error = None
        if finished is not None and error is None:  # prune only after a verified upload
            pruned, prune_error = self.prune(dest, finished)
        record = RunRecord(
            started=started,
            ended=time.time(),
            result="ok" if error is None else "failed",
            destination=dest.name,
            target=label,
            kind=kind,
            archive=_archive_name(finished),
            items=self.items,
            bytes_in=finished.bytes_in if finished else 0,
            bytes_out=finished.bytes if finished else 0,
            duration=round(time.time() - started, 3),
            downtime=dict(finished.downtime) if finished else {},
            error=error,
            verified=bool(finished and finished.verified),
            run=self.run_id,
            pruned=pruned,
            prune_error=prune_error,
        )
        try:
            append_run(record)
        except PortalBackupError as exc:  # the backup is there all the same; say so
            self.log("error", str(exc))
        return DestinationResult(
            name=dest.name,
            target=label,
            ok=error is None,
            archive=record.archive,
            size=record.bytes_out,
            error=error,
            pruned=pruned,
            prune_error=prune_error,
            kind=kind,
        )

    def choose(self, dest: DestinationConfig, prepared: _Prepared) -> tuple[str, Any]:
        """("full" | "differential", the base for a differential) by the config's policy."""
        from tui.core.backup.change_scan import estimate_plan
        from tui.core.backup.since import choose_automatic
        from tui.core.dest.store import open_store
        from tui.core.dest.target import parse_dest
        from tui.core.naming import archive_who

        store = open_store(parse_dest(dest.target), rclone_config=self.config.rclone_config)
        choice = choose_automatic(
            store,
            archive_who(prepared.inventory),
            self.now or datetime.now(UTC),
            full_every_s=self.config.full_every,
            threshold=self.config.differential_max,
            estimate=lambda m: estimate_plan(prepared.plan, prepared.inventory, m).bytes,
        )
        self.log("info", f"{dest.name}: a {choice.kind} backup: {choice.reason}")
        return choice.kind, choice.base

    def backup(self, dest: DestinationConfig, prepared: _Prepared, base: Any = None) -> Finished:
        from tui.core.backup.run import BackupOptions, run_backup
        from tui.core.dest.target import parse_dest
        from tui.core.quiesce import QuiesceMode

        modes: dict[str, QuiesceMode] = {"stop": "stop", "pause": "pause", "none": "none"}
        quiesce = modes.get(self.config.quiesce, "stop")
        options = BackupOptions(
            quiesce=quiesce,
            encrypt_to=list(prepared.recipients),
            to=parse_dest(dest.target),
            # GUIDE 2b: every new full backup is read back in full; `verify = false` is for
            # differentials (issue 14), whose size alone is then checked.
            verify_upload=base is None or dest.verify,
            rclone_config=self.config.rclone_config,
            since=base,
        )
        return run_backup(
            prepared.inventory, prepared.plan, options, prepared.client, self.emit, self.cancel
        )

    def prune(self, dest: DestinationConfig, finished: Finished) -> tuple[list[str], str | None]:
        if dest.keep.empty():
            return [], None
        from tui.core.dest.backups import parse_archive_name
        from tui.core.dest.prune import prune
        from tui.core.dest.store import open_store
        from tui.core.dest.target import parse_dest

        name = _archive_name(finished) or ""
        parsed = parse_archive_name(name)
        if parsed is None:
            return [], f"the archive name {name} does not parse; nothing was pruned"
        try:
            store = open_store(parse_dest(dest.target), rclone_config=self.config.rclone_config)
            decisions = prune(store, dest.keep, portal_id=parsed[0], dry_run=False)
        except Exception as exc:
            sentence = error_sentence(exc)
            self.log("error", f"{dest.name}: prune failed: {sentence}")
            return [], sentence
        removed = [d.name for d in decisions if not d.keep]
        if removed:
            self.log("info", f"{dest.name}: removed {len(removed)} old backup(s) by its policy")
        return removed, None

    def send_notifications(self, results: list[DestinationResult]) -> None:
        def said(message: str) -> None:
            self.notify_errors.append(message)
            self.log("warning", message)

        failed = [r for r in results if not r.ok]
        prune_failed = [r for r in results if r.prune_error]
        host = host_name()
        if failed or prune_failed:
            if not wants(self.config, "failure"):
                return
            names = ", ".join(r.name for r in failed) or ", ".join(r.name for r in prune_failed)
            what = "backup" if failed else "prune"
            lines = [f"{r.name} ({r.target}): {r.error}" for r in failed]
            lines += [f"{r.name} ({r.target}): prune failed: {r.prune_error}" for r in prune_failed]
            good = [r for r in results if r.ok]
            if good:
                lines.append("")
                lines += [f"{r.name} ({r.target}): good backup {r.archive}" for r in good]
            lines += ["", f"Last {len(self.tail)} log lines:", *self.tail]
            notify(
                self.config,
                "failure",
                f"portal-backup on {host}: {what} to {names} failed",
                "\n".join(lines),
                log=said,
            )
        elif wants(self.config, "success"):
            body = "\n".join(
                f"{r.name} ({r.target}): {r.archive} ({_size(r.size)}, verified)" for r in results
            )
            notify(self.config, "success", f"portal-backup on {host}: backup done", body, log=said)


def job_recipients(config: JobConfig) -> list[Any]:
    """The job's age recipients (or its passphrase), from the config's keys and files."""
    from tui.core.crypto.age import ScryptRecipient, X25519Recipient, load_recipients_file
    from tui.core.crypto.open import read_passphrase

    out: list[Any] = []
    if config.passphrase_file is not None:
        passphrase = read_passphrase(str(config.passphrase_file), None)
        if passphrase is not None:
            out.append(ScryptRecipient(passphrase))
    out += [X25519Recipient.parse(r) for r in config.recipients]
    if config.recipients_file is not None:
        out += load_recipients_file(config.recipients_file)
    return out


def _archive_name(finished: Finished | None) -> str | None:
    if finished is None:
        return None
    return finished.name or os.path.basename(finished.path)


def _size(n: int) -> str:
    from tui.core.humanfmt import human_bytes

    return human_bytes(n)
