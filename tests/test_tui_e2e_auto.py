""" "Run now" on the Automatic backups screen, in a real terminal (tmux): the configured job
backs up this test's Portal into a local-directory destination, shows the live progress
screen, and leaves a new archive there and a history record (issue 13 point 7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import portal_fixture as pf
import pytest
from test_tui_e2e import Tmux, app_env, poll, terminals  # noqa: F401  # terminals: a fixture
from tuihelp import host_item_ids

from tui.core.auto.config import ConfigEditor
from tui.core.auto.history import read_runs


def test_run_now_in_tmux(
    portal_host: pf.PortalHost,
    tmp_path: Path,
    terminals: list[Tmux],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    config = tmp_path / "config.toml"
    monkeypatch.setenv("PORTAL_BACKUP_CONFIG", str(config))
    editor = ConfigEditor.load(config)
    editor.set_value("items", sorted(host_item_ids(portal_host)))  # not other tests' apps
    editor.set_destination("usb", str(usb), {"daily": 7})
    editor.save()
    before = portal_host.container_states()

    t = Tmux(
        [sys.executable, "-m", "tui", "--portal-root", str(portal_host.root)],
        tmp_path,
        app_env(),
        size=(100, 30),
    )
    terminals.append(t)
    t.wait_text("Last backup:")
    t.keys("A")
    t.wait_text("usb → ")
    t.wait_text("Last runs: none yet")
    t.keys("r")
    t.wait_text("Run the automatic backup now?")
    t.keys("y")
    ended = ("Automatic backup complete", "Automatic backup failed")
    poll(lambda: any(e in t.screen() for e in ended), 300, "the run's end")
    assert "Automatic backup complete: 1 of 1 destinations" in t.screen(), t.screen()

    [name] = os.listdir(usb)
    assert name.startswith("portal-backup-") and name.endswith(".zip")
    subprocess.run(["unzip", "-tq", str(usb / name)], check=True, capture_output=True)
    [run] = read_runs()
    assert run.result == "ok" and run.destination == "usb" and run.archive == name
    assert run.verified and run.bytes_out == (usb / name).stat().st_size
    assert portal_host.container_states() == before

    t.keys("b")
    t.wait_text("Last runs (1)")  # the screen read the new history
    t.keys("b")
    t.wait_text("Last backup:")
    t.keys("q")
    poll(lambda: not t.alive(), 30, "the app to exit")
