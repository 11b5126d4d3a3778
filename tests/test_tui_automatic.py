"""The "Automatic backups" screen (issue 13 point 7) and the home screen's reminder line
(point 5): status and runs from a config and a history written here, the forms saving through
the config editor (comments kept), the retention preview over real archives in a folder, "send
a test" to a local HTTP server, and the gate: nothing is scheduled before the user confirms
the age identity is saved off this host."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import portal_fixture as pf
import pytest
from notify_server import notify_server
from rich.console import Console
from rich.segment import Segment
from test_tui_snapshots import demo_app
from test_tui_snapshots import home_ready as demo_home
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Input, OptionList, Static, TextArea
from tuihelp import run, screen_when, wait_for

from tui.core.auto.config import ConfigEditor, load_config
from tui.core.auto.history import RunRecord, append_run, read_runs
from tui.core.crypto.recipients import X25519Identity, load_identities
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import NOW
from tui.ui.logic.automatic import parse_keep
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.automatic import AutomaticScreen
from tui.ui.screens.automatic_forms import DestinationDialog, NotifyDialog, ScheduleDialog
from tui.ui.screens.automatic_identity import IdentityDialog
from tui.ui.screens.dialogs import MessageDialog
from tui.ui.screens.home import HomeScreen
from tui.ui.widgets.qr import DARK, QRCode, qr_rows

SMALL = (80, 24)
D = TypeVar("D", bound=Screen[Any])
HOUR = 3600.0
COMMENT = "# written by a person: keep me\n"


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen are local: pin the zone so the pictures never change."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir()
    monkeypatch.setenv("PORTAL_BACKUP_CONFIG", str(path))
    return path


def write_job(path: Path, usb: Path, schedule: str = "2030-01-01 03:00:00") -> None:
    """A job with one local destination (no encryption needed for a local disk) and a
    person's comment that every later save must keep."""
    path.write_text(COMMENT)
    path.chmod(0o600)
    editor = ConfigEditor.load(path)
    editor.set_schedule(schedule)
    editor.set_destination("usb", str(usb), {"daily": 7, "weekly": 4})
    editor.save()


def record(ended: float, ok: bool = True, dest: str = "usb", size: int = 48_000_000) -> RunRecord:
    return RunRecord(
        started=ended - 95,
        ended=ended,
        result="ok" if ok else "failed",
        destination=dest,
        target="/srv/usb",
        archive=None if not ok else f"portal-backup-1b18a7-{int(ended)}.zip",
        bytes_out=size if ok else 0,
        duration=95.0,
        error=None if ok else "the destination /srv/usb is full",
        verified=ok,
    )


def write_history(now: float) -> None:
    for days in range(5, 0, -1):
        append_run(record(now - days * 24 * HOUR))
    append_run(record(now - 3 * HOUR, ok=False))


def auto_app(**kw: Any) -> PortalBackupApp:
    return demo_app(**kw)


async def automatic_screen(pilot: Any, **kw: Any) -> AutomaticScreen:
    await demo_home(pilot)
    if kw:
        pilot.app.push_screen(AutomaticScreen(**kw))
    else:
        await pilot.press("A")
    return await screen_when(pilot, AutomaticScreen, lambda s: s.view is not None, "the view")


Scenario = Callable[[Pilot[Any], AutomaticScreen], Awaitable[None]]


def on_screen(scenario: Scenario, **kw: Any) -> None:
    """Runs `scenario` on the demo app's Automatic backups screen at 80x24."""

    async def main() -> None:
        app = auto_app()
        async with app.run_test(size=SMALL) as pilot:
            await scenario(pilot, await automatic_screen(pilot, **kw))

    run(main())


async def form(
    pilot: Pilot[Any], key: str, cls: type[D], ready: Callable[[D], object] | None = None
) -> D:
    """Opens the dialog behind `key` and waits until it is on screen."""
    await pilot.press(key)
    return await screen_when(pilot, cls, ready or mounted, "the dialog")


