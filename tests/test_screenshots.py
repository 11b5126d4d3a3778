"""The screenshots tell one story: the demo Portal's numbers agree from screen to screen, its
archive holds what `create` writes, and screenshots/make.py makes the same bytes every time.
The pictures of destinations, automatic backups, run elsewhere and a differential show the
demo's job, remotes and archives (tui/ui/demo/), and say what that data says."""

from __future__ import annotations

import hashlib
import html
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tui.core.archive.chain import ChainReader, open_state
from tui.core.archive.manifest_model import read_manifest
from tui.core.archive.verify import verify_archive
from tui.core.auto.config import load_config
from tui.core.auto.history import read_runs
from tui.core.auto.status import compute_status
from tui.core.events import Finished, Progress
from tui.core.model import IDENTITY_ARCHIVE_REL, META_NAMES, Inventory
from tui.core.plan import build_plan, resolve_selection
from tui.ui.app import PortalBackupApp
from tui.ui.demo import automatic as job
from tui.ui.demo import destinations as remotes
from tui.ui.demo import differential as diff
from tui.ui.demo.archive import LAST_ARCHIVE, demo_files, open_demo_archive
from tui.ui.demo.portal import (
    NOW,
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
from tui.ui.logic.automatic import when
from tui.ui.logic.selection import Selection

REPO = Path(__file__).resolve().parent.parent
MAKE = REPO / "screenshots" / "make.py"
NEW_PICTURES = [
    "destination",
    "remote-form",
    "automatic",
    "automatic-identity",
    "home-reminder",
    "eject",
    "explorer-differential",
]


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
    # The pictures that once changed on every run (a temporary path), a wide one, and those
    # that read the clock, a temporary config folder or write a folder they name.
    names = ["explorer-verify", "home-wide", "automatic", "eject", "explorer-differential"]
    first = _make(tmp_path / "a", names)
    second = _make(tmp_path / "b", names)
    assert sorted(first) == [f"{n}.svg" for n in sorted(names)]
    assert first == second
    assert b"/tmp" not in first["explorer-verify.svg"]
    assert b"pb-shots-" not in b"".join(first.values())  # no picture's own temporary folder


# ---------------------------------------------------------------------------- the new pictures


def screen_text(name: str) -> str:
    """The committed picture's text, row by row (each row's pieces joined), spaces collapsed."""
    svg = (REPO / "screenshots" / f"{name}.svg").read_text()
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(
        r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg
    ):
        rows.setdefault(float(y), []).append((float(x), html.unescape(text)))
    lines = ["".join(t for _, t in sorted(row)) for _, row in sorted(rows.items())]
    return "\n".join(re.sub(r"\s+", " ", line).strip() for line in lines)


def flat(text: str) -> str:
    """Without spaces, line breaks, box lines and block borders: for words a picture wraps,
    in a dialog or beside a tree."""
    return re.sub(r"[\s\u2500-\u259f]+", "", text)


def test_every_new_picture_is_made_committed_and_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    made = subprocess.run(
        [sys.executable, str(MAKE), "--help"], check=True, capture_output=True, text=True
    ).stdout
    for name in NEW_PICTURES:
        assert name in made  # one of make.py's choices
        assert (REPO / "screenshots" / f"{name}.svg").stat().st_size > 10_000
        assert f"(screenshots/{name}.svg)" in readme


def test_destination_pictures_show_the_demo_remotes_and_never_the_secret() -> None:
    dialog = screen_text("destination")
    for name in re.findall(r"^\[(.+)\]$", job.RCLONE_CONF, re.M):  # the tool's rclone config
        assert f"{name}:" in dialog
    assert remotes.FOLDER in dialog  # typed after the remote chosen
    assert flat("✓ " + remotes.PROBE.text) in flat(dialog)
    form = screen_text("remote-form")
    assert "S3-compatible" in form
    *shown, secret = remotes.S3_FORM.values()
    for value in shown:
        assert value in form
    assert secret not in flat(form)
    assert "•" * len(secret) in form  # typed, and shown as dots


def test_automatic_pictures_say_what_the_demo_job_and_history_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.write_demo_job(tmp_path / "etc", tmp_path / "state")
    for key, value in job.demo_environ(tmp_path / "etc", tmp_path / "state").items():
        monkeypatch.setenv(key, value)
    config = load_config()
    runs = read_runs()
    status = compute_status(config, runs, NOW, None)
    overdue = {d.name: d.overdue for d in status.destinations}
    assert overdue == {job.USB.name: False, job.OFFSITE.name: True}
    assert len(runs) == job.NIGHTS * len(job.DESTINATIONS)
    assert status.attention and job.OFFSITE.name in status.attention[0]

    screen = screen_text("automatic")
    assert f"Last runs ({len(runs)})" in screen
    assert f"next run: {when(job.NEXT_RUN)}" in screen  # times in UTC, as make.py sets
    for dest in job.DESTINATIONS:
        assert f"{dest.name} → {dest.target}" in screen
    assert screen.count("(overdue)") == 1
    assert screen.count(" failed — ") == job.OFFSITE.failed_nights  # rows of the runs table

    home = screen_text("home-reminder")
    assert flat(status.attention[0]) in flat(home)
    assert "(A: automatic backups)" in home

    identity = screen_text("automatic-identity")
    assert flat(str(job.IDENTITY)) in flat(identity) and job.RECIPIENT in flat(identity)
    assert "/etc/portal-backup/age-identity.txt" in identity
    assert "▀" * 31 in identity  # the QR code beside it


def test_the_demo_differential_is_the_state_it_describes(tmp_path: Path) -> None:
    path = diff.write_demo_chain(tmp_path)
    report = verify_archive(path, open_base=lambda p: open(p, "rb"))  # noqa: SIM115 - it closes it
    assert report.ok and report.signature == "valid", report.problems
    expected = {n: d for n, d in demo_files().items() if n not in diff.DELETED}
    with open(path, "rb") as f:
        reader = open_state(f, str(path), lambda p: open(p, "rb"))  # noqa: SIM115 - the chain closes it
        assert isinstance(reader, ChainReader)
        manifest = read_manifest(reader)
        state = {e.path: e for e in manifest.entries}
        changed = {e.path for e in manifest.entries if not e.in_base}
        assert changed == set(diff.CHANGED)
        assert manifest.differential is not None
        assert manifest.differential.deleted == tuple(diff.DELETED)
        for name, data in expected.items():
            if name in changed:
                continue
            assert state[name].sha256 == hashlib.sha256(data).hexdigest()
        assert set(state) == set(expected) | set(diff.ADDED)
        reader.close()

    screen = screen_text("explorer-differential")
    assert diff.DIFF_NAME in screen
    assert flat(f"Differential of {diff.BASE_NAME}: {len(diff.CHANGED)} entries changed") in flat(
        screen
    )
    assert flat(f"{len(diff.DELETED)} deleted") in flat(screen)
    assert "003.md ● changed" in screen and "004.md ● changed" not in screen


def test_help_lists_the_keys_of_the_new_screens() -> None:
    from tui.ui.screens.help import binding_rows, help_sections

    app = PortalBackupApp(DemoSource())
    sections = {title: binding_rows(app, list(b)) for title, b in help_sections()}
    assert ("A", "Automatic backups") in sections["Backup list"]
    automatic = dict((what, keys) for keys, what in sections["Automatic backups (A on the list)"])
    for what, key in [("Run now", "r"), ("Schedule", "s"), ("Destinations", "d"), ("Install", "i")]:
        assert automatic[what] == key
    assert ("^t", "Test") in sections["Destination (d on the list)"]
    assert ("y", "Saved") in sections["Save the key (e or i there)"]
    assert ("e", "Run elsewhere") in sections["Explorer"]


def test_run_elsewhere_picture_counts_the_apps_files() -> None:
    folder = "user_data/app_data/vaultwarden/"
    files = [n for n in demo_files() if n.startswith(folder)]
    size = sum(len(d) for n, d in demo_files().items() if n.startswith(folder))
    screen = flat(screen_text("eject"))
    assert flat("app/vaultwarden: ready to run elsewhere") in screen
    assert flat("Wrote /tmp/portal-backup-demo/ejected/vaultwarden/") in screen
    assert flat(f"({len(files)} files, {size / 1e6:.1f}") in screen  # MB
