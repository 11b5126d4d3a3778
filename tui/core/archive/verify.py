"""End-to-end verification of an archive: layout, every CRC-32, SHA256SUMS, manifest, signature.

Every entry is read once, in file order; its SHA-256 is computed in the same pass as its CRC-32.
The metadata files (manifest, signature, SHA256SUMS) are read first, so each data entry is
checked against them the moment it is read and nothing per entry has to be kept.
Any zip can be verified: one without our metadata gets the structure and CRC-32 checks only.

An archive is untrusted input. Every manifest value is checked for type and range by the one
manifest model (tui.core.archive.manifest_model, which the restore planner and the explorer
use too), and each entry's metadata in the
zip itself (mode with type and setuid bits, uid/gid, extended-timestamp mtime: what `unzip -X`
would apply) must match its manifest entry. Nothing here recurses on the archive's shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

from tui.core.archive.manifest_model import (
    MANIFEST_LIMIT,
    ManifestEntry,
    PortalRecord,
    manifest_entry_problems,
    manifest_problems,
    shape_problems,
)
from tui.core.archive.zipreader import (
    ZipEntry,
    ZipFormatError,
    ZipReader,
    show,
    show_short,
    structure_problems,
)
from tui.core.errors import Cancelled
from tui.core.events import Throttle
from tui.core.model import MANIFEST_NAME, META_NAMES, SIGNATURE_NAME, SUMS_NAME

__all__ = [
    "VerifyProgress",
    "VerifyReport",
    "manifest_entry_problems",
    "manifest_problems",
    "parse_sha256sums",
    "verify_archive",
]

SignatureState = Literal["valid", "invalid", "unsigned", "unchecked"]

MAX_PROBLEMS = 50
_META_LIMIT = MANIFEST_LIMIT  # metadata is held in memory; refuse absurd declared sizes
_CHUNK = 1 << 20
_TARGET_LIMIT = 1 << 16  # a symlink target longer than this is wrong anyway
_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)", re.DOTALL)
_SUMS_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}
_META_READ = (MANIFEST_NAME, SIGNATURE_NAME, SUMS_NAME)  # read before the pass, kept in memory
_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}
_UT_SECONDS = 1 << 31  # the extended timestamp holds signed 32-bit seconds (the writer clamps)


@dataclass(frozen=True)
class VerifyProgress:
    bytes_done: int
    bytes_total: int
    entries_done: int
    entries_total: int
    current: str


@dataclass
class VerifyReport:
    ok: bool
    problems: list[str]  # the first MAX_PROBLEMS, then one line counting the rest
    entries: int
    bytes_checked: int
    signed_by: str | None  # the manifest's portal.id when its signature holds
    signature: SignatureState  # "unchecked": signed, but the check was skipped or unavailable
    has_manifest: bool
    has_sums: bool
    notes: list[str] = field(default_factory=list)
    problem_count: int = 0


class _Problems:
    """Keeps the first few problems and counts the rest, so a wrecked archive stays readable."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.count = 0
        self._seen: set[str] = set()  # the layout check and a read may find the same fault

    def add(self, message: str) -> None:
        if message in self._seen:
            return
        self._seen.add(message)
        self.count += 1
        if len(self.shown) < MAX_PROBLEMS:
            self.shown.append(message)

    def listing(self) -> list[str]:
        more = self.count - len(self.shown)
        return [*self.shown, f"... and {more} more problems."] if more else list(self.shown)


def _unescape_sums_name(name: str) -> str | None:
    out: list[str] = []
    chars = iter(name)
    for ch in chars:
        if ch == "\\":
            ch = _SUMS_ESCAPES.get(next(chars, ""), "")
            if not ch:
                return None
        out.append(ch)
    return "".join(out)


def parse_sha256sums(text: str) -> tuple[dict[str, str], list[str]]:
    """(name -> lowercase hex digest, problems) from `sha256sum` output, GNU escapes undone."""
    sums: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        escaped = line.startswith("\\")
        match = _SUMS_LINE.fullmatch(line[1:] if escaped else line)
        name = match[2] if match else None
        if name is not None and escaped:
            name = _unescape_sums_name(name)
        if match is None or name is None:
            problems.append(f"{SUMS_NAME}: line {number} is not in sha256sum format.")
            continue
        if name in sums:
            problems.append(f"{show(name)}: listed twice in {SUMS_NAME}.")
        sums[name] = match[1].lower()
    return sums, problems


