"""The test fixtures themselves are right, so later failures point at the engine, not at them."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
import zlib
from pathlib import Path

import docker
import portal_fixture as pf
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from treecompare import compare_trees

TINYDATE = re.compile(r"^\{TinyDate\}:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


# ----------------------------------------------------------------------------- the Portal root


def test_layout(portal_root: Path, run_token: str) -> None:
    apps = pf.AppNames.for_token(run_token)
    assert (portal_root / pf.CONFIG).is_file()
    assert "log_level: INFO" in (portal_root / pf.CONFIG).read_text()
    for app in apps.all():
        compose = portal_root / pf.INSTALLED_APPS / app / "docker-compose.yml"
        assert compose.read_text().startswith("services:\n")
        assert (portal_root / pf.APP_DATA / app).is_dir()
    assert (
        f"{apps.photos}_db"
        in (portal_root / pf.INSTALLED_APPS / apps.photos / "docker-compose.yml").read_text()
    )


def test_database_and_identity(portal_root: Path) -> None:
    db = json.loads((portal_root / pf.DB).read_text())
    assert set(db) == set(pf.DB_TABLES)
    for name, table in db.items():
        assert list(table) == [str(i) for i in range(1, len(table) + 1)], name
    assert TINYDATE.match(db["installed_apps"]["1"]["installed_at"])

    identities = list(db["identities"].values())
    defaults = [i for i in identities if i["is_default"]]
    assert len(identities) == 2 and len(defaults) == 1
    for ident in identities:
        assert set(ident) == {"id", "name", "email", "description", "is_default", "private_key"}
        pem = ident["private_key"]
        assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        assert re.fullmatch(r"[0-9a-f]{128}", ident["id"])
        assert ident["id"] == pf.identity_id(pem)
    assert identities[0]["id"] != identities[1]["id"]
    assert defaults[0]["private_key"] == pf.identity_keys()[0]


def test_awkward_files(portal_root: Path) -> None:
    assert stat.S_ISFIFO(os.lstat(portal_root / pf.FIFO).st_mode)

    old = os.lstat(portal_root / pf.OLD_FILE)
    assert int(old.st_mtime) == pf.OLD_MTIME
    assert time.gmtime(old.st_mtime)[:3] == (1975, 6, 1)

    private = os.lstat(portal_root / pf.PRIVATE_FILE)
    assert (private.st_uid, private.st_gid) == (1234, 1234)
    assert stat.S_IMODE(private.st_mode) == 0o600

    assert (portal_root / pf.NON_ASCII_FILE).read_bytes().startswith(b"%PDF-")
    assert list((portal_root / pf.EMPTY_DIR).iterdir()) == []

    assert os.readlink(portal_root / pf.LINK_ABSOLUTE) == "/etc/hostname"
    assert os.readlink(portal_root / pf.LINK_RELATIVE_OUT) == pf.LINK_RELATIVE_OUT_TARGET
    assert (portal_root / pf.LINK_RELATIVE_OUT).resolve() == (portal_root / pf.CONFIG).resolve()
    assert (portal_root / pf.LINK_RELATIVE_IN).is_file()
    assert not (portal_root / pf.LINK_DANGLING).exists()

    random_data = (portal_root / pf.RANDOM_FILE).read_bytes()
    text = (portal_root / pf.TEXT_FILE).read_bytes()
    assert len(random_data) == pf.RANDOM_FILE_SIZE and len(text) == pf.TEXT_FILE_SIZE
    assert len(zlib.compress(random_data, 1)) > 0.99 * len(random_data)
    assert len(zlib.compress(text, 1)) < 0.5 * len(text)

    owners = {os.lstat(p).st_uid for p in (portal_root / pf.SHARED).rglob("*")}
    assert owners == {pf.USER_UID, pf.PRIVATE_UID}


def test_each_app_has_the_awkward_cases(portal_root: Path, run_token: str) -> None:
    for app in pf.AppNames.for_token(run_token).all():
        entries = [os.lstat(p) for p in (portal_root / pf.APP_DATA / app).rglob("*")]
        assert any(stat.S_ISLNK(st.st_mode) for st in entries), app
        assert any(
            stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640 for st in entries
        ), app
        dirs = [p for p in (portal_root / pf.APP_DATA / app).rglob("*") if p.is_dir()]
        assert any(not any(d.iterdir()) for d in dirs), f"{app} has no empty directory"


# ----------------------------------------------------------------------------- treecompare


def test_compare_trees_finds_each_kind_of_difference(portal_root: Path, tmp_path: Path) -> None:
    assert compare_trees(portal_root, portal_root, skip_special=False) == []
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(portal_root), str(copy)], check=True)
    assert compare_trees(portal_root, copy, skip_special=False) == []

    os.utime(copy / pf.OLD_FILE, (pf.OLD_MTIME + 1, pf.OLD_MTIME + 1))
    assert compare_trees(portal_root, copy) == [
        f"mtime: {pf.OLD_FILE}: expected {pf.OLD_MTIME}, got {pf.OLD_MTIME + 1}"
    ]
    os.utime(copy / pf.OLD_FILE, (pf.OLD_MTIME, pf.OLD_MTIME))

    # From here on directory mtimes change as entries come and go: compare without mtimes.
    (copy / pf.FIFO).unlink()
    assert compare_trees(portal_root, copy, skip_special=False, check_mtime=False) == [
        f"missing: {pf.FIFO}"
    ]
    assert compare_trees(portal_root, copy, check_mtime=False) == []  # archives skip FIFOs

    config, text = copy / pf.CONFIG, copy / pf.TEXT_FILE
    st = os.lstat(config)
    config.write_bytes(config.read_bytes().replace(b"INFO", b"WARN"))
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns))
    data = bytearray(text.read_bytes())
    data[-1] ^= 1
    text.write_bytes(bytes(data))
    os.chmod(copy / pf.PRIVATE_FILE, 0o644)
    os.chown(copy / pf.NON_ASCII_FILE, 0, 1234)
    (copy / pf.LINK_ABSOLUTE).unlink()
    (copy / pf.LINK_ABSOLUTE).symlink_to("/etc/passwd")
    (copy / pf.EMPTY_DIR).rmdir()
    (copy / pf.EMPTY_DIR).write_text("now a file")
    (copy / pf.SHARED / "new.txt").write_text("extra")
    shutil.rmtree(copy / pf.SHARED / "Media/Photos")

    photos = f"{pf.SHARED}/Media/Photos"
    assert compare_trees(portal_root, copy, check_mtime=False) == [
        f"content: {pf.CONFIG}",
        f"uid: {pf.NON_ASCII_FILE}: expected 1000, got 0",
        f"gid: {pf.NON_ASCII_FILE}: expected 1000, got 1234",
        f"type: {pf.EMPTY_DIR}: expected dir, got file",
        f"mode: {pf.PRIVATE_FILE}: expected 0o600, got 0o644",
        f"content: {pf.TEXT_FILE}",
        f"missing: {photos}",
        f"missing: {photos}/2023",
        *(f"missing: {photos}/2023/IMG_{i:04d}.jpg" for i in (1, 2, 3)),
        f"symlink: {pf.LINK_ABSOLUTE}: expected -> '/etc/hostname', got -> '/etc/passwd'",
        # The new link is root's: symlink owners are compared too.
        f"uid: {pf.LINK_ABSOLUTE}: expected 1000, got 0",
        f"gid: {pf.LINK_ABSOLUTE}: expected 1000, got 0",
        f"extra: {pf.SHARED}/new.txt",
    ]

    # The edit kept the config's mtime and touched nothing else under core/.
    assert compare_trees(portal_root, copy, ignore={"user_data"}) == [f"content: {pf.CONFIG}"]
    assert compare_trees(portal_root, copy, ignore={"user_data", "core/*.yml"}) == []


def test_info_zip_round_trip_compares_clean(portal_root: Path, tmp_path: Path) -> None:
    """Info-ZIP keeps what the archive contract asks for, so compare_trees fits a plain unzip."""
    archive, out = tmp_path / "ref.zip", tmp_path / "out"
    subprocess.run(["zip", "-q", "-r", "-y", str(archive), "."], cwd=portal_root, check=True)
    out.mkdir()
    subprocess.run(["unzip", "-q", "-X", str(archive), "-d", str(out)], check=True)
    assert compare_trees(portal_root, out) == []


# ----------------------------------------------------------------------------- Docker


def test_container_states(portal_host: pf.PortalHost) -> None:
    assert portal_host.container_states() == portal_host.expected_states()
    states = set(portal_host.expected_states().values())
    assert states == {"running", "paused", "exited", "created"}
    names = portal_host.names
    assert [s for _, _, s in portal_host.containers[names.photos]] == ["running", "paused"]
    assert [s for _, _, s in portal_host.containers[names.wiki]] == ["exited", "created"]
    assert all(portal_host.token in name for name, _, _ in portal_host.all_containers())


def test_compose_labels_mounts_and_network(portal_host: pf.PortalHost) -> None:
    api = portal_host.client.api
    root = portal_host.root
    for app, records in portal_host.containers.items():
        for name, cid, _ in records:
            info = api.inspect_container(cid)
            labels = info["Config"]["Labels"]
            assert labels["com.docker.compose.project"] == app
            assert name == f"{app}-{labels['com.docker.compose.service']}-1"
            assert labels["com.docker.compose.project.working_dir"] == str(
                root / pf.INSTALLED_APPS / app
            )
            assert info["HostConfig"]["NetworkMode"] == "none"
            assert info["Config"]["Image"] == pf.TEST_IMAGE
    solo = api.inspect_container(portal_host.solo[1])
    assert "com.docker.compose.project" not in solo["Config"]["Labels"]
    assert solo["Mounts"] == []

    names = portal_host.names
    notes = api.inspect_container(portal_host.containers[names.notes][0][1])
    mounts = {m["Destination"]: m for m in notes["Mounts"]}
    assert mounts["/data"]["Type"] == "bind" and mounts["/data"]["RW"] is True
    assert mounts["/data"]["Source"] == str(root / pf.APP_DATA / names.notes / "data")
    assert mounts["/shared"]["Source"] == str(root / pf.SHARED)
    assert mounts["/shared"]["RW"] is False

    db = api.inspect_container(portal_host.containers[names.photos][1][1])
    (mount,) = db["Mounts"]
    assert (mount["Type"], mount["Name"], mount["Destination"]) == (
        "volume",
        f"{names.photos}_db",
        "/var/lib/db",
    )


def test_volumes(portal_host: pf.PortalHost) -> None:
    client = portal_host.client
    (db_volume,) = portal_host.app_volumes[portal_host.names.photos]
    labels = client.volumes.get(db_volume).attrs["Labels"]
    assert labels["com.docker.compose.project"] == portal_host.names.photos
    assert labels["com.docker.compose.volume"] == "db"
    pg_version = portal_host.volume_path(db_volume) / "PG_VERSION"
    assert pg_version.read_text() == "15\n"
    assert os.lstat(pg_version).st_uid == pf.DB_UID

    orphan = portal_host.orphan_volume
    assert (portal_host.volume_path(orphan) / "README").is_file()
    assert client.containers.list(all=True, filters={"volume": orphan}) == []
    assert client.containers.list(all=True, filters={"volume": db_volume}) != []


def test_running_container_sees_its_binds_and_stops_fast(portal_host: pf.PortalHost) -> None:
    name, cid, _ = portal_host.containers[portal_host.names.notes][0]
    container = portal_host.client.containers.get(cid)
    result = container.exec_run(["cat", "/data/config.ini", "/shared/Einkaufsliste.txt"])
    assert result.exit_code == 0, result.output
    assert b"port = 8080" in result.output and "Äpfel".encode() in result.output
    denied = container.exec_run(["touch", "/shared/nope"])
    assert denied.exit_code != 0  # /shared is read-only

    started = time.monotonic()
    container.stop(timeout=10)
    assert time.monotonic() - started < 5, "the container ignored SIGTERM"
    assert portal_host.container_states()[name] == "exited"


def test_teardown_removes_everything_even_after_a_failure(
    tmp_path: Path, docker_client: docker.DockerClient, test_image: str
) -> None:
    token = pf.new_token()
    root = pf.build_portal_root(tmp_path / "portal", token)
    with (
        pytest.raises(RuntimeError, match="boom"),
        pf.running_portal_host(root, token, docker_client, test_image) as host,
    ):
        assert len(host.all_containers()) == 6
        raise RuntimeError("boom")
    label = f"{pf.TEST_LABEL}={token}"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
    assert docker_client.volumes.list(filters={"label": label}) == []
