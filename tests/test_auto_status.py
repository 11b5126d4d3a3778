"""History, status, the login banner and notifications (issue 13, points 4, 5's check and 6).

Histories are written by the tests with chosen timestamps; the real command reads them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import run
from notify_server import notify_server

from tui.core.auto.config import load_config
from tui.core.auto.history import RunRecord, append_run, history_path, read_runs
from tui.core.auto.notify import notify, notify_overdue, send
from tui.core.auto.status import banner, compute_status, load_status

HOUR = 3600.0
NOW = 1_765_000_000.0  # a fixed "now" for the pure function


def write_config(directory: Path, body: str) -> Path:
    path = directory / "config.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    return path


def job_toml(tmp_path: Path, notify_urls: list[str] | None = None) -> str:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir(exist_ok=True)
    nas.mkdir(exist_ok=True)
    urls = json.dumps(notify_urls or [])
    return (
        'overdue_after = "36h"\n'
        "[[destinations]]\n"
        f'name = "usb"\ntarget = "{usb}"\nkeep = {{ daily = 7 }}\n'
        "[[destinations]]\n"
        f'name = "nas"\ntarget = "{nas}"\nkeep = {{ daily = 7 }}\n'
        f"[notify]\nurls = {urls}\n"
    )


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path, job_toml(tmp_path))
    monkeypatch.setenv("PORTAL_BACKUP_CONFIG", str(path))
    return path


def record(dest: str, ended: float, ok: bool = True, **extra: Any) -> RunRecord:
    return RunRecord(
        started=ended - 60,
        ended=ended,
        result="ok" if ok else "failed",
        destination=dest,
        target=f"/mnt/{dest}",
        archive=f"portal-backup-x-{int(ended)}.zip" if ok else None,
        bytes_out=1234 if ok else 0,
        error=None if ok else "the destination /mnt/nas is not mounted",
        verified=ok,
        **extra,
    )


# --------------------------------------------------------------------------- history


def test_history_appends_and_skips_a_torn_last_line() -> None:
    append_run(record("usb", NOW - HOUR))
    path = history_path()
    with open(path, "ab") as f:  # a writer killed in the middle of its line
        f.write(b'{"started": 1, "ended": 2, "res')
    assert [r.destination for r in read_runs()] == ["usb"]
    append_run(record("nas", NOW))  # starts on a line of its own, so both stay readable
    runs = read_runs()
    assert [r.destination for r in runs] == ["usb", "nas"]
    assert runs[1].ended == NOW and runs[1].verified
    assert read_runs(limit=1)[0].destination == "nas"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# --------------------------------------------------------------------------- status (pure)


def test_status_never_backed_up(config_file: Path) -> None:
    status = compute_status(load_config(config_file), [], NOW, None)
    assert [d.name for d in status.destinations] == ["usb", "nas"]
    assert all(d.overdue and d.last_good is None for d in status.destinations)
    line = banner(status)
    assert line is not None and "never been a backup to usb" in line
    assert "and 1 more" in line and "\n" not in line


def test_status_fresh_says_nothing(config_file: Path) -> None:
    runs = [record("usb", NOW - 2 * HOUR), record("nas", NOW - HOUR)]
    status = compute_status(load_config(config_file), runs, NOW, None)
    assert not any(d.overdue for d in status.destinations)
    assert status.destinations[0].last_good is not None
    assert status.destinations[0].last_good.archive == f"portal-backup-x-{int(NOW - 2 * HOUR)}.zip"
    assert banner(status) is None


def test_status_overdue(config_file: Path) -> None:
    runs = [record("usb", NOW - 40 * HOUR), record("nas", NOW - HOUR)]
    status = compute_status(load_config(config_file), runs, NOW, None)
    usb, nas = status.destinations
    assert usb.overdue and not nas.overdue
    assert banner(status) == (
        "portal-backup: the last good backup to usb is 40 hours old (the limit is 36 hours)"
    )


def test_status_last_run_failed(config_file: Path) -> None:
    runs = [
        record("usb", NOW - HOUR),
        record("nas", NOW - 3 * HOUR),
        record("nas", NOW - 600, ok=False),
    ]
    status = compute_status(load_config(config_file), runs, NOW, None)
    nas = status.destinations[1]
    assert not nas.overdue and nas.last_good is not None  # the older good one still counts
    assert nas.error == "the destination /mnt/nas is not mounted"
    assert nas.last_failure is not None and nas.last_failure.time == NOW - 600
    assert banner(status) == (
        "portal-backup: the last backup to nas failed 10 minutes ago: "
        "the destination /mnt/nas is not mounted"
    )
    # A later good run clears the alarm; the failure stays in the record.
    status = compute_status(load_config(config_file), [*runs, record("nas", NOW - 60)], NOW, None)
    assert status.destinations[1].error is None and banner(status) is None
    assert status.destinations[1].last_failure is not None


def test_status_without_automatic_backups_reminds_of_manual_ones() -> None:
    never = compute_status(None, [], NOW, None)
    assert not never.configured
    assert "never been backed up" in (banner(never) or "")
    old = {"path": "/mnt/usb/portal-backup-x.zip", "time": NOW - 8 * 24 * HOUR, "bytes": 9}
    line = banner(compute_status(None, [], NOW, old))
    assert line is not None and "8 days old" in line and "not set up" in line
    recent = {**old, "time": NOW - 24 * HOUR}
    assert banner(compute_status(None, [], NOW, recent)) is None


# --------------------------------------------------------------------------- the real command


def test_cli_status_json_and_banner(config_file: Path) -> None:
    now = time.time()
    append_run(record("usb", now - 2 * HOUR))
    append_run(record("nas", now - 50 * HOUR))
    append_run(record("nas", now - HOUR, ok=False))

    out = run("status", "--json", check=True).stdout
    data = json.loads(out)
    usb, nas = data["destinations"]
    assert usb["name"] == "usb" and usb["overdue"] is False and usb["error"] is None
    assert usb["last_good"]["archive"] == f"portal-backup-x-{int(now - 2 * HOUR)}.zip"
    assert nas["overdue"] is True
    assert nas["error"] == "the destination /mnt/nas is not mounted"
    assert nas["last_failure"]["error"] == nas["error"]
    assert set(data) >= {"destinations", "next_run"}
    assert data["next_run"] is not None  # systemd-analyze computes it from the schedule

    banner_run = run("status", "--banner", check=True)
    assert banner_run.stdout.count("\n") == 1
    assert "the last backup to nas failed 1 hour ago" in banner_run.stdout

    text = run("status", check=True).stdout
    assert "nas (" in text and "OVERDUE" in text and "not mounted" in text

    # All well: the banner prints nothing at all.
    append_run(record("nas", now - 60))
    assert run("status", "--banner", check=True).stdout == ""


def test_cli_banner_with_a_broken_config_says_so(config_file: Path) -> None:
    config_file.write_text("schedule = [\n")
    done = run("status", "--banner")
    assert done.returncode == 0
    assert done.stdout.startswith("portal-backup: the automatic backup config cannot be read")
    assert "line" in done.stdout and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- notifications


def test_notification_payload(tmp_path: Path) -> None:
    with notify_server() as server:
        config = load_config(write_config(tmp_path, job_toml(tmp_path, [server.url])))
        assert notify(config, "failure", "backup failed", "usb: disk gone\nlog line")
        payload = server.wait_for_post()
        assert payload["title"] == "backup failed"
        assert payload["message"] == "usb: disk gone\nlog line"
        assert payload["type"] == "failure"
        # success is not asked for by default: nothing is sent
        assert not notify(config, "success", "done", "body")
    assert len(server.posts) == 1


def test_undeliverable_notification_is_a_sentence_not_an_error(tmp_path: Path) -> None:
    said: list[str] = []
    with notify_server(status=500) as server:
        url = server.url + "s3cr3t-token"
        assert send([url], "t", "b", event="failure", log=said.append) is False
        server.wait_for_post()
    closed = f"json://127.0.0.1:{server.port}/another-token"  # nobody listens there now
    assert send([closed], "t", "b", event="failure", log=said.append) is False
    assert send(["nosuchscheme://x"], "t", "b", log=said.append) is False
    assert len(said) == 3
    assert all(s.startswith("the ") and "could not be delivered" in s for s in said)
    assert not any("s3cr3t-token" in s or "another-token" in s for s in said)


def test_overdue_notification_once_a_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with notify_server() as server:
        path = write_config(tmp_path, job_toml(tmp_path, [server.url]))
        monkeypatch.setenv("PORTAL_BACKUP_CONFIG", str(path))
        now = time.time()
        append_run(record("usb", now - 40 * HOUR))
        append_run(record("nas", now - HOUR))
        first = run("status", "--notify-overdue", check=True)
        assert "sent the overdue notification" in first.stdout
        payload = server.wait_for_post()
        assert "overdue (usb)" in payload["title"]
        assert "usb is 40 hours old" in payload["message"]
        assert payload["type"] == "warning"
        second = run("status", "--notify-overdue", check=True)  # the same day: not again
        assert second.stdout == ""
        assert len(server.posts) == 1
        # Direct call: not overdue any more, nothing to send.
        append_run(record("usb", now - 60))
        assert not notify_overdue(load_config(path), load_status())
    assert len(server.posts) == 1
