"""A destination that is itself a mount point (an external disk under the Portal root, say)
cannot be renamed: its contents are swapped instead. Real tmpfs mounts; needs root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run
from restorekit import leftovers, restore, same_tree, snapshot, tmpfs_at


@pytest.fixture
def mounted_shared(portal_root: Path, tmp_path: Path) -> Iterator[Path]:
    """user_data/shared moved onto a tmpfs mounted at its own path."""
    shared = portal_root / pf.SHARED
    keep = snapshot(shared, tmp_path / "orig-shared")
    subprocess.run(["rm", "-rf", str(shared)], check=True)
    shared.mkdir()
    with tmpfs_at(shared):
        subprocess.run(["cp", "-a", f"{keep}/.", str(shared)], check=True)
        os.utime(shared, ns=(keep.stat().st_atime_ns, keep.stat().st_mtime_ns))
        os.chown(shared, keep.stat().st_uid, keep.stat().st_gid)
        yield shared


def test_restore_onto_a_mount_point(
    portal_root: Path, mounted_shared: Path, tmp_path: Path
) -> None:
    assert os.path.ismount(mounted_shared)
    expected = snapshot(mounted_shared, tmp_path / "expected")
    env = {"PORTAL_ROOT": str(portal_root)}
    proc = run("create", "shared", "-o", str(tmp_path), "--progress", "none", env=env, check=True)
    archive = Path(proc.stdout.strip().splitlines()[-1])
    (mounted_shared / "Einkaufsliste.txt").write_text("changed\n")
    (mounted_shared / "new.txt").write_text("new\n")
    os.chmod(mounted_shared, 0o700)
    broken = snapshot(mounted_shared, tmp_path / "broken")

    # A failure after the swap puts the previous contents back, mount point and all.
    proc = restore(
        archive, "shared", "--yes", env={**env, "PORTAL_BACKUP_TEST_FAIL_AFTER_SWAP": "shared"}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert os.path.ismount(mounted_shared)
    assert same_tree(broken, mounted_shared, ignore=set()) == []

    proc = restore(archive, "shared", "--yes", "--delete-old", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.path.ismount(mounted_shared)  # still the same filesystem, now restored
    assert same_tree(expected, mounted_shared) == []
    assert leftovers(portal_root) == []

    proc = restore(archive, "shared", "--yes", "--keep-old", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = [n for n in os.listdir(mounted_shared) if n.startswith(".pre-restore-")]
    assert len(kept) == 1 and (mounted_shared / kept[0] / "Einkaufsliste.txt").exists()
