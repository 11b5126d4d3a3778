"""Helpers for the TUI's Pilot and snapshot tests (no pytest-asyncio: each test runs its own
event loop with asyncio.run)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import portal_fixture as pf
from textual.pilot import Pilot
from textual.screen import Screen

from tui.ui.app import PortalBackupApp
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.home import HomeScreen

T = TypeVar("T")
S = TypeVar("S", bound=Screen[Any])


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]  # any awaitable runs


async def wait_for(
    pilot: Pilot[Any],
    predicate: Callable[[], object],
    timeout: float = 60.0,
    what: str = "a condition",
) -> None:
    """Let the app run until `predicate()` holds: a condition, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.02)


async def screen_when(
    pilot: Pilot[Any], cls: type[S], ready: Callable[[S], object], what: str
) -> S:
    """Wait until the app shows a `cls` screen for which `ready(screen)` holds; return it."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, cls) and ready(app.screen), what=what)
    return cast(S, app.screen)


def out_dir(tmp_path: Path) -> Path:
    """An empty destination folder."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def archives_in(out: Path) -> list[str]:
    return sorted(os.listdir(out))


# ---------------------------------------------------------------------------- the home screen


def host_app(host: pf.PortalHost, out: Path, **kw: Any) -> PortalBackupApp:
    return PortalBackupApp(
        HostSource(str(host.root)),
        cwd=str(out),
        environ={"SSH_CONNECTION": "192.0.2.1 4000 192.0.2.9 22", "USER": "anna"},
        **kw,
    )


def host_item_ids(host: pf.PortalHost) -> set[str]:
    return {
        "core/db",
        "core/identity",
        "core/config",
        "core/apps",
        "shared",
        *(f"app/{a}" for a in host.apps),  # not host.solo: nothing to back up, no app
        f"volume/{host.orphan_volume}",
    }


async def loaded_home(pilot: Pilot[Any]) -> HomeScreen:
    return await screen_when(pilot, HomeScreen, lambda s: s.selection is not None, "the inventory")


async def select_host_items(pilot: Pilot[Any], home: HomeScreen, token: str) -> None:
    """Through the keys: none, then this test's apps and volumes (filtered), then the core."""
    assert home.selection is not None
    await pilot.press("a")  # all checked by default: now none
    assert home.selection.selected_ids() == []
    await pilot.press("slash", *token, "enter")
    await pilot.press("a")  # the rows the filter shows
    await pilot.press("slash", "ctrl+u", "enter", "home", "space")  # the Portal section


async def home_with_host_items(pilot: Pilot[Any], host: pf.PortalHost) -> HomeScreen:
    """The loaded home screen with this test's items checked (select_host_items)."""
    home = await loaded_home(pilot)
    await select_host_items(pilot, home, host.token)
    return home


# ---------------------------------------------------------------------------- held runs


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
        return {
            "PORTAL_BACKUP_TEST_HOLD_FILE": str(self.hold),
            "PORTAL_BACKUP_TEST_HOLD_ITEM": self.item,
        }

    def stopped(self) -> bool:
        return self.host.container_states()[self.container] == "exited"


def held_run(host: pf.PortalHost, tmp_path: Path) -> HeldRun:
    out = tmp_path / "out"
    out.mkdir()
    hold = tmp_path / "hold"
    hold.touch()
    notes = host.names.notes
    run = HeldRun(
        host, out, hold, f"app/{notes}", host.containers[notes][0][0], host.container_states()
    )
    assert run.before[run.container] == "running"
    return run
