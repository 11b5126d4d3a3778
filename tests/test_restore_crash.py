"""kill -9 at every step boundary of the restore's swap, then the repair (issue 9, 1/3/4/6).

Deterministic: one run lists the boundaries it passes (tui/core/checkpoint.py), then for each
one a fresh run SIGKILLs itself exactly there, `portal-backup list` repairs, and the
destination must be the old tree or the new one, file for file with modes, with no staging or
aside left, no journal, and every container running that ran before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import COMMAND, run
from restorekit import (
    SQLITE_GLOB,
    backup,
    env_for,
    leftovers,
    same_tree,
    snapshot,
    states_by_name,
    tmpfs_at,
)

from tui.cli.test_hooks import KILL_AT_ENV, STEPS_ENV

KEPT = ".pre-restore*"  # where a repair keeps the previous data of a completed swap


def _restore(archive: Path, item: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "restore", str(archive), item, "--yes", "--progress", "none"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        cwd=Path(__file__).parent.parent,
    )


def _kill_points(archive: Path, item: str, env: dict[str, str], tmp: Path) -> list[str]:
    """Every swap boundary the restore passes, as NAME#N (the N-th time it is reached)."""
    steps = tmp / "steps.txt"
    proc = _restore(archive, item, {**env, STEPS_ENV: str(steps)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [s for s in steps.read_text().split() if s.startswith("swap.")]
    seen: Counter[str] = Counter()
    points = []
    for name in names:
        seen[name] += 1
        points.append(f"{name}#{seen[name]}")
    return points


def _reset_dir(dest: Path, old: Path) -> None:
    shutil.rmtree(dest)
    subprocess.run(["cp", "-a", str(old), str(dest)], check=True)


def _reset_mount(dest: Path, old: Path) -> None:
    for child in dest.iterdir():
        subprocess.run(["rm", "-rf", str(child)], check=True)
    subprocess.run(["cp", "-a", f"{old}/.", str(dest)], check=True)
    st = old.stat()
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, st.st_mode & 0o7777)
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))


def _kill_and_repair(
    host: pf.PortalHost,
    archive: Path,
    item: str,
    dest: Path,
    old: Path,
    new: Path,
    points: list[str],
    reset: Callable[[Path, Path], None],
    state: Path,
) -> int:
    before = states_by_name(host)
    for point in points:
        reset(dest, old)
        shutil.rmtree(host.root / ".pre-restore", ignore_errors=True)
        proc = _restore(archive, item, {**env_for(host), KILL_AT_ENV: point})
        assert proc.returncode == -9, f"{point}: {proc.returncode} {proc.stderr}"
        fixed = run("list", "--no-sizes", env=env_for(host))
        assert fixed.returncode == 0, fixed.stderr
        assert "could not repair" not in fixed.stderr, f"{point}: {fixed.stderr}"
        as_old = same_tree(old, dest, ignore={KEPT, SQLITE_GLOB})
        as_new = same_tree(new, dest, ignore={KEPT, SQLITE_GLOB})
        assert as_old == [] or as_new == [], f"{point}: a mix: {as_old[:5]} / {as_new[:5]}"
        assert leftovers(host.root, dest) == [], point
        assert not (state / "restore-journal.json").exists(), point
        assert states_by_name(host) == before, point
    return len(points)


@pytest.mark.docker
def test_kill_at_every_step_of_a_whole_directory_swap(
    portal_host: pf.PortalHost, isolated_state_dir: Path, tmp_path: Path
) -> None:
    """(a) app/<notes>: its directory renamed aside and the staged one renamed in."""
    notes = portal_host.apps[0]
    dest = portal_host.root / pf.APP_DATA / notes
    archive = backup(portal_host, tmp_path / "out", f"app/{notes}")
    (dest / "data/config.ini").write_text("[server]\nport = 1\n")
    (dest / "logs/notes.log").unlink()
    (dest / "data/junk.bin").write_bytes(b"junk" * 1000)
    old = snapshot(dest, tmp_path / "old")
    points = _kill_points(archive, f"app/{notes}", env_for(portal_host), tmp_path)
    new = snapshot(dest, tmp_path / "new")
    assert same_tree(old, new) != []  # the two trees differ, so "old or new" means something
    count = _kill_and_repair(
        portal_host, archive, f"app/{notes}", dest, old, new, points, _reset_dir, isolated_state_dir
    )
    print(f"whole mode: {count} kill points")
    assert count >= 8, points


@pytest.fixture
def mounted_library(portal_host: pf.PortalHost) -> Iterator[Path]:
    """The photo app's library on a tmpfs of its own, with subdirectories and 400 files."""
    lib = portal_host.root / pf.APP_DATA / portal_host.apps[1] / "library"
    keep = lib.parent / "library.orig"
    os.rename(lib, keep)
    lib.mkdir()
    with tmpfs_at(lib):
        subprocess.run(["cp", "-a", f"{keep}/.", str(lib)], check=True)
        shutil.rmtree(keep)
        for d in range(4):
            for sub in range(5):
                folder = lib / f"album{d}" / f"part{sub}"
                folder.mkdir(parents=True)
                for i in range(20):
                    (folder / f"p{i:02d}.jpg").write_bytes(bytes([d, sub, i]) * 100)
        os.chmod(lib / "album1", 0o750)
        yield lib


