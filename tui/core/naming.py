"""Archive names: `portal-backup-<who>-YYYYMMDD-HHMMSS.zip`, the creation time in UTC.

The one rule for the name a backup gets, shared by the backup (which writes it) and the
destinations (which list, fetch and prune by it).
"""

from __future__ import annotations

import socket
from datetime import datetime

from tui.core.model import Inventory


def archive_who(inventory: Inventory) -> str:
    """The Portal's name from its database, else this host's name."""
    if inventory.portal and inventory.portal.name:
        return inventory.portal.name
    return socket.gethostname().split(".")[0]


def default_archive_name(inventory: Inventory, now: datetime) -> str:
    return f"portal-backup-{archive_who(inventory)}-{now.strftime('%Y%m%d-%H%M%S')}.zip"
