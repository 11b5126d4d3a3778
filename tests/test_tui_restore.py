"""The TUI's Restore screens: choose, dry-run, confirm, run, result.

The restores are real: the test Portal on the real Docker engine, an archive made by the real
`portal-backup create`, restored through the UI and compared byte for byte (modes, owners,
mtimes, symlinks) with a copy taken before the backup. Hostile archives are refused with a
sentence and nothing written. Snapshots use the demo restore (tui/ui/demo/restore.py: fixed data,
no Docker). Update them after a deliberate UI change with:
pytest tests/test_tui_restore.py --snapshot-update
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
from restorekit import (
    backup,
    leftovers,
    same_tree,
    snapshot,
    states_by_name,
    volume_snapshots,
)
from textual.events import Paste
from tuihelp import run, wait_for
from zipfixtures import RawEntry, build_zip, manifest_record

from tui.core.crypto.age import ScryptRecipient, encrypt_stream
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import ARCHIVE, ENVIRON, NOW, DemoSource, FakeClock
from tui.ui.demo.restore import demo_plan
from tui.ui.logic.datasource import HostSource
from tui.ui.logic.restore_choice import RestoreChoice
from tui.ui.screens.dialogs import ArchiveDialog, ConfirmDialog, MessageDialog
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.restore import RestoreScreen
from tui.ui.screens.restore_done import RestoreDoneScreen
from tui.ui.screens.restore_dryrun import RestoreDryRunScreen
from tui.ui.screens.restore_run import UPDATE_HZ, RestoreRunScreen
from tui.ui.screens.unlock import UnlockDialog
from tui.ui.widgets.restore_tree import RestoreTree

SIZE = (100, 40)
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((200, 60), id="200x60")]
PASSPHRASE = "plum tractor Velvet 42 orbit"


# ---------------------------------------------------------------------------- helpers


def host_app(root: Path, cwd: Path, explore: Path | None = None, **kw: Any) -> PortalBackupApp:
    return PortalBackupApp(
        HostSource(str(root)), cwd=str(cwd), explore=str(explore) if explore else None, **kw
    )


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def restore_screen(pilot: Any) -> RestoreScreen:
    """The Restore screen on top, its plan shown and this host measured."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, RestoreScreen)
            and app.screen.choice is not None
            and app.screen.measured
        ),
        timeout=120,
        what="the restore plan",
    )
    return app.screen


async def from_explorer(pilot: Any) -> RestoreScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ExplorerScreen) and app.screen.opened is not None,
        what="the archive in the explorer",
    )
    await pilot.press("r")
    return await restore_screen(pilot)


async def tick_only(pilot: Any, screen: RestoreScreen, name: str) -> None:
    """Through the keys: filter to `name`, tick the first row (the app), back to the list."""
    await pilot.press("slash", *name, "enter")
    tree = screen.query_one(RestoreTree)
    assert tree.cursor_node is not None and tree.cursor_node.data is not None
    await pilot.press("space")
    await pilot.press("slash", "ctrl+u", "enter")
    await wait_for(pilot, lambda: screen.current_selection() is not None, what="the selection")


async def result_screen(pilot: Any) -> RestoreDoneScreen:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, RestoreDoneScreen) and bool(app.screen.query("#result")),
        timeout=300,
        what="the result",
    )
    return app.screen


async def paste(pilot: Any, text: str) -> None:
    assert pilot.app.focused is not None
    pilot.app.focused.post_message(Paste(text))
    await pilot.pause()


def break_photos(host: pf.PortalHost) -> None:
    """Delete and change the photo app's files and its database volume."""
    lib = host.root / pf.APP_DATA / host.apps[1] / "library"
    (lib / "2023/IMG_0002.jpg").unlink()
    (lib / "2023/IMG_0003.jpg").write_bytes(b"not a photo")
    (host.volume_path(host.app_volumes[host.apps[1]][0]) / "PG_VERSION").write_text("16\n")