def _metadata_mismatches(entry: ZipEntry, rec: ManifestEntry, kind: str) -> Iterator[str]:
    """How the zip's own metadata (which `unzip -X` applies) differs from the manifest's."""
    name = show_short(entry.name)
    mode = entry.unix_mode
    # Symlinks are always written 0777 (Linux ignores their permission bits).
    want = _TYPE_BITS[kind] | (0o777 if kind == "symlink" else rec.mode)
    if mode is not None and mode != want:
        yield f"{name}: the archive stores mode {mode:o} but the manifest says {want:o}."
    uid, gid = entry.uid, entry.gid
    if uid is not None and gid is not None and (uid, gid) != (rec.uid, rec.gid):
        yield (
            f"{name}: the archive stores owner {uid}:{gid} but the manifest says "
            f"{rec.uid}:{rec.gid}."
        )
    mtime = entry.unix_mtime
    secs = max(-_UT_SECONDS, min(_UT_SECONDS - 1, rec.mtime_ns // 1_000_000_000))
    if mtime is not None and mtime != secs:
        yield f"{name}: the archive stores mtime {mtime} but the manifest says {secs}."


def _kind(entry: ZipEntry) -> str:
    return "dir" if entry.is_dir else "symlink" if entry.is_symlink else "file"


class _Verifier:
    def __init__(
        self,
        reader: ZipReader,
        problems: _Problems,
        on_progress: Callable[[VerifyProgress], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.reader = reader
        self.problems = problems
        self.on_progress = on_progress
        self.cancel = cancel
        self.throttle = Throttle(hz=8)
        self.meta: dict[str, bytes] = {}  # metadata entries that read back intact
        self.sums: dict[str, str] | None = None
        self.portal: PortalRecord | None = None  # whose key checks the signature
        # manifest entries by path; None: listed with invalid values (reported), so only
        # their type (in `unusable`) is compared
        self.listed: dict[str, ManifestEntry | None] | None = None
        self.in_base: set[str] = set()  # a differential's entries held by its base
        self.doc: dict[str, Any] | None = None  # the manifest document, when it parsed
        self.unusable: dict[str, Any] = {}
        self.bytes_done = 0
        self.bytes_total = sum(e.size for e in reader.entries)
        self.entries_done = 0

    # -- metadata, read before the main pass ---------------------------------------------------

    def read_metadata(self) -> None:
        for name in _META_READ:
            entry = self.reader.get(name)
            if entry is None:
                continue
            try:
                self.meta[name] = self.reader.read_entry(entry, limit=_META_LIMIT)
            except ZipFormatError as err:
                self.problems.add(str(err))
        if SUMS_NAME in self.meta:
            self._load_sums(self.meta[SUMS_NAME])
        if MANIFEST_NAME in self.meta:
            self._load_manifest(self.meta[MANIFEST_NAME])

    def _load_sums(self, data: bytes) -> None:
        # Names that are not UTF-8 are listed with their raw bytes (as sha256sum writes them);
        # decoded like the reader decodes such entry names, so the two compare equal.
        text = data.decode("utf-8", "surrogateescape")
        self.sums, problems = parse_sha256sums(text)
        for problem in problems:
            self.problems.add(problem)

    def _load_manifest(self, data: bytes) -> None:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as err:  # the C decoder recurses on nesting
            self.problems.add(f"{MANIFEST_NAME}: it is not valid JSON ({err}).")
            return
        fmt = doc.get("format") if isinstance(doc, dict) else None
        if not isinstance(fmt, int) or fmt < 1:
            self.problems.add(f"{MANIFEST_NAME}: it has no valid format number.")
            return
        self.portal = PortalRecord.from_json(doc.get("portal"))
        if fmt > 1:
            self.problems.add(f"{MANIFEST_NAME}: format {fmt} is newer than this tool reads.")
            return
        # The model's checks, but every problem is reported and each usable entry compared.
        for problem in shape_problems(doc):
            self.problems.add(problem)
        entries = doc.get("entries")
        if not isinstance(entries, list):
            self.problems.add(f"{MANIFEST_NAME}: it has no list of entries.")
            return
        listed: dict[str, ManifestEntry | None] = {}
        for number, rec in enumerate(entries, 1):
            if not isinstance(rec, dict) or not isinstance(rec.get("path"), str):
                self.problems.add(f"{MANIFEST_NAME}: entry {number} has no path.")
                continue
            path = rec["path"]
            if path in listed:
                self.problems.add(f"{show(path)}: listed twice in the manifest.")
            why = manifest_entry_problems(rec)
            if why:
                self.problems.add(why)
                self.unusable[path] = rec.get("type")
            listed[path] = None if path in self.unusable else ManifestEntry.from_json(rec)
            if rec.get("in_base") is True:
                self.in_base.add(path)
        if self.in_base and doc.get("differential") is None:
            self.problems.add(
                f"{MANIFEST_NAME}: entries are marked as held by a base, but it names none."
            )
        self.listed = listed
        self.doc = doc

    # -- the main pass -------------------------------------------------------------------------

    def _progress(self, current: str, force: bool = False) -> None:
        if self.on_progress is not None and self.throttle.ready(force):
            self.on_progress(
                VerifyProgress(
                    self.bytes_done,
                    self.bytes_total,
                    self.entries_done,
                    len(self.reader.entries),
                    current,
                )
            )

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Verification was cancelled.")

    def read_all(self) -> None:
        self._progress("", force=True)
        for entry in sorted(self.reader.entries, key=lambda e: e.header_offset):
            self._check_cancel()
            self._check_entry(entry)
            self.entries_done += 1
            self._progress(entry.name)
        self._progress("", force=True)

    def _check_entry(self, entry: ZipEntry) -> None:
        name, kind = entry.name, _kind(entry)
        chunks: list[bytes] | Iterator[bytes]
        if name in _META_READ and self.reader.get(name) is entry:
            if name not in self.meta:
                return  # it failed to read before the pass, and that was reported
            chunks = [self.meta[name]]
        else:
            chunks = self.reader.iter_chunks(entry, _CHUNK)
        want_sha = kind == "file" and (self.sums is not None or self.listed is not None)
        digest = hashlib.sha256() if want_sha else None
        head = bytearray()  # the start of the data, kept for symlink targets
        try:
            for chunk in chunks:
                self.bytes_done += len(chunk)
                if digest is not None:
                    digest.update(chunk)
                if kind == "symlink" and len(head) <= _TARGET_LIMIT:
                    head += chunk
                self._check_cancel()
                self._progress(name)
        except ZipFormatError as err:
            self.problems.add(str(err))
            return  # its contents are not worth comparing with anything
        sha = digest.hexdigest() if digest is not None else None
        if self.sums is not None and kind == "file" and name != SUMS_NAME:
            expected = self.sums.get(name)
            if expected is None:
                self.problems.add(f"{show(name)}: not listed in {SUMS_NAME}.")
            elif expected != sha:
                self.problems.add(f"{show(name)}: its SHA-256 does not match {SUMS_NAME}.")
        if self.listed is not None and name not in META_NAMES:
            self._compare_with_manifest(entry, kind, sha, bytes(head))

    def _compare_with_manifest(
        self, entry: ZipEntry, kind: str, sha: str | None, head: bytes
    ) -> None:
        assert self.listed is not None
        name = entry.name
        if name not in self.listed:
            self.problems.add(f"{show(name)}: in the archive but not listed in the manifest.")
            return
        rec = self.listed[name]
        if name in self.in_base:
            self.problems.add(
                f"{show(name)}: in the archive, but the manifest says the base holds it."
            )
            return
        listed_type = rec.type if rec is not None else self.unusable.get(name)
        if listed_type != kind:
            self.problems.add(
                f"{show(name)}: the manifest says {listed_type!r} but the archive has a {kind}."
            )
            return
        if rec is None:
            return
        if kind != "dir" and rec.size != entry.size:
            self.problems.add(
                f"{show(name)}: the manifest says {rec.size} bytes "
                f"but the archive holds {entry.size}."
            )
        if kind == "file" and rec.sha256 != sha:
            self.problems.add(f"{show(name)}: its SHA-256 does not match the manifest.")
        if kind == "symlink" and (rec.target or "").encode() != head:
            self.problems.add(f"{show(name)}: its link target does not match the manifest.")
        for problem in _metadata_mismatches(entry, rec, kind):
            self.problems.add(problem)

    # -- after the pass ------------------------------------------------------------------------

    def check_listings(self) -> None:
        """Names the metadata lists that the archive lacks (or has as something else)."""
        get = self.reader.get
        for name in self.sums or ():
            entry = get(name)
            if entry is None:
                self.problems.add(f"{show(name)}: listed in {SUMS_NAME} but missing.")
            elif not entry.is_file:
                self.problems.add(f"{show(name)}: listed in {SUMS_NAME} but not a regular file.")
        for name in self.listed or ():
            if get(name) is None and name not in self.in_base:
                self.problems.add(f"{show(name)}: listed in the manifest but missing.")

    def check_signature(self, public_key_check: bool) -> tuple[SignatureState, str | None, str]:
        """(state, signer, note) for the manifest's signature."""
        if self.reader.get(SIGNATURE_NAME) is None:
            return "unsigned", None, ""
        if not public_key_check:
            return "unchecked", None, "The manifest's signature was not checked (as asked)."
        sig, manifest_bytes = self.meta.get(SIGNATURE_NAME), self.meta.get(MANIFEST_NAME)
        if sig is None:
            return "invalid", None, ""  # unreadable: reported already
        key = self.portal.public_key if self.portal else None
        if manifest_bytes is None or key is None:
            self.problems.add(f"{SIGNATURE_NAME}: there is no manifest public key to check it.")
            return "invalid", None, ""
        try:  # lazily: signing pulls in cryptography, which plain zips never need
            from tui.core.crypto.signing import verify_manifest_signature
        except ImportError:
            return "unchecked", None, "Signature support is unavailable: it was not checked."
        try:
            good = verify_manifest_signature(manifest_bytes, sig, key)
        except Exception as err:  # an unreadable key; the signing module words it
            self.problems.add(f"{SIGNATURE_NAME}: it could not be checked: {err}")
            return "invalid", None, ""
        if not good:
            self.problems.add(f"{SIGNATURE_NAME}: the signature does not match the manifest.")
            return "invalid", None, ""
        return "valid", self.portal.id if self.portal else None, ""


def _verify(
    fp: BinaryIO,
    name: str,
    on_progress: Callable[[VerifyProgress], None] | None,
    cancel: threading.Event | None,
    public_key_check: bool,
    open_base: Callable[[str], BinaryIO] | None = None,
) -> VerifyReport:
    problems = _Problems()
    try:
        reader = ZipReader(fp, name=name)
    except ZipFormatError as err:
        problems.add(str(err))
        return VerifyReport(False, problems.listing(), 0, 0, None, "unsigned", False, False,
                            problem_count=problems.count)  # fmt: skip
    for problem in structure_problems(reader):
        problems.add(problem)
    v = _Verifier(reader, problems, on_progress, cancel)
    v.read_metadata()
    v.read_all()
    v.check_listings()
    has_manifest = reader.get(MANIFEST_NAME) is not None
    has_sums = reader.get(SUMS_NAME) is not None
    notes: list[str] = []
    if not has_manifest and not has_sums:
        notes.append(
            "No portal-backup.json or SHA256SUMS: not a portal-backup archive, "
            "so only its structure and CRC-32s were checked."
        )
    elif not has_manifest:
        notes.append("No portal-backup.json: checked structure, CRC-32s and SHA256SUMS only.")
    elif not has_sums:
        problems.add(f"{SUMS_NAME}: missing, though every portal-backup archive has one.")
    state, signer, note = v.check_signature(public_key_check)
    if note:
        notes.append(note)
    if v.doc is not None and isinstance(v.doc.get("differential"), dict):
        notes.extend(_chain_notes(v, name, open_base))
    return VerifyReport(
        ok=problems.count == 0,
        problems=problems.listing(),
        entries=len(reader.entries),
        bytes_checked=v.bytes_done,
        signed_by=signer,
        signature=state,
        has_manifest=has_manifest,
        has_sums=has_sums,
        notes=notes,
        problem_count=problems.count,
    )


def _chain_notes(v: _Verifier, name: str, open_base: Callable[[str], BinaryIO] | None) -> list[str]:
    """A differential: with `open_base`, whether its base beside it completes the chain."""
    from tui.core.archive.chain import chain_problems

    assert v.doc is not None
    base = v.doc["differential"].get("base")
    kept = len(v.in_base)
    if open_base is None:
        return [f"A differential of {base} ({kept} entries held there): the chain was not checked."]
    where = os.path.join(os.path.dirname(name), str(base))
    if not os.path.exists(where):
        return [
            f"A differential of {base}, which is not beside it: the differential alone was "
            "checked (restoring it needs the base)."
        ]
    problems = chain_problems(name, v.doc, open_base)
    for problem in problems:
        v.problems.add(problem)
    if problems:
        return []
    return [
        f"A differential: its base {base} is beside it with the SHA-256 recorded and holds "
        f"the {kept} unchanged entries (`verify` the base to check its own entries)."
    ]


def verify_archive(
    fileobj_or_path: str | os.PathLike[str] | BinaryIO,
    *,
    on_progress: Callable[[VerifyProgress], None] | None = None,
    cancel: threading.Event | None = None,
    public_key_check: bool = True,
    open_base: Callable[[str], BinaryIO] | None = None,
    name: str | None = None,
) -> VerifyReport:
    """Checks an archive end to end; raises Cancelled when `cancel` is set mid-way. For a
    differential, `open_base` (an opener of the base beside it) checks the chain too; `name`
    is the file's path when a file object is given (a decrypting view has none)."""
    if isinstance(fileobj_or_path, str | os.PathLike):
        path = os.fspath(fileobj_or_path)
        with open(path, "rb") as fp:
            return _verify(fp, path, on_progress, cancel, public_key_check, open_base)
    name = name or str(getattr(fileobj_or_path, "name", "")) or "archive"
    return _verify(fileobj_or_path, name, on_progress, cancel, public_key_check, open_base)
