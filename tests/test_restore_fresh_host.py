"""The whole Portal onto a fresh host: containers and volumes gone, a new, empty Portal root.

`restore --all --yes` must bring back the Portal root, the volumes and every app's containers
(recreated from the manifest, bind mounts moved to the new root) in the states they had.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import portal_fixture as pf
import pytest
from restorekit import backup, restore, same_tree, snapshot, volume_snapshots

from tui.core.crypto.signing import public_key_pem

pytestmark = pytest.mark.docker

# What each state at backup time comes back as: nothing is started that was not running.
EXPECTED = {"running": "running", "paused": "paused", "exited": "created", "created": "created"}


def _remove_containers(client: docker.DockerClient, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            c = client.containers.get(name)
            if c.status == "paused":
                c.unpause()
            c.remove(force=True)


@pytest.fixture
def wiped(portal_host: pf.PortalHost) -> Iterator[pf.PortalHost]:
    """The host after the test; recreated containers are removed before the fixture's teardown
    (which removes by ID and would find the volumes still in use)."""
    yield portal_host
    names = [name for app in portal_host.apps for name, _, _ in portal_host.containers[app]]
    _remove_containers(portal_host.client, names)


def test_whole_portal_onto_a_fresh_host(wiped: pf.PortalHost, tmp_path: Path) -> None:
    host = wiped
    client = host.client
    snap = snapshot(host.root, tmp_path / "snap")
    vols = volume_snapshots(host, tmp_path / "vols")
    labels = {v: client.api.inspect_volume(v)["Labels"] for v in host.volumes}
    archive = backup(host, tmp_path / "out")

    # The disaster: the apps' containers and the volumes are gone; the new Portal root is empty.
    records = {name: state for app in host.apps for name, _, state in host.containers[app]}
    _remove_containers(client, list(records))
    for v in host.volumes:
        client.volumes.get(v).remove(force=True)
    new_root = tmp_path / "new-home" / "portal"
    # A fresh host has no Portal identity to trust the archive by: the old Portal's public key.
    trusted = tmp_path / "old-portal.pem"
    trusted.write_text(public_key_pem(host.private_key_pem))

    proc = restore(
        archive,
        "--dry-run",
        "--all",
        "--trust-key",
        str(trusted),
        env={"PORTAL_ROOT": str(new_root)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not new_root.exists()
    for name in records:
        assert f"create container {name} from {pf.TEST_IMAGE}" in proc.stdout

    proc = restore(
        archive, "--all", "--yes", "--trust-key", str(trusted), env={"PORTAL_ROOT": str(new_root)}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # Every container is back, in the state it had, on the restored data.
    for name, state in records.items():
        attrs = client.api.inspect_container(name)
        assert attrs["State"]["Status"] == EXPECTED[state], name
        assert attrs["HostConfig"]["NetworkMode"] == "none"
        assert attrs["Config"]["Labels"]["com.docker.compose.project"] in host.apps
        for m in attrs["Mounts"]:
            if m["Type"] == "bind":
                assert Path(m["Source"]).is_relative_to(new_root), (name, m["Source"])
            else:
                assert m["Name"] == f"{host.apps[1]}_db"
    notes_web = client.api.inspect_container(f"{host.apps[0]}-web-1")
    assert notes_web["Config"]["Cmd"] == pf.RUN_COMMAND
    assert notes_web["Config"]["Hostname"] == f"{host.apps[0]}-web"
    assert {m["Destination"]: m["RW"] for m in notes_web["Mounts"]} == {
        "/data": True,
        "/shared": False,
    }
    # The data, byte for byte with owners, modes and mtimes, in the new root and the volumes.
    for rel in ("core", pf.SHARED, pf.APP_DATA):
        assert same_tree(snap / rel, new_root / rel) == [], rel
    for v, copy in vols.items():
        assert client.api.inspect_volume(v)["Labels"] == labels[v]
        assert same_tree(copy, host.volume_path(v)) == [], v
    # The restored Portal is the archived one.
    db = json.loads((new_root / pf.DB).read_text())
    assert db["identities"]["1"]["id"] == host.identity_id
    # A running container really runs on the restored data.
    out = client.containers.get(f"{host.apps[0]}-web-1").exec_run(
        ["cat", "/data/attachments/2023/05/Ärger mit dem Vermieter.txt"]
    )
    assert out.output == b"Heizung kaputt.\n"


def _tiny_image(client: docker.DockerClient, tag: str) -> str:
    """An image of its own (a unique file, so a unique ID) that can be created, not run."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = tag.encode()
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repo, version = tag.split(":")
    client.api.import_image_from_data(
        buf.getvalue(), repository=repo, tag=version, changes=['CMD ["/marker"]']
    )
    return tag


def test_missing_images_fail_that_app_clearly(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    client = portal_host.client
    app = f"ghost-{portal_host.token}"
    image = _tiny_image(client, f"pb-gone-{portal_host.token}:1")
    data = portal_host.root / pf.APP_DATA / app / "state"
    data.mkdir(parents=True)
    (data / "file.txt").write_text("ghost data\n")
    container = client.containers.create(
        image,
        name=f"{app}-web-1",
        network_mode="none",
        labels={
            "com.docker.compose.project": app,
            "com.docker.compose.service": "web",
            pf.TEST_LABEL: portal_host.token,
        },
        mounts=[docker.types.Mount("/state", str(data), type="bind")],
    )
    try:
        archive = backup(portal_host, tmp_path / "out", f"app/{app}", "shared")
    finally:
        container.remove(force=True)
        client.images.remove(image, force=True)
    (portal_host.root / pf.SHARED / "Einkaufsliste.txt").write_text("changed\n")
    (data / "file.txt").write_text("today\n")

    proc = restore(archive, "--all", "--yes", env={"PORTAL_ROOT": str(portal_host.root)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAILED app/{app}: missing images: {image}" in proc.stdout
    # That app is untouched and has no container; the other item was restored.
    assert (data / "file.txt").read_text() == "today\n"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(f"{app}-web-1")
    shopping = portal_host.root / pf.SHARED / "Einkaufsliste.txt"
    assert shopping.read_text() == "Milch\nBrot\nÄpfel\n"