def restore_journal() -> Path:
    return Path(os.environ["PORTAL_BACKUP_STATE_DIR"]) / "restore-journal.json"


# ---------------------------------------------------------------------------- real restores


def test_restore_one_app_from_the_explorer(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    photos, notes = portal_host.apps[1], portal_host.apps[0]
    app_rel = f"{pf.APP_DATA}/{photos}"
    volume = portal_host.app_volumes[photos][0]
    snap = snapshot(portal_host.root, tmp_path / "snap")
    vols = volume_snapshots(portal_host, tmp_path / "vols")
    archive = backup(portal_host, tmp_path / "out")
    before = states_by_name(portal_host)
    assert before[f"{photos}-db-1"] == "paused" and before[f"{photos}-web-1"] == "running"
    break_photos(portal_host)
    junk = portal_host.root / pf.APP_DATA / notes / "data/junk.bin"
    junk.write_bytes(b"another app's new data")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(portal_host.root, tmp_path, explore=archive)
        async with app.run_test(size=SIZE) as pilot:
            screen = await from_explorer(pilot)
            assert screen.choice is not None
            # Everything is present here: nothing is ticked until asked for.
            assert screen.choice.selected_ids() == []
            item = screen.choice.by_id[f"app/{photos}"]
            assert item.status == "present"
            # Size here now and in the archive differ: a photo is gone.
            assert item.size_now is not None
            assert item.size_now.bytes < item.size_archive.bytes
            await tick_only(pilot, screen, photos)
            assert screen.choice.selected_ids() == [f"app/{photos}"]
            details = text_of(screen, "#details")
            assert f"stop {photos}-db-1 (paused), {photos}-web-1 (running)" in details
            assert "Ticked 1 item," in text_of(screen, "#summary")
            await pilot.press("r")
            dialog = app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert "kept aside" in text_of(dialog, ".dialog-body")
            await pilot.press("y")
            runner = app.screen
            assert isinstance(runner, RestoreRunScreen)
            assert app.job.running and app.job.kind == "restore"
            done = await result_screen(pilot)
            seen.update(
                result=done.result,
                text=text_of(done, "#result"),
                heading=text_of(done, "#heading"),
                stats=runner.stats,
                states=dict(runner.items.states),
            )
            assert not app.job.running
            await pilot.press("b")
            assert isinstance(app.screen, ExplorerScreen)

    run(scenario())
    result = seen["result"]
    assert result.done == [f"app/{photos}"] and result.failed == {}, result
    assert "Restore complete" in seen["heading"]
    assert seen["states"] == {f"app/{photos}": "done"}
    # The data is back, byte for byte with modes, owners, mtimes and symlinks.
    assert same_tree(snap / app_rel, portal_host.root / app_rel) == []
    assert same_tree(vols[volume], portal_host.volume_path(volume)) == []
    # The containers are as they were (the paused database paused again).
    assert states_by_name(portal_host) == before
    # The previous data was kept aside (the default here), and the result says where.
    assert result.kept and all(k in seen["text"] for k in result.kept)
    kept_app = next(Path(k) for k in result.kept if k.endswith(photos))
    assert (kept_app / "library/2023/IMG_0003.jpg").read_bytes() == b"not a photo"
    # Nothing else was touched, nothing is left over.
    assert junk.read_bytes() == b"another app's new data"
    assert leftovers(portal_host.root) == []
    assert not restore_journal().exists()
    stats = seen["stats"]
    print(
        f"\nrestore batches: {stats.batches} carrying {stats.events} events, "
        f"{stats.per_second:.1f}/s (limit {UPDATE_HZ}/s)"
    )
    assert stats.per_second <= UPDATE_HZ * 1.5


def test_dry_run_of_an_encrypted_archive_from_home_changes_nothing(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    photos = portal_host.apps[1]
    volume = portal_host.app_volumes[photos][0]
    archive = encrypt(backup(portal_host, tmp_path / "out"))
    break_photos(portal_host)
    broken = snapshot(portal_host.root, tmp_path / "broken")
    broken_vol = snapshot(portal_host.volume_path(volume), tmp_path / "broken-vol")
    before = states_by_name(portal_host)
    archive_before = archive.stat()
    seen: dict[str, str] = {}

    async def scenario() -> None:
        app = host_app(portal_host.root, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, HomeScreen) and app.screen.selection is not None,
                what="the home screen",
            )
            await pilot.press("R")
            assert isinstance(app.screen, ArchiveDialog)
            await pilot.press("ctrl+u")
            await paste(pilot, str(archive))
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: isinstance(app.screen, UnlockDialog), what="the passphrase prompt"
            )
            await pilot.press(*PASSPHRASE, "enter")
            screen = await restore_screen(pilot)
            assert "encrypted (age)" in text_of(screen, "#heading")
            await tick_only(pilot, screen, photos)
            await pilot.press("d")
            dry = app.screen
            assert isinstance(dry, RestoreDryRunScreen)
            await wait_for(
                pilot,
                lambda: dry.text is not None or dry.error is not None,
                timeout=120,
                what="the dry run",
            )
            assert dry.error is None
            seen["text"] = dry.text.plain  # type: ignore[union-attr]  # shown
            await pilot.press("q")
            assert app.screen is screen
            await pilot.press("q")
            assert isinstance(app.screen, HomeScreen)

    run(scenario())
    text = seen["text"]
    assert "+ library/2023/IMG_0002.jpg" in text
    assert "~ library/2023/IMG_0003.jpg" in text
    assert "~ PG_VERSION" in text
    assert f"stop {photos}-db-1 (paused)" in text
    assert "Dry run: nothing was changed." in text
    # And nothing was: files, volume, containers, the archive, no journal, nothing decrypted.
    assert same_tree(broken, portal_host.root) == []
    assert same_tree(broken_vol, portal_host.volume_path(volume)) == []
    assert states_by_name(portal_host) == before
    assert archive.stat().st_mtime_ns == archive_before.st_mtime_ns
    assert sorted(os.listdir(archive.parent)) == [archive.name]
    assert not restore_journal().exists()


