"""Archive names: portal-backup-<who>-YYYYMMDD-HHMMSS[-N][-since-YYYYMMDD-HHMMSS[-N]].zip[.age]
(a differential names its base's time after "-since-")."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# portal-backup-<who>-YYYYMMDD-HHMMSS[-N][-since-YYYYMMDD-HHMMSS[-N]].zip[.age]
ARCHIVE_NAME = re.compile(
    r"^portal-backup-(?P<who>.+?)-(?P<time>\d{8}-\d{6})(?P<n>-\d+)?"
    r"(?:-since-(?P<base>\d{8}-\d{6})(?P<bn>-\d+)?)?(?P<ext>\.zip(?:\.age)?)$",
    re.DOTALL,
)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_archive_name(name: str) -> tuple[str, datetime, str | None] | None:
    """(who, UTC time, the base's name for a differential) or None for another file."""
    m = ARCHIVE_NAME.match(name)
    if m is None:
        return None
    when = _parse_time(m["time"])
    if when is None:
        return None
    base = None
    if m["base"]:
        if _parse_time(m["base"]) is None:
            return None
        base = f"portal-backup-{m['who']}-{m['base']}{m['bn'] or ''}{m['ext']}"
    return m["who"], when, base
