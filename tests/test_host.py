"""tui.core.host: the one place both faces open this host (Portal root + Docker)."""

from __future__ import annotations

from pathlib import Path

import portal_fixture as pf
import pytest

from tui.core.host import WITHOUT_DOCKER_BACKUP, WITHOUT_DOCKER_RESTORE, open_host
from tui.ui.logic.datasource import HostSource


def test_without_docker_the_host_opens_with_the_portal_items_and_one_warning(
    portal_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    host = open_host(str(portal_root))
    assert host.client is None and not host.docker_ok
    assert host.docker_problem.startswith("Docker is not reachable")
    inv = host.inventory()
    assert {"core/db", "core/identity", "shared"} <= {i.id for i in inv.items}
    assert inv.warnings[0] == f"{host.docker_problem}; {WITHOUT_DOCKER_BACKUP}"
    assert host.restore_warnings() == [f"{host.docker_problem}: {WITHOUT_DOCKER_RESTORE}"]
    # The TUI's source shows exactly what the CLI prints first.
    assert HostSource(str(portal_root)).load().inventory.warnings[0] == inv.warnings[0]


def test_with_docker_the_host_lists_the_apps_and_warns_of_nothing(
    portal_host: pf.PortalHost,
) -> None:
    host = open_host(str(portal_host.root))
    try:
        assert host.docker_ok and host.backup_warnings() == [] and host.restore_warnings() == []
        inv = host.inventory(sizes=True)
        ids = {i.id for i in inv.items}
        assert f"app/{portal_host.apps[0]}" in ids and "core/db" in ids
        assert not any(WITHOUT_DOCKER_BACKUP in w for w in inv.warnings)
        db = inv.get("core/db")
        assert db is not None and db.size is not None
    finally:
        host.close()
    assert host.client is None
