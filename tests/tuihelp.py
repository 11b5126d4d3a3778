"""Helpers for the TUI's Pilot and snapshot tests (no pytest-asyncio: each test runs its own
event loop with asyncio.run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import portal_fixture as pf
from textual.pilot import Pilot

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 60.0,
                   what: str = "a condition") -> None:
    """Let the app run until `predicate()` holds: a condition, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.02)


@dataclass
class HeldRun:
    """A backup set up to wait right after stopping the notes app, while `hold` exists."""

    host: pf.PortalHost
    out: Path  # the (empty) destination folder
    hold: Path
    item: str
    container: str  # the notes app's running container
    before: dict[str, str]  # every test container's state before the run

    @property
    def overrides(self) -> dict[str, str]:
        """BackupOptions fields, for PortalBackupApp(backup_overrides=...)."""
        return {"hold_file": str(self.hold), "hold_item": self.item}

    @property
    def env(self) -> dict[str, str]:
        """The same, for the real command (read by run_app as `create` reads them)."""
        return {"PORTAL_BACKUP_TEST_HOLD_FILE": str(self.hold),
                "PORTAL_BACKUP_TEST_HOLD_ITEM": self.item}

    def stopped(self) -> bool:
        return self.host.container_states()[self.container] == "exited"


def held_run(host: pf.PortalHost, tmp_path: Path) -> HeldRun:
    out = tmp_path / "out"
    out.mkdir()
    hold = tmp_path / "hold"
    hold.touch()
    notes = host.names.notes
    run = HeldRun(host, out, hold, f"app/{notes}", host.containers[notes][0][0],
                  host.container_states())
    assert run.before[run.container] == "running"
    return run