def encrypt(plain: Path) -> Path:
    """The archive as a .zip.age with a passphrase (a low scrypt cost: this is a test)."""
    archive = plain.with_name(plain.name + ".age")
    with plain.open("rb") as source, archive.open("wb") as sink:
        encrypt_stream(source, sink, [ScryptRecipient(PASSPHRASE, work_factor=10)])
    plain.unlink()
    return archive


def test_a_failure_after_the_swap_is_reported_and_undone(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    """From an encrypted archive opened in the explorer: its key is asked once, and the run
    reads the entries through the decrypting view."""
    wiki = portal_host.apps[2]
    archive = encrypt(backup(portal_host, tmp_path / "out", f"app/{wiki}"))
    pages = portal_host.root / pf.APP_DATA / wiki / "pages/Home.md"
    pages.write_text("vandalised\n")
    before = states_by_name(portal_host)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(
            portal_host.root,
            tmp_path,
            explore=archive,
            restore_overrides={"fail_after_swap": f"app/{wiki}"},  # the test hook, explicit
        )
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, UnlockDialog), what="unlock")
            await pilot.press(*PASSPHRASE, "enter")
            screen = await from_explorer(pilot)  # no second question
            await pilot.press("k")  # delete the old data instead: the undo must not care
            assert screen.keep_old is False
            await tick_only(pilot, screen, wiki)
            await pilot.press("r", "y")
            done = await result_screen(pilot)
            seen.update(
                result=done.result, text=text_of(done, "#result"), heading=text_of(done, "#heading")
            )

    run(scenario())
    result = seen["result"]
    assert result.done == [] and list(result.failed) == [f"app/{wiki}"]
    assert "Restore failed: nothing was restored" in seen["heading"]
    assert f"✗ app/{wiki}: injected failure after swapping in app/{wiki}" in seen["text"]
    assert pages.read_text() == "vandalised\n"  # the previous data is back
    assert states_by_name(portal_host) == before
    assert leftovers(portal_host.root) == []


