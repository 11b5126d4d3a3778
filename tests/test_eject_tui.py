"""The explorer's "run elsewhere" (issue 16): the app's folder written, the commands shown."""

from __future__ import annotations

import json
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML (via apprise) ships no stubs
from test_eject import _crafted
from tuihelp import run, screen_when
from zipfixtures import make_backup

from tui.core.archive.manifest_model import parse_manifest
from tui.ui.app import PortalBackupApp
from tui.ui.logic.datasource import HostSource
from tui.ui.screens.dialogs import MessageDialog, PathDialog
from tui.ui.screens.eject import app_at
from tui.ui.screens.explorer import ExplorerScreen


def test_run_elsewhere_writes_the_folder_and_shows_how_to_move_it(tmp_path: Path) -> None:
    archive = _crafted(tmp_path / "crafted.zip")
    dest = tmp_path / "elsewhere"

    async def scenario() -> str:
        app = PortalBackupApp(HostSource("/nonexistent"), explore=str(archive), cwd=str(tmp_path))
        async with app.run_test(size=(100, 30)) as pilot:
            await screen_when(pilot, ExplorerScreen, lambda s: s.opened is not None, "explorer")
            await pilot.press("e")
            await screen_when(pilot, PathDialog, lambda s: True, "the folder question")
            await pilot.press("ctrl+u", *str(dest), "enter")
            done = await screen_when(pilot, MessageDialog, lambda s: True, "the result")
            return f"{done._title}\n{done._body}"

    text = run(scenario())
    assert "app/evil: ready to run elsewhere" in text
    assert f"cd {dest / 'evil'} && sudo docker compose up -d" in text
    assert "scp evil.tar.gz OTHER-MACHINE:" in text
    assert "REMOVED: service web: the bind mount /var/run/docker.sock" in text
    doc = yaml.safe_load((dest / "evil" / "compose.yaml").read_text())
    assert [v["source"] for v in doc["services"]["web"]["volumes"]] == ["./data/data"]


def test_the_app_under_the_cursor_is_the_one_taken_out(tmp_path: Path) -> None:
    def two_apps(doc: dict[str, object]) -> None:
        doc["items"] = [
            {
                "id": f"app/{a}",
                "kind": "app",
                "label": a,
                "paths": [f"user_data/app_data/{a}/", f"volumes/{a}_db/"],
                "containers": [{"name": f"{a}-1", "image": "i", "config": {"image": "i"}}],
            }
            for a in ("one", "two")
        ]

    backup = make_backup(tmp_path / "a.zip", {"x": b""}, edit_manifest=two_apps)
    manifest = parse_manifest(json.dumps(backup.manifest).encode())
    assert app_at(manifest, "user_data/app_data/two/library/a.jpg") == "app/two"
    assert app_at(manifest, "volumes/one_db/") == "app/one"
    assert app_at(manifest, "user_data/") is None  # two apps: which one is not clear
    assert app_at(None, "user_data/app_data/two/") is None
