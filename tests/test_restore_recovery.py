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


def _journal(state: Path, **record: object) -> None:
    (state / "restore-journal.json").write_text(json.dumps({"pid": 1, "swaps": [record]}))


def test_half_swapped_directory_is_put_back(portal_root: Path, state: Path,
                                            tmp_path: Path) -> None:
    app_data = portal_root / pf.APP_DATA
    app = next(p.name for p in app_data.iterdir())
    expected = snapshot(app_data / app, tmp_path / "expected")
    # Killed between "move the old tree aside" and "move the staged tree in".
    os.rename(app_data / app, app_data / ".pb-old-k1")
    (app_data / ".pb-restore-k1" / "half").mkdir(parents=True)
    _journal(state, key="k1", mode="whole", dir=str(app_data), name=app,
             staging=".pb-restore-k1", aside=".pb-old-k1", phase="swapping")

    proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(portal_root),
                                          "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 0, proc.stderr
    assert "put the previous data back" in proc.stderr
    assert same_tree(expected, app_data / app, ignore=set()) == []
    assert leftovers(portal_root) == []
    assert not (state / "restore-journal.json").exists()


def test_completed_swap_keeps_both_and_says_where(portal_root: Path, state: Path) -> None:
    shared = portal_root / pf.SHARED
    os.rename(shared, shared.parent / ".pb-old-k2")
    shared.mkdir()
    (shared / "restored.txt").write_text("new\n")
    _journal(state, key="k2", mode="whole", dir=str(shared.parent), name="shared",
             staging=".pb-restore-k2", aside=".pb-old-k2", phase="swapped")
    proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(portal_root),
                                          "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 0, proc.stderr
    assert "the previous data is kept at" in proc.stderr
    assert (shared / "restored.txt").exists()
    assert (shared.parent / ".pb-old-k2" / "Einkaufsliste.txt").exists()


@pytest.mark.docker
def test_killed_restore_leaves_nothing_half_done(portal_host: pf.PortalHost, state: Path,
                                                 tmp_path: Path) -> None:
    """SIGKILL in the middle of a real restore; the next command repairs it."""
    photos = portal_host.apps[1]
    archive = backup(portal_host, tmp_path / "out", f"app/{photos}")
    before = states_by_name(portal_host)
    (portal_host.root / pf.APP_DATA / photos / "library" / "new.txt").write_text("new\n")
    current = snapshot(portal_host.root / pf.APP_DATA / photos, tmp_path / "current")
    hold = tmp_path / "hold"
    hold.write_text("hold")
    env = {**os.environ, **env_for(portal_host), "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
           "PORTAL_BACKUP_TEST_HOLD_ITEM": f"app/{photos}"}
    proc = subprocess.Popen([*COMMAND, "restore", str(archive), f"app/{photos}", "--yes",
                             "--progress", "json"], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=Path(__file__).parent.parent)
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
def test_a_stopped_paused_container_is_paused_again(portal_host: pf.PortalHost,
                                                    state: Path) -> None:
    """The quiesce journal's new action: a restore stopped a paused container and died."""
    name, cid, _ = next(c for c in portal_host.containers[portal_host.apps[1]]
                        if c[2] == "paused")
    api = portal_host.client.api
    api.unpause(cid)
    api.stop(cid, timeout=5)
    (state / "journal.json").write_text(json.dumps(
        {"pid": 1, "changes": [{"id": cid, "name": name, "action": "stopped-paused"}]}))
    run("list", "--no-sizes", env=env_for(portal_host), check=True)
    assert api.inspect_container(cid)["State"]["Status"] == "paused"
    assert not (state / "journal.json").exists()


def test_half_swapped_mount_point_contents_are_put_back(portal_root: Path, state: Path,
                                                        tmp_path: Path) -> None:
    """Content mode (a mount point): killed with some new children moved in, some not."""
    shared = portal_root / pf.SHARED
    expected = snapshot(shared, tmp_path / "expected")
    st = shared.stat()
    old_root = [st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns]
    aside, staging = shared / ".pb-old-k3", shared / ".pb-restore-k3"
    aside.mkdir()
    staging.mkdir()
    for child in os.listdir(shared):
        if child not in (aside.name, staging.name):
            os.rename(shared / child, aside / child)
    (shared / "moved-in.txt").write_text("new\n")  # already swapped in
    (staging / "not-yet.txt").write_text("new\n")  # still waiting in staging
    _journal(state, key="k3", mode="content", dir=str(shared), name="",
             staging=staging.name, aside=aside.name, phase="swapping", old_root=old_root)

    proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(portal_root),
                                          "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 0, proc.stderr
    assert "put the previous data back" in proc.stderr
    assert same_tree(expected, shared, ignore=set()) == []
    assert leftovers(portal_root) == []
