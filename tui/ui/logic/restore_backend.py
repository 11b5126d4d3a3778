"""The Restore screen's view of the restore engine: open an archive and plan, measure this
host, select, dry-run, run. A thin adapter over tui.core.restore.run*; no Textual here.

Every method blocks (disk, Docker, decryption) and is called from a worker thread, never the
UI thread. `backend_for` picks the real host or the demo twin (tui/ui/demo/restore.py), as the
app's DataSource does for backups.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from tui.core.archive.chain import open_state
from tui.core.archive.zipreader import ZipReader
from tui.core.crypto.age import AgeReader
from tui.core.events import EventSink
from tui.core.host import open_host
from tui.core.model import Size
from tui.core.restore.diff import TargetDiff, diff_selection
from tui.core.restore.plan import RestorePlan, RestoreSelection, TargetPlan
from tui.core.restore.run import (
    RestoreFinished,
    RestoreOptions,
    RestoreRun,
    load_plan,
)
from tui.core.sizes import scan_size

Opener = Callable[[str], BinaryIO]
SizeSink = Callable[[str, int, Size], None]  # item ID, index of the target, its size now


@dataclass
class RestoreSession:
    """One archive opened for restoring: its plan, and what the run needs. The screen that
    holds it closes it, or hands it on to the run, which closes it at its end."""

    path: str
    plan: RestorePlan
    reader: ZipReader | None = None
    fileobj: BinaryIO | None = None
    client: Any | None = None
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def encrypted(self) -> bool:
        return isinstance(self.fileobj, AgeReader)

    def close(self) -> None:
        with self._lock:
            f, self.fileobj = self.fileobj, None
            client, self.client = self.client, None
        if f is not None:
            f.close()
        if client is not None:
            with contextlib.suppress(Exception):  # its connections only; nothing to report
                client.close()


class RestoreBackend(Protocol):
    def open(self, path: str) -> RestoreSession: ...

    def measure(
        self, session: RestoreSession, on_size: SizeSink, cancel: threading.Event
    ) -> None: ...

    def select(self, session: RestoreSession, ids: list[str]) -> RestoreSelection: ...

    def diff(
        self, session: RestoreSession, sel: RestoreSelection
    ) -> dict[str, list[TargetDiff]]: ...

    def run(
        self,
        session: RestoreSession,
        sel: RestoreSelection,
        options: RestoreOptions,
        on_event: EventSink,
        cancel: threading.Event,
    ) -> RestoreFinished: ...


class HostRestore:
    """This host: the Portal root on disk and the Docker engine from DOCKER_HOST."""

    def __init__(self, portal_root: str, opener: Opener) -> None:
        self.portal_root = portal_root
        self.opener = opener  # the app's: plain files, or age with the keys it knows

    def open(self, path: str) -> RestoreSession:
        """Raises KeyNeeded or AgeNoMatchError for an encrypted archive without a working
        key, PortalBackupError for one that is refused (its sentence says why)."""
        fileobj = self.opener(path)
        host = None
        try:
            reader = open_state(fileobj, path, self.opener)  # a differential: with its base
            host = open_host(self.portal_root)
            # Sizes of this host come after the first paint (measure), not here.
            plan = load_plan(reader, host.portal_root, host.client, sizes=False)
        except BaseException:
            fileobj.close()
            if host is not None:
                host.close()
            raise
        warnings = host.restore_warnings() + plan.warnings
        return RestoreSession(path, plan, reader, fileobj, host.client, warnings)

    def measure(self, session: RestoreSession, on_size: SizeSink, cancel: threading.Event) -> None:
        """Each target's size on this host now, by the rule load_plan(sizes=True) follows:
        a path that exists, a volume whose files are readable here."""
        known: dict[tuple[str, str], Size | None] = {}
        for item in session.plan.items:
            for index, target in enumerate(item.targets):
                if cancel.is_set():
                    return
                key = (target.kind, target.dest)
                if key not in known:
                    known[key] = _size_now(target, cancel)
                size = known[key]
                if size is not None:
                    on_size(item.id, index, size)

    def select(self, session: RestoreSession, ids: list[str]) -> RestoreSelection:
        # Inspects images (Docker) and the database file (disk): a worker's job.
        return session.plan.select(ids)

    def diff(self, session: RestoreSession, sel: RestoreSelection) -> dict[str, list[TargetDiff]]:
        return diff_selection(sel)

    def run(
        self,
        session: RestoreSession,
        sel: RestoreSelection,
        options: RestoreOptions,
        on_event: EventSink,
        cancel: threading.Event,
    ) -> RestoreFinished:
        assert session.reader is not None
        run = RestoreRun(
            session.reader, sel, options, session.client, on_event, cancel, source=session.fileobj
        )
        return run.run()


def _size_now(t: TargetPlan, cancel: threading.Event) -> Size | None:
    if t.kind == "volume":
        readable = bool(t.mountpoint) and os.access(t.mountpoint or "", os.R_OK | os.X_OK)
        return scan_size(t.mountpoint or "", cancel) if readable else None
    return scan_size(t.dest, cancel) if t.exists_now else Size(0, 0)


def backend_for(source: Any, opener: Opener) -> RestoreBackend:
    """The restore twin of the app's DataSource: the demo Portal, or this host's."""
    from tui.ui.demo.portal import DemoSource

    if isinstance(source, DemoSource):
        from tui.ui.demo.restore import DemoRestore

        return DemoRestore(hold=source.hold)
    from tui.ui.logic.datasource import HostSource

    assert isinstance(source, HostSource), "the app's source is the demo or this host"
    return HostRestore(source.portal_root, opener)
