"""A differential archive and its base seen as one archive state (issue 14).

A differential's manifest lists the whole tree at its time; entries marked `in_base` are
unchanged since its base, a full archive found beside it by the name the manifest records and
accepted only when its file's SHA-256 is the one recorded. `ChainReader` is a ZipReader whose
entries are the differential's own plus, for each `in_base` path, the base's entry: restore,
the explorer and extraction read it like any archive, and every entry's bytes are still
checked against the differential's manifest (size, CRC-32, SHA-256) before use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tui.core.archive.manifest_model import (
    DifferentialRecord,
    Manifest,
    differential_problem,
    manifest_bytes,
    parse_manifest,
)
from tui.core.archive.zipreader import (
    ZipEntry,
    ZipFormatError,
    ZipReader,
    show,
    structure_problems,
)
from tui.core.errors import PortalBackupError
from tui.core.model import MANIFEST_NAME, META_NAMES

__all__ = [
    "ChainReader",
    "base_path",
    "chain_problems",
    "open_for_browsing",
    "open_state",
    "state_structure_problems",
]

Opener = Callable[[str], BinaryIO]  # opens an archive file, decrypting a .zip.age
_CHUNK = 1 << 20


class ChainReader(ZipReader):
    """The combined state of a differential and its base. Entries keep their own offsets;
    each is read through the reader of the file that holds it."""

    def __init__(self, diff: ZipReader, base: ZipReader, manifest: Manifest) -> None:
        # Not ZipReader.__init__: there is no one file whose directory to parse.
        self.diff = diff
        self.base = base
        self.manifest = manifest
        self.name = diff.name
        self.layout_problems = []
        self._owns = False
        self._fp = diff._fp
        self._by_name = None
        self.comment = diff.comment
        self.file_size = diff.file_size
        self.eocd_offset, self.cd_offset, self.cd_size = 0, 0, 0
        self.zip64 = diff.zip64
        self._owner: dict[int, ZipReader] = {}
        entries: list[ZipEntry] = []
        for rec in manifest.entries:
            reader = base if rec.in_base else diff
            entry = reader.get(rec.path)
            if entry is None:  # never skipped silently: a restore would leave a hole
                where = f"its base {Path(base.name).name}" if rec.in_base else "it"
                raise PortalBackupError(
                    f"{Path(diff.name).name} lists {show(rec.path)} in its state, but {where} "
                    "does not hold it; the chain is incomplete and cannot be used"
                )
            entries.append(entry)
            self._owner[id(entry)] = reader
        for entry in diff.entries:
            if entry.name in META_NAMES:
                entries.append(entry)
                self._owner[id(entry)] = diff
        self.entries = entries

    def reader_of(self, entry: ZipEntry) -> ZipReader:
        owner = self._owner.get(id(entry))
        if owner is None:
            raise ZipFormatError(f"{show(entry.name)}: not an entry of {self.name}.")
        return owner

    def from_base(self, name: str) -> bool:
        entry = self.get(name)
        return entry is not None and self._owner.get(id(entry)) is self.base

    def sharing(self, fileobj: BinaryIO) -> ZipReader:
        raise PortalBackupError("a differential and its base are two files: read it in one thread")

    def data_offset(self, entry: ZipEntry) -> int:
        return self.reader_of(entry).data_offset(entry)

    def open_entry(self, entry: ZipEntry) -> BinaryIO:
        return self.reader_of(entry).open_entry(entry)

    def close(self) -> None:
        self.diff.close()
        self.base.close()


def state_structure_problems(reader: ZipReader) -> list[str]:
    """structure_problems of an archive, or of both files of a chain (offsets are per file)."""
    if isinstance(reader, ChainReader):
        return structure_problems(reader.diff) + structure_problems(reader.base)
    return structure_problems(reader)


def base_path(archive: str, diff: DifferentialRecord) -> Path:
    """Where a differential's base must be: beside it, under the name it recorded."""
    return Path(archive).parent / diff.base


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file as stored (OSError when it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _differential_of(reader: ZipReader) -> Manifest | None:
    """The manifest when the archive is a differential, else None (cheaply for a full one:
    its manifest is parsed again by whoever plans from it)."""
    if reader.get(MANIFEST_NAME) is None:
        return None
    raw = manifest_bytes(reader)
    if b'"differential"' not in raw:
        return None
    manifest = parse_manifest(raw)
    return manifest if manifest.differential is not None else None


def missing_base(archive: str, diff: DifferentialRecord) -> PortalBackupError:
    where = base_path(archive, diff)
    return PortalBackupError(
        f"{Path(archive).name} is a differential backup and needs its full backup "
        f"{diff.base} beside it in {where.parent}, which is not there; put it there (or fetch "
        "it from the destination) and try again; nothing was written"
    )


def checked_base(archive: str, diff: DifferentialRecord) -> Path:
    """The base's path once its file's SHA-256 is the one the differential recorded."""
    path = base_path(archive, diff)
    try:
        digest = file_sha256(path)
    except FileNotFoundError:
        raise missing_base(archive, diff) from None
    except OSError as exc:
        raise PortalBackupError(f"cannot read the base {path}: {exc.strerror}") from exc
    if digest != diff.base_sha256:
        raise PortalBackupError(
            f"{path.name} beside {Path(archive).name} is not the full backup it was made "
            f"from (its SHA-256 differs from the one recorded); refusing to use it, nothing "
            "was written"
        )
    return path


def open_state(fileobj: BinaryIO, name: str, open_other: Opener) -> ZipReader:
    """The archive at `name` to read from: itself, or for a differential the chain with its
    base (found beside it, its SHA-256 checked, opened with `open_other`). Raises
    PortalBackupError (one sentence) for a missing or different base."""
    reader = ZipReader(fileobj, name=name)
    manifest = _differential_of(reader)
    if manifest is None or manifest.differential is None:
        return reader
    path = checked_base(name, manifest.differential)
    base_file = open_other(str(path))
    try:
        base = ZipReader(base_file, name=str(path))
        base._owns = True  # closed with the chain
        if _differential_of(base) is not None:
            raise PortalBackupError(
                f"{path.name} is itself a differential; a differential's base is a full backup"
            )
        return ChainReader(reader, base, manifest)
    except BaseException:
        base_file.close()
        raise


def open_for_browsing(
    fileobj: BinaryIO, name: str, open_other: Opener
) -> tuple[ZipReader, str | None]:
    """The explorer's view: the chain when the base is beside it and matches, else the
    differential alone with the sentence saying why (browsing what it holds stays useful)."""
    try:
        return open_state(fileobj, name, open_other), None
    except PortalBackupError as exc:
        reader = ZipReader(fileobj, name=name)
        if _differential_of(reader) is None:
            raise
        why = str(exc).replace("; nothing was written", "").rstrip(".")
        return reader, f"{why}: showing only the entries this differential holds"


def chain_problems(name: str, diff: dict[str, object], open_other: Opener) -> list[str]:
    """For verify: whether the chain is complete. `diff` is the differential's manifest
    document (checked). Problems as sentences; a missing base is one too."""
    if differential_problem(diff.get("differential")) or diff.get("differential") is None:
        return []
    record = DifferentialRecord.from_json(diff["differential"])  # type: ignore[arg-type]  # checked above
    try:
        path = checked_base(name, record)
    except PortalBackupError as exc:
        return [str(exc).replace("; nothing was written", "").rstrip(".") + "."]
    problems: list[str] = []
    with open_other(str(path)) as f:
        try:
            base = ZipReader(f, name=str(path))
            base_manifest = parse_manifest(manifest_bytes(base))
        except PortalBackupError as exc:
            return [f"{path.name}: {exc}."]
        if base_manifest.differential is not None:
            return [f"{path.name} is itself a differential, not a full backup."]
        listed = {e.path: e for e in base_manifest.entries}
        entries = diff.get("entries")
        for rec in entries if isinstance(entries, list) else ():
            if not (isinstance(rec, dict) and rec.get("in_base") is True):
                continue
            old = listed.get(rec.get("path"))  # type: ignore[arg-type]  # a str once checked
            shown = show(str(rec.get("path")))
            if old is None or base.get(old.path) is None:
                problems.append(f"{shown}: held by the base, but {path.name} lacks it.")
            elif (old.type, old.size, old.sha256, old.target) != (
                rec.get("type"),
                rec.get("size"),
                rec.get("sha256"),
                rec.get("target"),
            ):
                problems.append(f"{shown}: the base holds another version of it.")
    return problems
