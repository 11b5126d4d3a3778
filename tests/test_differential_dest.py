"""Issue 14 at destinations: `auto run`'s full/differential policy against the loopback S3
server (encrypted, as anything leaving the host), the chain read back from there, and
`prune --dry-run` showing chains (text and --json)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import json_lines, run
from rclone_servers import RcloneServer
from test_auto_status import write_config
from test_differential_policy import ITEMS, NO_DOCKER
from test_encrypted_backup import keypair

from tui.core.archive.manifest_model import parse_manifest
from tui.core.auto.config import load_config
from tui.core.auto.history import read_runs
from tui.core.auto.job import run_job
from tui.core.dest.names import parse_archive_name


def test_auto_run_makes_a_differential_at_the_s3_destination(
    portal_root: Path, s3_server: RcloneServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    key, public = keypair(tmp_path)
    config = load_config(
        write_config(
            tmp_path,
            f'{ITEMS}\nquiesce = "none"\nrecipients = ["{public}"]\n'
            f'rclone_config = "{s3_server.config}"\n'
            f'[[destinations]]\nname = "offsite"\ntarget = "{s3_server.target}"\n'
            "keep = { last = 10 }\n",
        )
    )
    for change in ("", "the first change\n"):
        if change:
            (portal_root / "user_data/shared/changed.txt").write_text(change)
        result = run_job(config, lambda _event: None, portal_root=str(portal_root))
        assert result.ok, result.destinations[0].error
    full, diff = read_runs()
    assert (full.kind, diff.kind) == ("full", "differential")
    assert full.verified and diff.verified  # `verify` defaults to a full read-back
    parsed = parse_archive_name(diff.archive or "")
    assert parsed is not None and parsed[2] == full.archive
    stored = sorted(p.name for p in s3_server.root.iterdir() if not p.name.startswith("."))
    assert stored == sorted([full.archive or "", diff.archive or ""])
    assert diff.bytes_out < full.bytes_out

    # The differential, decrypted by the stock age, holds the change and names its base.
    plain = tmp_path / "diff.zip"
    subprocess.run(
        ["age", "-d", "-i", str(key), "-o", str(plain), str(s3_server.root / (diff.archive or ""))],
        check=True,
    )
    with zipfile.ZipFile(plain) as z:
        names = z.namelist()
        manifest = parse_manifest(z.read("portal-backup.json"))
    assert "user_data/shared/changed.txt" in names
    assert not any(n.startswith("core/") for n in names)
    assert manifest.differential is not None and manifest.differential.base == full.archive

    # Both fetched from the destination: the chain verifies end to end.
    here = tmp_path / "fetched"
    here.mkdir()
    env = {"RCLONE_CONFIG": str(s3_server.config)}
    for name in (full.archive or "", diff.archive or ""):
        run("fetch", s3_server.target, name, "-o", str(here / name), env=env, check=True)
    verified = run("verify", str(here / (diff.archive or "")), "-i", str(key), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Restored straight from the destination (DEST:NAME: the differential and its base are
    # downloaded, hash-checked, combined) into a fresh Portal root: the state at its time.
    fresh = tmp_path / "fresh-portal"
    fresh.mkdir()
    remote = f"{s3_server.target}:{diff.archive}"
    restored = run(
        "restore",
        remote,
        "shared",
        "--yes",
        "-i",
        str(key),
        "--progress",
        "none",
        env={**env, "PORTAL_ROOT": str(fresh), "DOCKER_HOST": NO_DOCKER},
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert (fresh / "user_data/shared/changed.txt").read_text() == "the first change\n"
    for path in (portal_root / "user_data/shared").rglob("*"):
        if path.is_file() and not path.is_symlink():
            twin = fresh / path.relative_to(portal_root)
            assert twin.read_bytes() == path.read_bytes(), path


WHO = pf.identity_id(pf.identity_keys()[0])[:6]


def archive(stamp: str) -> str:
    return f"portal-backup-{WHO}-{stamp}.zip"


FULL_1 = archive("20261129-030000")
DIFF_1A = archive("20261130-030000-since-20261129-030000")
DIFF_1B = archive("20261201-030000-since-20261129-030000")
FULL_2 = archive("20261206-030000")
DIFF_2A = archive("20261207-030000-since-20261206-030000")
ORPHAN = archive("20261205-030000-since-20261122-030000")  # its base is gone


def test_prune_dry_run_shows_chains(portal_root: Path, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    for name in (FULL_1, DIFF_1A, DIFF_1B, ORPHAN, FULL_2, DIFF_2A):
        (usb / name).write_bytes(b"an archive")
    common = ["prune", str(usb), "--keep-last", "2", "--dry-run", "--portal-root", str(portal_root)]

    text = run(*common, check=True).stdout.splitlines()
    assert text == [
        f"REMOVE  {FULL_1}  not kept by any rule",
        f"REMOVE    └ {DIFF_1A}  not kept by any rule",
        f"REMOVE    └ {DIFF_1B}  not kept by any rule",
        f"REMOVE  {ORPHAN} (its base {archive('20261122-030000')} is not here)  "
        "not kept by any rule",
        f"KEEP    {FULL_2}  last #2, base of {DIFF_2A}",
        f"KEEP      └ {DIFF_2A}  last #1, newest",
        "dry run: would keep 2 and remove 4 archives; nothing was deleted",
    ]
    assert len(list(usb.iterdir())) == 6

    records = json_lines(run(*common, "--json", check=True).stdout)
    assert [(r["name"], r["base"], r["action"]) for r in records] == [
        (FULL_1, None, "remove"),
        (DIFF_1A, FULL_1, "remove"),
        (DIFF_1B, FULL_1, "remove"),
        (ORPHAN, archive("20261122-030000"), "remove"),
        (FULL_2, None, "keep"),
        (DIFF_2A, FULL_2, "keep"),
    ]

    # A kept differential of the older chain keeps its base: the chain stays whole.
    wider = run(
        "prune",
        str(usb),
        "--keep-last",
        "4",
        "--dry-run",
        "--json",
        "--portal-root",
        str(portal_root),
        check=True,
    )
    decided = {r["name"]: (r["action"], r["reasons"]) for r in json_lines(wider.stdout)}
    assert decided[DIFF_1B] == ("keep", ["last #4"])
    assert decided[FULL_1] == ("keep", [f"base of {DIFF_1B}"])
    assert decided[DIFF_1A] == ("remove", ["not kept by any rule"])
