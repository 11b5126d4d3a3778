"""Where the UI's data comes from: the real host, or a demo (tui/ui/demo/portal.py) for pictures
and tests.

Every method blocks (Docker, disk) and is called from a worker thread, never the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tui.core.events import EventSink, Finished
from tui.core.model import Inventory, Size
from tui.core.plan import Plan


@dataclass
class Loaded:
    inventory: Inventory
    client: Any | None  # a docker client, or None when Docker is unreachable
    last_backup: dict[str, Any] | None
    # `status --banner`'s line (automatic backups), None when nothing needs attention.
    attention: str | None = None


class DataSource(Protocol):
    def load(self) -> Loaded: ...

    def compute_sizes(
        self, loaded: Loaded, on_size: Callable[[str, Size], None], cancel: threading.Event
    ) -> None: ...

    def run_backup(
        self, loaded: Loaded, plan: Plan, options: Any, on_event: EventSink, cancel: threading.Event
    ) -> Finished: ...


class HostSource:
    """This host: the Portal root on disk and the Docker engine from DOCKER_HOST."""

    def __init__(self, portal_root: str) -> None:
        self.portal_root = portal_root

    def load(self) -> Loaded:
        from tui.core.host import open_host
        from tui.core.state import last_backup

        host = open_host(self.portal_root)
        inventory = host.inventory()
        from tui.ui.logic.automatic import attention_line

        try:
            last = last_backup()
        except OSError:
            last = None
        return Loaded(inventory, host.client, last, attention_line())

    def compute_sizes(
        self, loaded: Loaded, on_size: Callable[[str, Size], None], cancel: threading.Event
    ) -> None:
        from tui.core.sizes import compute_sizes

        compute_sizes(loaded.inventory, loaded.client, on_size=on_size, cancel=cancel)

    def run_backup(
        self, loaded: Loaded, plan: Plan, options: Any, on_event: EventSink, cancel: threading.Event
    ) -> Finished:
        from tui.core.backup.run import BackupRun

        run = BackupRun(loaded.inventory, plan, options, loaded.client, on_event, cancel)
        return run.run()
