"""Hostile archives, built by hand (raw bytes or zipfile), are refused without writing anything.

Each archive looks like a portal-backup archive (a manifest listing a `shared` item and its
entries) so that the restore's own checks, not a missing manifest, are what refuses it. After
every attempt the Portal root is compared with a snapshot (bytes, modes, owners, mtimes), and
the places the archive aims at outside it are checked to be untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from restorekit import leftovers, restore, same_tree, snapshot
from zipfixtures import RawEntry, build_zip, manifest_record

SHARED = "user_data/shared/"


@pytest.fixture
def portal(portal_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(the Portal root, a snapshot of it). No Docker needed: only Portal files are targeted."""
    return portal_root, snapshot(portal_root, tmp_path / "snap")


def manifest(
    records: list[dict[str, object]], paths: list[str] | None = None, item: str = "shared"
) -> bytes:
    return json.dumps(
        {
            "format": 1,
            "tool": {"name": "portal-backup", "version": "0.1.0"},
            "created": "2026-11-29T12:00:00Z",
            "host": "evil",
            "portal": None,
            "identity_included": False,
            "db_private_keys_removed": False,
            "items": [
                {"id": item, "kind": "shared", "label": "Documents", "paths": paths or [SHARED]}
            ],
            "volumes": [],
            "entries": records,
            "skipped": [],
            "warnings": [],
        }
    ).encode()


def raw_archive(
    path: Path, entries: list[RawEntry], *, paths: list[str] | None = None, item: str = "shared"
) -> Path:
    """Data entries as given, then a manifest that lists them faithfully."""
    records = [manifest_record(e) for e in entries]
    path.write_bytes(
        build_zip(
            [*entries, RawEntry("portal-backup.json", manifest(records, paths, item), method=8)]
        )
    )
    return path


def base_entries() -> list[RawEntry]:
    return [
        RawEntry(SHARED, mode=stat.S_IFDIR | 0o755),
        RawEntry(SHARED + "ok.txt", b"harmless\n", method=8),
    ]


def assert_refused(
    proc: subprocess.CompletedProcess[str], portal: tuple[Path, Path], reason: str
) -> None:
    root, snap = portal
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert reason in proc.stderr + proc.stdout, proc.stdout + proc.stderr
    assert same_tree(snap, root, ignore=set()) == []
    assert leftovers(root.parent) == []
    state = Path(os.environ["PORTAL_BACKUP_STATE_DIR"])
    assert not (state / "restore-journal.json").exists()


def test_zip_slip_name(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    escape = "user_data/shared/../../../escaped.txt"
    archive = raw_archive(tmp_path / "slip.zip", [*base_entries(), RawEntry(escape, b"gotcha")])
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "'..' component")
    assert not (tmp_path / "escaped.txt").exists() and not (root.parent / "escaped.txt").exists()


def test_absolute_name(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    target = tmp_path / "abs-target.txt"
    archive = raw_archive(tmp_path / "abs.zip", [*base_entries(), RawEntry(str(target), b"gotcha")])
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "absolute path")
    assert not target.exists()


def test_symlink_then_a_file_written_through_it(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    outside = tmp_path / "outside"
    outside.mkdir()
    for link, target in (("evil", str(outside)), ("rel", "../../..")):
        archive = raw_archive(
            tmp_path / f"{link}.zip",
            [
                *base_entries(),
                RawEntry(SHARED + link, target.encode(), mode=stat.S_IFLNK | 0o777),
                RawEntry(SHARED + link + "/pwned.txt", b"gotcha", method=8),
            ],
        )
        proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
        assert_refused(proc, portal, "refusing to write through it")
        assert os.listdir(outside) == []
        assert not (root.parent.parent / "pwned.txt").exists()


def test_duplicate_names(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    archive = tmp_path / "dup.zip"
    entries = [
        *base_entries(),
        RawEntry(SHARED + "a.txt", b"first"),
        RawEntry(SHARED + "a.txt", b"second, longer"),
    ]
    raw_archive(archive, entries)
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "appears 2 times")


def test_duplicate_names_written_by_zipfile(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    archive = tmp_path / "dup2.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(SHARED, b"")
        zf.writestr(SHARED + "Einkaufsliste.txt", b"one")
        zf.writestr(SHARED + "Einkaufsliste.txt", b"two")
        zf.writestr("portal-backup.json", manifest([]))
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "appears 2 times")


def test_overlapping_entries(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    data = b"shared bytes" * 100
    # A central record whose data span runs over the next entry's header and data.
    runs_over = RawEntry(SHARED + "a.txt", data, compressed_size=len(data) + 200)
    archive = raw_archive(
        tmp_path / "overlap.zip", [runs_over, *base_entries(), RawEntry(SHARED + "b.txt", data)]
    )
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "overlaps that of user_data/shared/a.txt")

    # Two central records sharing one local header: two names, one set of bytes.
    first = RawEntry(SHARED + "c.txt", data, method=8)
    twin = RawEntry(SHARED + "d.txt", data, method=8, local=False, header_offset=0)
    archive = raw_archive(tmp_path / "twin.zip", [first, *base_entries(), twin])
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "refusing to restore")


