"""Regenerate the SVG screenshots of every screen from the demo Portal (tui/ui/demo/portal.py).

    python screenshots/make.py            # writes screenshots/*.svg (100x30 terminal)

Everything shown is made-up demo data with fixed clocks, so the pictures only change when the UI
does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tui.ui.app import PortalBackupApp  # noqa: E402
from tui.ui.demo.portal import ARCHIVE, ENVIRON, NOW, DemoSource, FakeClock, demo_archive_bytes  # noqa: E402

SIZE = (100, 30)


async def until(pilot: Any, predicate: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected state")
        await pilot.pause(0.02)


def demo_app(explore: str | None = None, hold: bool = False) -> PortalBackupApp:
    return PortalBackupApp(
        DemoSource(hold=hold),
        explore=explore,
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd="/root",
    )


async def shoot(name: str, app: PortalBackupApp, steps: Callable[[Any], Awaitable[None]]) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot)
        await pilot.pause()
        app.save_screenshot(f"{name}.svg", str(HERE))
    print(f"screenshots/{name}.svg")


async def home(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "sizes_done", False))


async def main() -> None:
    async def identity_off(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("i", "slash", *"immich", "enter", "down", "down", "space")
        pilot.app.clear_notifications()

    async def progress(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("b", "a")
        await until(pilot, lambda: getattr(pilot.app.screen, "last_progress", None))

    async def confirm(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("b")  # the identity is in and not encrypted: the warning first

    async def encryption(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("e", *"correct horse battery staple", "enter", *"correct horse")

    async def done(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("b", "a")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "DoneScreen")

    async def help_screen(pilot: Any) -> None:
        await home(pilot)
        await pilot.press("question_mark")

    await shoot("home", demo_app(), home)
    await shoot("home-filtered-identity-off", demo_app(), identity_off)
    await shoot("confirm", demo_app(), confirm)
    await shoot("encryption", demo_app(), encryption)
    await shoot("progress", demo_app(hold=True), progress)
    await shoot("done", demo_app(), done)
    await shoot("help", demo_app(), help_screen)

    async def restore(pilot: Any) -> None:
        # From the list: R, the archive's path (the demo restore reads no file), enter.
        await home(pilot)
        await pilot.press("R", "ctrl+u", *ARCHIVE, "enter")
        await until(
            pilot,
            lambda: (
                getattr(pilot.app.screen, "measured", False)
                and pilot.app.screen.current_selection() is not None
            ),
        )
        await pilot.press(*["down"] * 7)  # the immich app: two containers to stop

    async def restore_dry_run(pilot: Any) -> None:
        await restore(pilot)
        await pilot.press("space", "d")
        await until(pilot, lambda: getattr(pilot.app.screen, "text", None) is not None)

    async def restore_done(pilot: Any) -> None:
        await restore(pilot)
        await pilot.press("space")
        await until(pilot, lambda: pilot.app.screen.current_selection() is not None)
        await pilot.press("r", "y")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "RestoreDoneScreen")

    await shoot("restore", demo_app(), restore)
    await shoot("restore-dry-run", demo_app(), restore_dry_run)
    await shoot("restore-done", demo_app(), restore_done)

    with tempfile.TemporaryDirectory() as tmp:
        archive = os.path.join(tmp, os.path.basename(ARCHIVE))
        Path(archive).write_bytes(demo_archive_bytes())

        async def explorer(pilot: Any) -> None:
            await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
            await pilot.press("right", "down", "down", "down")
            await until(pilot, lambda: pilot.app.screen.previewed == "core/portal_core_db.json")

        async def verify(pilot: Any) -> None:
            await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
            await pilot.press("v")
            await until(pilot, lambda: getattr(pilot.app.screen, "report", None))

        await shoot("explorer", demo_app(explore=archive), explorer)
        await shoot("explorer-verify", demo_app(explore=archive), verify)


if __name__ == "__main__":
    os.environ.setdefault("PORTAL_BACKUP_STATE_DIR", tempfile.mkdtemp(prefix="pb-shots-"))
    asyncio.run(main())
