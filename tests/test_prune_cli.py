"""`portal-backup prune`: the real command on a local directory and on the loopback S3 server.

Archives are small files with synthetic names; what matters to prune is the name (time, Portal,
base) and which of them are still there afterwards. The expected keep sets are written by hand.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import json_lines, run
from rclone_servers import RcloneServer

from tui.core.dest.prune import this_portal_id
from tui.core.dest.records import record_upload
from tui.core.dest.retention import KeepPolicy
from tui.core.dest.store import open_store
from tui.core.dest.target import parse_dest

WHO = pf.identity_id(pf.identity_keys()[0])[:6]  # the fixture Portal's name in archive names
OTHER = "portal-backup-zz9999-20200101-000000.zip"  # another Portal's archive
DIFF = "20261207-010000-since-20261206-030000"
TIMELINE = [  # (stamp, extension), oldest first
    ("20261129-120000", ".zip"),  # Sunday, 2026-W48
    ("20261130-120000", ".zip"),  # Monday, 2026-W49
    ("20261205-030000", ".zip"),
    ("20261205-150000", ".zip.age"),
    ("20261206-030000", ".zip"),  # Sunday, 2026-W49
    (DIFF, ".zip"),  # Monday, 2026-W50, a differential of the Sunday's full
]


def name(stamp: str, ext: str = ".zip") -> str:
    return f"portal-backup-{WHO}-{stamp}{ext}"


def seed(directory: Path, stamps: list[tuple[str, str]]) -> set[str]:
    """The archives as files, plus another Portal's archive and an unrelated file."""
    for stamp, ext in stamps:
        (directory / name(stamp, ext)).write_bytes(b"archive " + stamp.encode())
    (directory / OTHER).write_bytes(b"not ours")
    (directory / "notes.txt").write_text("not an archive\n")
    return {p.name for p in directory.iterdir()}


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def dest_dir(tmp_path: Path) -> Path:
    d = tmp_path / "usb"
    d.mkdir()
    return d


def test_dry_run_then_prune_keeps_the_expected_archives(portal_root: Path, dest_dir: Path) -> None:
    before = seed(dest_dir, TIMELINE)
    policy = ["--keep-daily", "2", "--keep-weekly", "2"]
    root = ["--portal-root", str(portal_root)]

    dry = run("prune", str(dest_dir), *policy, "--dry-run", "--json", *root, check=True)
    assert listing(dest_dir) == before  # a dry run deletes nothing
    assert [(o["name"], o["action"], o["reasons"]) for o in json_lines(dry.stdout)] == [
        (name("20261129-120000"), "remove", ["not kept by any rule"]),
        (name("20261130-120000"), "remove", ["not kept by any rule"]),
        (name("20261205-030000"), "remove", ["not kept by any rule"]),
        (name("20261205-150000", ".zip.age"), "remove", ["not kept by any rule"]),
        (
            name("20261206-030000"),
            "keep",
            ["daily 2026-12-06", "weekly 2026-W49", f"base of {name(DIFF)}"],
        ),
        (name(DIFF), "keep", ["daily 2026-12-07", "weekly 2026-W50", "newest"]),
    ]
    assert json_lines(dry.stdout)[0]["time"] == "2026-11-29T12:00:00Z"

    done = run("prune", str(dest_dir), *policy, *root, check=True)
    assert listing(dest_dir) == {name("20261206-030000"), name(DIFF), OTHER, "notes.txt"}
    lines = done.stdout.splitlines()
    assert lines[0] == f"REMOVE  {name('20261129-120000')}  not kept by any rule"
    assert lines[-2] == f"KEEP      └ {name(DIFF)}  daily 2026-12-07, weekly 2026-W50, newest"
    assert lines[-1] == "kept 2, removed 4 archives"
    assert done.stderr == ""

    # Run again: nothing more to remove.
    again = run("prune", str(dest_dir), *policy, *root, check=True)
    assert again.stdout.splitlines()[-1] == "kept 2, removed 0 archives"


def test_a_policy_that_keeps_nothing_is_refused(portal_root: Path, dest_dir: Path) -> None:
    before = seed(dest_dir, TIMELINE)
    refused = run("prune", str(dest_dir), "--keep-daily", "0", "--portal-root", str(portal_root))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "keeps nothing" in refused.stderr
    negative = run("prune", str(dest_dir), "--keep-last", "-1")
    assert negative.returncode == 2 and "out of range" in negative.stderr
    assert listing(dest_dir) == before


