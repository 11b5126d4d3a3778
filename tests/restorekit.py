"""Helpers for the restore tests: real archives from the real CLI, snapshots, leftover checks."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run
from treecompare import compare_trees

SQLITE_GLOB = "*.sqlite"  # stored as a backup-API copy: same rows, not the same bytes


def all_items(host: pf.PortalHost) -> list[str]:
    return [
        "core/db",
        "core/identity",
        "core/config",
        "core/apps",
        "shared",
        *(f"app/{a}" for a in host.apps),
        f"volume/{host.orphan_volume}",
    ]


@contextlib.contextmanager
def tmpfs_at(path: Path) -> Iterator[None]:
    """A fresh tmpfs mounted at `path` (an empty directory) for the block; skips without root."""
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def env_for(host: pf.PortalHost, root: Path | None = None) -> dict[str, str]:
    return {"PORTAL_ROOT": str(root or host.root)}


def backup(host: pf.PortalHost, out: Path, *items: str) -> Path:
    out.mkdir(exist_ok=True)
    proc = run(
        "create",
        *(items or all_items(host)),
        "-o",
        str(out),
        "--progress",
        "none",
        env=env_for(host),
        check=True,
    )
    return Path(proc.stdout.strip().splitlines()[-1])


def restore(
    archive: Path, *args: str, env: dict[str, str], input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    if input_text is not None:
        from clirun import COMMAND

        return subprocess.run(
            [*COMMAND, "restore", str(archive), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            input=input_text,
            timeout=300,
            cwd=Path(__file__).parent.parent,
        )
    return run("restore", str(archive), *args, env=env)


def snapshot(src: Path, dest: Path) -> Path:
    """A copy with modes, owners, mtimes and symlinks (cp -a), to compare against later."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)
    return dest


def volume_snapshots(host: pf.PortalHost, dest: Path) -> dict[str, Path]:
    return {v: snapshot(host.volume_path(v), dest / v) for v in host.volumes}


def same_tree(expected: Path, actual: Path, *, ignore: set[str] | None = None) -> list[str]:
    """compare_trees, plus the roots' own metadata (compare_trees skips the roots)."""
    diffs = compare_trees(expected, actual, ignore=ignore or {SQLITE_GLOB})
    e, a = expected.lstat(), actual.lstat()
    for what, x, y in (
        ("mode", e.st_mode, a.st_mode),
        ("uid", e.st_uid, a.st_uid),
        ("gid", e.st_gid, a.st_gid),
        ("mtime", e.st_mtime_ns // 10**9, a.st_mtime_ns // 10**9),
    ):
        if x != y:
            diffs.append(f"root {what}: expected {x}, got {y}")
    for db in expected.rglob(SQLITE_GLOB):
        rel = db.relative_to(expected)
        if sqlite_rows(db) != sqlite_rows(actual / rel):
            diffs.append(f"sqlite rows: {rel}")
    return diffs


def sqlite_rows(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def leftovers(*roots: Path) -> list[str]:
    """Staging or aside trees a restore must never leave behind."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                if name.startswith((".pb-restore-", ".pb-old-")):
                    found.append(os.path.join(dirpath, name))
    return found


def states_by_name(host: pf.PortalHost) -> dict[str, str]:
    """Container states by name (restores may recreate containers, so IDs change)."""
    names = [name for name, _, _ in host.all_containers()]
    out = {}
    for name in names:
        try:
            out[name] = host.client.api.inspect_container(name)["State"]["Status"]
        except Exception:
            out[name] = "missing"
    return out


def touch_up(host: pf.PortalHost) -> None:
    """Change, add and delete data in every part of the Portal, volumes included."""
    root = host.root
    notes, photos, wiki = host.apps
    (root / pf.APP_DATA / notes / "data/config.ini").write_text("[server]\nport = 1\n")
    (root / pf.APP_DATA / notes / "logs/notes.log").unlink()
    (root / pf.APP_DATA / notes / "data/junk.bin").write_bytes(b"junk" * 1000)
    lib = root / pf.APP_DATA / photos / "library"
    (lib / "2023/IMG_0002.jpg").unlink()
    (lib / "2023/IMG_0003.jpg").write_bytes(b"not a photo")
    (lib / "latest.jpg").unlink()
    (lib / "latest.jpg").symlink_to("2023/IMG_0001.jpg")
    os.chmod(lib / "thumbs", 0o700)
    (root / pf.APP_DATA / wiki / "pages/Home.md").write_text("vandalised\n")
    (root / pf.OLD_FILE).write_text("overwritten\n")
    (root / pf.PRIVATE_FILE).unlink()
    os.chown(root / pf.TEXT_FILE, 0, 0)
    (root / pf.CONFIG).write_text("broken: [\n")
    db_vol = host.volume_path(host.app_volumes[photos][0])
    (db_vol / "PG_VERSION").write_text("16\n")
    (db_vol / "base/1/1249").unlink()
    orphan = host.volume_path(host.orphan_volume)
    (orphan / "README").unlink()
    (orphan / "export/extra.json").write_text("[]")
