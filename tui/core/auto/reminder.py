"""The login reminder: one line for interactive root shells when backups need attention.

/etc/profile.d/ is read by every login shell (bash, dash, zsh in sh mode) on Debian and its
kin, and also over ssh. The script must never slow a login down or break it: it runs
`status --banner` under a short timeout, only for interactive root shells, and says nothing
when that fails.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path

from tui.core.auto.files import write_atomic

REMINDER_PATH = Path("etc/profile.d/portal-backup.sh")
BANNER_TIMEOUT_SECONDS = 3

_SCRIPT = """\
# Written by `portal-backup auto install`; removed by `portal-backup auto remove`.
# One line at login when a backup is overdue or failed (nothing otherwise).
case "$-" in
  *i*)
    if [ "$(id -u 2>/dev/null)" = 0 ] && [ -x {exe} ]; then
      if command -v timeout >/dev/null 2>&1; then
        timeout -k 1 {timeout} {exe} status --banner 2>/dev/null || true
      else
        {exe} status --banner 2>/dev/null || true
      fi
    fi
    ;;
esac
"""


def reminder_script(executable: str) -> str:
    return _SCRIPT.format(exe=shlex.quote(executable), timeout=BANNER_TIMEOUT_SECONDS)


def install_reminder(executable: str, *, root: Path = Path("/")) -> Path:
    """Writes the profile.d script under ROOT (mode 0644: shells read it as the user)."""
    path = root / REMINDER_PATH
    write_atomic(path, reminder_script(executable).encode(), 0o644)
    return path


def remove_reminder(*, root: Path = Path("/")) -> Path | None:
    """Removes the script; returns its path when there was one."""
    path = root / REMINDER_PATH
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return path
    return None
