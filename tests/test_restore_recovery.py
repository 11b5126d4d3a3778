"""A restore killed half way is repaired by the next command: data first, then containers.

The states a killed run leaves are set up by hand (as the journals describe them), then any
`portal-backup` command is run and must repair them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import COMMAND, run
from restorekit import backup, env_for, leftovers, same_tree, snapshot, states_by_name


@pytest.fixture
def state(isolated_state_dir: Path) -> Path:
    """The state directory conftest gives every test (subprocesses inherit it)."""
    return isolated_state_dir


def repair_by_list(portal_root: Path) -> subprocess.CompletedProcess[str]:
    """Any command repairs first; `list` without Docker is the cheapest one."""
    return run(
        "list",
        "--no-sizes",
        env={"PORTAL_ROOT": str(portal_root), "DOCKER_HOST": "unix:///nonexistent.sock"},
    )


def _journal(state: Path, **record: object) -> None:
    (state / "restore-journal.json").write_text(json.dumps({"pid": 1, "swaps": [record]}))


def test_half_swapped_directory_is_put_back(portal_root: Path, state: Path, tmp_path: Path) -> None:
    app_data = portal_root / pf.APP_DATA
    app = next(p.name for p in app_data.iterdir())
    expected = snapshot(app_data / app, tmp_path / "expected")
    # Killed while moving the old tree aside, the staged tree only half written.
    os.rename(app_data / app, app_data / ".pb-old-0000aaaa-1")
    (app_data / ".pb-restore-0000aaaa-1" / "half").mkdir(parents=True)
    _journal(
        state,
        key="0000aaaa-1",
        mode="whole",
        dir=str(app_data),
        name=app,
        staging=".pb-restore-0000aaaa-1",
        aside=".pb-old-0000aaaa-1",
        phase="old-out",
    )

    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "put the previous data back" in proc.stderr
    assert same_tree(expected, app_data / app, ignore=set()) == []
    assert leftovers(portal_root) == []
    assert not (state / "restore-journal.json").exists()


def test_completed_swap_keeps_both_and_says_where(portal_root: Path, state: Path) -> None:
    shared = portal_root / pf.SHARED
    os.rename(shared, shared.parent / ".pb-old-0000aaaa-2")
    shared.mkdir()
    (shared / "restored.txt").write_text("new\n")
    _journal(
        state,
        key="0000aaaa-2",
        mode="whole",
        dir=str(shared.parent),
        name="shared",
        staging=".pb-restore-0000aaaa-2",
        aside=".pb-old-0000aaaa-2",
        phase="swapped",
    )
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "the previous data is kept at" in proc.stderr
    assert (shared / "restored.txt").exists()
    kept = list((portal_root / ".pre-restore").glob("*/user_data/shared"))
    assert len(kept) == 1 and (kept[0] / "Einkaufsliste.txt").exists()
    assert str(kept[0]) in proc.stderr
    assert leftovers(portal_root) == []


@pytest.mark.docker
def test_killed_restore_leaves_nothing_half_done(
    portal_host: pf.PortalHost, state: Path, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a real restore; the next command repairs it."""
    photos = portal_host.apps[1]
    archive = backup(portal_host, tmp_path / "out", f"app/{photos}")
    before = states_by_name(portal_host)
    (portal_host.root / pf.APP_DATA / photos / "library" / "new.txt").write_text("new\n")
    current = snapshot(portal_host.root / pf.APP_DATA / photos, tmp_path / "current")
    hold = tmp_path / "hold"
    hold.write_text("hold")
    env = {
        **os.environ,
        **env_for(portal_host),
        "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
        "PORTAL_BACKUP_TEST_HOLD_ITEM": f"app/{photos}",
    }
    proc = subprocess.Popen(
        [*COMMAND, "restore", str(archive), f"app/{photos}", "--yes", "--progress", "json"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.stdout is not None
    # The hook holds the run with the tree staged and the app stopped, just before the swap.
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("type") == "log" and event["message"].startswith("holding at"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert leftovers(portal_host.root)  # it really died half way

    volumes = [portal_host.volume_path(v).parent for v in portal_host.app_volumes[photos]]
    run("list", "--no-sizes", env=env_for(portal_host), check=True)
    assert leftovers(portal_host.root, *volumes) == []
    assert same_tree(current, portal_host.root / pf.APP_DATA / photos, ignore=set()) == []
    assert states_by_name(portal_host) == before
    assert not (state / "restore-journal.json").exists()


@pytest.mark.docker
def test_a_stopped_paused_container_is_paused_again(
    portal_host: pf.PortalHost, state: Path
) -> None:
    """The quiesce journal's new action: a restore stopped a paused container and died."""
    name, cid, _ = next(c for c in portal_host.containers[portal_host.apps[1]] if c[2] == "paused")
    api = portal_host.client.api
    api.unpause(cid)
    api.stop(cid, timeout=5)
    (state / "journal.json").write_text(
        json.dumps({"pid": 1, "changes": [{"id": cid, "name": name, "action": "stopped-paused"}]})
    )
    run("list", "--no-sizes", env=env_for(portal_host), check=True)
    assert api.inspect_container(cid)["State"]["Status"] == "paused"
    assert not (state / "journal.json").exists()


def _half_content_swap(
    shared: Path, tmp_path: Path, moved_old: int, moved_new: int
) -> tuple[Path, Path, dict[str, object]]:
    """A content-mode swap stopped by hand: `moved_old` old children already in aside and,
    when `moved_new` is not None, `moved_new` new children already moved in. The new tree has
    subdirectories of the same names as the old one (what made the old repair stick)."""
    old = snapshot(shared, tmp_path / "old")
    new = tmp_path / "new"
    subprocess.run(["cp", "-a", str(old), str(new)], check=True)
    for sub in sorted(p for p in new.iterdir() if p.is_dir()):
        (sub / "restored.txt").write_text("new\n")
    (new / "only-new.txt").write_text("new\n")
    os.utime(new, ns=(1_000_000_000, 1_000_000_000))
    st = shared.stat()
    old_root = [st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns]
    key = "0000aaaa-3"
    staging, aside = shared / f".pb-restore-{key}", shared / f".pb-old-{key}"
    subprocess.run(["cp", "-a", str(new), str(staging)], check=True)
    aside.mkdir()
    for child in sorted(os.listdir(old))[:moved_old]:
        os.rename(shared / child, aside / child)
    nst = new.stat()
    # Only the fields the old journal had too, so that this state also reproduces the old
    # repair's data loss (it moved the old children still in place into staging, then
    # deleted staging).
    record: dict[str, object] = dict(
        key=key,
        mode="content",
        dir=str(shared),
        name="",
        staging=staging.name,
        aside=aside.name,
        phase="old-out",
        old_root=old_root,
    )
    if moved_new:
        record.update(
            phase="new-in",
            had_old=True,
            new_root=[
                nst.st_mode & 0o7777,
                nst.st_uid,
                nst.st_gid,
                nst.st_atime_ns,
                nst.st_mtime_ns,
            ],
        )
        for child in sorted(os.listdir(old)):
            os.rename(shared / child, aside / child) if (shared / child).exists() else None
        for child in sorted(os.listdir(staging))[:moved_new]:
            os.rename(staging / child, shared / child)
    return old, new, record


@pytest.mark.parametrize("moved_old", [0, 1, 3])
def test_killed_while_moving_old_contents_out_loses_nothing(
    portal_root: Path, state: Path, tmp_path: Path, moved_old: int
) -> None:
    """Issue 9 defect 1: old children not yet moved aside must come back, never be deleted."""
    shared = portal_root / pf.SHARED
    old, _, record = _half_content_swap(shared, tmp_path, moved_old, 0)
    _journal(state, **record)
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "put the previous data back" in proc.stderr
    assert same_tree(old, shared, ignore=set()) == []
    assert leftovers(portal_root) == []
    assert not (state / "restore-journal.json").exists()


def test_killed_while_moving_new_contents_in_rolls_forward(
    portal_root: Path, state: Path, tmp_path: Path
) -> None:
    """Issue 9 defect 6: a repair with same-named subdirectories on both sides converges."""
    shared = portal_root / pf.SHARED
    _, new, record = _half_content_swap(shared, tmp_path, 0, 2)
    _journal(state, **record)
    env = {"PORTAL_ROOT": str(portal_root), "DOCKER_HOST": "unix:///nonexistent.sock"}
    proc = run("list", "--no-sizes", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Directory not empty" not in proc.stderr
    kept = [p for p in shared.iterdir() if p.name.startswith(".pre-restore-")]
    assert len(kept) == 1 and str(kept[0]) in proc.stderr  # the previous data, said where
    assert same_tree(new, shared, ignore={".pre-restore-*"}) == []
    assert leftovers(portal_root) == []
    assert not (state / "restore-journal.json").exists()
    assert "could not repair" not in run("list", "--no-sizes", env=env).stderr


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    (victim / "precious").mkdir(parents=True)
    (victim / "precious" / "only-copy.txt").write_text("irreplaceable\n")
    (victim / ".pb-old-0000aaaa-9").mkdir()
    (victim / ".pb-old-0000aaaa-9" / "also.txt").write_text("keep\n")
    return victim


@pytest.mark.parametrize(
    "record",
    [
        # a directory outside every root the tool manages, with the tool's own names
        {"root": "portal", "phase": "dropping-old"},
        # a bind destination outside the allowed places
        {"root": "bind", "phase": "dropping-old"},
        # names that are not the tool's own: "staging" pointing at the precious directory (the
        # old journal's fields only: this record made the old repair delete it)
        {"phase": "staging", "staging": "precious"},
        {"root": "portal", "phase": "staging", "staging": "../victim/precious"},
        # a volume record whose directory is not under Docker's volumes
        {"root": "volume", "phase": "dropping-old"},
    ],
    ids=["outside-root", "bind-outside", "foreign-name", "path-in-name", "fake-volume"],
)
def test_a_forged_journal_deletes_nothing(
    portal_root: Path, state: Path, tmp_path: Path, record: dict[str, str]
) -> None:
    """Issue 9: a journal in the state directory made `list` delete an arbitrary path."""
    victim = _victim(tmp_path)
    before = snapshot(victim, tmp_path / "before")
    key = "0000aaaa-9"
    _journal(
        state,
        **{
            "key": key,
            "mode": "whole",
            "dir": str(victim),
            "name": "precious",
            "staging": f".pb-restore-{key}",
            "aside": f".pb-old-{key}",
            **record,
        },
    )
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "nothing was changed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert same_tree(before, victim, ignore=set()) == []


def test_a_journal_never_follows_a_symlink_into_another_directory(
    portal_root: Path, state: Path, tmp_path: Path
) -> None:
    """The record's directory lies in the Portal root by name, but through a planted link."""
    victim = _victim(tmp_path)
    before = snapshot(victim, tmp_path / "before")
    app_data = portal_root / pf.APP_DATA
    (app_data / "evil").symlink_to(victim)
    key = "0000aaaa-9"
    _journal(
        state,
        key=key,
        mode="whole",
        dir=str(app_data / "evil"),
        name="precious",
        staging=f".pb-restore-{key}",
        aside=f".pb-old-{key}",
        phase="dropping-old",
        root="portal",
    )
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "is a symlink" in proc.stderr
    assert same_tree(before, victim, ignore=set()) == []


@pytest.mark.parametrize(
    "content",
    ["{not json", "[" * 100_000 + "]" * 100_000, "[]"],
    ids=["garbage", "deeply-nested", "not-an-object"],
)
def test_an_unreadable_journal_blocks_no_command(
    portal_root: Path, state: Path, content: str
) -> None:
    (state / "restore-journal.json").write_text(content)
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert "restore journal" in proc.stderr and "left alone" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_deep_staging_tree_is_repaired(portal_root: Path, state: Path) -> None:
    """Issue 9 defect 7: a 3,000-level staging tree left by a killed restore is removed."""
    app_data = portal_root / pf.APP_DATA
    key = "0000aaaa-4"
    fd = os.open(app_data, os.O_RDONLY)
    os.mkdir(f".pb-restore-{key}", dir_fd=fd)
    cur = os.open(f".pb-restore-{key}", os.O_RDONLY, dir_fd=fd)
    for _ in range(3000):
        os.mkdir("d", dir_fd=cur)
        nxt = os.open("d", os.O_RDONLY, dir_fd=cur)
        os.close(cur)
        cur = nxt
    os.close(cur)
    os.close(fd)
    _journal(
        state,
        key=key,
        mode="whole",
        dir=str(app_data),
        name="new-app",
        staging=f".pb-restore-{key}",
        aside=f".pb-old-{key}",
        phase="staging",
        root="portal",
    )
    proc = repair_by_list(portal_root)
    assert proc.returncode == 0, proc.stderr
    assert not (app_data / f".pb-restore-{key}").exists()
    assert not (state / "restore-journal.json").exists()
