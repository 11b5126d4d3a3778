"""Opening a backup that lives at a destination: list the backups there, and download one into
a private temporary folder of the tool (hash-checked by tui.core.dest.backups.fetch) for the
explorer or the restore, which remove it when they close. No Textual here; everything blocks
and runs in worker threads.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.errors import PortalBackupError
from tui.core.humanfmt import human_bytes

if TYPE_CHECKING:
    from tui.core.dest.backups import BackupInfo

PROGRESS_SECONDS = 0.2  # how often the download's size is measured for the screen
TEMP_PREFIX = "portal-backup-download-"


@dataclass(frozen=True)
class LocalCopy:
    """A downloaded backup: `path` inside its own 0700 folder, removed as a whole."""

    path: Path
    folder: Path

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def list_remote_backups(spec: str, config: Path | None = None) -> list[BackupInfo]:
    """The backups at a destination, newest first (as a list to pick from)."""
    from tui.core.dest.backups import list_backups
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    store = open_store(parse_dest(spec), rclone_config=config)
    return list(reversed(list_backups(store)))


def download_question(info: BackupInfo) -> str:
    return (
        f"Download {info.name} ({human_bytes(info.size)}) into a temporary file on this host? "
        "It is checked against its SHA-256, opened, and deleted when you close it."
    )


def download(
    spec: str,
    name: str,
    size: int,
    on_progress: Callable[[int], None],
    cancel: threading.Event,
    config: Path | None = None,
) -> LocalCopy:
    """Fetches `name` from the destination into a new private temporary folder and returns it;
    calls on_progress(bytes so far) a few times a second. PortalBackupError (one sentence) when
    it fails or is cancelled; nothing is left behind then."""
    from tui.core.dest.backups import fetch
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    store = open_store(parse_dest(spec), rclone_config=config)
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))  # 0700: it may hold the private key
    free = shutil.disk_usage(folder).free
    if size > free:
        shutil.rmtree(folder, ignore_errors=True)
        raise PortalBackupError(
            f"{name} needs {human_bytes(size)} in {folder.parent} and only "
            f"{human_bytes(free)} is free there (set TMPDIR to a larger disk)"
        )
    copy = LocalCopy(folder / name, folder)
    failure: list[BaseException] = []

    def fetch_it() -> None:
        try:
            fetch(store, name, copy.path)
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=fetch_it, name="download", daemon=True)
    worker.start()
    while worker.is_alive():
        on_progress(_bytes_in(folder))
        worker.join(PROGRESS_SECONDS)
        if cancel.is_set():
            # fetch cannot be interrupted: its folder goes once it ends.
            threading.Thread(target=_remove_after, args=(worker, copy), daemon=True).start()
            raise PortalBackupError("the download was cancelled")
    if failure or not copy.path.is_file():
        copy.remove()
        if failure and isinstance(failure[0], PortalBackupError):
            raise failure[0]
        raise PortalBackupError(
            f"the download of {name} failed: {failure[0] if failure else 'no file arrived'}"
        )
    on_progress(copy.path.stat().st_size)
    return copy


def _bytes_in(folder: Path) -> int:
    total = 0
    try:
        for entry in folder.iterdir():
            total += entry.stat().st_size
    except OSError:
        pass  # a partial renamed while we looked
    return total


def _remove_after(worker: threading.Thread, copy: LocalCopy) -> None:
    worker.join()
    copy.remove()
