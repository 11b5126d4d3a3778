"""Shared fixtures. The logic lives in tests/portal_fixture.py; these are thin wrappers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import portal_fixture and treecompare

import portal_fixture as pf
from rclone_servers import (  # noqa: F401 (fixtures: loopback S3/WebDAV/SFTP destinations)
    rclone_dest,
    rclone_server_factory,
    s3_server,
    sftp_server,
    webdav_server,
)

DOCKER_FIXTURES = {"docker_client", "test_image", "portal_host"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark every test that reaches Docker, so `-m "not docker"` selects the rest.
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = pf.connect_docker()
    except pf.DockerUnreachable as exc:
        if os.environ.get("PORTAL_BACKUP_NO_DOCKER") == "1":
            pytest.skip(f"PORTAL_BACKUP_NO_DOCKER=1 and {exc}")
        # CI must never silently skip the Docker tests.
        pytest.fail(
            f"{exc}. Start an engine and set DOCKER_HOST, or set PORTAL_BACKUP_NO_DOCKER=1 "
            "to skip the Docker tests.",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: docker.DockerClient) -> str:
    return pf.ensure_test_image(docker_client)


@pytest.fixture
def run_token() -> str:
    """A short unique token; it is in the name of every app, container and volume of one test."""
    return pf.new_token()


@pytest.fixture
def portal_root(tmp_path: Path, run_token: str) -> Path:
    return pf.build_portal_root(tmp_path / "portal", run_token)


@pytest.fixture
def portal_host(
    portal_root: Path, run_token: str, docker_client: docker.DockerClient, test_image: str
) -> Iterator[pf.PortalHost]:
    with pf.running_portal_host(portal_root, run_token, docker_client, test_image) as host:
        yield host


@pytest.fixture(autouse=True)
def isolated_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own journal, lock and last-backup record (subprocesses inherit it).

    The lock is host-wide in real use; here it is per test, so parallel test runs on one
    machine do not wait for each other.
    """
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("PORTAL_BACKUP_STATE_DIR", str(state))
    monkeypatch.setenv("PORTAL_BACKUP_LOCK_FILE", str(state / "run.lock"))
    return state


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest's own clean-up of old temporary trees (shutil.rmtree) recurses once per level; a
    # deep-tree test that failed before removing its tree must not crash it. Raised only now,
    # so no test of ours runs with a limit that could hide recursion in the code under test.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
