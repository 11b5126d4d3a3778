"""The Store contract on every kind of destination: a local directory and rclone's S3, WebDAV
and SFTP servers on loopback (real servers, real bytes)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rclone_servers import RcloneServer, ServerFactory

from tui.core.dest.records import find_upload
from tui.core.dest.store import Store, open_store
from tui.core.dest.stored import host_name
from tui.core.dest.target import parse_dest
from tui.core.errors import PortalBackupError

NAME = "portal-backup-testportal-20261206-031500.zip"
KINDS = ("local", "s3", "webdav", "sftp")


@dataclass
class Place:
    """A destination under test: its Store and the directory its files land in on disk."""

    kind: str
    spec: str
    root: Path
    config: Path | None
    server: RcloneServer | None

    def store(self) -> Store:
        return open_store(parse_dest(self.spec), rclone_config=self.config)

    def visible(self) -> list[str]:
        """Every file in the destination's directory (S3 has no empty directories)."""
        return sorted(os.listdir(self.root)) if self.root.exists() else []


@pytest.fixture(params=KINDS)
def place(
    request: pytest.FixtureRequest, tmp_path: Path, rclone_server_factory: ServerFactory
) -> Iterator[Place]:
    if request.param == "local":
        root = tmp_path / "usb"
        root.mkdir()
        yield Place("local", str(root), root, None, None)
        return
    server = rclone_server_factory(request.param)
    yield Place(request.param, server.target, server.root, server.config, server)


def payload(size: int) -> bytes:
    return b"PK\x03\x04" + os.urandom(size - 4)


def upload(store: Store, name: str, data: bytes, *, verify: bool = True) -> None:
    up = store.begin_upload(name)
    for i in range(0, len(data), 1 << 20):
        up.write(data[i : i + (1 << 20)])
    up.commit(size=len(data), sha256=hashlib.sha256(data).hexdigest(), verify=verify)


def test_upload_arrives_whole_and_reads_back(place: Place) -> None:
    store = place.store()
    data = payload(5 << 20)
    upload(store, NAME, data)
    assert place.visible() == [NAME]  # no temp name left beside it
    assert (place.root / NAME).read_bytes() == data
    with store.open_read(NAME) as f:
        back = b"".join(iter(lambda: f.read(1 << 16), b""))
    assert back == data
    listed = store.list()
    assert [(f.name, f.size) for f in listed] == [(NAME, len(data))]
    assert store.stat(NAME) == listed[0]
    assert store.stat("missing.zip") is None
    record = find_upload(store.dest.label, NAME)
    assert record is not None
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["verified"] is True and record["portal_id"] == "testportal"
    store.delete(NAME)
    assert store.list() == [] and place.visible() == []
    result = store.probe()  # write, read back, delete a small object
    assert result.ok, result.error
    assert result.bytes_per_second > 0
    assert place.visible() == []


def test_commit_refuses_and_leaves_nothing(place: Place) -> None:
    store = place.store()
    first = payload(1000)
    upload(store, NAME, first, verify=False)
    with pytest.raises(PortalBackupError, match="already exists"):
        upload(store, NAME, payload(2000), verify=False)
    assert (place.root / NAME).read_bytes() == first
    assert place.visible() == [NAME]  # the refused upload's temp is gone
    other = NAME.replace(".zip", "-2.zip")
    up = store.begin_upload(other)
    up.write(payload(1000))
    with pytest.raises(PortalBackupError, match="1000 bytes"):
        up.commit(size=999, sha256="0" * 64, verify=False)
    up = store.begin_upload(other)
    up.write(payload(1000))
    with pytest.raises(PortalBackupError, match="SHA-256"):
        up.commit(size=1000, sha256="0" * 64, verify=True)
    assert place.visible() == [NAME]
    assert find_upload(store.dest.label, other) is None
    up = store.begin_upload(other)
    up.write(payload(10))
    up.abort()
    up.abort()  # idempotent
    assert place.visible() == [NAME]


def test_clean_abandoned_removes_dead_runs_temps_only(place: Place) -> None:
    store = place.store()
    child = subprocess.Popen(["true"])
    child.wait()
    dead_temp = f".{NAME}.partial-{host_name()}-{child.pid}-0123abcd"
    live_temp = f".{NAME}.partial-{host_name()}-{os.getpid()}-0123abcd"
    other_host = f".{NAME}.partial-elsewhere-{child.pid}-0123abcd"
    for name in (dead_temp, live_temp, other_host):
        (place.root / name).write_bytes(b"")  # written by a run of this host that died
    assert store.clean_abandoned() == [dead_temp]
    assert place.visible() == sorted([live_temp, other_host])
    old = place.root / other_host
    os.utime(old, (0, 1_000_000))  # older than 48 h: abandoned whoever wrote it
    assert store.clean_abandoned() == [other_host]
    assert store.list() == []  # temp names are never listed
