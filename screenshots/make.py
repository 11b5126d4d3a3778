"""Regenerate the SVG screenshots of every screen from the demo Portal (tui/ui/demo/portal.py).

    python screenshots/make.py                      # writes screenshots/*.svg
    python screenshots/make.py --out DIR home done  # only these, into DIR

The main screens are pictured at 80x24 (where layouts are tightest), the home screen once more
at 160x40 (home-wide.svg). Everything shown is made-up demo data with fixed clocks, a fixed
archive path and a fresh state directory per picture, so the pictures only change when the UI
or the demo does: running this twice gives the same bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tui.ui.app import PortalBackupApp  # noqa: E402
from tui.ui.demo.archive import LAST_ARCHIVE, open_demo_archive  # noqa: E402
from tui.ui.demo.portal import ARCHIVE, ENVIRON, NOW, DemoSource, FakeClock  # noqa: E402

SIZE = (80, 24)
WIDE = (160, 40)
Steps = Callable[[Any], Awaitable[None]]


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
        open_archive=open_demo_archive,  # the demo's last backup, at its fixed path
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd="/root",
    )


async def shoot(
    out: Path, name: str, app: PortalBackupApp, steps: Steps, size: tuple[int, int] = SIZE
) -> None:
    # A fresh state directory per picture: no recent archives or last backup of this machine,
    # and no picture depends on the ones made before it.
    state = tempfile.mkdtemp(prefix="pb-shots-")
    os.environ["PORTAL_BACKUP_STATE_DIR"] = state
    try:
        async with app.run_test(size=size) as pilot:
            await steps(pilot)
            await pilot.pause()
            app.save_screenshot(f"{name}.svg", str(out))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(out / f"{name}.svg")


async def home(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "sizes_done", False))


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


async def explorer(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("right", "down", "down", "down")
    await until(pilot, lambda: pilot.app.screen.previewed == "core/portal_core_db.json")


async def verify(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("v")
    await until(pilot, lambda: getattr(pilot.app.screen, "report", None))


# name -> (the app, what to do before the picture, terminal size)
SHOTS: dict[str, tuple[Callable[[], PortalBackupApp], Steps, tuple[int, int]]] = {
    "home": (demo_app, home, SIZE),
    "home-wide": (demo_app, home, WIDE),
    "home-filtered-identity-off": (demo_app, identity_off, SIZE),
    "confirm": (demo_app, confirm, SIZE),
    "encryption": (demo_app, encryption, SIZE),
    "progress": (lambda: demo_app(hold=True), progress, SIZE),
    "done": (demo_app, done, SIZE),
    "help": (demo_app, help_screen, SIZE),
    "restore": (demo_app, restore, SIZE),
    "restore-dry-run": (demo_app, restore_dry_run, SIZE),
    "restore-done": (demo_app, restore_done, SIZE),
    "explorer": (lambda: demo_app(explore=LAST_ARCHIVE), explorer, SIZE),
    "explorer-verify": (lambda: demo_app(explore=LAST_ARCHIVE), verify, SIZE),
}


async def main(out: Path, names: list[str]) -> None:
    for name in names:
        make_app, steps, size = SHOTS[name]
        await shoot(out, name, make_app(), steps, size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[], *SHOTS], help="pictures to make (all)")
    parser.add_argument("--out", type=Path, default=HERE, help="directory (screenshots/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.out, args.names or list(SHOTS)))
