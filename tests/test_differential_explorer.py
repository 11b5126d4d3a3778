"""The explorer opens a differential as the complete tree at its time (issue 14): entries from
the base dimmed, changed ones marked, deletions listed; without its base, what it holds."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import portal_fixture as pf
from clirun import run
from tuihelp import screen_when

from tui.ui.app import PortalBackupApp
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.widgets.archive_tree import ArchiveTree

ITEMS = ("core/config", "shared")


def _chain(root: Path, out: Path) -> tuple[Path, Path]:
    env = {"PORTAL_ROOT": str(root)}
    args = ("create", *ITEMS, "-o", str(out), "--progress", "none")
    base = Path(run(*args, env=env, check=True).stdout.strip().splitlines()[-1])
    (root / pf.SHARED / "neu.txt").write_text("new\n")
    (root / pf.OLD_FILE).unlink()
    diff = run(*args, "--since", str(base), env=env, check=True)
    return base, Path(diff.stdout.strip().splitlines()[-1])


async def _explore(archive: Path, cwd: Path) -> tuple[str, frozenset[str] | None, set[str]]:
    app = PortalBackupApp(HostSource("/nonexistent"), explore=str(archive), cwd=str(cwd))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await screen_when(
            pilot, ExplorerScreen, lambda s: s.opened is not None, "the archive to open"
        )
        assert screen.opened is not None
        names = {e.name for e in screen.opened.index.entries}
        header = str(screen.query_one("#manifest").render())
        return header, screen.query_one(ArchiveTree).changed_entries, names


def test_the_explorer_shows_the_whole_tree_of_a_differential(
    portal_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    base, diff = _chain(portal_root, out)

    header, changed, names = asyncio.run(_explore(diff, tmp_path))
    assert f"Differential of {base.name}" in header
    assert "Deleted since the base: " + pf.OLD_FILE in header
    assert changed is not None and f"{pf.SHARED}/neu.txt" in changed
    assert pf.TEXT_FILE not in changed and pf.TEXT_FILE in names  # from the base
    assert pf.OLD_FILE not in names

    # Without its base: what the differential holds, and why.
    shutil.move(base, tmp_path / base.name)
    header, changed, names = asyncio.run(_explore(diff, tmp_path))
    assert f"needs its full backup {base.name} beside it" in header
    assert "showing only the entries this differential holds" in header
    assert pf.TEXT_FILE not in names and f"{pf.SHARED}/neu.txt" in names
