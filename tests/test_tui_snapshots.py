"""Snapshots of every screen at 80x24 and 200x60, from the demo Portal (fixed data, fake clocks).

Update after a deliberate UI change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tuihelp import wait_for

from tui.core.crypto.age import X25519Identity
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import ARCHIVE, ENVIRON, NOW, DemoSource, FakeClock, demo_archive_bytes
from tui.ui.screens.done import DoneScreen
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.progress import ProgressScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((200, 60), id="200x60")]


def demo_app(explore: str | None = None, hold: bool = False) -> PortalBackupApp:
    return PortalBackupApp(
        DemoSource(hold=hold),
        explore=explore,
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd="/root",
    )


async def home_ready(pilot: Any) -> HomeScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, HomeScreen) and app.screen.sizes_done,
        what="the demo list with sizes",
    )
    return app.screen


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=home_ready)


@pytest.mark.parametrize("size", SIZES)
def test_home_identity_left_out_and_filtered(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("i", "slash", *"immich", "enter", "down", "down", "space")
        await pilot.app.workers.wait_for_complete()
        pilot.app.clear_notifications()

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_progress(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("b", "a")  # the private key, unencrypted: back up anyway
        screen = pilot.app.screen
        assert isinstance(screen, ProgressScreen)
        await wait_for(pilot, lambda: screen.last_progress is not None, what="demo events")

    assert snap_compare(demo_app(hold=True), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_done(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("b", "a")  # the private key, unencrypted: back up anyway
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, DoneScreen), what="the done screen"
        )
        assert pilot.app.screen.finished.path == ARCHIVE

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_explorer(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    archive = tmp_path / Path(ARCHIVE).name
    archive.write_bytes(demo_archive_bytes())

    async def run_before(pilot: Any) -> None:
        await wait_for(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, ExplorerScreen) and pilot.app.screen.opened is not None
            ),
            what="the archive",
        )
        screen = pilot.app.screen
        await pilot.press("right", "down", "down", "down")
        await wait_for(
            pilot, lambda: screen.previewed == "core/portal_core_db.json", what="the preview"
        )

    assert snap_compare(demo_app(explore=str(archive)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("question_mark")

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


# ---------------------------------------------------------------------------- encryption

# Fixed keys, so the pictures never change.
DEMO_KEYS = tuple(str(X25519Identity(bytes([n]) * 32).recipient()) for n in (1, 2))


@pytest.mark.parametrize("size", SIZES)
def test_encryption_dialog_passphrase(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("e", *"correct horse", "enter", *"correct hose")

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_encryption_dialog_age_keys(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("e", "shift+tab", "right", "tab")
        pilot.app.screen.query_one("#keys").insert(f"{DEMO_KEYS[0]}\nage1notakey\n")

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_summary_encrypted_to_two_keys(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("e", "shift+tab", "right", "tab")
        pilot.app.screen.query_one("#keys").insert("\n".join(DEMO_KEYS))
        await pilot.press("tab", "enter")  # enter in the file field: use this
        assert "encrypted to 2 age keys" in str(pilot.app.screen.query_one("#summary").render())

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_private_key_warning(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("b")

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_done_encrypted(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await home_ready(pilot)
        await pilot.press("e", *"oak Tree 9", "enter", *"oak Tree 9", "enter")
        await pilot.press("b", "y")  # encrypted: the plain start question, no warning
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, DoneScreen), what="the done screen"
        )
        assert pilot.app.screen.finished.path == ARCHIVE + ".age"
        pilot.app.clear_notifications()  # the weak-passphrase note

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)
