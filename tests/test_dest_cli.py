"""`backups DEST` and `fetch DEST NAME` as a user runs them, against a directory and a loopback
WebDAV server."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from clirun import json_lines, run
from rclone_servers import RcloneServer
from test_dest_store import payload, upload

from tui.core.dest.store import open_store
from tui.core.dest.target import parse_dest

MINE = "portal-backup-myportal-20261205-030000.zip.age"
DIFF = "portal-backup-myportal-20261206-030000-since-20261205-030000.zip.age"
ELSEWHERE = "portal-backup-other-20240229-235959-2.zip"


def a_zip() -> bytes:
    """A plain zip, the same bytes every time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("hello.txt", (2024, 2, 29, 23, 59, 58)), "hello\n" * 1000)
    return buf.getvalue()


def test_backups_lists_archives_with_the_guide_keys(webdav_server: RcloneServer) -> None:
    store = open_store(parse_dest(webdav_server.target), rclone_config=webdav_server.config)
    upload(store, MINE, payload(3000))
    upload(store, DIFF, payload(1000), verify=False)
    (webdav_server.root / ELSEWHERE).write_bytes(a_zip())
    (webdav_server.root / "notes.txt").write_text("not a backup")
    args = ("backups", webdav_server.target, "--rclone-config", str(webdav_server.config))
    rows = json_lines(run(*args, "--json", check=True).stdout)
    assert rows == [
        {"name": ELSEWHERE, "time": "2024-02-29T23:59:59Z", "size": len(a_zip()),
         "encrypted": False, "portal_id": "other", "verified": False, "base": None},
        {"name": MINE, "time": "2026-12-05T03:00:00Z", "size": 3000, "encrypted": True,
         "portal_id": "myportal", "verified": True, "base": None},
        {"name": DIFF, "time": "2026-12-06T03:00:00Z", "size": 1000, "encrypted": True,
         "portal_id": "myportal", "verified": False, "base": MINE},
    ]  # fmt: skip
    text = run(*args, check=True).stdout
    assert "2026-12-05 03:00:00Z" in text and "(encrypted, verified)" in text
    assert "notes.txt" not in text


def test_fetch_checks_the_recorded_hash(webdav_server: RcloneServer, tmp_path: Path) -> None:
    store = open_store(parse_dest(webdav_server.target), rclone_config=webdav_server.config)
    data = payload(2 << 20)
    upload(store, MINE, data)
    config = ("--rclone-config", str(webdav_server.config))
    got = run("fetch", webdav_server.target, MINE, "-o", str(tmp_path), *config, check=True)
    assert got.stdout.strip() == str(tmp_path / MINE)
    assert hashlib.sha256((tmp_path / MINE).read_bytes()).digest() == hashlib.sha256(data).digest()
    # Never over an existing file.
    again = run("fetch", webdav_server.target, MINE, "-o", str(tmp_path / MINE), *config)
    assert again.returncode == 2 and "already exists" in again.stderr
    # The stored copy changed behind our back: the download is refused and removed.
    stored = webdav_server.root / MINE
    stored.write_bytes(b"X" + stored.read_bytes()[1:])
    bad = run("fetch", webdav_server.target, MINE, "-o", str(tmp_path / "b.age"), *config)
    assert bad.returncode == 1
    assert "does not match the SHA-256 recorded" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [MINE]  # no partial, no b.age


def test_fetch_verifies_an_archive_from_elsewhere(tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / ELSEWHERE).write_bytes(a_zip())
    damaged = ELSEWHERE.replace("-2.zip", "-3.zip")
    (usb / damaged).write_bytes(a_zip().replace(b"hello", b"jello", 1))
    out = tmp_path / "out"
    out.mkdir()
    good = run("fetch", str(usb), ELSEWHERE, "-o", str(out), check=True)
    assert (out / ELSEWHERE).read_bytes() == a_zip() and good.stdout.strip() == str(out / ELSEWHERE)
    bad = run("fetch", str(usb), damaged, "-o", str(out))
    assert bad.returncode == 1 and "is damaged" in bad.stderr
    assert sorted(p.name for p in out.iterdir()) == [ELSEWHERE]


def test_clear_sentences_for_unknown_names_and_remotes(tmp_path: Path) -> None:
    conf = tmp_path / "rclone.conf"
    conf.write_text("[known]\ntype = local\n")
    conf.chmod(0o600)
    nosuch = run("backups", "nosuch:portal", "--rclone-config", str(conf))
    assert nosuch.returncode == 1
    assert nosuch.stderr.strip() == (
        f"portal-backup: there is no remote named 'nosuch' in the rclone config {conf}; "
        f"add it with `rclone config --config {conf}`"
    )
    (tmp_path / "dir").mkdir()
    unknown = run("fetch", f"known:{tmp_path}/dir", MINE, "--rclone-config", str(conf))
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        f"portal-backup: there is no {MINE} at the destination known:{tmp_path}/dir"
    )
    missing = run("backups", str(tmp_path / "nodisk"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert run("backups", str(tmp_path / "dir"), "--json", check=True).stdout == ""
