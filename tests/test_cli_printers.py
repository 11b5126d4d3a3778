"""The CLI's one printer seam (tui/cli/printers.py): backup and restore events through the same
printers, each command's words on the streams it promises."""

from __future__ import annotations

import json

import pytest

from tui.cli.printers import backup_lines, make_printer
from tui.cli.restore import RestoreLines
from tui.core.events import (
    Finished,
    ItemState,
    Log,
    Progress,
    RestoreFinished,
    RestoreRefused,
    event_to_json,
)

PROGRESS = Progress(10, 100, 1, 10, "shared", None, 5.0, 18.0, 2.0)


def test_json_carries_every_event_of_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    printer = make_printer("json")
    finished = RestoreFinished("a.zip", ["shared"], {}, 10, 1, 0.5)
    for event in (PROGRESS, finished, RestoreRefused("app/evil", "untrusted")):
        printer(event)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == ["progress", "restore-finished", "restore-refused"]
    assert lines[2] == {"item": "app/evil", "reason": "untrusted", "type": "restore-refused"}
    assert lines[1] == event_to_json(finished)


def test_restore_lines_go_to_stdout_and_warnings_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printer = make_printer("plain", RestoreLines(), quiet_start=True)
    printer(PROGRESS)  # quiet start: a short restore prints no progress line
    printer(ItemState("shared", "waiting"))
    printer(ItemState("shared", "copying", "extracting"))
    printer(ItemState("shared", "done"))
    printer(ItemState("core/config", "done"))  # nothing of its own was done: no line
    printer(Log("info", "kept aside"))
    printer(Log("warning", "not root"))
    out = capsys.readouterr()
    assert out.out.splitlines() == ["shared: extracting", "shared: done", "  kept aside"]
    assert out.err.splitlines() == ["portal-backup: warning: not root"]


def test_backup_lines_keep_stdout_for_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    printer = make_printer("plain", backup_lines)
    printer(PROGRESS)  # the first progress line is printed at once
    printer(ItemState("shared", "done"))
    printer(Log("warning", "paused 2s"))
    printer(Finished("/tmp/a.zip", 50, 100, 3, 1.0, "00", holds_identity=True))
    out = capsys.readouterr()
    assert out.out == ""
    err = out.err.splitlines()
    assert err[0].startswith(" 10.0%") and err[0].endswith("shared")
    assert err[1:3] == ["shared: done", "warning: paused 2s"]
    assert err[3].startswith("done: 50 B archive from 100 B in 3 files")
    assert err[4] == "this archive holds the Portal's private key: keep it private"
