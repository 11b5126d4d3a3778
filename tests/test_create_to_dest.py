"""`create --to DEST`: streamed straight to a loopback rclone server (S3, WebDAV, SFTP) or a
directory, never a partial archive under a final name, checked with the stock tools."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run
from rclone_servers import RcloneServer, ServerFactory
from test_encrypted_backup import keypair

REPO = Path(__file__).parent.parent
COMMAND = [sys.executable, "-m", "tui"]
BIG = "user_data/shared/video/holiday-raw.bin"  # incompressible, so uploads take a while


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str]:
    return keypair(tmp_path)


def _with_big_file(root: Path, size: int) -> Path:
    path = root / BIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(7).randbytes(size))
    return path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _finals(directory: Path) -> list[str]:
    return [n for n in _names(directory) if not n.startswith(".")]


def _create(root: Path, server: RcloneServer, public: str, *extra: str) -> list[str]:
    return [
        *COMMAND,
        "create",
        "core/*",
        "shared",
        "--recipient",
        public,
        "--to",
        server.target,
        "--rclone-config",
        str(server.config),
        *extra,
    ]


def _env(root: Path, **more: str) -> dict[str, str]:
    return {**os.environ, "PORTAL_ROOT": str(root), "PYTHONPATH": str(REPO), **more}


def test_streamed_encrypted_backup_arrives_and_fetch_gives_it_back(
    portal_root: Path, rclone_dest: RcloneServer, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    key, public = age_key
    proc = subprocess.run(
        [*_create(portal_root, rclone_dest, public), "--verify-upload"],
        capture_output=True,
        text=True,
        env=_env(portal_root),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (name,) = _finals(rclone_dest.root)
    assert name.endswith(".zip.age")
    assert proc.stdout.strip().splitlines()[-1].endswith(f"/{name}")
    assert "SHA-256 read back" in proc.stderr
    assert _names(rclone_dest.root) == [name]  # no temporary name left behind
    stored = (rclone_dest.root / name).read_bytes()

    fetched = tmp_path / "fetched.zip.age"
    got = run(
        "fetch",
        rclone_dest.target,
        name,
        "-o",
        str(fetched),
        "--rclone-config",
        str(rclone_dest.config),
    )
    assert got.returncode == 0, got.stderr
    assert hashlib.sha256(fetched.read_bytes()).digest() == hashlib.sha256(stored).digest()
    plain = tmp_path / "plain.zip"
    subprocess.run(["age", "-d", "-i", str(key), "-o", str(plain), str(fetched)], check=True)
    subprocess.run(["unzip", "-tq", str(plain)], check=True, capture_output=True)
    with zipfile.ZipFile(plain) as zf:
        assert zf.read(pf.DB) == (portal_root / pf.DB).read_bytes()


def test_to_a_directory_needs_no_encryption_and_publishes_one_file(
    portal_root: Path, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    proc = run("create", "core/*", "--to", str(usb), env={"PORTAL_ROOT": str(portal_root)})
    assert proc.returncode == 0, proc.stderr
    (name,) = _names(usb)
    assert proc.stdout.strip().splitlines()[-1] == str(usb / name)
    subprocess.run(["unzip", "-tq", str(usb / name)], check=True, capture_output=True)


def test_a_remote_without_encryption_is_refused(portal_root: Path, s3_server: RcloneServer) -> None:
    proc = run(
        "create",
        "core/*",
        "--to",
        s3_server.target,
        "--rclone-config",
        str(s3_server.config),
        env={"PORTAL_ROOT": str(portal_root)},
    )
    assert proc.returncode == 2
    assert "encrypt it with --recipient" in proc.stderr
    assert _names(s3_server.root) == []


def _run_until_sent(cmd: list[str], env: dict[str, str], at: int) -> subprocess.Popen[str]:
    """Start `cmd` with JSON progress and return once its upload passed `at` bytes."""
    proc = subprocess.Popen(
        [*cmd, "--progress", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("type") == "upload" and event["bytes_sent"] >= at:
            return proc
    proc.wait(30)
    raise AssertionError(f"the upload never passed {at} bytes: {proc.stderr}")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_run_killed_during_upload_leaves_no_final_name_and_the_next_cleans(
    portal_root: Path,
    sftp_server: RcloneServer,
    age_key: tuple[Path, str],
    how: signal.Signals,
) -> None:
    _, public = age_key
    _with_big_file(portal_root, 24 << 20)
    # rclone's own bandwidth limit (read from its environment) keeps the upload going for
    # seconds, so the signal lands mid-upload however fast this machine is.
    env = _env(portal_root, RCLONE_BWLIMIT="4M")
    at = random.Random(int(how)).randrange(1 << 20, 8 << 20)  # a reproducible random moment
    proc = _run_until_sent(_create(portal_root, sftp_server, public), env, at)
    proc.send_signal(how)
    proc.wait(60)
    assert proc.returncode != 0
    assert _finals(sftp_server.root) == []

    again = subprocess.run(
        _create(portal_root, sftp_server, public), capture_output=True, text=True, env=env
    )
    assert again.returncode == 0, again.stderr
    assert len(_finals(sftp_server.root)) == 1
    assert [n for n in _names(sftp_server.root) if n.startswith(".")] == []


def test_a_server_stopped_mid_upload_fails_in_one_sentence(
    portal_root: Path, s3_server: RcloneServer, age_key: tuple[Path, str]
) -> None:
    _, public = age_key
    _with_big_file(portal_root, 24 << 20)
    # Held to 4 MB/s by rclone's own limit, so the server stops while the upload is going on.
    env = _env(portal_root, RCLONE_BWLIMIT="4M")
    proc = _run_until_sent(_create(portal_root, s3_server, public), env, 1 << 20)
    s3_server.stop()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("portal-backup: ") and "Traceback" not in err
    assert s3_server.target.split(":")[0] in last  # names the destination
    assert _finals(s3_server.root) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_destination_fails_in_one_sentence(
    portal_root: Path,
    rclone_server_factory: ServerFactory,
    small_tmpfs: Path,
    age_key: tuple[Path, str],
) -> None:
    _, public = age_key
    _with_big_file(portal_root, 20 << 20)
    server = rclone_server_factory("webdav", served=small_tmpfs)
    proc = subprocess.run(
        _create(portal_root, server, public),
        capture_output=True,
        text=True,
        env=_env(portal_root),
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("portal-backup: ")
    assert _finals(server.root) == []


def test_no_full_local_copy_is_made(
    portal_root: Path, s3_server: RcloneServer, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    """50 MB of data go up while TMPDIR and the state directory sit on a 10 MB tmpfs."""
    _, public = age_key
    _with_big_file(portal_root, 50 << 20)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(small)], check=True)
    try:
        (small / "tmp").mkdir()
        (small / "state").mkdir(mode=0o700)
        env = _env(
            portal_root,
            TMPDIR=str(small / "tmp"),
            PORTAL_BACKUP_STATE_DIR=str(small / "state"),
            PORTAL_BACKUP_LOCK_FILE=str(small / "state" / "run.lock"),
            RCLONE_CACHE_DIR=str(small / "tmp" / "rclone"),
        )
        proc = subprocess.run(
            [*_create(portal_root, s3_server, public), "--verify-upload"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        (name,) = _finals(s3_server.root)
        assert (s3_server.root / name).stat().st_size > 50 << 20
        used = os.statvfs(small)
        assert (used.f_blocks - used.f_bfree) * used.f_frsize < 10 << 20
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_verify_and_restore_read_an_archive_at_a_destination(
    portal_root: Path, webdav_server: RcloneServer, age_key: tuple[Path, str], tmp_path: Path
) -> None:
    key, public = age_key
    made = subprocess.run(
        _create(portal_root, webdav_server, public),
        capture_output=True,
        text=True,
        env=_env(portal_root),
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    (name,) = _finals(webdav_server.root)
    spare = tmp_path / "tmp"
    spare.mkdir()
    env = {"PORTAL_ROOT": str(portal_root), "TMPDIR": str(spare)}
    remote = f"{webdav_server.target}:{name}"
    conf = ["--rclone-config", str(webdav_server.config), "-i", str(key)]
    verify = run("verify", remote, *conf, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"downloading {name}" in verify.stderr
    holds = run("restore", remote, *conf, env=env)
    assert holds.returncode == 0, holds.stderr
    assert "core/db" in holds.stdout
    assert list(spare.iterdir()) == []  # the downloads are gone
    missing = run("verify", f"{webdav_server.target}:{name.replace('20', '19', 1)}", *conf, env=env)
    assert missing.returncode == 2 and "there is no" in missing.stderr
