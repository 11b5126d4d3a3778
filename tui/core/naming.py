"""Archive names: `portal-backup-<who>-YYYYMMDD-HHMMSS.zip`, the creation time in UTC.

The one rule for the name a backup gets, shared by the backup (which writes it) and the
destinations (which list, fetch and prune by it).
"""

from __future__ import annotations

import re
import socket
from datetime import datetime

from tui.core.errors import PortalBackupError
from tui.core.model import Inventory


def archive_who(inventory: Inventory) -> str:
    """The Portal's name from its database, else this host's name."""
    if inventory.portal and inventory.portal.name:
        return inventory.portal.name
    return socket.gethostname().split(".")[0]


def default_archive_name(inventory: Inventory, now: datetime) -> str:
    return f"portal-backup-{archive_who(inventory)}-{now.strftime('%Y%m%d-%H%M%S')}.zip"


_STAMP = re.compile(r"-(\d{8}-\d{6}(?:-\d+)?)\.zip(?:\.age)?$")


def archive_name(inventory: Inventory, now: datetime, *, encrypted: bool, base: str | None) -> str:
    """The name of a new archive; a differential names its base's time after "-since-"."""
    name = default_archive_name(inventory, now)
    if base is not None:
        m = _STAMP.search(base)
        if m is None:
            raise PortalBackupError(f"{base} is not named like a backup of this tool")
        name = name.removesuffix(".zip") + f"-since-{m[1]}.zip"
    return name + (".age" if encrypted else "")