def test_restore_in_a_real_16_colour_terminal(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    """The real command in tmux at 80x24 with TERM=linux, driven by keys only."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    from test_tui_e2e import Tmux, app_env, poll

    photos = portal_host.apps[1]
    app_rel = f"{pf.APP_DATA}/{photos}"
    snap = snapshot(portal_host.root / app_rel, tmp_path / "snap")
    archive = backup(portal_host, tmp_path / "out", f"app/{photos}")
    before = states_by_name(portal_host)
    break_photos(portal_host)
    env = app_env({"TERM": "linux", "PORTAL_ROOT": str(portal_host.root)})
    t = Tmux([sys.executable, "-m", "tui", "explore", str(archive)], tmp_path, env, size=(80, 24))
    try:
        t.wait_text("Manifest")
        t.keys("r")
        t.wait_text("here now")
        t.wait_text("Nothing ticked")
        t.keys("/")
        t.wait_gone("space Toggle")  # the filter box has the keys now
        t.keys(photos, literal=True)
        t.wait_gone("Documents and media")  # filtered
        t.keys("Enter")
        t.wait_text("space Toggle")  # the list has them again
        t.keys("Space")
        t.wait_text("Ticked 1 item,", timeout=60)
        t.keys("r")
        t.wait_text("Restore 1 item now?")
        t.keys("y")
        t.wait_text("Restore complete", timeout=300)
        assert "The data replaced is kept at:" in t.screen()
        t.keys("q")
        poll(lambda: not t.alive(), 60, "the app to exit")
    finally:
        t.kill()
    assert same_tree(snap, portal_host.root / app_rel) == []
    assert states_by_name(portal_host) == before
    assert leftovers(portal_host.root) == []


# ---------------------------------------------------------------------------- hostile archives


def hostile(path: Path, entries: list[RawEntry]) -> Path:
    """A portal-backup-looking archive of one `shared` item holding `entries`."""
    records = [manifest_record(e) for e in entries]
    manifest = {
        "format": 1,
        "tool": {"name": "portal-backup", "version": "0.1.0"},
        "created": "2026-11-29T12:00:00Z",
        "host": "evil",
        "portal": None,
        "identity_included": False,
        "db_private_keys_removed": False,
        "items": [
            {"id": "shared", "kind": "shared", "label": "Documents", "paths": ["user_data/shared/"]}
        ],
        "volumes": [],
        "entries": records,
        "skipped": [],
        "warnings": [],
    }
    path.write_bytes(
        build_zip(
            [*entries, RawEntry("portal-backup.json", json.dumps(manifest).encode(), method=8)]
        )
    )
    return path


SHARED_DIR = RawEntry("user_data/shared/", mode=stat.S_IFDIR | 0o755)
HARMLESS = RawEntry("user_data/shared/ok.txt", b"harmless\n", method=8)


def test_a_zip_slip_archive_is_refused_and_nothing_written(
    portal_root: Path, tmp_path: Path
) -> None:
    snap = snapshot(portal_root, tmp_path / "snap")
    archive = hostile(
        tmp_path / "slip.zip",
        [SHARED_DIR, HARMLESS, RawEntry("user_data/shared/../../../escaped.txt", b"gotcha")],
    )
    seen: dict[str, str] = {}

    async def scenario() -> None:
        app = host_app(portal_root, tmp_path, explore=archive)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, ExplorerScreen) and app.screen.opened is not None,
                what="the explorer",
            )
            await pilot.press("r")
            await wait_for(
                pilot, lambda: isinstance(app.screen, MessageDialog), timeout=60, what="the refusal"
            )
            seen["dialog"] = text_of(app.screen, ".dialog-body")
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, RestoreScreen) and screen.choice is None
            seen["heading"] = text_of(screen, "#heading")
            await pilot.press("r", "d", "space")  # nothing to restore: no dialog, no run
            assert app.screen is screen and not app.job.running
            await pilot.press("q")
            assert isinstance(app.screen, ExplorerScreen)

    run(scenario())
    assert "Refusing to restore" in seen["dialog"]
    assert "'..' component" in seen["dialog"]
    assert "Nothing was restored and nothing was written." in seen["dialog"]
    assert seen["heading"].startswith("Refused")
    assert same_tree(snap, portal_root, ignore=set()) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert not (portal_root.parent / "escaped.txt").exists()
    assert leftovers(portal_root.parent) == []
    assert not restore_journal().exists()


def test_a_file_written_through_a_symlink_is_refused_during_the_run(
    portal_root: Path, tmp_path: Path
) -> None:
    snap = snapshot(portal_root, tmp_path / "snap")
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = hostile(
        tmp_path / "link.zip",
        [
            SHARED_DIR,
            HARMLESS,
            RawEntry("user_data/shared/evil", str(outside).encode(), mode=stat.S_IFLNK | 0o777),
            RawEntry("user_data/shared/evil/pwned.txt", b"gotcha", method=8),
        ],
    )
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(portal_root, tmp_path, explore=archive)
        async with app.run_test(size=SIZE) as pilot:
            screen = await from_explorer(pilot)
            await pilot.press("a")  # every item but the Portal's own files: here, shared
            await wait_for(pilot, lambda: screen.current_selection() is not None, what="selection")
            await pilot.press("r", "y")
            runner = app.screen
            assert isinstance(runner, RestoreRunScreen)
            await wait_for(
                pilot, lambda: runner.outcome is not None, timeout=120, what="the refusal"
            )
            seen.update(
                outcome=runner.outcome, error=runner.error, heading=text_of(runner, "#heading")
            )
            await pilot.press("b")
            assert isinstance(app.screen, ExplorerScreen)

    run(scenario())
    assert seen["outcome"] == "refused"
    assert "refusing to write through it" in seen["error"]
    assert "nothing was changed" in seen["heading"]
    assert os.listdir(outside) == []
    assert same_tree(snap, portal_root, ignore=set()) == []
    assert leftovers(portal_root.parent) == []


def test_a_zip_that_is_not_a_portal_backup_says_so(tmp_path: Path) -> None:
    archive = tmp_path / "plain.zip"
    archive.write_bytes(build_zip([RawEntry("notes/a.txt", b"a")]))

    async def scenario() -> str:
        app = host_app(tmp_path / "no-portal", tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
            await pilot.press("R", "ctrl+u")
            await paste(pilot, str(archive))
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: isinstance(app.screen, MessageDialog), what="the explanation"
            )
            text = text_of(app.screen, ".dialog-body")
            await pilot.press("enter", "q")
            assert isinstance(app.screen, HomeScreen)
            return text

    text = run(scenario())
    assert "is not a portal-backup archive" in text and "unzip it by hand" in text


# ---------------------------------------------------------------------------- the demo


def demo_app(hold: bool = False) -> PortalBackupApp:
    return PortalBackupApp(
        DemoSource(hold=hold),
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd="/root",
    )


async def demo_restore(pilot: Any) -> RestoreScreen:
    """From the home screen: R, the archive's path, enter; the plan measured."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, HomeScreen) and app.screen.sizes_done,
        what="the demo list",
    )
    await pilot.press("R", "ctrl+u")
    await paste(pilot, ARCHIVE)
    await pilot.press("enter")
    screen = await restore_screen(pilot)
    await wait_for(pilot, lambda: screen.query_one(RestoreTree).alone, what="each item alone")
    await wait_for(pilot, lambda: screen.current_selection() is not None, what="the selection")
    return screen