def mounted(dialog: Any) -> bool:
    """A dialog is on screen once its widgets are mounted (the push comes first)."""
    return bool(dialog.query(".dialog-buttons Button")) and all(
        w.is_mounted for w in dialog.query("*")
    )


def with_text(dialog: Any) -> bool:
    return mounted(dialog) and bool(dialog.query("#identity-text"))


def lines(app: App[Any]) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


# ---------------------------------------------------------------------------- the screen


def test_status_and_runs_from_the_config_and_the_history(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb")
    write_history(NOW)

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        app = pilot.app
        assert screen.view is not None
        [row] = screen.view.destinations
        assert row.name == "usb" and row.keep == "daily 7, weekly 4"
        assert row.last_good.startswith("a day ago") and not row.overdue
        assert "is full" in row.last_failure
        table = screen.query_one(DataTable)
        assert table.row_count == 6  # every run, newest first
        assert "failed" in str(table.get_row_at(0)[1])
        text = "\n".join(lines(app))
        assert "the last backup to usb failed 3 hours ago" in text
        assert "next run: Tue 2030-01-01 03:00" in text
        await pilot.press("b")
        assert isinstance(app.screen, HomeScreen)

    on_screen(scenario)


def test_the_last_30_runs_only(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb")
    for n in range(40):
        append_run(record(NOW - (40 - n) * HOUR, size=n))

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        table = screen.query_one(DataTable)
        assert table.row_count == 30
        assert str(table.get_row_at(0)[2]) == "39 B"  # the newest first

    on_screen(scenario)


def test_snapshot_80x24(snap_compare: Any, config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, Path("/srv/usb"))
    write_history(NOW)

    async def run_before(pilot: Any) -> None:
        await automatic_screen(pilot)
        await pilot.pause()

    assert snap_compare(auto_app(), terminal_size=SMALL, run_before=run_before)


# ---------------------------------------------------------------------------- the forms


def test_schedule_preset_is_saved_with_comments_kept(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb")

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        dialog = await form(pilot, "s", ScheduleDialog)
        shown = dialog.query_one("#next-times", Static)
        await wait_for(pilot, lambda: "2030-01-01" in str(shown.render()), what="next time")
        await pilot.press("home", "down", "enter")  # the weekly preset
        assert dialog.query_one("#calendar", Input).value == "Sun *-*-* 03:00:00"
        await wait_for(pilot, lambda: str(shown.render()).count("Sun ") == 3, what="3 Sundays")
        await pilot.press("enter")
        await wait_for(pilot, lambda: load_config().schedule == "Sun *-*-* 03:00:00")
        schedule = screen.query_one("#schedule", Static)
        await wait_for(pilot, lambda: "weekly, Sunday" in str(schedule.render()), what="shown")

    on_screen(scenario)
    assert config_file.read_text().startswith(COMMENT)
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


def test_a_wrong_custom_schedule_says_why(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb")

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        dialog = await form(pilot, "s", ScheduleDialog)
        field = dialog.query_one("#calendar", Input)
        field.value = "every other tuesday"
        shown = dialog.query_one("#next-times", Static)
        await wait_for(pilot, lambda: "not a systemd OnCalendar" in str(shown.render()))

    on_screen(scenario)


def archive(folder: Path, stamp: str) -> None:
    (folder / f"portal-backup-1b18a7-{stamp}.zip").write_bytes(b"PK" + stamp.encode())


def test_destination_form_previews_what_its_rules_keep(config_file: Path, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    for stamp in ("20260225-030000", "20260226-030000", "20260227-030000", "20260227-150000"):
        archive(usb, stamp)
    write_job(config_file, usb)

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        dialog = await form(pilot, "d", DestinationDialog)
        preview = dialog.query_one("#preview", Static)
        await wait_for(pilot, lambda: "keep 3" in str(preview.render()), what="preview")
        keep = dialog.query_one("#keep", Input)
        keep.value = "daily 2"
        keep.focus()
        await pilot.press("enter")  # previews the new rules
        await wait_for(pilot, lambda: "keep 2" in str(preview.render()), what="new preview")
        text = str(preview.render())
        assert "remove  portal-backup-1b18a7-20260225-030000.zip" in text
        assert "keep    portal-backup-1b18a7-20260227-150000.zip" in text
        await pilot.click("#ok")
        await wait_for(pilot, lambda: load_config().destinations[0].keep == parse_keep("daily 2"))

    on_screen(scenario)
    assert config_file.read_text().startswith(COMMENT)
    assert len(os.listdir(usb)) == 4  # a preview never removes anything


def test_a_remote_without_encryption_is_refused_with_the_reason(
    config_file: Path, tmp_path: Path
) -> None:
    write_job(config_file, tmp_path / "usb")

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        dialog = await form(pilot, "d", DestinationDialog)
        dialog.query_one("#existing", OptionList).highlighted = 1  # "Add a destination…"
        await pilot.pause()
        dialog.query_one("#name", Input).value = "offsite"
        dialog.query_one("#target", Input).value = "myremote:portal"
        await pilot.click("#ok")
        shown = await screen_when(pilot, MessageDialog, mounted, "the refusal")
        assert "Not saved" in shown._title
        assert "recipients" in str(shown._body)

    on_screen(scenario)
    assert [d.name for d in load_config(config_file).destinations] == ["usb"]


def test_notifications_send_a_test_then_save(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb")

    with notify_server() as server:

        async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
            dialog = await form(pilot, "n", NotifyDialog)
            dialog.query_one("#urls", TextArea).text = server.url
            dialog.query_one("#on-success", Checkbox).value = True
            await pilot.click("#test")
            result = dialog.query_one("#test-result", Static)
            await wait_for(pilot, lambda: "Sent to 1 URL" in str(result.render()), what="sent")
            await pilot.click("#ok")
            await wait_for(pilot, lambda: load_config().notify_urls == [server.url], what="saved")

        on_screen(scenario)
        payload = server.wait_for_post()
    assert "test" in payload["title"] and "Automatic backups screen" in payload["message"]
    assert load_config(config_file).notify_on == {"failure", "overdue", "success"}


# ---------------------------------------------------------------------------- the gate


def installed(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_nothing_is_scheduled_until_the_identity_is_confirmed(
    config_file: Path, tmp_path: Path
) -> None:
    write_job(config_file, tmp_path / "usb", schedule="*-*-* 03:00:00")
    root = tmp_path / "root"
    root.mkdir()
    key_file = config_file.parent / "age-identity.txt"

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        app = pilot.app
        # first time: a new age identity, shown before anything
        dialog = await form(pilot, "i", IdentityDialog, with_text)
        assert dialog.identity is not None
        secret = dialog.identity.secret
        assert secret.startswith("AGE-SECRET-KEY-1")
        assert secret in str(dialog.query_one("#identity-text", Static).render())
        assert qr_rows(secret) == dialog.query_one("#qr").code.rows  # type: ignore[attr-defined]
        await pilot.press("enter")  # the focus is on "Not yet": a stray Enter says no
        await wait_for(pilot, lambda: app.screen is screen, what="back on the screen")
        await app.workers.wait_for_complete()
        assert installed(root) == []
        job = load_config()
        assert not job.identity_saved and job.recipients == [dialog.identity.recipient]

        # the same key again, and this time: saved
        again = await form(pilot, "i", IdentityDialog, with_text)
        assert again.identity is not None and again.identity.secret == secret
        done = await form(pilot, "y", MessageDialog)
        assert "scheduled" in done._title

    on_screen(scenario, install_root=root)
    assert load_config(config_file).identity_saved
    assert "etc/cron.d/portal-backup" in installed(root)  # no systemd here: cron
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [identity] = load_identities(key_file)
    assert str(identity.recipient()) == load_config(config_file).recipients[0]
    assert str(identity) not in config_file.read_text()  # only the public key is in the job


# ---------------------------------------------------------------------------- QR code


def test_the_qr_code_draws_every_module_in_half_blocks() -> None:
    secret = str(X25519Identity.generate())
    code = QRCode(secret)
    assert code.size == (31, 16)  # version 3 plus its quiet zone: fits 80x24
    console = Console(width=80, color_system="truecolor", force_terminal=True)
    drawn: list[list[bool]] = [[], []]
    rows: list[list[bool]] = []
    for segment in console.render(code):
        if segment.text == "\n":
            rows += drawn
            drawn = [[], []]
            continue
        assert isinstance(segment, Segment) and segment.text == "▀" and segment.style
        drawn[0].append(segment.style.color.name == DARK)  # type: ignore[union-attr]
        drawn[1].append(segment.style.bgcolor.name == DARK)  # type: ignore[union-attr]
    assert rows[: len(code.rows)] == qr_rows(secret)
    assert not any(rows[len(code.rows) :][0])  # the padding line is light


# ---------------------------------------------------------------------------- home


def test_home_shows_the_banner_when_backups_are_overdue(
    config_file: Path, tmp_path: Path, run_token: str
) -> None:
    write_job(config_file, tmp_path / "usb")
    now = time.time()
    append_run(record(now - 4 * 24 * HOUR))  # older than the default limit of 36 h
    assert len(read_runs()) == 1
    root = pf.build_portal_root(tmp_path / "portal", run_token)

    async def scenario() -> None:
        app = PortalBackupApp(HostSource(str(root)), cwd=str(tmp_path))
        async with app.run_test(size=SMALL) as pilot:
            home = await screen_when(pilot, HomeScreen, lambda s: s.loaded is not None, "home")
            line = home.query_one("#attention", Static)
            assert line.display and line.has_class("warning")
            text = str(line.render())
            assert "the last good backup to usb is 4 days old" in text
            assert "A: automatic backups" in text
            await pilot.press("A")
            await screen_when(pilot, AutomaticScreen, lambda s: s.view is not None, "the screen")

    run(scenario())


def test_home_hides_the_line_when_all_is_well(
    config_file: Path, tmp_path: Path, run_token: str
) -> None:
    write_job(config_file, tmp_path / "usb")
    append_run(record(time.time() - HOUR))
    root = pf.build_portal_root(tmp_path / "portal", run_token)

    async def scenario() -> None:
        app = PortalBackupApp(HostSource(str(root)), cwd=str(tmp_path))
        async with app.run_test(size=SMALL) as pilot:
            home = await screen_when(pilot, HomeScreen, lambda s: s.loaded is not None, "home")
            assert home.loaded is not None and home.loaded.attention is None
            assert not home.query_one("#attention", Static).display

    run(scenario())


def test_own_keys_need_the_confirmation_too(config_file: Path, tmp_path: Path) -> None:
    write_job(config_file, tmp_path / "usb", schedule="*-*-* 03:00:00")
    mine = X25519Identity.generate().recipient()
    editor = ConfigEditor.load(config_file)
    editor.set_recipients([str(mine)])
    editor.save()
    root = tmp_path / "root"
    root.mkdir()

    async def scenario(pilot: Pilot[Any], screen: AutomaticScreen) -> None:
        app = pilot.app
        dialog = await form(pilot, "i", IdentityDialog, with_text)
        assert dialog.identity is None  # no key of ours: the user's own keys are named
        assert str(mine) in str(dialog.query_one("#identity-text", Static).render())
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert installed(root) == [] and not load_config().identity_saved
        await form(pilot, "i", IdentityDialog, with_text)
        await pilot.press("y")
        await screen_when(
            pilot, MessageDialog, lambda s: mounted(s) and "scheduled" in s._title, "done"
        )

    on_screen(scenario, install_root=root)
    assert "etc/cron.d/portal-backup" in installed(root)
    assert not (config_file.parent / "age-identity.txt").exists()  # no key made for them
