"""The backup engine end to end against a real Docker engine and a realistic Portal host."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import COMMAND, json_lines, run
from restorekit import sqlite_rows
from treecompare import compare_trees

pytestmark = pytest.mark.docker


def items_for(host: pf.PortalHost) -> list[str]:
    return [
        "core/db",
        "core/identity",
        "core/config",
        "core/apps",
        "shared",
        *(f"app/{a}" for a in host.apps),
        f"volume/{host.orphan_volume}",
    ]


def portal_env(host: pf.PortalHost) -> dict[str, str]:
    return {"PORTAL_ROOT": str(host.root)}


def create(host: pf.PortalHost, out: Path, *extra: str, env: dict[str, str] | None = None):
    return run(
        "create",
        *items_for(host),
        "-o",
        str(out),
        "--progress",
        "json",
        *extra,
        env={**portal_env(host), **(env or {})},
    )


def unzip_all(archive: Path, dest: Path) -> None:
    dest.mkdir()
    # -X restores uid/gid (we are root), as a user restoring by hand would.
    subprocess.run(["unzip", "-q", "-X", str(archive), "-d", str(dest)], check=True)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        event.wait(0.05)


def test_full_backup_is_standard_complete_and_exact(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    before = portal_host.container_states()
    out = tmp_path / "out"
    out.mkdir()
    proc = create(portal_host, out)
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert archive.parent == out and archive.name.startswith(
        f"portal-backup-{portal_host.identity_id[:6]}-"
    )
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the identity
    assert sorted(os.listdir(out)) == [archive.name]  # no temporary file left

    # Every container is back in the state it had.
    assert portal_host.container_states() == before

    # Standard tools accept it.
    subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)
    seven = subprocess.run(["7z", "t", str(archive)], capture_output=True, text=True)
    assert seven.returncode == 0 and "Everything is Ok" in seven.stdout, seven.stdout

    # After a plain unzip, SHA256SUMS checks and every file matches its source.
    dest = tmp_path / "x"
    unzip_all(archive, dest)
    sums = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=dest, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    for rel in (
        "core/installed_apps",
        "user_data/shared",
        *(f"user_data/app_data/{a}" for a in portal_host.apps),
    ):
        # SQLite files are stored as a backup-API copy: same content, not the same bytes.
        diffs = compare_trees(portal_host.root / rel, dest / rel, ignore={"*.sqlite"})
        assert diffs == [], f"{rel}: {diffs[:10]}"
    for db_rel in (f"{pf.APP_DATA}/{portal_host.apps[0]}/data/notes.sqlite",):
        assert sqlite_rows(portal_host.root / db_rel) == sqlite_rows(dest / db_rel)
    for vol in portal_host.volumes:
        diffs = compare_trees(portal_host.volume_path(vol), dest / "volumes" / vol)
        assert diffs == [], f"volume {vol}: {diffs[:10]}"
    assert (dest / pf.DB).read_bytes() == (portal_host.root / pf.DB).read_bytes()

    manifest = json.loads((dest / "portal-backup.json").read_text())
    assert manifest["portal"]["id"] == portal_host.identity_id
    assert manifest["identity_included"] is True
    assert {i["id"] for i in manifest["items"]} >= set(items_for(portal_host))
    by_id = {i["id"]: i for i in manifest["items"]}
    for app, records in portal_host.containers.items():
        listed = {c["name"]: c for c in by_id[f"app/{app}"]["containers"]}
        for name, _cid, state in records:
            assert listed[name]["state_before"] == state
    notes_web = by_id[f"app/{portal_host.apps[0]}"]["containers"][0]
    assert notes_web["quiesced"] == "stopped"
    # The FIFO is skipped and listed; the pre-1980 mtime is kept exactly in the manifest.
    assert any(s["path"] == pf.FIFO and s["type"] == "fifo" for s in manifest["skipped"])
    entries = {e["path"]: e for e in manifest["entries"]}
    assert entries[pf.OLD_FILE]["mtime_ns"] // 10**9 == pf.OLD_MTIME
    assert entries[pf.PRIVATE_FILE]["uid"] == pf.PRIVATE_UID
    assert entries[pf.LINK_ABSOLUTE]["target"] == pf.LINK_ABSOLUTE_TARGET

    # Every data entry of the zip is in the manifest, and only those.
    with zipfile.ZipFile(archive) as zf:
        data_names = {
            n
            for n in zf.namelist()
            if n not in ("README.txt", "portal-backup.json", "portal-backup.json.sig", "SHA256SUMS")
        }
    assert set(entries) == data_names
    verify = run("verify", str(archive))
    assert verify.returncode == 0, verify.stdout
    assert f"signed by Portal {portal_host.identity_id}" in verify.stdout

    # Python's zipfile agrees on names (UTF-8) and on Unix modes of symlinks.
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(pf.LINK_ABSOLUTE)
        assert stat.S_ISLNK(info.external_attr >> 16)
        assert zf.read(pf.NON_ASCII_FILE) == (portal_host.root / pf.NON_ASCII_FILE).read_bytes()

    # The progress stream is JSON, throttled, and ends with the result before the path line.
    events = json_lines(proc.stdout)
    assert events[-1]["type"] == "finished" and events[-1]["path"] == str(archive)
    progress = [e for e in events if e["type"] == "progress"]
    assert progress and progress[-1]["bytes_done"] == progress[-1]["bytes_total"]


def test_identity_left_out_strips_private_keys(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    proc = run(
        "create",
        "core/db",
        "shared",
        "-o",
        str(tmp_path),
        "--progress",
        "none",
        env=portal_env(portal_host),
    )
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert stat.S_IMODE(archive.stat().st_mode) != 0o600 or os.umask(0o022) == 0o077
    with zipfile.ZipFile(archive) as zf:
        db = json.loads(zf.read(pf.DB))
        manifest = json.loads(zf.read("portal-backup.json"))
        names = zf.namelist()
    assert all("private_key" not in rec for rec in db["identities"].values())
    assert manifest["db_private_keys_removed"] is True and manifest["identity_included"] is False
    assert "BEGIN PRIVATE KEY" not in archive.read_bytes().decode("latin-1")
    assert not any(n.startswith("user_data/app_data/") for n in names)


def test_injected_failure_restores_containers_and_leaves_no_archive(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    before = portal_host.container_states()
    photos = portal_host.apps[1]
    out = tmp_path / "out"
    out.mkdir()
    proc = create(portal_host, out, env={"PORTAL_BACKUP_TEST_FAIL_ITEM": f"app/{photos}"})
    assert proc.returncode == 1
    assert "injected failure" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert os.listdir(out) == []
    assert portal_host.container_states() == before


def _start_held(host: pf.PortalHost, out: Path, hold: Path, item: str) -> subprocess.Popen[str]:
    hold.write_text("hold")
    env = {
        **os.environ,
        **portal_env(host),
        "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
        "PORTAL_BACKUP_TEST_HOLD_ITEM": item,
    }
    return subprocess.Popen(
        [*COMMAND, "create", *items_for(host), "-o", str(out), "--progress", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _held_with_app_stopped(
    host: pf.PortalHost, tmp_path: Path
) -> tuple[Path, str, subprocess.Popen[str]]:
    """A backup run held while the photos app is stopped: (output dir, web container, run)."""
    photos = host.apps[1]
    web = next(n for n, _i, s in host.containers[photos] if s == "running")
    out = tmp_path / "out"
    out.mkdir()
    proc = _start_held(host, out, tmp_path / "hold", f"app/{photos}")
    try:
        wait_for(lambda: host.container_states()[web] == "exited", what="app stopped")
    except BaseException:
        proc.kill()
        raise
    return out, web, proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_run_restores_containers_and_leaves_no_archive(
    portal_host: pf.PortalHost, tmp_path: Path, sig: signal.Signals
) -> None:
    before = portal_host.container_states()
    out, _web, proc = _held_with_app_stopped(portal_host, tmp_path)
    try:
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "cancelled" in stderr
    assert os.listdir(out) == []
    assert portal_host.container_states() == before


def test_kill_9_is_repaired_by_the_next_run(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    before = portal_host.container_states()
    out, web, proc = _held_with_app_stopped(portal_host, tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert portal_host.container_states()[web] == "exited"  # the damage a kill -9 leaves
    assert not any(n.endswith(".zip") for n in os.listdir(out))

    nxt = run("list", "--no-sizes", env=portal_env(portal_host))
    assert nxt.returncode == 0, nxt.stderr
    assert "interrupted" in nxt.stderr
    assert portal_host.container_states() == before


def test_live_sqlite_in_wal_mode_is_copied_consistently(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    notes = portal_host.apps[0]
    db_path = portal_host.root / pf.APP_DATA / notes / "data" / "live.sqlite"
    db = sqlite3.connect(db_path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    db.commit()
    stop = threading.Event()
    wrote = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            db.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(2000),))
            db.commit()
            i += 1
            if i == 200:
                wrote.set()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert wrote.wait(60)
        assert (db_path.parent / "live.sqlite-wal").exists()
        proc = run(
            "create",
            f"app/{notes}",
            "-o",
            str(tmp_path),
            "--quiesce",
            "none",
            "--progress",
            "none",
            env=portal_env(portal_host),
        )
    finally:
        stop.set()
        t.join()
        db.close()
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    dest = tmp_path / "x"
    unzip_all(archive, dest)
    copy = dest / pf.APP_DATA / notes / "data" / "live.sqlite"
    assert not (copy.parent / "live.sqlite-wal").exists()
    con = sqlite3.connect(copy)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] >= 200
    con.close()
    manifest = json.loads((dest / "portal-backup.json").read_text())
    assert manifest["quiesce"] == "none"


def test_volumes_read_through_the_docker_api_match_the_host(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    photos = portal_host.apps[1]
    vol = portal_host.app_volumes[photos][0]
    proc = run(
        "create",
        f"app/{photos}",
        f"volume/{portal_host.orphan_volume}",
        "-o",
        str(tmp_path),
        "--progress",
        "none",
        "--volume-access",
        "docker",
        env=portal_env(portal_host),
    )
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "x"
    unzip_all(Path(proc.stdout.strip().splitlines()[-1]), dest)
    for v in (vol, portal_host.orphan_volume):
        # The archive endpoint gives whole seconds; compare_trees compares to the second.
        diffs = compare_trees(portal_host.volume_path(v), dest / "volumes" / v)
        assert diffs == [], f"{v}: {diffs[:10]}"
    leftovers = portal_host.client.containers.list(
        all=True, filters={"label": "org.portal-backup.helper"}
    )
    assert leftovers == []


def test_disk_full_fails_cleanly(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    before = portal_host.container_states()
    try:
        # Enough free space by the estimate for the notes app alone, then the shared tree
        # overflows it mid-way: the estimate is checked first, ENOSPC handled after.
        proc = run(
            "create",
            "shared",
            f"app/{portal_host.apps[0]}",
            "-o",
            str(small),
            "--progress",
            "none",
            env=portal_env(portal_host),
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert "space" in proc.stderr or "full" in proc.stderr, proc.stderr
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert portal_host.container_states() == before


def test_list_json_names_every_item(portal_host: pf.PortalHost) -> None:
    proc = run("list", "--json", env=portal_env(portal_host))
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json_lines(proc.stdout)}
    for item in items_for(portal_host):
        assert item in rows
    photos = portal_host.apps[1]
    assert rows[f"app/{photos}"]["state"] == "mixed: paused, running"
    assert rows[f"app/{photos}/{portal_host.app_volumes[photos][0]}"]["kind"] == "mount"
    assert rows[f"app/{photos}/library"]["parent"] == f"app/{photos}"
    assert rows["shared"]["bytes"] > pf.TEXT_FILE_SIZE
    assert rows["core/identity"]["holds_identity"] is True


def test_without_docker_lists_portal_items_and_refuses_apps(
    portal_root: Path, tmp_path: Path
) -> None:
    env = {"PORTAL_ROOT": str(portal_root), "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    proc = run("list", env=env)
    assert proc.returncode == 0
    assert "Docker is not reachable" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "core/db" in proc.stdout and "shared" in proc.stdout
    proc = run("create", "app/*", "-o", str(tmp_path), env=env)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    proc = run(
        "create", "shared", "core/config", "-o", str(tmp_path), "--progress", "none", env=env
    )
    assert proc.returncode == 0, proc.stderr


def test_plain_docker_host_without_portal_root(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    env = {"PORTAL_ROOT": str(tmp_path / "absent")}
    proc = run("list", "--json", env=env)
    assert proc.returncode == 0
    ids = {r["id"] for r in json_lines(proc.stdout)}
    assert f"app/{portal_host.apps[0]}" in ids and "core/db" not in ids
    assert "no Portal" in proc.stderr


def test_usage_errors_exit_2(portal_root: Path, tmp_path: Path) -> None:
    env = {"PORTAL_ROOT": str(portal_root)}
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    assert run("create", env=env).returncode == 2
    bad = run("create", "app/does-not-exist", "-o", str(tmp_path), env=env)
    assert bad.returncode == 2 and "no item" in bad.stderr
    assert run("frobnicate", env=env).returncode == 2
    assert os.listdir(tmp_path) == []


def test_pause_mode_freezes_during_the_read_and_thaws_after(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    before = portal_host.container_states()
    notes = portal_host.apps[0]
    web = portal_host.containers[notes][0][0]
    hold = tmp_path / "hold"
    hold.write_text("hold")
    env = {
        **os.environ,
        **portal_env(portal_host),
        "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
        "PORTAL_BACKUP_TEST_HOLD_ITEM": f"app/{notes}",
    }
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [
            *COMMAND,
            "create",
            f"app/{notes}",
            "-o",
            str(out),
            "--quiesce",
            "pause",
            "--progress",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(lambda: portal_host.container_states()[web] == "paused", what="app paused")
        hold.unlink()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert portal_host.container_states() == before
    manifest = json.loads(
        zipfile.ZipFile(stdout.strip().splitlines()[-1]).read("portal-backup.json")
    )
    item = next(i for i in manifest["items"] if i["id"] == f"app/{notes}")
    assert item["containers"][0]["quiesced"] == "paused"
    finished = json_lines(stdout)[-1]
    assert finished["type"] == "finished" and finished["downtime"][notes] > 0
