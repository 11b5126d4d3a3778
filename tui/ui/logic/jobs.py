"""The one run (a backup or a restore) that may be going on: its cancel flag, and a way to
wait for its end.

The App owns one RunJob. The progress screen's worker starts and finishes it; a SIGHUP
handler or a quit sets `cancel`; run_app waits on it before the process exits, so the engine
always gets to restart the containers it stopped. A restore uses the same job, so it gets the
same protection; `kind` says which one runs.
"""

from __future__ import annotations

import threading


class RunJob:
    def __init__(self) -> None:
        self.kind = "backup"
        self.cancel = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    def start(self, kind: str = "backup") -> None:
        self.kind = kind
        self.cancel.clear()
        self._idle.clear()

    def finished(self) -> None:
        self._idle.set()

    @property
    def running(self) -> bool:
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def quit_question(self) -> tuple[str, str]:
        """The title and text of "quit while it runs?" for this kind of job."""
        if self.kind == "restore":
            return (
                "A restore is running",
                "Stop it and quit? An item whose data is being swapped in is completed; "
                "the others are left as they are now, and every container it stopped "
                "is started again.",
            )
        return (
            "A backup is running",
            "Stop it and quit? Every container it stopped is started again and the "
            "unfinished archive is deleted.",
        )
