"""Destinations when things go wrong: the uploader killed with -9, the server stopped
mid-upload, the destination full, a connection string's secret kept off every command line."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rclone_servers import ServerFactory
from test_dest_store import NAME, Place, payload, place, upload  # noqa: F401 (fixture)

from tui.core.dest.store import open_store
from tui.core.dest.target import parse_dest
from tui.core.errors import PortalBackupError

REPO = Path(__file__).parent.parent
DEADLINE = 30.0  # seconds; generous for a loaded CI machine, never a timing assertion

# A backup's uploader reduced to its bones: it streams until it is killed.
UPLOADER = textwrap.dedent(
    """
    import json, os, sys, threading
    from pathlib import Path
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    config = os.environ.get("TEST_RCLONE_CONFIG")
    store = open_store(parse_dest(os.environ["TEST_DEST"]),
                       rclone_config=Path(config) if config else None)
    up = store.begin_upload(os.environ["TEST_NAME"])
    up.write(b"PK\\x03\\x04" + os.urandom((2 << 20) - 4))
    print(json.dumps({"temp": up.temp_name}), flush=True)
    for _ in range(200):
        up.write(os.urandom(1 << 16))
    threading.Event().wait()
    """
)


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def transports(command: str) -> list[int]:
    """This process's running rclone children doing `command` (the servers are children too)."""
    return [
        pid
        for pid in children_of(os.getpid())
        if running(pid) and command.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def gone(pid: int) -> bool:
    return not running(pid)


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {DEADLINE:.0f} s: {what}")
        time.sleep(0.05)  # polling a condition with a deadline


def one_sentence(text: str, label: str) -> None:
    assert "\n" not in text and "Traceback" not in text, text
    assert label in text, text


def test_killed_uploader_leaves_no_final_name_and_no_rclone(place: Place) -> None:  # noqa: F811
    env = {
        **os.environ,
        "TEST_DEST": place.spec,
        "TEST_NAME": NAME,
        "TEST_RCLONE_CONFIG": str(place.config or ""),
        "PYTHONPATH": str(REPO),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", UPLOADER], env=env, stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert child.stdout is not None
        temp = json.loads(child.stdout.readline())["temp"]
        rclones = children_of(child.pid)
        assert len(rclones) == (0 if place.kind == "local" else 1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for pid in rclones:  # rclone dies with its parent; it never completes the upload
        wait_until(functools.partial(gone, pid), f"rclone {pid} is gone")
    assert NAME not in place.visible()
    store = place.store()
    assert store.list() == []
    # The next run against this destination removes what the killed one left.
    left = [n for n in place.visible() if n == temp]
    assert store.clean_abandoned() == left
    assert place.visible() == []


@pytest.fixture
def stoppable(rclone_server_factory: ServerFactory, request: pytest.FixtureRequest) -> Place:
    server = rclone_server_factory(request.param)
    return Place(server.kind, server.target, server.root, server.config, server)


@pytest.mark.parametrize("stoppable", ["s3", "webdav", "sftp"], indirect=True)
def test_server_stopped_mid_upload_fails_in_one_sentence(stoppable: Place) -> None:
    store = stoppable.store()
    assert stoppable.server is not None
    up = store.begin_upload(NAME)
    up.write(payload(2 << 20))
    stoppable.server.stop()
    started = time.monotonic()
    with pytest.raises(PortalBackupError) as err:
        for _ in range(8):
            up.write(os.urandom(1 << 20))
        up.commit(size=10 << 20, sha256="0" * 64, verify=False)
    elapsed = time.monotonic() - started
    print(f"{stoppable.kind}: stopped server detected after {elapsed:.1f} s")  # the report's figure
    one_sentence(str(err.value), store.dest.label)
    up.abort()  # the server is gone: abort must still return quietly
    assert NAME not in stoppable.visible()
    assert transports("rcat") == []  # no rclone left behind
    started = time.monotonic()
    with pytest.raises(PortalBackupError, match="refused the connection") as err:
        store.list()
    print(f"{stoppable.kind}: refused listing after {time.monotonic() - started:.1f} s")
    one_sentence(str(err.value), store.dest.label)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize("kind", ["local", "s3", "webdav", "sftp"])
def test_full_destination_fails_in_one_sentence(
    kind: str, small_tmpfs: Path, rclone_server_factory: ServerFactory
) -> None:
    if kind == "local":
        spec, root, config = str(small_tmpfs), small_tmpfs, None
    else:
        server = rclone_server_factory(kind, served=small_tmpfs)
        spec, root, config = server.target, server.root, server.config
    store = open_store(parse_dest(spec), rclone_config=config)
    up = store.begin_upload(NAME)
    with pytest.raises(PortalBackupError) as err:
        for _ in range(20):  # 20 MB into 8 MB
            up.write(os.urandom(1 << 20))
        up.commit(size=20 << 20, sha256="0" * 64, verify=False)
    one_sentence(str(err.value), store.dest.label)
    if kind == "local":
        assert "full" in str(err.value)
    up.abort()
    assert not root.exists() or NAME not in os.listdir(root)


@pytest.mark.parametrize("kind", ["webdav", "s3"])
def test_connection_string_keeps_the_secret_off_the_command_line(
    kind: str, rclone_server_factory: ServerFactory
) -> None:
    server = rclone_server_factory(kind)
    dest = parse_dest(server.connection_string())
    key = "RCLONE_S3_SECRET_ACCESS_KEY" if kind == "s3" else "RCLONE_WEBDAV_PASS"
    secret = dest.env[key]  # as written in the connection string (obscured for webdav)
    assert secret not in dest.label and dest.remote is not None and secret not in dest.remote
    store = open_store(dest, rclone_config=Path("/nonexistent/rclone.conf"))
    up = store.begin_upload(NAME)
    try:
        up.write(payload(1 << 20))
        (rclone,) = transports("rcat")
        cmdline = Path(f"/proc/{rclone}/cmdline").read_bytes()
        assert secret.encode() not in cmdline and server.password.encode() not in cmdline
        assert secret.encode() in Path(f"/proc/{rclone}/environ").read_bytes()  # its channel
    finally:
        up.abort()
    data = payload(1 << 20)  # and the environment alone carries it end to end
    upload(store, NAME, data)
    assert (server.root / NAME).read_bytes() == data
