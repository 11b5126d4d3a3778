"""Restore round trips against the real Docker engine with archives from the real CLI.

Each test backs up the test Portal, breaks it (changes, deletions, additions, owners, modes),
restores part or all of it and compares the result with a `cp -a` snapshot taken before the
backup: content, modes, owners, mtimes and symlinks.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import COMMAND, run
from restorekit import (
    backup,
    env_for,
    leftovers,
    restore,
    same_tree,
    snapshot,
    states_by_name,
    touch_up,
    volume_snapshots,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def saved(portal_host: pf.PortalHost, tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    """(archive, snapshot of the Portal root, snapshots of the volumes) made before any change."""
    snap = snapshot(portal_host.root, tmp_path / "snap")
    vols = volume_snapshots(portal_host, tmp_path / "vols")
    return backup(portal_host, tmp_path / "out"), snap, vols


def test_restore_one_mount(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    archive, snap, _ = saved
    photos = portal_host.apps[1]
    before = states_by_name(portal_host)
    touch_up(portal_host)
    cache_before = snapshot(portal_host.root / pf.APP_DATA / photos / "cache", tmp_path / "c")

    proc = restore(archive, f"app/{photos}/library", "--yes", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    lib = f"{pf.APP_DATA}/{photos}/library"
    assert same_tree(snap / lib, portal_host.root / lib) == []
    # Only that mount: the rest of the app and the volume keep today's data.
    assert same_tree(cache_before, portal_host.root / pf.APP_DATA / photos / "cache") == []
    assert (portal_host.volume_path(f"{photos}_db") / "PG_VERSION").read_text() == "16\n"
    assert states_by_name(portal_host) == before
    assert leftovers(portal_host.root) == []
    assert "photos" in proc.stdout and "done" in proc.stdout


def test_restore_one_app_with_volume_and_paused_container(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    archive, snap, vols = saved
    photos = portal_host.apps[1]
    before = states_by_name(portal_host)
    assert before[f"{photos}-db-1"] == "paused"
    touch_up(portal_host)
    app_data = portal_host.root / pf.APP_DATA
    parent_mtime = app_data.stat().st_mtime_ns

    proc = restore(archive, f"app/{photos}", "--yes", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    rel = f"{pf.APP_DATA}/{photos}"
    assert same_tree(snap / rel, portal_host.root / rel) == []
    vol = f"{photos}_db"
    assert same_tree(vols[vol], portal_host.volume_path(vol)) == []
    # The running web container and the paused database are back as they were.
    assert states_by_name(portal_host) == before
    assert f"stop {photos}-db-1 (paused)" in proc.stdout
    # Other apps are untouched, and nothing is left beside the swapped trees.
    assert (app_data / portal_host.apps[0] / "data/junk.bin").exists()
    assert leftovers(portal_host.root, portal_host.volume_path(vol).parent) == []
    assert app_data.stat().st_mtime_ns == parent_mtime


def test_restore_everything_in_place(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    archive, snap, vols = saved
    before = states_by_name(portal_host)
    touch_up(portal_host)

    proc = restore(archive, "--all", "--yes", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    for rel in ("core", pf.SHARED, pf.APP_DATA):
        assert same_tree(snap / rel, portal_host.root / rel) == [], rel
    for vol, copy in vols.items():
        assert same_tree(copy, portal_host.volume_path(vol)) == [], vol
    assert states_by_name(portal_host) == before
    assert leftovers(portal_host.root) == []
    state = Path(os.environ["PORTAL_BACKUP_STATE_DIR"])
    assert not (state / "journal.json").exists() and not (state / "restore-journal.json").exists()


def test_keep_old_keeps_the_replaced_data(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    archive, snap, _ = saved
    wiki = portal_host.apps[2]
    touch_up(portal_host)
    proc = restore(archive, f"app/{wiki}", "--yes", "--keep-old", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = [
        line.split(" at ", 1)[1]
        for line in proc.stdout.splitlines()
        if line.startswith("previous data kept at ")
    ]
    assert len(kept) == 1
    kept_dir = Path(kept[0])
    assert kept_dir.is_relative_to(portal_host.root / ".pre-restore")
    assert (kept_dir / "pages/Home.md").read_text() == "vandalised\n"
    rel = f"{pf.APP_DATA}/{wiki}"
    assert same_tree(snap / rel, portal_host.root / rel) == []


def test_dry_run_changes_nothing(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    archive, _, _ = saved
    touch_up(portal_host)
    before_root = snapshot(portal_host.root, tmp_path / "before")
    before_vols = volume_snapshots(portal_host, tmp_path / "before-vols")
    before_states = states_by_name(portal_host)

    proc = restore(archive, "--all", "--dry-run", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    notes = portal_host.apps[0]
    assert "~ data/config.ini" in out and "+ logs/notes.log" in out and "- data/junk.bin" in out
    assert "+ Documents/Privat/steuer-id.txt" in out  # shared: a deleted file comes back
    assert f"stop {notes}-web-1 (running), then start it again" in out
    assert "dry run: nothing was changed" in out

    # Byte for byte, mode for mode, mtime for mtime: the host is exactly as it was.
    assert same_tree(before_root, portal_host.root, ignore=set()) == []
    for vol, copy in before_vols.items():
        assert same_tree(copy, portal_host.volume_path(vol), ignore=set()) == []
    assert states_by_name(portal_host) == before_states

    proc = restore(archive, f"app/{notes}", "--dry-run", "--json", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    changes = doc["selection"]["items"][0]["changes"][0]["changes"]
    assert {"path": "data/junk.bin", "kind": "remove", "detail": "file"} in changes


def test_failure_after_swap_puts_the_old_data_back(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    archive, _, _ = saved
    photos = portal_host.apps[1]
    touch_up(portal_host)
    rel = f"{pf.APP_DATA}/{photos}"
    vol = f"{photos}_db"
    broken = snapshot(portal_host.root / rel, tmp_path / "broken")
    broken_vol = snapshot(portal_host.volume_path(vol), tmp_path / "broken-vol")
    before = states_by_name(portal_host)

    proc = restore(
        archive,
        f"app/{photos}",
        "--yes",
        env={**env_for(portal_host), "PORTAL_BACKUP_TEST_FAIL_AFTER_SWAP": f"app/{photos}"},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAILED app/{photos}: injected failure" in proc.stdout

    # The data it had just before the restore is back, and so are the containers.
    assert same_tree(broken, portal_host.root / rel, ignore=set()) == []
    assert same_tree(broken_vol, portal_host.volume_path(vol), ignore=set()) == []
    assert states_by_name(portal_host) == before
    assert leftovers(portal_host.root, portal_host.volume_path(vol).parent) == []


def test_volumes_through_the_docker_api(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    """As a non-root user would: the volumes are written by a helper container."""
    archive, _, vols = saved
    photos = portal_host.apps[1]
    before = states_by_name(portal_host)
    touch_up(portal_host)
    proc = restore(
        archive,
        f"app/{photos}/{photos}_db",
        f"volume/{portal_host.orphan_volume}",
        "--yes",
        "--delete-old",  # the kept data would sit inside the volumes compared below
        "--volume-access",
        "docker",
        env=env_for(portal_host),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for vol in (f"{photos}_db", portal_host.orphan_volume):
        # Through the API the volume's root keeps its mtime to the second only.
        assert same_tree(vols[vol], portal_host.volume_path(vol)) == [], vol
    assert states_by_name(portal_host) == before
    helpers = portal_host.client.api.containers(
        all=True, filters={"label": "org.portal-backup.helper"}
    )
    assert helpers == []


def test_refuses_without_confirmation_when_not_a_terminal(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    archive, _, _ = saved
    touch_up(portal_host)
    before = snapshot(portal_host.root, tmp_path / "before")
    proc = restore(archive, "--all", env=env_for(portal_host), input_text="y\n")
    assert proc.returncode == 2
    assert "add --yes" in proc.stderr
    assert same_tree(before, portal_host.root, ignore=set()) == []


def test_identity_change_needs_yes_and_merges_identities(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    archive, snap, _ = saved
    db_path = portal_host.root / pf.DB
    doc = json.loads(db_path.read_text())
    # This host now is another Portal (a new default identity), with an extra table row.
    doc["identities"]["1"]["id"] = "ab" * 64
    doc["terminals"]["9"] = {"id": "new", "name": "Tablet"}
    db_path.write_text(json.dumps(doc))

    proc = restore(archive, "core/identity", "--dry-run", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: this host is Portal ababab" in proc.stdout
    assert "its identities are replaced" in proc.stdout

    proc = restore(archive, "core/identity", "--yes", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merged = json.loads(db_path.read_text())
    original = json.loads((snap / pf.DB).read_text())
    assert merged["identities"] == original["identities"]
    assert merged["terminals"]["9"] == {"id": "new", "name": "Tablet"}  # the rest is today's
    assert oct(db_path.stat().st_mode & 0o777) == "0o600"

    # core/db is restored byte for byte.
    proc = restore(archive, "core/db", "--yes", env=env_for(portal_host))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert db_path.read_bytes() == (snap / pf.DB).read_bytes()


def test_unknown_item_is_a_usage_error(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    archive, _, _ = saved
    proc = restore(archive, "app/nope", "--yes", env=env_for(portal_host))
    assert proc.returncode == 2
    assert "holds no item 'app/nope'" in proc.stderr
    proc = restore(archive, env=env_for(portal_host))
    assert proc.returncode == 0  # what it holds: an answer, not a usage error (issue 11)
    assert f"app/{portal_host.apps[0]}" in proc.stdout  # the list of what it holds


def test_encrypted_archive_round_trip(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    wiki = portal_host.apps[2]
    snap = snapshot(portal_host.root / pf.APP_DATA / wiki, tmp_path / "snap")
    env = {**env_for(portal_host), "PB_PASS": "correct horse battery staple"}
    out = tmp_path / "out"
    out.mkdir()
    proc = run(
        "create",
        f"app/{wiki}",
        "-o",
        str(out),
        "--progress",
        "none",
        "--passphrase-env",
        "PB_PASS",
        env=env,
        check=True,
    )
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert archive.name.endswith(".zip.age")
    (portal_host.root / pf.APP_DATA / wiki / "pages/Home.md").unlink()

    proc = restore(archive, f"app/{wiki}", "--yes", env=env)
    assert proc.returncode == 2 and "is encrypted" in proc.stderr
    proc = restore(
        archive, f"app/{wiki}", "--yes", "--json", "--passphrase-env", "PB_PASS", env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["selection"]["items"][0]["id"] == f"app/{wiki}"
    assert lines[-1]["type"] == "restore-finished" and lines[-1]["done"] == [f"app/{wiki}"]
    assert same_tree(snap, portal_host.root / pf.APP_DATA / wiki) == []


def test_asks_at_a_terminal(
    portal_host: pf.PortalHost, saved: tuple[Path, Path, dict[str, Path]]
) -> None:
    """stdin is a real pseudo-terminal: "n" changes nothing, "y" restores."""
    archive, snap, _ = saved
    wiki = portal_host.apps[2]
    touch_up(portal_host)
    home = portal_host.root / pf.APP_DATA / wiki / "pages/Home.md"
    for answer, code in (("n\n", 1), ("y\n", 0)):
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [*COMMAND, "restore", str(archive), f"app/{wiki}"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env_for(portal_host)},
            cwd=Path(__file__).parent.parent,
        )
        os.close(slave)
        os.write(master, answer.encode())  # the terminal holds the line until it is read
        out, err = proc.communicate(timeout=120)
        os.close(master)
        assert proc.returncode == code, out + err
        if code:
            assert "nothing was restored" in err
            assert home.read_text() == "vandalised\n"
    rel = f"{pf.APP_DATA}/{wiki}"
    assert same_tree(snap / rel, portal_host.root / rel) == []