def test_choice_rules() -> None:
    plan = demo_plan()
    choice = RestoreChoice(plan)
    # By default: what this host lacks, never the Portal's own files.
    assert choice.selected_ids() == ["app/nextcloud", "app/wiki", "volume/old_export"]
    assert choice.state("app/nextcloud/data") == "on"
    # An app ticked restores all of it; unticking one of its mounts leaves the others alone.
    choice.toggle("app/immich")
    assert {"app/immich/library", "app/immich/immich_pgdata"} <= choice.checked
    choice.toggle("app/immich/library")
    assert choice.state("app/immich") == "partial"
    assert "app/immich/immich_pgdata" in choice.selected_ids()
    assert "app/immich" not in choice.selected_ids()
    # Group toggles never touch core items.
    everything = [i.id for i in plan.items]
    choice.toggle_group(everything)
    assert not choice.checked & {"core/db", "core/identity", "core/config", "core/apps"}
    assert "shared" in choice.checked
    choice.toggle("core/db")
    assert choice.identity_ticked
    choice.toggle_group(everything)
    assert choice.checked == {"core/db"}


def test_identity_change_is_asked_separately_and_the_run_reports(tmp_path: Path) -> None:
    async def scenario() -> Any:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await demo_restore(pilot)
            assert "another Portal" in text_of(screen, "#archive")
            await pilot.press("down", "space")  # core/db
            await wait_for(pilot, lambda: screen.current_selection() is not None, what="selection")
            assert "becomes Portal" in text_of(screen, "#summary")
            await pilot.press("r")
            first = app.screen
            assert isinstance(first, ConfirmDialog)
            assert "identity" in text_of(first, ".dialog-title").lower()
            assert app.focused is not None and app.focused.id == "no"  # the safe answer
            await pilot.press("n")
            assert app.screen is screen and not app.job.running
            await pilot.press("r", "y")
            second = app.screen
            assert isinstance(second, ConfirmDialog) and second is not first
            await pilot.press("y")
            done = await result_screen(pilot)
            return screen.backend.runs, text_of(done, "#result")  # type: ignore[union-attr]  # demo backend

    runs, text = run(scenario())
    [(ids, options)] = runs
    assert ids == ["core/db", "app/nextcloud", "app/wiki", "volume/old_export"]
    assert options.allow_identity_change and options.keep_old
    assert "✗ app/wiki: missing images" in text
    assert ".pre-restore" in text


