"""The one backup that may be running: its cancel flag, and a way to wait for its end.

The App owns one BackupJob. The progress screen's worker starts and finishes it; a SIGHUP
handler or a quit sets `cancel`; run_app waits on it before the process exits, so the engine
always gets to restart the containers it stopped.
"""

from __future__ import annotations

import threading


class BackupJob:
    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        self.cancel.clear()
        self._idle.clear()

    def finished(self) -> None:
        self._idle.set()

    @property
    def running(self) -> bool:
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)
