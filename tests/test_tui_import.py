"""Cheap checks of the TUI: it imports, every style sheet exists and is packaged, and a big
host's list paints before any size is known."""

from __future__ import annotations

import importlib
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
from tuihelp import run, wait_for

from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import DemoSource
from tui.ui.screens.home import HomeScreen
from tui.ui.widgets.item_tree import ItemTree

REPO = Path(__file__).resolve().parent.parent
SCREENS = [
    "home",
    "progress",
    "done",
    "explorer",
    "help",
    "dialogs",
    "verify",
    "encryption",
    "unlock",
    "restore",
    "restore_dryrun",
    "restore_run",
    "restore_done",
]


@pytest.mark.parametrize("name", SCREENS)
def test_screen_modules_import_and_their_styles_exist(name: str) -> None:
    module = importlib.import_module(f"tui.ui.screens.{name}")
    css = [
        getattr(obj, "CSS_PATH", None)
        for obj in vars(module).values()
        if isinstance(obj, type) and obj.__module__ == module.__name__
    ]
    for path in filter(None, css):
        assert (Path(module.__file__).parent / str(path)).is_file(), path  # type: ignore[arg-type]  # loaded from a file


def test_style_sheets_are_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "*.tcss" in config["tool"]["setuptools"]["package-data"]["*"]
    assert list((REPO / "tui").glob("**/*.tcss"))


def test_every_binding_has_a_key_other_than_escape() -> None:
    from tui.ui.screens.help import help_sections

    for title, bindings in help_sections():
        by_action: dict[str, set[str]] = {}
        for b in bindings:
            keys = {k.strip() for k in b.key.split(",")}  # type: ignore[union-attr]  # help lists keys
            by_action.setdefault(b.action, set()).update(keys)  # type: ignore[union-attr]  # help lists keys
        for action, keys in by_action.items():
            assert keys - {"escape"}, f"{title}: {action} is bound only to Esc"


def test_first_paint_with_100_containers_comes_before_sizes() -> None:
    gate = threading.Event()  # sizes are held back until the list has painted

    async def scenario() -> Any:
        app = PortalBackupApp(DemoSource(containers=100, size_gate=gate))
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, HomeScreen) and app.screen.first_paint is not None,
                what="the first paint",
            )
            home = app.screen
            assert isinstance(home, HomeScreen) and home.loaded is not None
            containers = sum(
                len(i.containers) for i in home.loaded.inventory.items if i.kind == "app"
            )
            painted = (
                home.first_paint,
                home.sizes_known_at_first_paint,
                containers,
                len(home.query_one(ItemTree).visible_item_ids()),
            )
            gate.set()
            await wait_for(pilot, lambda: home.sizes_done, what="the sizes")
            return painted

    first_paint, known, containers, rows = run(scenario())
    print(
        f"\nfirst paint with {containers} containers ({rows} rows): "
        f"{first_paint * 1000:.0f} ms after start, {known} sizes known then"
    )
    assert containers == 100
    assert known == 0
