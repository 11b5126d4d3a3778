"""Named step boundaries of the crash-sensitive protocols (swap, quiesce, journal), for tests.

Every place where a crash would leave a distinct on-disk state calls `checkpoint("name")`.
In normal runs this is one dictionary lookup. Tests set, in the environment of a child run:

- `PORTAL_BACKUP_TEST_STEPS=FILE`: every step reached is appended to FILE, one name a line,
  so a test can list the boundaries a run goes through;
- `PORTAL_BACKUP_TEST_KILL_AT=NAME` or `NAME#N`: the process kills itself with SIGKILL the
  first (or N-th) time it reaches NAME, which is exactly what a power cut or `kill -9` there
  would do, without any timing luck.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["KILL_AT_ENV", "STEPS_ENV", "checkpoint"]

STEPS_ENV = "PORTAL_BACKUP_TEST_STEPS"
KILL_AT_ENV = "PORTAL_BACKUP_TEST_KILL_AT"

_counts: dict[str, int] = {}
_lock = threading.Lock()


def checkpoint(name: str) -> None:
    """Marks a step boundary; see the module doc. Never raises in normal runs."""
    steps = os.environ.get(STEPS_ENV)
    kill_at = os.environ.get(KILL_AT_ENV)
    if not steps and not kill_at:
        return
    with _lock:
        count = _counts[name] = _counts.get(name, 0) + 1
        if steps:
            with open(steps, "a", encoding="utf-8") as f:
                f.write(name + "\n")
        if kill_at:
            want, _, nth = kill_at.partition("#")
            if want == name and count == (int(nth) if nth.isdigit() else 1):
                os.kill(os.getpid(), signal.SIGKILL)
