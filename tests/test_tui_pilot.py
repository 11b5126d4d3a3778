"""Pilot tests of every screen and flow. The backups are real: the test Portal on the real
Docker engine, through the UI, checked afterwards with Info-ZIP and Docker itself."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
from tuihelp import (
    archives_in,
    held_run,
    home_with_host_items,
    host_app,
    host_item_ids,
    loaded_home,
    out_dir,
    run,
    screen_when,
    select_host_items,
    wait_for,
)

from tui.ui.app import PortalBackupApp, _install_hangup_handlers
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.destination import DestinationDialog
from tui.ui.screens.dialogs import ConfirmDialog, MessageDialog, PathDialog, PrivateKeyDialog
from tui.ui.screens.done import DoneScreen
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.progress import UPDATE_HZ, ProgressScreen
from tui.ui.screens.verify import VerifyScreen
from tui.ui.widgets.archive_tree import ArchiveTree
from tui.ui.widgets.item_progress import ItemProgress
from tui.ui.widgets.item_tree import ItemTree
from tui.ui.widgets.preview_pane import PreviewPane

SIZE = (100, 40)


# ---------------------------------------------------------------------------- home screen


def test_selecting_filtering_and_the_identity_key(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    notes = portal_host.names.notes
    photos = portal_host.names.photos

    async def scenario() -> None:
        app = host_app(portal_host, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            home = await loaded_home(pilot)
            sel = home.selection
            assert sel is not None
            tree = home.query_one(ItemTree)
            # Everything is listed, checked, and sized once the worker is through.
            assert host_item_ids(portal_host) <= set(sel.by_id)
            await wait_for(pilot, lambda: home.sizes_done, what="sizes")
            assert sel.by_id[f"app/{notes}"].size.bytes > 0  # type: ignore[union-attr]  # sized

            # Filter as you type: only matching rows (and their app) remain.
            await pilot.press("slash", *photos, "enter")
            assert set(tree.visible_item_ids()) == {f"app/{photos}", *sel.children[f"app/{photos}"]}
            # Toggling the app toggles its mounts; one mount back makes it partial.
            await pilot.press("home")
            assert tree.cursor_node is not None
            assert tree.cursor_node.data == "section:apps"
            await pilot.press("down", "space")
            assert sel.state(f"app/{photos}") == "off"
            assert not set(sel.children[f"app/{photos}"]) & sel.checked
            await pilot.press("down", "space")
            assert sel.state(f"app/{photos}") == "partial"
            assert "[-]" in str(
                tree.render_label(
                    tree.root.children[0].children[0], tree.rich_style, tree.rich_style
                )
            )
            await pilot.press("slash", "ctrl+u", "enter")
            assert len(tree.visible_item_ids()) == len(sel.by_id)

            # One key leaves the identity out, and says what that means.
            assert sel.identity_included
            await pilot.press("i")
            assert not sel.identity_included
            assert "core/db" in sel.checked
            summary = str(home.query_one("#summary").render())
            assert "without private keys" in summary
            await pilot.press("i")
            assert "private key" in str(home.query_one("#summary").render())

            # Mode and destination are editable.
            await pilot.press("m")
            assert home.quiesce == "pause"
            await pilot.press("d")
            assert isinstance(app.screen, DestinationDialog)
            await pilot.press("ctrl+u", *"/nowhere", "enter")
            assert home.destination == "/nowhere"
            # Help lists the keys of every screen; q closes it.
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("q")
            assert app.screen is home

    run(scenario())


# ---------------------------------------------------------------------------- a real backup


def test_backup_through_the_ui_makes_a_valid_archive(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    out = out_dir(tmp_path)
    before = portal_host.container_states()
    result: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(portal_host, out)
        async with app.run_test(size=SIZE) as pilot:
            home = await loaded_home(pilot)
            assert "Last backup: never" in str(home.query_one("#reminder").render())
            await select_host_items(pilot, home, portal_host.token)
            assert set(home.selection.selected_ids()) == host_item_ids(portal_host)  # type: ignore[union-attr]  # loaded
            await pilot.press("b")
            # The private key would go in unencrypted: the UI says so before starting.
            assert isinstance(app.screen, PrivateKeyDialog)
            await pilot.press("a")  # back up anyway
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, DoneScreen),
                timeout=300,
                what="the done screen",
            )
            done = app.screen
            assert isinstance(done, DoneScreen)
            result["finished"] = done.finished
            result["stats"] = progress.stats
            result["states"] = dict(progress.query_one(ItemProgress).states)
            # The fetch command names this host and the archive; c copies it (OSC 52).
            assert done.commands is not None
            assert done.commands.scp == f"scp anna@192.0.2.9:{done.finished.path} ."
            await pilot.press("c")
            assert app.clipboard == done.commands.scp

            # Open it in the explorer: the manifest header, the tree, verify.
            await pilot.press("e")
            explorer = app.screen
            assert isinstance(explorer, ExplorerScreen)
            await wait_for(pilot, lambda: explorer.opened is not None, what="the archive")
            header = str(explorer.query_one("#manifest").render())
            assert f"Portal {portal_host.identity_id[:6]}" in header
            assert portal_host.names.notes in header
            tree = explorer.query_one(ArchiveTree)
            top = [n.data.name for n in tree.root.children if n.data is not None]
            assert {"core/", "user_data/", "volumes/", "SHA256SUMS"} <= set(top)
            await pilot.press("v")
            verify = app.screen
            assert isinstance(verify, VerifyScreen)
            await wait_for(pilot, lambda: not verify.running, timeout=120, what="verify")
            assert verify.report is not None and verify.report.ok, verify.report
            await pilot.press("enter", "q")  # close verify, leave the explorer
            assert app.screen is done
            await pilot.press("b")
            assert isinstance(app.screen, HomeScreen)
            home = app.screen
            # The list reloads: the reminder now knows the backup just made.
            reminder = home.query_one("#reminder")
            await wait_for(
                pilot, lambda: "ago, " in str(reminder.render()), what="the last-backup reminder"
            )

    run(scenario())
    finished = result["finished"]
    archive = Path(finished.path)
    assert archive.parent == out and archives_in(out) == [archive.name]
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the identity
    subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == finished.sha256
    # The identity is inside the database: no text names an entry the zip does not hold.
    with zipfile.ZipFile(archive) as zf:
        assert "core/portal_identity.json" not in zf.namelist()
        for meta in ("README.txt", "portal-backup.json"):
            assert b"portal_identity.json" not in zf.read(meta), meta
    assert portal_host.container_states() == before
    assert set(result["states"].values()) == {"done"}
    stats = result["stats"]
    entries = len(zipfile.ZipFile(archive).namelist())
    print(
        f"\nprogress batches handled: {stats.batches} carrying {stats.events} events for "
        f"{entries} entries; {stats.per_second:.1f} batches/s (limit {UPDATE_HZ}/s)"
    )
    assert stats.batches < entries  # batched, never a message per file
    assert stats.per_second <= UPDATE_HZ * 1.5


def test_cancel_mid_run_restarts_containers_and_keeps_nothing(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    held = held_run(portal_host, tmp_path)

    async def scenario() -> None:
        app = host_app(portal_host, held.out, backup_overrides=held.overrides)
        async with app.run_test(size=SIZE) as pilot:
            await home_with_host_items(pilot, portal_host)
            await pilot.press("b", "a")
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            # Held right after quiescing notes: its container is really stopped now.
            await wait_for(pilot, held.stopped, timeout=120, what="notes to be stopped")
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("n")  # keep going: nothing happens
            assert progress.outcome is None and not app.job.cancel.is_set()
            await pilot.press("c", "y")
            await wait_for(
                pilot, lambda: progress.outcome is not None, timeout=120, what="the run to stop"
            )
            assert progress.outcome == "cancelled"
            # The interrupted app says so; it did not fail (issue 11, #8).
            states = progress.query_one(ItemProgress).states
            assert states[held.item] == "cancelled" and "failed" not in states.values()
            await pilot.press("b")
            assert isinstance(app.screen, HomeScreen)

    run(scenario())
    assert portal_host.container_states() == held.before
    assert archives_in(held.out) == []  # no archive, no partial file


def test_a_failing_run_says_why_and_restarts_containers(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    out = out_dir(tmp_path)
    before = portal_host.container_states()
    photos = portal_host.names.photos

    async def scenario() -> None:
        app = host_app(portal_host, out, backup_overrides={"fail_item": f"app/{photos}"})
        async with app.run_test(size=SIZE) as pilot:
            await home_with_host_items(pilot, portal_host)
            await pilot.press("b", "a")
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            await wait_for(
                pilot, lambda: progress.outcome is not None, timeout=120, what="the run to fail"
            )
            assert progress.outcome == "failed"
            assert progress.error == f"injected failure after reading app/{photos}"
            assert "Backup failed" in str(progress.query_one("#heading").render())
            assert progress.query_one(ItemProgress).states[f"app/{photos}"] == "failed"
            # A destination that does not exist is one sentence too.
            await pilot.press("b")
            await pilot.press("d", "ctrl+u", *"/nonexistent/dir/x.zip", "enter", "b", "a")
            second = app.screen
            assert isinstance(second, ProgressScreen)
            await wait_for(pilot, lambda: second.outcome is not None, what="the refusal")
            assert second.error == "the directory /nonexistent/dir does not exist"

    run(scenario())
    assert portal_host.container_states() == before
    assert archives_in(out) == []


def test_sighup_during_a_backup_stops_it_cleanly(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    held = held_run(portal_host, tmp_path)

    async def scenario() -> None:
        app = host_app(portal_host, held.out, backup_overrides=held.overrides)
        previous = _install_hangup_handlers(app)  # what run_app installs
        try:
            async with app.run_test(size=SIZE) as pilot:
                await home_with_host_items(pilot, portal_host)
                await pilot.press("b", "a")
                await wait_for(pilot, held.stopped, timeout=120, what="notes to be stopped")
                os.kill(os.getpid(), signal.SIGHUP)  # the SSH connection drops
                # As run_app does after the app has gone: wait for the engine's cleanup.
                assert await asyncio.to_thread(app.job.wait, 120)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        assert app.job.cancel.is_set()

    run(scenario())
    assert portal_host.container_states() == held.before
    assert archives_in(held.out) == []


# ---------------------------------------------------------------------------- explorer


def make_zip(path: Path, files: dict[str, bytes], stored: bool = False) -> Path:
    sums = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items() if not n.endswith("/")
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("SHA256SUMS", sums)
    return path


def explorer_app(path: Path, cwd: Path) -> PortalBackupApp:
    return PortalBackupApp(HostSource("/nonexistent"), explore=str(path), cwd=str(cwd))


async def opened_explorer(pilot: Any) -> ExplorerScreen:
    return await screen_when(
        pilot, ExplorerScreen, lambda s: s.opened is not None, "the archive to open"
    )


async def preview_of(pilot: Any, screen: ExplorerScreen, name: str) -> str:
    await wait_for(pilot, lambda: screen.previewed == name, what=f"the preview of {name}")
    pane = screen.query_one(PreviewPane)
    return pane.plain + "\n" + pane.note


def test_explorer_navigation_and_preview(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "any.zip",
        {
            "bin/blob.bin": bytes(range(256)) * 4,
            "docs/data.json": b'{"apps":["wiki","notes"],"n":1}',
            "docs/readme.md": b"# Hello\n",
            "logs/big.log": b"2023-04-12 INFO all good\n" * 20_000,
            "core/portal_core_db.json": b'{"identities":{"1":{"private_key":'
            b'"-----BEGIN PRIVATE KEY-----\\nMIIEsecret\\n'
            b'-----END PRIVATE KEY-----\\n"}}}',
        },
    )

    async def scenario() -> None:
        app = explorer_app(archive, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened_explorer(pilot)
            tree = screen.query_one(ArchiveTree)
            names = [n.data.name for n in tree.root.children if n.data]
            assert names == ["bin/", "core/", "docs/", "logs/", "SHA256SUMS"]
            assert (
                "not a portal-backup archive" in str(screen.query_one("#manifest").render()).lower()
            )
            # Folders fill in when expanded; a binary file previews as a hex dump.
            await pilot.press("right", "down")
            assert "00000000  00 01 02 03" in await preview_of(pilot, screen, "bin/blob.bin")
            # The identity entry is marked and its key hidden in the preview.
            await pilot.press("down", "right", "down")
            db = await preview_of(pilot, screen, "core/portal_core_db.json")
            assert "MIIEsecret" not in db and "private key hidden" in db
            assert tree.cursor_node is not None
            label = tree.render_label(tree.cursor_node, tree.rich_style, tree.rich_style)
            assert "private key" in str(label)
            # JSON pretty-printed.
            await pilot.press("down", "right", "down")
            assert '"apps": [' in await preview_of(pilot, screen, "docs/data.json")
            # A big file: the first part only.
            await pilot.press("down", "down", "right", "down")
            text = await preview_of(pilot, screen, "logs/big.log")
            assert "first 65.5 kB only" in text and "INFO all good" in text
            # Filter by name.
            await pilot.press("slash", *"readme", "enter")
            await wait_for(pilot, lambda: screen.filter_total == 1, what="the filter")
            assert [n.data.name for n in tree.root.children if n.data] == ["docs/"]
            await pilot.press("q")
        assert app.return_code == 0

    run(scenario())


def corrupt_first_data_byte(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = bytearray(path.read_bytes())
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[offset + 3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_catches_a_corrupted_archive(tmp_path: Path) -> None:
    files = {"docs/a.txt": b"hello world, this is fine\n" * 50, "docs/b.txt": b"b" * 1000}
    good = make_zip(tmp_path / "good.zip", files, stored=True)
    bad = make_zip(tmp_path / "bad.zip", files, stored=True)
    corrupt_first_data_byte(bad, "docs/a.txt")

    async def verify(path: Path) -> Any:
        app = explorer_app(path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await opened_explorer(pilot)
            await pilot.press("v")
            screen = app.screen
            assert isinstance(screen, VerifyScreen)
            await wait_for(pilot, lambda: not screen.running, what="verify")
            result = screen.report
            text = str(screen.query_one("#verify-result").render())
            await pilot.press("enter")
            assert isinstance(app.screen, ExplorerScreen)
            return result, text

    report, _ = run(verify(good))
    assert report.ok
    report, text = run(verify(bad))
    assert not report.ok
    assert report.problems[0].startswith("docs/a.txt:")
    assert "damaged" in text and "docs/a.txt" in text


def test_extraction_refuses_a_zip_slip_entry(tmp_path: Path) -> None:
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good/file.txt", b"fine")
        zf.writestr("../evil", b"gotcha")
    dest = tmp_path / "work" / "dest"

    async def scenario() -> None:
        app = explorer_app(archive, dest)
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened_explorer(pilot)
            tree = screen.query_one(ArchiveTree)
            rows = [str(n.label) for n in tree.root.children]
            assert rows == ["good/", "unsafe names (1)"]
            # Shown as refused in the tree, and refused when asked for.
            await pilot.press("down", "down")
            assert tree.cursor_node is not None and tree.cursor_node.data is not None
            assert tree.cursor_node.data.name == "../evil"
            assert "refused" in str(
                tree.render_label(tree.cursor_node, tree.rich_style, tree.rich_style)
            )
            await pilot.press("x")
            assert isinstance(app.screen, PathDialog)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.last_extract is not None, what="extraction")
            assert screen.last_extract is not None
            assert screen.last_extract.refused == [("../evil", "the name has a '..' component")]
            assert isinstance(app.screen, MessageDialog)
            await pilot.press("enter")
            # The safe folder extracts into the destination.
            screen.last_extract = None
            await pilot.press("home", "x", "enter")
            await wait_for(pilot, lambda: screen.last_extract is not None, what="extraction")
            assert screen.last_extract is not None and screen.last_extract.ok
            await pilot.press("enter")

    run(scenario())
    assert (dest / "good" / "file.txt").read_bytes() == b"fine"
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert not any("evil" in p for p in written), written


def test_opening_a_file_that_is_not_a_zip_says_so(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip" * 10)

    async def scenario() -> None:
        app = explorer_app(junk, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, MessageDialog), what="the error dialog"
            )
            text = str(app.screen.query_one(".dialog-body").render())
            assert "not a zip file" in text
            await pilot.press("enter", "q")
        assert app.return_code == 0

    run(scenario())


def test_no_docker_and_no_portal_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")

    async def scenario() -> None:
        app = PortalBackupApp(HostSource(str(tmp_path / "missing")), cwd=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            home = await loaded_home(pilot)
            warnings = str(home.query_one("#warnings").render())
            assert "Docker is not reachable" in warnings
            assert "no Portal at" in warnings
            await pilot.press("b")  # nothing to back up: a note, no crash
            assert app.screen is home
            await pilot.press("q")

    run(scenario())
