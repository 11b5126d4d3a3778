"""This host, as both faces open it: the Portal root the user named, and the Docker engine.

The CLI and the UI each pass in the Portal root they were given (--portal-root, PORTAL_ROOT);
nothing here assumes a default. Docker is reached the standard way (docker_api.connect). When it
does not answer the host still opens, without a client: the Portal's own items can be listed,
backed up and restored, and the warnings below say what is missing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from tui.core.docker_api import connect
from tui.core.errors import DockerUnavailable
from tui.core.inventory import load_inventory
from tui.core.model import Inventory
from tui.core.sizes import compute_sizes

# What a host without Docker cannot do, after the reason it did not answer.
WITHOUT_DOCKER_BACKUP = "listing the Portal's own items only"
WITHOUT_DOCKER_RESTORE = (
    "apps and volumes cannot be restored, and containers using restored files are not stopped"
)


@dataclass
class Host:
    """An opened host: plain data, the Docker client (None when Docker did not answer) and why."""

    portal_root: str
    client: Any | None
    docker_problem: str = ""  # one sentence from docker_api ("Docker is not reachable (...)")

    @property
    def docker_ok(self) -> bool:
        return self.client is not None

    def backup_warnings(self) -> list[str]:
        """What `list`, `create` and the home screen warn about first."""
        if self.client is not None:
            return []
        return [f"{self.docker_problem}; {WITHOUT_DOCKER_BACKUP}"]

    def restore_warnings(self) -> list[str]:
        """What a restore warns about first."""
        if self.client is not None:
            return []
        return [f"{self.docker_problem}: {WITHOUT_DOCKER_RESTORE}"]

    def inventory(self, *, sizes: bool = False) -> Inventory:
        """Everything that can be backed up here, the Docker warning first; with `sizes`, each
        item's size too (a walk of every tree: slow on big hosts)."""
        inv = load_inventory(self.portal_root, self.client, use_docker=self.client is not None)
        inv.warnings[:0] = self.backup_warnings()
        if sizes:
            compute_sizes(inv, self.client)
        return inv

    def close(self) -> None:
        """Drop the Docker client's connections (nothing to report if that fails)."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def open_host(portal_root: str) -> Host:
    """This host with `portal_root` as the Portal's data directory; never fails for Docker."""
    try:
        return Host(portal_root, connect())
    except DockerUnavailable as exc:
        return Host(portal_root, None, str(exc))
