"""Finding an archive to open without typing its whole path: what to offer first, Tab
completion, and the archives inside a folder. No Textual here."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

ARCHIVE_SUFFIXES = (".zip", ".zip.age")
LIST_LIMIT = 50  # archives listed from one folder, newest first


@dataclass(frozen=True)
class Choices:
    value: str  # what the path field starts with
    archives: list[str]  # recent archives that still exist, newest first
    folders: list[str]  # the last output folder and the current destination


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def initial_choices(folders: list[str]) -> Choices:
    """The recent archives (the state directory's list, the last backup first), else the
    given folders; the field starts with the newest archive, so Enter opens it."""
    from tui.core.errors import PortalBackupError
    from tui.core.state import last_backup, recent_archives

    found: list[str] = []
    with contextlib.suppress(PortalBackupError, OSError):
        last = last_backup()
        newest = [last["path"]] if last and isinstance(last.get("path"), str) else []
        found = [*newest, *recent_archives()]
    archives = list(dict.fromkeys(p for p in found if os.path.isfile(p)))
    dirs = [os.path.dirname(p) for p in archives[:1]] + folders
    shown = list(dict.fromkeys(with_slash(d) for d in dirs if d and os.path.isdir(d)))
    value = archives[0] if archives else (shown[0] if shown else "")
    return Choices(value, archives, shown)


def with_slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def complete_path(text: str) -> str:
    """Shell-like Tab completion: the one match in full (a folder with its "/"), or the
    longest prefix several matches share; the text unchanged when nothing matches."""
    expanded = os.path.expanduser(text)
    directory, prefix = os.path.split(expanded)
    try:
        names = [n for n in os.listdir(directory or ".") if n.startswith(prefix)]
    except OSError:
        return text
    if not prefix:
        names = [n for n in names if not n.startswith(".")]
    if not names:
        return text
    common = shared_prefix(names)
    done = os.path.join(directory, common)
    if len(names) == 1 and os.path.isdir(done):
        done = with_slash(done)
    return done if len(done) > len(expanded) else expanded


def archives_in(directory: str) -> list[str]:
    """The .zip and .zip.age files directly in `directory`, newest first."""
    found: list[tuple[float, str]] = []
    with os.scandir(directory) as it:
        for entry in it:
            if is_archive_name(entry.name) and entry.is_file():
                with contextlib.suppress(OSError):
                    found.append((entry.stat().st_mtime, entry.path))
    found.sort(key=lambda t: (-t[0], t[1]))
    return [p for _, p in found[:LIST_LIMIT]]


def shared_prefix(names: list[str]) -> str:
    """The longest start all names share, character by character (as a shell completes)."""
    first, last = min(names), max(names)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    return first[:n]