def test_quitting_or_cancelling_a_running_restore_asks_first() -> None:
    async def scenario() -> None:
        app = demo_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await demo_restore(pilot)
            await pilot.press("r", "y")
            assert isinstance(app.screen, RestoreRunScreen)
            runner = app.screen  # typed as the run screen for the closures below
            await wait_for(pilot, lambda: runner.last_progress is not None, what="progress")
            await pilot.press("b")  # not while it runs
            assert app.screen is runner
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmDialog)
            assert text_of(app.screen, ".dialog-title") == "A restore is running"
            await pilot.press("n", "c", "y")
            await wait_for(pilot, lambda: runner.outcome is not None, what="the cancel")
            assert runner.outcome == "cancelled"
            assert not app.job.running
            await pilot.press("b")
            assert isinstance(app.screen, HomeScreen)

    run(scenario())


# ---------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_restore_plan(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await demo_restore(pilot)
        await pilot.press(*["down"] * 7)  # the immich app: present, two containers to stop

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_restore_identity_warning(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        screen = await demo_restore(pilot)
        await pilot.press("down", "space")
        await wait_for(pilot, lambda: screen.current_selection() is not None, what="selection")

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_restore_dry_run(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await demo_restore(pilot)
        await pilot.press("d")
        await wait_for(
            pilot, lambda: getattr(pilot.app.screen, "text", None) is not None, what="the dry run"
        )

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_restore_running(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await demo_restore(pilot)
        await pilot.press("r", "y")
        await wait_for(
            pilot, lambda: getattr(pilot.app.screen, "last_progress", None), what="progress"
        )

    assert snap_compare(demo_app(hold=True), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_restore_result(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await demo_restore(pilot)
        await pilot.press(*["down"] * 7, "space")  # immich too: its old data is kept aside
        await pilot.press("r", "y")
        await result_screen(pilot)

    assert snap_compare(demo_app(), terminal_size=size, run_before=run_before)
