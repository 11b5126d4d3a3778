"""An archive named `DEST:NAME` brought into a private temporary folder for reading.

A differential comes with its base, downloaded beside it, so the chain opens as it does from
one directory. Both are hash-checked by `fetch`; the folder is removed when the reader is done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tui.core.dest.backups import fetch
from tui.core.dest.names import ARCHIVE_NAME, parse_archive_name
from tui.core.dest.store import open_store
from tui.core.dest.stored import check_final_name
from tui.core.dest.target import parse_dest


def split_dest_name(spec: str) -> tuple[str, str] | None:
    """("DEST", "NAME") when `spec` is not a file here and ends in ":" + an archive name."""
    if os.path.lexists(spec):
        return None
    dest, sep, name = spec.rpartition(":")
    if not sep or not dest or ARCHIVE_NAME.match(name) is None:
        return None
    check_final_name(name)  # a plain file name: it becomes a path in our temporary folder
    return dest, name


@contextlib.contextmanager
def downloaded(
    spec: str,
    *,
    rclone_config: Path | None = None,
    say: Callable[[str], None] = lambda _message: None,
) -> Iterator[str]:
    """The local path to read `spec` from: itself, or a hash-checked download of DEST:NAME
    (and of its base, for a differential) that is removed afterwards."""
    remote = split_dest_name(spec)
    if remote is None:
        yield spec
        return
    store = open_store(parse_dest(remote[0]), rclone_config=rclone_config)
    folder = Path(tempfile.mkdtemp(prefix="portal-backup-download-"))  # mode 0700
    try:
        names = [remote[1]]
        parsed = parse_archive_name(remote[1])
        if parsed is not None and parsed[2] is not None:
            names.append(parsed[2])  # the differential's base, beside it
        for name in names:
            info = store.stat(name)
            size = f" ({info.size} bytes)" if info is not None else ""
            say(f"downloading {name}{size} from {store.dest.label} into {folder}")
            fetch(store, name, folder / name)
        yield str(folder / remote[1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
