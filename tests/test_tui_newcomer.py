"""What a newcomer meets at 80x24 (issue 11, items 5, 8 and 13): opening an archive without
typing its path, honest texts and counts, and nothing covering or cutting what it describes.
No Docker here: the demo Portal, real zip files and the real state directory (in tmp_path)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList
from tuihelp import run, screen_when, wait_for
from zipfixtures import make_backup

from tui.core.events import Finished, RateMeter
from tui.core.plan import build_plan, resolve_selection
from tui.core.state import STATE_DIR_ENV, record_last_backup, record_recent_archive
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import DemoSource, FakeClock, demo_inventory
from tui.ui.logic.archive_paths import complete_path
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.dialogs import ArchiveDialog, PrivateKeyDialog
from tui.ui.screens.done import DoneScreen
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.progress import ProgressScreen
from tui.ui.screens.restore import RestoreScreen
from tui.ui.widgets.archive_tree import ArchiveTree

SMALL = (80, 24)
DB = "core/portal_core_db.json"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv(STATE_DIR_ENV, str(path))
    return path


def demo_app(cwd: Path) -> PortalBackupApp:
    return PortalBackupApp(DemoSource(hold=True), clock=FakeClock(), cwd=str(cwd))


async def demo_home(pilot: Any) -> HomeScreen:
    return await screen_when(pilot, HomeScreen, lambda s: s.sizes_done, "the demo list")


def plain(widget: Any) -> str:
    return str(widget.render())


def zip_at(path: Path, mtime: float) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "a")
    os.utime(path, (mtime, mtime))
    return path


# ---------------------------------------------------------------------------- item 5


def test_open_starts_with_the_last_backup_completes_and_browses_a_folder(
    tmp_path: Path,
) -> None:
    out = tmp_path / "backups"
    out.mkdir()
    older = zip_at(out / "portal-backup-a-20260101-000000.zip", 1_700_000_000)
    newer = zip_at(out / "portal-backup-a-20260102-000000.zip.age", 1_700_100_000)
    (out / "notes.txt").write_text("not an archive")
    record_recent_archive(str(older))
    record_last_backup({"path": str(older), "time": 1.0, "bytes": 1})

    async def scenario() -> None:
        app = demo_app(tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            await demo_home(pilot)
            # o: the path field holds the last backup, not the current directory.
            await pilot.press("o")
            dialog = app.screen
            assert isinstance(dialog, ArchiveDialog)
            field = dialog.query_one("#path", Input)
            assert field.value == str(older)
            choices = dialog.query_one("#choices", OptionList)
            assert str(older) in [choices.get_option_at_index(i).id for i in range(2)]
            # Tab completes the path instead of moving the focus.
            await pilot.press("ctrl+u", *f"{tmp_path}/back", "tab")
            assert field.value == f"{out}/" and dialog.focused is field
            # A folder lists its archives, newest first, instead of "Is a directory".
            await pilot.press("enter")
            assert app.screen is dialog
            listed = [choices.get_option_at_index(i).id for i in range(choices.option_count)]
            assert listed == [str(newer), str(older)]
            assert "Archives in" in plain(dialog.query_one("#archive-status"))
            await pilot.press("down", "enter")  # the second one: the older zip
            explorer = await screen_when(
                pilot, ExplorerScreen, lambda s: s.opened is not None, "the explorer"
            )
            assert explorer.path == str(older)
            await pilot.press("q")
            # R offers the same, and opening one records it as recent for next time.
            await pilot.press("R")
            restore = app.screen
            assert isinstance(restore, ArchiveDialog)
            assert restore.query_one("#path", Input).value == str(older)
            await pilot.press("enter")
            await screen_when(pilot, RestoreScreen, lambda s: True, "the restore screen")

    run(scenario())


def test_tab_completion_is_shell_like(tmp_path: Path) -> None:
    (tmp_path / "photos-2025").mkdir()
    (tmp_path / "photos-2026").mkdir()
    (tmp_path / "single").mkdir()
    assert complete_path(f"{tmp_path}/pho") == f"{tmp_path}/photos-202"  # the shared start
    assert complete_path(f"{tmp_path}/si") == f"{tmp_path}/single/"  # a folder: its slash
    assert complete_path(f"{tmp_path}/zzz") == f"{tmp_path}/zzz"  # nothing: unchanged


# ---------------------------------------------------------------------------- item 8


def test_the_explorer_respects_the_manifest_about_private_keys(tmp_path: Path) -> None:
    def stripped(m: dict[str, Any]) -> None:
        m["db_private_keys_removed"] = True

    removed = make_backup(tmp_path / "removed.zip", {DB: b"{}"}, edit_manifest=stripped).path
    kept = make_backup(tmp_path / "kept.zip", {DB: b"{}"}).path

    async def flagged(path: Path) -> bool:
        app = PortalBackupApp(HostSource("/nonexistent"), explore=str(path), cwd=str(tmp_path))
        async with app.run_test(size=SMALL) as pilot:
            explorer = await screen_when(
                pilot, ExplorerScreen, lambda s: s.opened is not None, "the explorer"
            )
            tree = explorer.query_one(ArchiveTree)
            core = next(n for n in tree.root.children if n.data and n.data.name == "core/")
            core.expand()
            await wait_for(pilot, lambda: bool(core.children), what="core/ to expand")
            db = next(n for n in core.children if n.data and n.data.name == DB)
            return "private key" in tree.row_name(db).plain

    assert run(flagged(kept))
    assert not run(flagged(removed))


def test_home_and_progress_count_items_the_same_way(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = demo_app(tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            home = await demo_home(pilot)
            assert home.selection is not None
            selected = home.selection.totals(home.quiesce).items
            await pilot.press("b")
            assert isinstance(app.screen, PrivateKeyDialog)  # the demo keeps the identity in
            await pilot.press("a")
            progress = await screen_when(pilot, ProgressScreen, lambda s: True, "progress")
            assert len(progress.plan.items) != selected  # apps' mounts are not items here
            assert f"Backing up {selected} items" in plain(progress.query_one("#heading"))

    run(scenario())


def test_the_eta_waits_until_the_rate_is_known() -> None:
    clock = FakeClock()
    meter = RateMeter(clock)
    clock.advance(1.0)
    meter.update(200_000)  # a slow first second: 200 kB/s
    assert meter.rate > 0 and meter.eta(200_000, 40 << 30) is None  # not "58h left"
    done = 200_000
    for _ in range(4):  # then the steady pace: 100 MiB a second
        clock.advance(1.0)
        done += 100 << 20
        meter.update(done)
    eta = meter.eta(done, 40 << 30)
    assert eta is not None and eta < 3600  # known now, and sensible


def test_new_archives_do_not_claim_an_identity_file() -> None:
    inventory = demo_inventory()
    plan = build_plan(inventory, resolve_selection(inventory, ["core/db", "core/identity"]))
    assert plan.item_paths["core/identity"] == [DB]
    alone = build_plan(inventory, resolve_selection(inventory, ["core/identity"]))
    assert alone.item_paths["core/identity"] == ["core/portal_identity.json"]  # really stored


# ---------------------------------------------------------------------------- item 13


def test_the_identity_key_raises_no_toast_over_the_summary(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = demo_app(tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            home = await demo_home(pilot)
            await pilot.press("i")
            await pilot.pause()
            assert "without private keys" in plain(home.query_one("#summary"))
            assert not app._notifications  # the summary bar says it; a toast would cover it

    run(scenario())


def test_done_screen_commands_stay_whole_and_each_has_a_copy_key(tmp_path: Path) -> None:
    path = "/srv/backups/portal-backup-f00ba4-20261129-120000.zip.age"
    finished = Finished(path, 1 << 30, 2 << 30, 1000, 10.0, "ab" * 32, True)

    async def scenario() -> None:
        app = demo_app(tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            await demo_home(pilot)
            done = DoneScreen(finished)
            await app.push_screen(done)
            await pilot.pause()
            assert done.commands is not None and done.decrypt is not None
            for selector, command in (
                ("#rsync", done.commands.rsync),
                ("#decrypt", done.decrypt),
            ):
                line = done.query_one(selector)
                assert line.region.height == 1 and command in plain(line), selector
            await pilot.press("a")
            assert app.clipboard == done.decrypt
            assert app._notifications
            # Leaving takes the toast along: it must not cover the next screen's buttons.
            await pilot.press("b")
            assert not app._notifications

    run(scenario())


def test_the_explorer_gives_a_small_terminal_to_the_tree(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(40):
            zf.writestr(f"dir{i:02}/file.txt", "hello " * 100)

    async def scenario() -> None:
        app = PortalBackupApp(HostSource("/nonexistent"), explore=str(archive), cwd=str(tmp_path))
        async with app.run_test(size=SMALL) as pilot:
            explorer = await screen_when(
                pilot, ExplorerScreen, lambda s: s.opened is not None, "the explorer"
            )
            await pilot.pause()
            tree = explorer.query_one(ArchiveTree)
            assert tree.region.height >= 12
            assert tree.region.y <= 4  # heading, manifest and column headings above it
            heads = plain(explorer.query_one("#tree-head"))
            assert heads.split() == ["size", "packed", "saved"]
            # Esc in the filter clears it and closes it; the explorer stays.
            await pilot.press("slash", *"dir07")
            await wait_for(pilot, lambda: explorer.filter_total == 1, what="the filter")
            await pilot.press("escape")
            box = explorer.query_one("#filter", Input)
            assert app.screen is explorer and box.value == "" and not box.display
            await wait_for(pilot, lambda: explorer.filter_total is None, what="the whole tree")
            assert len(tree.root.children) == 40

    run(scenario())