def test_ratio_bomb_with_a_lying_header(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    zeros = bytes(64 << 20)  # 64 MiB that deflate to about 64 KiB
    bomb = RawEntry(SHARED + "bomb.bin", zeros, method=8, size=1000)
    records = [manifest_record(e) for e in base_entries()]
    records.append(
        {
            "path": bomb.name,
            "type": "file",
            "size": 1000,
            "mode": 0o644,
            "uid": 0,
            "gid": 0,
            "mtime_ns": 0,
            "sha256": hashlib.sha256(zeros[:1000]).hexdigest(),
        }
    )
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(
        build_zip(
            [*base_entries(), bomb, RawEntry("portal-backup.json", manifest(records), method=8)]
        )
    )
    assert archive.stat().st_size < 1 << 20
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "larger than the declared 1000 bytes")


def test_a_corrupt_entry_refuses_the_whole_restore(
    portal: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two items; the second holds a damaged entry: neither is restored."""
    root, _ = portal
    good = RawEntry("core/portal_core_config.yml", b"new: config\n", method=8)
    bad = RawEntry(SHARED + "x.txt", b"payload" * 100, method=8, crc=0x12345678)
    records = [manifest_record(e) for e in (good, *base_entries(), bad)]
    doc = json.loads(manifest(records))
    doc["items"].insert(
        0,
        {
            "id": "core/config",
            "kind": "core",
            "label": "Portal settings",
            "paths": ["core/portal_core_config.yml"],
        },
    )
    archive = tmp_path / "crc.zip"
    archive.write_bytes(
        build_zip(
            [
                good,
                *base_entries(),
                bad,
                RawEntry("portal-backup.json", json.dumps(doc).encode(), method=8),
            ]
        )
    )
    proc = restore(archive, "--all", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "CRC-32 does not match")


def test_hostile_manifest_cannot_aim_at_system_directories(
    portal: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = portal
    entries = [
        RawEntry("binds/etc/", mode=stat.S_IFDIR | 0o755),
        RawEntry("binds/etc/pb-test-should-not-exist", b"gotcha"),
    ]
    archive = raw_archive(tmp_path / "etc.zip", entries, paths=["binds/etc/"], item="app/evil")
    proc = restore(archive, "app/evil", "--yes", env={"PORTAL_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    assert "/etc is left alone: restoring over a system directory is refused" in proc.stdout
    assert not Path("/etc/pb-test-should-not-exist").exists()


def test_symlinks_are_restored_as_stored_never_followed(
    portal: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = portal
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    entries = [
        *base_entries(),
        RawEntry(SHARED + "to-victim", str(victim).encode(), mode=stat.S_IFLNK | 0o777),
        RawEntry(SHARED + "up", b"../../../..", mode=stat.S_IFLNK | 0o777),
    ]
    archive = raw_archive(tmp_path / "links.zip", entries)
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.readlink(root / SHARED / "to-victim") == str(victim)
    assert os.readlink(root / SHARED / "up") == "../../../.."
    assert victim.read_text() == "precious\n"
    assert sorted(os.listdir(root / SHARED)) == ["ok.txt", "to-victim", "up"]


def test_not_a_portal_backup_archive(portal: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = portal
    archive = tmp_path / "plain.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("user_data/shared/a.txt", b"a")
    proc = restore(archive, "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert_refused(proc, portal, "not a portal-backup archive")
