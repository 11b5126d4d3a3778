"""Named step boundaries of the crash-sensitive protocols (swap, quiesce, journal), for tests.

Every place where a crash would leave a distinct on-disk state calls `checkpoint("name")`.
In normal runs this is one attribute lookup. A test run is configured explicitly, once per
process, with `configure(steps_file, kill_at)` (the command line does it from its test hooks,
tui/cli/test_hooks.py; the engine never reads the environment for them):

- `steps_file`: every step reached is appended to that file, one name a line, so a test can
  list the boundaries a run goes through;
- `kill_at` = `NAME` or `NAME#N`: the process kills itself with SIGKILL the first (or N-th)
  time it reaches NAME, which is exactly what a power cut or `kill -9` there would do, without
  any timing luck.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass

__all__ = ["active", "checkpoint", "configure"]


@dataclass(frozen=True)
class _Config:
    steps_file: str | None = None
    kill_at: str | None = None


_config = _Config()
_counts: dict[str, int] = {}
_lock = threading.Lock()


def configure(steps_file: str | None = None, kill_at: str | None = None) -> None:
    """Sets (or, with no arguments, clears) the test hooks of this process."""
    global _config
    with _lock:
        _config = _Config(steps_file or None, kill_at or None)
        _counts.clear()


def active() -> bool:
    """Whether a test listens to the checkpoints (some steps then mark finer boundaries)."""
    return bool(_config.steps_file or _config.kill_at)


def checkpoint(name: str) -> None:
    """Marks a step boundary; see the module doc. Never raises in normal runs."""
    config = _config
    if not (config.steps_file or config.kill_at):
        return
    with _lock:
        count = _counts[name] = _counts.get(name, 0) + 1
        if config.steps_file:
            with open(config.steps_file, "a", encoding="utf-8") as f:
                f.write(name + "\n")
        if config.kill_at:
            want, _, nth = config.kill_at.partition("#")
            if want == name and count == (int(nth) if nth.isdigit() else 1):
                os.kill(os.getpid(), signal.SIGKILL)