@pytest.mark.docker
def test_kill_at_every_step_of_a_mount_point_swap(
    portal_host: pf.PortalHost, mounted_library: Path, isolated_state_dir: Path, tmp_path: Path
) -> None:
    """(b) a mount point (contents moved, not renamed), the app's web container stopped."""
    photos = portal_host.apps[1]
    item = f"app/{photos}/library"
    archive = backup(portal_host, tmp_path / "out", item)
    lib = mounted_library
    shutil.rmtree(lib / "album0" / "part1")
    (lib / "album2" / "part3" / "p05.jpg").write_bytes(b"changed")
    (lib / "album3" / "extra.txt").write_text("only in the old tree\n")
    (lib / "2023" / "IMG_0001.jpg").unlink()
    os.chmod(lib, 0o700)
    old = snapshot(lib, tmp_path / "old")
    points = _kill_points(archive, item, env_for(portal_host), tmp_path)
    assert os.path.ismount(lib)
    new = snapshot(lib, tmp_path / "new")
    assert same_tree(old, new) != []
    count = _kill_and_repair(
        portal_host, archive, item, lib, old, new, points, _reset_mount, isolated_state_dir
    )
    assert os.path.ismount(lib)
    print(f"content mode: {count} kill points")
    assert count >= 15, points  # every child moved out and in is a boundary of its own


@pytest.mark.docker
def test_a_mount_point_inside_an_app_is_refused_before_anything_changes(
    portal_host: pf.PortalHost, mounted_library: Path, tmp_path: Path
) -> None:
    """(c) issue 9 defect 4: restoring app/<photos> would rename the library's mount away."""
    photos = portal_host.apps[1]
    app_dir = portal_host.root / pf.APP_DATA / photos
    archive = backup(portal_host, tmp_path / "out", f"app/{photos}")
    (mounted_library / "new.txt").write_text("written after the backup\n")
    before = snapshot(app_dir, tmp_path / "before")
    states = states_by_name(portal_host)
    steps = tmp_path / "steps.txt"
    proc = _restore(archive, f"app/{photos}", {**env_for(portal_host), STEPS_ENV: str(steps)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{mounted_library} is a mount point inside {app_dir}" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert os.path.ismount(mounted_library)
    assert same_tree(before, app_dir) == []
    assert leftovers(portal_host.root) == []
    assert states_by_name(portal_host) == states
    swap_steps = (
        [s for s in steps.read_text().split() if s.startswith("swap.")] if steps.exists() else []
    )
    assert swap_steps == []  # refused before the first step: there is nothing to kill


def test_a_symlink_at_the_destination_is_replaced_not_followed(
    portal_root: Path, tmp_path: Path
) -> None:
    """Issue 9 defect 3: user_data/shared replaced by a link to a directory standing for /etc."""
    env = {"PORTAL_ROOT": str(portal_root), "DOCKER_HOST": "unix:///nonexistent.sock"}
    shared = portal_root / pf.SHARED
    proc = run("create", "shared", "-o", str(tmp_path), "--progress", "none", env=env, check=True)
    archive = Path(proc.stdout.strip().splitlines()[-1])
    expected = snapshot(shared, tmp_path / "expected")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (etc / "Einkaufsliste.txt").write_text("not the Portal's\n")
    etc_before = snapshot(etc, tmp_path / "etc-before")
    shutil.rmtree(shared)
    shared.symlink_to(etc)

    proc = run("restore", str(archive), "shared", "--yes", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert same_tree(etc_before, etc, ignore=set()) == []  # untouched
    assert not shared.is_symlink()
    assert same_tree(expected, shared) == []
    assert leftovers(portal_root) == []


def test_a_symlink_above_the_destination_is_refused(portal_root: Path, tmp_path: Path) -> None:
    env = {"PORTAL_ROOT": str(portal_root), "DOCKER_HOST": "unix:///nonexistent.sock"}
    proc = run("create", "shared", "-o", str(tmp_path), "--progress", "none", env=env, check=True)
    archive = Path(proc.stdout.strip().splitlines()[-1])
    user_data = portal_root / "user_data"
    elsewhere = tmp_path / "elsewhere"
    os.rename(user_data, elsewhere)
    user_data.symlink_to(elsewhere)
    before = snapshot(elsewhere, tmp_path / "before")
    proc = run("restore", str(archive), "shared", "--yes", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{user_data} is a symlink" in proc.stdout + proc.stderr
    assert same_tree(before, elsewhere, ignore=set()) == []
    assert leftovers(elsewhere) == []
