"""The destination dialog (`d`), adding a remote through its form, testing it, the refusal of a
remote without encryption, a backup streamed to a remote through the UI, and opening a backup
that lives at a destination in the explorer. Real rclone servers on 127.0.0.1
(tests/rclone_servers.py), real files; Pilot at 80x24."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
from rclone_servers import RcloneServer
from textual.widgets import Input
from tuihelp import home_with_host_items, host_app, run, screen_when, wait_for

from tui.core.archive.zipreader import ZipReader
from tui.core.crypto.open import open_archive
from tui.core.crypto.recipients import ScryptIdentity
from tui.core.errors import UsageError
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import ENVIRON, NOW, DemoSource, FakeClock, demo_archive_bytes
from tui.ui.logic.destinations import add_remote, list_remotes, plan_remote, probe_destination
from tui.ui.logic.encryption import Encryption
from tui.ui.screens.destination import DestinationDialog
from tui.ui.screens.dialogs import ConfirmDialog, MessageDialog
from tui.ui.screens.done import DoneScreen
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.progress import ProgressScreen
from tui.ui.screens.remote_backups import RemoteBackupsDialog
from tui.ui.screens.remote_form import RemoteFormDialog
from tui.ui.widgets.archive_tree import ArchiveTree

SIZE = (80, 24)
PASSPHRASE = "correct horse battery staple"
DEMO_NAME = "portal-backup-f00ba4-20261201-030000.zip"


def demo_app() -> PortalBackupApp:
    return PortalBackupApp(
        DemoSource(), wall_clock=lambda: NOW, clock=FakeClock(), environ=ENVIRON, cwd="/root"
    )


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def destination_dialog(pilot: Any) -> DestinationDialog:
    await screen_when(pilot, HomeScreen, lambda s: s.selection is not None, "the home screen")
    await pilot.press("d")
    return await screen_when(
        pilot, DestinationDialog, lambda d: d.remotes is not None, "the remotes listed"
    )


def test_add_a_webdav_remote_through_the_form_test_it_and_refuse_it_unencrypted(
    webdav_server: RcloneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "conf" / "rclone.conf"  # the tool's config does not exist yet
    monkeypatch.setenv("RCLONE_CONFIG", str(config))

    async def scenario() -> None:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            home = app.screen
            dialog = await destination_dialog(pilot)
            assert dialog.remotes == []
            assert "none configured" in text_of(dialog, "#remotes-head")
            # The list's only option opens the form.
            dialog.query_one("#remotes").focus()
            await pilot.press("home", "enter")
            form = await screen_when(pilot, RemoteFormDialog, lambda f: True, "the form")
            await pilot.press("right", "right", "right")  # S3, B2, SFTP, WebDAV
            assert form.kind == "webdav"
            await pilot.press("tab")  # the name, suggested from the kind
            assert form.query_one("#name").value == "webdav"  # type: ignore[attr-defined]
            await pilot.press("tab", *webdav_server.url())
            await pilot.press("tab", *webdav_server.user)
            await pilot.press("tab", *webdav_server.password)
            await pilot.press("tab", *"bk", "enter")  # Enter on the last field saves
            dialog = await screen_when(
                pilot, DestinationDialog, lambda d: "Added" in text_of(d, "#dest-status"), "save"
            )
            assert dialog.query_one("#path").value == "webdav:bk"  # type: ignore[attr-defined]
            # Written 0600, the password obscured (never in the clear, never on a command line).
            assert stat.S_IMODE(config.stat().st_mode) == 0o600
            saved = config.read_text()
            assert "[webdav]" in saved and webdav_server.url() in saved
            assert webdav_server.password not in saved

            # Test: a small file written, read back and deleted on the real server.
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: dialog.last_probe is not None, what="the probe")
            assert dialog.last_probe is not None and dialog.last_probe.outcome.ok, (
                dialog.last_probe.outcome.text if dialog.last_probe else ""
            )
            assert "webdav:bk works" in text_of(dialog, "#dest-status")
            assert "/s up" in text_of(dialog, "#dest-status")
            assert os.listdir(webdav_server.root) == []  # the probe cleaned up after itself

            # Not encrypted: refused with the reason, and the dialog stays.
            await pilot.press("enter")
            assert app.screen is dialog
            assert "must be encrypted" in text_of(dialog, "#dest-status")
            assert isinstance(home, HomeScreen) and home.destination == "/root"

            # Encrypted, the same remote is taken and the summary shows its label.
            await pilot.press("escape")
            home.encryption = Encryption(mode="passphrase", passphrase=PASSPHRASE)
            dialog = await destination_dialog(pilot)
            assert dialog.remotes == ["webdav"]
            await pilot.press("ctrl+u", *"webdav:bk", "enter")
            assert app.screen is home
            assert home.destination == "webdav:bk"
            assert "To webdav:bk" in text_of(home, "#summary")
            # Encryption turned off again afterwards: the backup itself is refused, with why.
            home.encryption = Encryption()
            await pilot.press("b")
            refused = await screen_when(pilot, MessageDialog, lambda d: True, "the refusal")
            assert "must be encrypted" in str(refused.query_one(".dialog-body").render())

    run(scenario())


def test_a_wrong_password_is_one_sentence_in_the_dialog(
    webdav_server: RcloneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's config holds the right password; a connection string with a wrong one.
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "none.conf"))
    spec = f":webdav,url='{webdav_server.url()}',user=backup,pass=wrong:bk"

    async def scenario() -> None:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            dialog = await destination_dialog(pilot)
            await pilot.press("ctrl+u", *spec, "ctrl+t")
            await wait_for(pilot, lambda: dialog.last_probe is not None, what="the probe")
            assert dialog.last_probe is not None and not dialog.last_probe.outcome.ok
            status = text_of(dialog, "#dest-status")
            assert status.startswith("✗") and "wrong" not in status  # no secret shown
            assert "\n" not in status.strip()

    run(scenario())


def test_form_values_are_checked_before_rclone_runs() -> None:
    with pytest.raises(UsageError, match="give a password or a private key file"):
        plan_remote("sftp", {"host": "nas", "user": "anna"})
    with pytest.raises(UsageError, match="the endpoint must start with http"):
        plan_remote(
            "s3", {"endpoint": "s3.example", "bucket": "b", "access_key": "k", "secret": "s"}
        )
    sftp = plan_remote("sftp", {"host": "nas:2222", "user": "anna", "password": "pw"})
    assert sftp.options == {"host": "nas", "user": "anna", "port": "2222"}
    assert sftp.secrets == {"pass": ("pw", True)}  # obscured, and only written to the file
    b2 = plan_remote("b2", {"account": "id", "key": "k", "bucket": "/bk/portal/"})
    assert (b2.options, b2.path) == ({"account": "id"}, "bk/portal")


def form_values(server: RcloneServer) -> dict[str, str]:
    """What a user types into the form for this loopback server."""
    if server.kind == "s3":
        return {
            "endpoint": server.url(),
            "bucket": server.path,
            "access_key": server.user,
            "secret": server.password,
        }
    if server.kind == "sftp":
        host = f"127.0.0.1:{server.port}"
        return {"host": host, "user": server.user, "password": server.password, "path": "bk"}
    return {"url": server.url(), "user": server.user, "password": server.password, "path": "bk"}


def test_the_form_makes_a_working_remote_of_each_kind(
    rclone_dest: RcloneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rclone.conf"
    monkeypatch.setenv("RCLONE_CONFIG", str(config))
    spec = add_remote("mine", rclone_dest.kind, form_values(rclone_dest))
    assert spec == f"mine:{rclone_dest.path}"
    assert list_remotes() == ["mine"]
    outcome = probe_destination(spec)
    assert outcome.ok, outcome.text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    # rclone keeps passwords obscured and S3 secret keys as they are (the 0600 mode guards them).
    assert (rclone_dest.password in config.read_text()) == (rclone_dest.kind == "s3")
    with pytest.raises(UsageError, match="exists already"):
        add_remote("mine", rclone_dest.kind, form_values(rclone_dest))


def test_open_a_backup_from_a_destination_in_the_explorer(
    webdav_server: RcloneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCLONE_CONFIG", str(webdav_server.config))
    data = demo_archive_bytes()
    (webdav_server.root / DEMO_NAME).write_bytes(data)  # uploaded from another host
    (webdav_server.root / "notes.txt").write_text("not a backup")

    async def scenario() -> None:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            home = await screen_when(pilot, HomeScreen, lambda s: s.selection is not None, "home")
            await pilot.press("o", "ctrl+u", *webdav_server.target, "enter")
            picker = await screen_when(
                pilot, RemoteBackupsDialog, lambda d: d.backups is not None, "the listing"
            )
            assert [b.name for b in picker.backups or []] == [DEMO_NAME]
            await pilot.press("enter")
            ask = await screen_when(pilot, ConfirmDialog, lambda d: True, "the question")
            question = str(ask.query_one(".dialog-body").render())
            assert f"Download {DEMO_NAME} (" in question and "temporary file" in question
            await pilot.press("y")
            explorer = await screen_when(
                pilot, ExplorerScreen, lambda e: e.opened is not None, "the downloaded archive"
            )
            local = Path(explorer.path)
            assert local.name == DEMO_NAME and local.read_bytes() == data
            assert stat.S_IMODE(local.parent.stat().st_mode) == 0o700
            rows = [str(n.label) for n in explorer.query_one(ArchiveTree).root.children]
            assert any(r.startswith("core/") for r in rows), rows
            await pilot.press("q")
            assert app.screen is home
            assert not local.parent.exists()  # removed when the explorer closed

    run(scenario())


def test_a_backup_streams_to_a_remote_and_the_done_screen_says_how_to_fetch_it(
    portal_host: pf.PortalHost,
    webdav_server: RcloneServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCLONE_CONFIG", str(webdav_server.config))
    out = tmp_path / "out"
    out.mkdir()

    async def scenario() -> None:
        app = host_app(portal_host, out)
        async with app.run_test(size=SIZE) as pilot:
            home = await home_with_host_items(pilot, portal_host)
            home.encryption = Encryption(mode="passphrase", passphrase=PASSPHRASE)
            await pilot.press("d", "ctrl+u", *webdav_server.target, "enter")
            assert home.destination == webdav_server.target
            await pilot.press("b")
            ask = await screen_when(pilot, ConfirmDialog, lambda d: True, "the confirmation")
            assert f"into {webdav_server.target}" in str(ask.query_one(".dialog-body").render())
            await pilot.press("y")
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            assert webdav_server.target in text_of(progress, "#heading")
            await wait_for(pilot, lambda: progress.outcome is not None, 120, "the backup's end")
            assert progress.outcome == "done", progress.error
            done = await screen_when(
                pilot, DoneScreen, lambda d: bool(d.query("#explore")), "the done screen"
            )
            finished = done.finished
            assert finished.destination == webdav_server.target and finished.verified
            assert progress.last_upload is not None
            # Throttled like Progress: the last one shown may come before the very end.
            assert 0 < progress.last_upload.bytes_sent <= finished.bytes
            name = finished.name or ""
            assert name.endswith(".zip.age")
            command = f"portal-backup fetch {webdav_server.target} {name}"
            assert command in text_of(done, "#remote-fetch")
            assert os.listdir(out) == []  # no local copy

    run(scenario())
    [uploaded] = os.listdir(webdav_server.root)  # no temporary name left beside it
    with open_archive(
        str(webdav_server.root / uploaded), lambda: [ScryptIdentity(PASSPHRASE)]
    ) as f:
        assert ZipReader(f).get("portal-backup.json") is not None


def test_destination_dialog_snapshot(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rclone.conf"
    config.write_text("[nas]\ntype = sftp\nhost = nas\n\n[offsite]\ntype = b2\naccount = x\n")
    config.chmod(0o600)
    monkeypatch.setenv("RCLONE_CONFIG", str(config))

    async def run_before(pilot: Any) -> None:
        dialog = await destination_dialog(pilot)
        dialog.query_one("#path", Input).cursor_blink = False  # the same picture every time
        await pilot.pause()

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)
