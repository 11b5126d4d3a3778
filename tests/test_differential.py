"""Differential backups (issue 14): `create --since BASE`, then verify and restore the chain.

A real Portal root changes between a full and a differential (files added, rewritten in place
with size and mtime put back, truncated, deleted, renamed, a directory replaced by a symlink,
modes and owners changed, an SQLite database written). The differential must hold exactly the
entries an independent walker (below, not the product's) sees as changed, pass unzip -t, 7z t
and verify, and restore into a fresh Portal root the live tree of its time; a missing or
altered base is refused with one sentence and nothing written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import zipfile
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run
from treecompare import compare_trees

from tui.core.crypto.signing import public_key_pem

ITEMS = ("core/db", "core/config", "core/apps", "shared")
PREFIXES = ("core/", "user_data/shared/")
META = {"README.txt", "portal-backup.json", "portal-backup.json.sig", "SHA256SUMS"}
DOCS = f"{pf.SHARED}/Documents"
SQLITE_DB = f"{DOCS}/kasse.sqlite"


# --------------------------------------------------------------------------- independent walker


def _state(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path the selected items hold: type, mode, owner, mtime_ns and content (or link
    target), as archive names (directories end with "/"). FIFOs are never stored."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            common = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
            value: tuple[object, ...]
            if stat.S_ISDIR(st.st_mode):
                key, value = rel + "/", ("dir", *common)
            elif stat.S_ISLNK(st.st_mode):
                key, value = rel, ("symlink", *common, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                key, value = rel, ("file", *common, digest)
            else:
                continue
            if key.startswith(PREFIXES) or key == "user_data/":
                out[key] = value
    return out


def _change_the_tree(root: Path) -> None:
    docs = root / DOCS
    (docs / "neu.txt").write_text("a file added after the full backup\n")
    with open(root / pf.TEXT_FILE, "ab") as f:  # appended: size and mtime move
        f.write(b"one more line\n")
    # Rewritten in place, same size, mtime put back: only the ctime (and the bytes) tell.
    clip = root / pf.RANDOM_FILE
    st = os.stat(clip)
    with open(clip, "r+b") as f:
        f.write(b"\x00" * 4096)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    # Touched without a change: chmod and back moves the ctime only (same bytes: unchanged).
    einkauf = root / pf.SHARED / "Einkaufsliste.txt"
    os.chmod(einkauf, 0o600)
    os.chmod(einkauf, 0o644)
    os.truncate(root / pf.OLD_FILE, 5)
    (root / pf.NON_ASCII_FILE).unlink()
    os.rename(root / f"{DOCS}/Finanzen/Steuer/2022/Notizen.md", docs / "Notizen 2022.md")
    os.chmod(root / f"{pf.SHARED}/Media/Photos/2023/IMG_0002.jpg", 0o600)
    os.chown(root / f"{pf.SHARED}/Media/Photos/2023/IMG_0003.jpg", 4321, 4321)
    steuer = root / f"{DOCS}/Finanzen/Steuer"
    shutil.rmtree(steuer)
    steuer.symlink_to("../Privat")
    with sqlite3.connect(root / SQLITE_DB) as db:
        db.execute("INSERT INTO sales VALUES (2, 'Brot')")
    db.close()


def _add_sqlite(root: Path) -> None:
    with sqlite3.connect(root / SQLITE_DB) as db:
        db.execute("CREATE TABLE sales (id INTEGER, what TEXT)")
        db.execute("INSERT INTO sales VALUES (1, 'Milch')")
    db.close()


def _create(root: Path, out: Path, *extra: str) -> Path:
    proc = run(
        "create", *ITEMS, "-o", str(out), "--progress", "none", *extra,
        env={"PORTAL_ROOT": str(root)}, check=True,
    )  # fmt: skip
    return Path(proc.stdout.strip().splitlines()[-1])


def _manifest(archive: Path) -> dict[str, object]:
    with zipfile.ZipFile(archive) as z:
        doc: dict[str, object] = json.loads(z.read("portal-backup.json"))
        return doc


def _restore(archive: Path, root: Path, trusted: Path) -> subprocess.CompletedProcess[str]:
    return run(
        "restore", str(archive), *ITEMS, "--yes", "--trust-key", str(trusted),
        env={"PORTAL_ROOT": str(root)},
    )  # fmt: skip


@pytest.fixture
def chain(portal_root: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[object, ...]]]:
    """A full backup, the tree changed, a differential: (base, diff, state before)."""
    _add_sqlite(portal_root)
    out = tmp_path / "out"
    out.mkdir()
    base = _create(portal_root, out)
    before = _state(portal_root)
    _change_the_tree(portal_root)
    diff = _create(portal_root, out, "--since", str(base))
    return base, diff, before


def test_the_differential_holds_exactly_what_changed(
    chain: tuple[Path, Path, dict[str, tuple[object, ...]]], portal_root: Path
) -> None:
    base, diff, before = chain
    after = _state(portal_root)
    changed = {p for p, v in after.items() if before.get(p) != v}
    assert pf.RANDOM_FILE in changed and f"{pf.SHARED}/Einkaufsliste.txt" not in changed

    stem = base.name.removesuffix(".zip").removeprefix("portal-backup-").split("-", 1)[1]
    assert diff.name.endswith(f"-since-{stem}.zip"), diff.name
    with zipfile.ZipFile(diff) as z:
        stored = {n for n in z.namelist() if n not in META}
    assert stored == changed

    doc = _manifest(diff)
    record = doc["differential"]
    assert isinstance(record, dict)
    assert record["base"] == base.name
    assert record["base_sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert record["base_created"] == _manifest(base)["created"]
    assert set(record["deleted"]) == before.keys() - after.keys()
    entries = doc["entries"]
    assert isinstance(entries, list)
    # The full state: every path of the tree now, each with its hash.
    paths = {e["path"] for e in entries}
    assert paths == after.keys(), (paths - after.keys(), after.keys() - paths)
    assert {e["path"] for e in entries if not e.get("in_base")} == changed
    readme = zipfile.ZipFile(diff).read("README.txt").decode()
    assert "THIS IS A DIFFERENTIAL BACKUP" in readme and base.name in readme
    assert "portal-backup.json.sig" in zipfile.ZipFile(diff).namelist()  # signed like any

    for tool in (["unzip", "-tq", str(diff)], ["7z", "t", str(diff)]):
        proc = subprocess.run(tool, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # SHA256SUMS covers the files this archive holds, and a plain unzip checks.
    sums = zipfile.ZipFile(diff).read("SHA256SUMS").decode()
    regular = {
        i.filename
        for i in zipfile.ZipFile(diff).infolist()
        if stat.S_ISREG(i.external_attr >> 16) and i.filename != "SHA256SUMS"
    }
    assert {line.split("  ", 1)[1] for line in sums.splitlines()} == regular

    proc = run("verify", str(diff))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "signature: valid" in proc.stdout
    assert f"its base {base.name} is beside it" in proc.stdout


def test_restore_refuses_a_missing_or_altered_base_then_restores_the_chain(
    chain: tuple[Path, Path, dict[str, tuple[object, ...]]], portal_root: Path, tmp_path: Path
) -> None:
    base, diff, _ = chain
    trusted = tmp_path / "portal.pem"
    trusted.write_text(public_key_pem(pf.identity_keys()[0]))
    fresh = tmp_path / "fresh" / "portal"
    fresh.mkdir(parents=True)

    # Missing: named, nothing written; verify checks the differential alone and says so.
    kept = base.rename(tmp_path / "elsewhere.zip")
    proc = _restore(diff, fresh, trusted)
    assert proc.returncode != 0
    assert f"needs its full backup {base.name} beside it in {diff.parent}" in proc.stderr
    assert list(fresh.iterdir()) == []
    verify = run("verify", str(diff))
    assert verify.returncode == 0, verify.stdout
    assert "not beside it: the differential alone was checked" in verify.stdout

    # Altered (one byte of a copy): refused with one sentence, nothing written.
    shutil.copyfile(kept, base)
    with open(base, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    proc = _restore(diff, fresh, trusted)
    assert proc.returncode != 0
    error = proc.stderr.strip()
    assert error.count("\n") == 0 and "Traceback" not in error
    assert f"{base.name} beside {diff.name} is not the full backup it was made from" in error
    assert list(fresh.iterdir()) == []
    verify = run("verify", str(diff))
    assert verify.returncode == 1 and "SHA-256 differs" in verify.stdout

    # The real base: the tree of the differential's time, byte for byte with metadata.
    kept.replace(base)
    proc = _restore(diff, fresh, trusted)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The database was stored without private keys (core/identity is not selected), so it
    # comes back merged, as from any archive; apps need Docker and are not selected.
    diffs = compare_trees(portal_root, fresh, ignore=[pf.APP_DATA, SQLITE_DB, pf.DB])
    assert diffs == []
    # The database is a consistent snapshot read through SQLite: same rows, not the same bytes.
    with sqlite3.connect(fresh / SQLITE_DB) as db:
        rows = db.execute("SELECT what FROM sales ORDER BY id").fetchall()
    db.close()
    assert rows == [("Milch",), ("Brot",)]
    assert not (fresh / pf.NON_ASCII_FILE).exists()
    assert (fresh / f"{DOCS}/Finanzen/Steuer").is_symlink()
