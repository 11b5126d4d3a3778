"""`portal-backup eject`: apps out of a backup, run by plain Docker Compose (issue 16)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via apprise) ships no stubs
from clirun import run
from hypothesis import given
from hypothesis import strategies as st
from restorekit import backup
from zipfixtures import make_backup

from tui.core.eject.yamltext import scalar

COMPOSE = shutil.which("docker-compose")


def _compose(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    return subprocess.run([COMPOSE, *args], cwd=folder, capture_output=True, text=True, timeout=120)


def _tree_in_container(client: Any, cid: str, path: str) -> dict[str, tuple[str, int, int]]:
    """name -> (sha256, uid, gid) of every regular file under `path`, read inside the container."""
    result = client.containers.get(cid).exec_run(["tar", "-C", path, "-cf", "-", "."])
    assert result.exit_code == 0, result.output[:300]
    out = {}
    with tarfile.open(fileobj=io.BytesIO(result.output)) as tar:
        for m in tar.getmembers():
            if m.isfile():
                data = tar.extractfile(m)
                assert data is not None
                name = m.name.removeprefix("./")
                out[name] = (hashlib.sha256(data.read()).hexdigest(), m.uid, m.gid)
    return out


def _expected(manifest: dict[str, Any], prefix: str) -> dict[str, tuple[str, int, int]]:
    return {
        e["path"][len(prefix) :]: (e["sha256"], e["uid"], e["gid"])
        for e in manifest["entries"]
        if e["type"] == "file" and e["path"].startswith(prefix)
    }


def _manifest(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as zf:
        return dict(json.loads(zf.read("portal-backup.json")))


@pytest.mark.skipif(COMPOSE is None, reason="Debian's docker-compose is not installed")
def test_two_apps_run_from_their_folders_without_the_portal(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    names = portal_host.names
    archive = backup(portal_host, tmp_path / "out", f"app/{names.notes}", f"app/{names.photos}")
    manifest = _manifest(archive)
    gone = portal_host.root.with_name("portal-moved-away")
    portal_host.root.rename(gone)  # no Portal root, no original paths
    out = tmp_path / "ejected"
    try:
        proc = run("eject", str(archive), names.notes, names.photos, "-o", str(out), check=True)
        assert f"wrote {out / names.notes}/" in proc.stdout
        checks = {
            # folder, service, path in the container, archive prefix of what it must hold
            (names.notes, "web", "/data", f"user_data/app_data/{names.notes}/data/"),
            (names.notes, "web", "/shared", "user_data/shared/"),
            (names.photos, "web", "/library", f"user_data/app_data/{names.photos}/library/"),
            (names.photos, "db", "/var/lib/db", f"volumes/{names.photos}_db/"),
        }
        for app in (names.notes, names.photos):
            up = _compose(out / app, "up", "-d")
            assert up.returncode == 0, up.stderr
        for app, service, path, prefix in sorted(checks):
            found = portal_host.client.api.containers(
                filters={
                    "label": [
                        f"com.docker.compose.project.working_dir={out / app}",
                        f"com.docker.compose.service={service}",
                    ]
                }
            )
            assert len(found) == 1, f"{app}/{service}: {len(found)} containers"
            cid = found[0]["Id"]
            assert portal_host.client.api.inspect_container(cid)["State"]["Running"]
            seen = _tree_in_container(portal_host.client, cid, path)
            want = _expected(manifest, prefix)
            assert want and seen == want, (app, service, sorted(set(seen) ^ set(want))[:5])
        text = (out / names.photos / "compose.yaml").read_text()
        assert str(portal_host.root) not in yaml.safe_load(text).__repr__()
        readme = (out / names.photos / "README.md").read_text()
        assert "docker compose up -d" in readme and f"./volumes/{names.photos}_db" in readme
        with zipfile.ZipFile(archive) as zf:  # the same, by hand, inside every archive
            assert "Leave with your data" in zf.read("README.txt").decode()
    finally:
        for app in (names.notes, names.photos):
            if (out / app / "compose.yaml").exists():
                _compose(out / app, "down", "-v", "--timeout", "1")
        gone.rename(portal_host.root)


def _crafted(path: Path) -> Path:
    app = "evil"
    data = {f"user_data/app_data/{app}/data/db.txt": b"state\n"}

    def edit(doc: dict[str, Any]) -> None:
        doc["items"] = [
            {
                "id": f"app/{app}",
                "kind": "app",
                "label": app,
                "paths": [f"user_data/app_data/{app}/"],
                "containers": [
                    {
                        "id": "ab" * 32,
                        "name": f"{app}-web-1",
                        "image": "pb-test:latest",
                        "service": "web",
                        "state_before": "running",
                        "config": {
                            "image": "pb-test:latest",
                            "command": ["sh", "-c", "echo $HOME"],
                            "env": ["PASSWORD=pa$$word"],
                            "labels": {
                                "traefik.http.routers.evil.rule": "Host(`evil.example`)",
                                "com.docker.compose.project": app,
                                "keep.me": "yes",
                            },
                            "network_mode": "portal",
                            "privileged": True,
                            "ports": {"80/tcp": [{"HostIp": "", "HostPort": str(busy_port)}]},
                            "mounts": [
                                {"type": "bind", "source": "/", "target": "/host"},
                                {
                                    "type": "bind",
                                    "source": "/var/run/docker.sock",
                                    "target": "/var/run/docker.sock",
                                },
                                {
                                    "type": "bind",
                                    "source": "/home/portal/core",
                                    "target": "/core",
                                },
                                {"type": "bind", "source": "/etc/ssh", "target": "/ssh"},
                                {
                                    "type": "bind",
                                    "source": f"/home/portal/user_data/app_data/{app}/data",
                                    "target": "/data",
                                    "read_only": True,
                                },
                            ],
                        },
                    },
                    {
                        "id": "cd" * 32,
                        "name": f"{app}-auth-1",
                        "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.5.1",
                        "service": "auth",
                        "state_before": "running",
                        "config": {"image": "quay.io/oauth2-proxy/oauth2-proxy:v7.5.1"},
                    },
                ],
            }
        ]

    with socket.socket() as s:  # a published port that is busy here
        s.bind(("0.0.0.0", 0))
        busy_port = s.getsockname()[1]
    return make_backup(path, data, dirs=[f"user_data/app_data/{app}/"], edit_manifest=edit).path


def test_crafted_archive_is_ejected_without_host_mounts_and_says_so(tmp_path: Path) -> None:
    archive = _crafted(tmp_path / "crafted.zip")
    out = tmp_path / "out"
    dry = run("eject", str(archive), "evil", "-o", str(out), "--dry-run", check=True)
    assert not out.exists()
    for words in (
        "REMOVED: service web: the bind mount / at /host",
        "REMOVED: service web: the bind mount /var/run/docker.sock at /var/run/docker.sock",
        "REMOVED: service web: the bind mount /home/portal/core at /core",
        "REMOVED: service web: the bind mount /etc/ssh at /ssh: the host path is not in",
        "REMOVED: service web: network portal",
        "REMOVED: service web: 1 label(s) traefik.*",
        "REMOVED: service web: runs privileged (privileged)",
        "REMOVED: service auth (quay.io/oauth2-proxy/oauth2-proxy:v7.5.1)",
        "HOST ACCESS: service web: publishes port 80/tcp on host port",
    ):
        assert words in dry.stdout, (words, dry.stdout)

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        recorded = int(dry.stdout.split("on host port ")[1].split()[0])
        holder.bind(("0.0.0.0", recorded))
        holder.listen()
        run("eject", str(archive), "app/evil", "-o", str(out), "--free-ports", check=True)
    folder = out / "evil"
    doc = yaml.safe_load((folder / "compose.yaml").read_text())
    assert list(doc["services"]) == ["web"]
    web = doc["services"]["web"]
    assert web["volumes"] == [
        {"type": "bind", "source": "./data/data", "target": "/data", "read_only": True}
    ]
    assert "network_mode" not in web and "privileged" not in web
    assert web["labels"] == {"keep.me": "yes"}
    assert web["environment"] == ["PASSWORD=pa$$$$word"]  # Compose reads pa$$word
    assert web["command"] == ["sh", "-c", "echo $$HOME"]
    published = int(web["ports"][0].split(":")[0])
    assert published != recorded
    assert (folder / "data/data/db.txt").read_bytes() == b"state\n"
    assert sorted(os.listdir(folder)) == ["README.md", "compose.yaml", "data"]
    readme = (folder / "README.md").read_text()
    assert f"http://localhost:{published}/" in readme
    assert "starts empty" not in readme  # the archive holds the bind's files (no dir entry)
    assert "Docker socket" in readme and "login check" in readme

    again = run("eject", str(archive), "evil", "-o", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_manifest_claiming_paths_outside_the_folder_gets_none(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        web = {
            "type": "bind",
            "source": "/srv/x",
            "target": "/x",
            "archive_path": "binds/../../../../x/",
        }
        cfg = {"image": "i", "mounts": [{**web, "read_only": False}]}
        doc["items"] = [
            {
                "id": "app/y",
                "kind": "app",
                "label": "y",
                "paths": [],
                "mounts": [web],
                "containers": [{"name": "y-1", "image": "i", "config": cfg}],
            }
        ]

    archive = make_backup(tmp_path / "a.zip", {"x": b""}, edit_manifest=edit).path
    out = tmp_path / "deep" / "out"
    proc = run("eject", str(archive), "y", "-o", str(out), check=True)
    assert (
        "REMOVED: service y-1: the bind mount /srv/x at /x: the host path is not in" in proc.stdout
    )
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "deep"]
    assert os.listdir(tmp_path / "deep") == ["out"] and os.listdir(out) == ["y"]
    assert "volumes" not in yaml.safe_load((out / "y" / "compose.yaml").read_text())["services"]


def test_an_archive_writing_through_a_symlink_writes_nothing(tmp_path: Path) -> None:
    prefix = "user_data/app_data/x/"
    archive = make_backup(
        tmp_path / "a.zip",
        {f"{prefix}link/passwd": b"owned\n"},
        dirs=[prefix],
        symlinks={f"{prefix}link": "/etc"},
        edit_manifest=lambda doc: doc.__setitem__(
            "items",
            [
                {
                    "id": "app/x",
                    "kind": "app",
                    "label": "x",
                    "paths": [prefix],
                    "containers": [{"name": "x-1", "image": "i", "config": {"image": "i"}}],
                }
            ],
        ),
    ).path
    out = tmp_path / "out"
    proc = run("eject", str(archive), "x", "-o", str(out))
    assert proc.returncode == 1 and "refusing to write through it" in proc.stderr
    assert os.listdir(out) == []  # the staging folder is gone too


@given(st.text())
def test_yaml_scalars_read_back_as_compose_sees_them(text: str) -> None:
    assert yaml.safe_load(f"k: {scalar(text)}") == {"k": text.replace("$", "$$")}


def test_an_encrypted_archive_is_ejected_with_its_identity(tmp_path: Path) -> None:
    plain = _crafted(tmp_path / "crafted.zip")
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(
        line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line
    )
    sealed = tmp_path / "crafted.zip.age"
    subprocess.run(["age", "-r", public, "-o", str(sealed), str(plain)], check=True)
    plain.unlink()
    out = tmp_path / "out"
    refused = run("eject", str(sealed), "evil", "-o", str(out))
    assert refused.returncode == 2 and "is encrypted" in refused.stderr
    run("eject", str(sealed), "evil", "-o", str(out), "--identity", str(key), check=True)
    assert (out / "evil/data/data/db.txt").read_bytes() == b"state\n"
