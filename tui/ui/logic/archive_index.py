"""A folder view over a zip's flat entry list, with sizes summed per folder. No Textual here.

Built once in a worker when an archive opens (a 100,000-entry archive takes well under a
second); the explorer's tree then adds a folder's children only when it is expanded. Entries
whose names are unsafe to extract (`..`, absolute paths) are kept apart, never placed in a
folder they might pretend to be in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tui.core.archive.manifest_model import Manifest
from tui.core.archive.zipreader import ZipEntry, unsafe_reason
from tui.core.model import DB_REL, IDENTITY_ARCHIVE_REL, MANIFEST_NAME

# Entries that may hold a private key: the database, and the identity file of older archives.
IDENTITY_ENTRIES = frozenset({DB_REL, IDENTITY_ARCHIVE_REL})


def key_entries(manifest: Manifest | None) -> frozenset[str]:
    """The entries to flag as holding a private key: the manifest's word when there is one
    (a database stored without its private keys holds none)."""
    if manifest is not None and manifest.db_private_keys_removed:
        return IDENTITY_ENTRIES - {DB_REL}
    return IDENTITY_ENTRIES


@dataclass(eq=False)
class Folder:
    path: str  # "" for the root, else "a/b/"
    name: str
    folders: dict[str, Folder] = field(default_factory=dict)
    files: list[ZipEntry] = field(default_factory=list)
    entry: ZipEntry | None = None  # the folder's own entry, when the zip has one
    size: int = 0  # everything below, summed
    compressed: int = 0
    count: int = 0  # entries below (files, links and folders)


@dataclass(frozen=True)
class Unsafe:
    entry: ZipEntry
    reason: str


class ArchiveIndex:
    def __init__(self, entries: Iterable[ZipEntry]) -> None:
        self.root = Folder("", "")
        self.unsafe: list[Unsafe] = []
        self.entries: list[ZipEntry] = []
        for entry in entries:
            self._add(entry)

    def _add(self, entry: ZipEntry) -> None:
        self.entries.append(entry)
        name = entry.name
        # unsafe_reason costs a regex split; only names with a suspicious character need it.
        suspicious = (
            name[:1] in ("/", "\\", "") or ".." in name or "\x00" in name or (name[1:2] == ":")
        )
        reason = unsafe_reason(name) if suspicious else None
        if reason:
            self.unsafe.append(Unsafe(entry, reason))
            return
        parts = [p for p in name.split("/") if p]
        if not parts:
            return
        is_dir = name.endswith("/")
        dir_parts = parts if is_dir else parts[:-1]
        folder = self.root
        chain = [folder]
        for part in dir_parts:
            child = folder.folders.get(part)
            if child is None:
                child = Folder(f"{folder.path}{part}/", part)
                folder.folders[part] = child
            folder = child
            chain.append(folder)
        if is_dir:
            folder.entry = entry
            chain.pop()  # a folder's own entry counts in its parents, not in itself
        else:
            folder.files.append(entry)
        for f in chain:
            f.size += entry.size
            f.compressed += entry.compressed_size
            f.count += 1

    def find(self, path: str) -> Folder | None:
        folder: Folder | None = self.root
        for part in (p for p in path.split("/") if p):
            folder = folder.folders.get(part) if folder else None
        return folder

    def entries_under(self, path: str) -> list[ZipEntry]:
        """Every safe entry inside folder `path` ("" for all of them, unsafe ones included)."""
        if not path:
            return list(self.entries)
        return [e for e in self.entries if e.name.startswith(path) and not unsafe_reason(e.name)]

    @property
    def has_manifest(self) -> bool:
        return any(e.name == MANIFEST_NAME for e in self.root.files)


def matching(entries: Iterable[ZipEntry], needle: str, limit: int) -> tuple[list[ZipEntry], int]:
    """Entries whose name contains `needle` (case-insensitive): the first `limit`, and the count."""
    needle = needle.lower()
    found: list[ZipEntry] = []
    count = 0
    for entry in entries:
        if needle in entry.name.lower():
            count += 1
            if len(found) < limit:
                found.append(entry)
    return found, count


def ratio(size: int, compressed: int) -> str:
    """Space saved, as unzip -v prints it."""
    if size <= 0:
        return ""
    return f"{max(0, round(100 - compressed * 100 / size))}%"