@contextlib.contextmanager
def undeletable(path: Path) -> Iterator[None]:
    """A file that cannot be unlinked, even by root: a mount point (EBUSY)."""
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_failing_delete_spares_its_base_and_the_rest_goes_on(
    portal_root: Path, dest_dir: Path
) -> None:
    diff = "20261202-030000-since-20261201-030000"
    seed(
        dest_dir,
        [
            ("20261201-030000", ".zip"),
            (diff, ".zip"),
            ("20261204-030000", ".zip"),
            ("20261205-030000", ".zip"),
        ],
    )
    with undeletable(dest_dir / name(diff)):
        out = run("prune", str(dest_dir), "--keep-last", "1", "--portal-root", str(portal_root))
    assert out.returncode == 1
    assert listing(dest_dir) == {
        name("20261201-030000"),  # its differential could not be deleted: the base stays
        name(diff),
        name("20261205-030000"),
        OTHER,
        "notes.txt",
    }
    errors = out.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith(
        f"portal-backup: cannot delete {name(diff)} at the destination"
    )
    assert f"FAILED    └ {name(diff)}  not kept by any rule" in out.stdout
    assert f"KEEP    {name('20261201-030000')}  base of {name(diff)} (not deleted)" in out.stdout


def test_the_newest_verified_backup_is_never_removed(dest_dir: Path) -> None:
    seed(
        dest_dir,
        [("20261201-030000", ".zip.age"), ("20261203-030000", ".zip"), ("20261205-030000", ".zip")],
    )
    store = open_store(parse_dest(str(dest_dir)))
    record_upload(
        dest=store.dest.label,
        name=name("20261201-030000", ".zip.age"),
        size=1,
        sha256="0" * 64,
        portal_id=WHO,
        verified=True,
    )
    from tui.core.dest.prune import prune

    decisions = prune(store, KeepPolicy(last=1), portal_id=WHO, dry_run=False)
    assert [(d.name, d.keep, d.reasons) for d in decisions] == [
        (name("20261201-030000", ".zip.age"), True, ("newest verified",)),
        (name("20261203-030000"), False, ("not kept by any rule",)),
        (name("20261205-030000"), True, ("last #1", "newest")),
    ]
    assert name("20261203-030000") not in listing(dest_dir)
    assert name("20261201-030000", ".zip.age") in listing(dest_dir)


def test_this_portal_id_is_the_archive_names_who(portal_root: Path, tmp_path: Path) -> None:
    assert this_portal_id(str(portal_root)) == WHO
    assert this_portal_id(str(tmp_path / "no-portal")) == socket.gethostname().split(".")[0]


def test_prune_on_the_loopback_s3_server(portal_root: Path, s3_server: RcloneServer) -> None:
    """Hour, day, ISO-week, month and year boundaries on a remote destination."""
    stamps = [
        "20251231-235959",  # Wednesday, already in ISO week 2026-W01
        "20260101-000000",
        "20261130-235959",  # Monday, 2026-W49
        "20261201-000000",
        "20261206-225959",  # Sunday, 2026-W49
        "20261206-230000",
        "20261206-231500",
        "20261207-000000",  # Monday, 2026-W50
        "20261207-003000",
    ]
    seed(s3_server.root, [(s, ".zip.age") for s in stamps])
    out = run(
        "prune",
        s3_server.target,
        *("--keep-hourly", "2", "--keep-weekly", "2", "--keep-monthly", "3"),
        *("--keep-yearly", "3", "--json", "--portal-root", str(portal_root)),
        env={"RCLONE_CONFIG": str(s3_server.config)},
    )
    assert out.returncode == 0, out.stderr
    newest = ["hourly 2026-12-07 00:00", "weekly 2026-W50", "monthly 2026-12", "yearly 2026"]
    expected = {
        "20251231-235959": ["yearly 2025"],
        "20260101-000000": ["monthly 2026-01"],
        "20261130-235959": ["monthly 2026-11"],
        "20261206-231500": ["hourly 2026-12-06 23:00", "weekly 2026-W49"],
        "20261207-003000": [*newest, "newest"],
    }
    decided = {o["name"]: o["reasons"] for o in json_lines(out.stdout) if o["action"] == "keep"}
    assert decided == {name(s, ".zip.age"): r for s, r in expected.items()}
    kept = {name(s, ".zip.age") for s in expected}
    assert listing(s3_server.root) == kept | {OTHER, "notes.txt"}


def test_help_teaches_the_rules_with_a_worked_example() -> None:
    out = run("prune", "--help", check=True).stdout
    for flag in (
        "--keep-last",
        "--keep-hourly",
        "--keep-daily",
        "--keep-weekly",
        "--keep-monthly",
        "--keep-yearly",
        "--dry-run",
        "--json",
    ):
        assert flag in out
    assert "worked example" in out and "restic forget" in out and "ISO weeks" in out
