"""The screenshots tell one story: the demo Portal's numbers agree from screen to screen, its
archive holds what `create` writes, and screenshots/make.py makes the same bytes every time."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tui.core.archive.verify import verify_archive
from tui.core.events import Finished, Progress
from tui.core.model import IDENTITY_ARCHIVE_REL, META_NAMES, Inventory
from tui.core.plan import build_plan, resolve_selection
from tui.ui.demo.archive import LAST_ARCHIVE, open_demo_archive
from tui.ui.demo.portal import (
    RATE,
    DemoSource,
    demo_archive_bytes,
    demo_events,
    demo_finished,
    demo_inventory,
    demo_sizes,
    demo_totals,
    step_size,
)
from tui.ui.logic.selection import Selection

MAKE = Path(__file__).resolve().parent.parent / "screenshots" / "make.py"


def _sized() -> Inventory:
    """The demo inventory with the sizes the home screen fills in."""
    inventory = demo_inventory()
    for item_id, size in demo_sizes(inventory).items():
        item = inventory.get(item_id)
        assert item is not None
        item.size = size
    return inventory


@pytest.mark.parametrize(
    "untick", [[], ["core/identity"], ["app/jellyfin", "volume/old_export", "shared"]]
)
def test_home_progress_and_done_show_the_same_totals(untick: list[str]) -> None:
    inventory = _sized()
    selection = Selection(inventory)  # the home screen ticks everything at first
    for item_id in untick:
        selection.set(item_id, False)
    home = selection.totals("stop")
    plan = build_plan(inventory, resolve_selection(inventory, selection.selected_ids()))

    total = demo_totals(inventory, plan)
    assert (total.bytes, total.files) == (home.bytes, home.files)
    progress = [e for e in demo_events(inventory, plan) if isinstance(e, Progress)][-1]
    assert (progress.bytes_total, progress.files_total) == (home.bytes, home.files)
    done = demo_finished(inventory, plan)
    assert isinstance(done, Finished)
    assert (done.bytes_in, done.files) == (home.bytes, home.files)


def test_times_are_plausible_for_the_sizes() -> None:
    inventory = _sized()
    plan = build_plan(inventory, resolve_selection(inventory, Selection(inventory).selected_ids()))
    progress = [e for e in demo_events(inventory, plan) if isinstance(e, Progress)][-1]
    assert progress.bytes_done / progress.elapsed == pytest.approx(RATE, rel=0.01)
    assert 0 < progress.bytes_done < progress.bytes_total
    done = demo_finished(inventory, plan)
    assert done.bytes_in / done.seconds == pytest.approx(RATE, rel=0.05)
    assert 10e6 <= RATE <= 1e9  # a disk and a compressor, not a RAM copy
    steps = {s.app: s for s in plan.steps if s.app}
    assert set(done.downtime) == {"immich", "jellyfin", "nextcloud"}  # the running apps
    for app, seconds in done.downtime.items():
        assert seconds <= done.seconds
        # An app is down at least while its data is read.
        assert seconds * RATE >= step_size(inventory, steps[app]).bytes
    assert done.bytes <= done.bytes_in


def test_the_demo_archive_holds_what_create_writes() -> None:
    names = zipfile.ZipFile(io.BytesIO(demo_archive_bytes())).namelist()
    assert IDENTITY_ARCHIVE_REL not in names
    assert not [n for n in names if "portal_identity" in n]
    assert set(names) >= META_NAMES  # README.txt, the manifest, its signature, SHA256SUMS
    assert names[-1] == "SHA256SUMS"
    report = verify_archive(open_demo_archive(LAST_ARCHIVE))
    assert report.ok and report.signature == "valid", report.problems
    # The home screen's "last backup" is this archive.
    last = DemoSource().load().last_backup
    assert last is not None and last["bytes"] == len(demo_archive_bytes())


def _make(out: Path, names: list[str]) -> dict[str, bytes]:
    subprocess.run(
        [sys.executable, str(MAKE), "--out", str(out), *names],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.svg"))}


def test_make_py_is_deterministic(tmp_path: Path) -> None:
    # The pictures that once changed on every run (a temporary path), and a wide one.
    names = ["explorer-verify", "home-wide"]
    first = _make(tmp_path / "a", names)
    second = _make(tmp_path / "b", names)
    assert sorted(first) == [f"{n}.svg" for n in sorted(names)]
    assert first == second
    assert b"/tmp" not in first["explorer-verify.svg"]
