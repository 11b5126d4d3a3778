"""The manifest (portal-backup.json) as one typed model: its records, checks, reader and JSON.

Every reader (verify, restore planning, the explorer) goes through this module, so they all
accept the same archives under the same size limit. An archive is untrusted input: each value is
checked for type and range (`manifest_problems`) before a `Manifest` is built from it, and the
builders below only ever see checked documents. Unknown keys are ignored (forward compatibility);
the Docker container `config` stays Docker's own dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tui.core.archive.zipreader import ZipFormatError, ZipReader, show_short
from tui.core.errors import PortalBackupError
from tui.core.model import MANIFEST_NAME

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_LIMIT",
    "ContainerRecord",
    "DifferentialRecord",
    "ItemRecord",
    "Manifest",
    "ManifestEntry",
    "MountRecord",
    "PortalRecord",
    "SkippedRecord",
    "ToolRecord",
    "VolumeRecord",
    "differential_problem",
    "manifest_bytes",
    "manifest_entry_problems",
    "manifest_problems",
    "parse_manifest",
    "read_manifest",
]

FORMAT_VERSION = 1
MANIFEST_LIMIT = 1 << 30  # the manifest is held in memory; refuse absurd declared sizes

_ENTRY_TYPES = ("file", "dir", "symlink")
_INT64 = 1 << 63  # st_size and st_mtime_ns are signed 64-bit
_ID_END = (1 << 32) - 1  # uid_t; 0xFFFFFFFF is -1, which chown reads as "leave unchanged"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ENTRY_INTS = (
    ("size", 0, _INT64),
    ("mode", 0, 0o10000),
    ("uid", 0, _ID_END),
    ("gid", 0, _ID_END),
    ("mtime_ns", -_INT64, _INT64),
)
_OPTIONAL_TEXT = ("created", "host")
_RECORD_TEXT = ("id", "name", "root", "public_key", "version")  # in "portal" and "tool"


# --------------------------------------------------------------------------- records


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, which
# made building entries 7 times slower and the largest cost of reading a 1,000,000-entry
# manifest (issue 14). Treat entries as immutable all the same (dataclasses.replace).
@dataclass(slots=True, unsafe_hash=True)
class ManifestEntry:
    """One data entry of the zip. A name that is not UTF-8 is the str os.fsdecode makes of it;
    its exact bytes are in `path_raw` (`target_raw`), base64, as written."""

    path: str  # directories end with "/"
    type: str  # file, dir or symlink
    size: int
    mode: int  # permission bits
    uid: int
    gid: int
    mtime_ns: int
    sha256: str | None = None  # files
    target: str | None = None  # symlinks
    path_raw: str | None = None
    target_raw: str | None = None
    # Stat identity at backup time, so a later differential can tell a file rewritten with
    # its size and mtime put back (issue 14); absent for trees read through Docker.
    ino: int | None = None
    ctime_ns: int | None = None
    in_base: bool = False  # a differential's unchanged entry: its bytes are in the base

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> ManifestEntry:
        """From a record `manifest_entry_problems` passed."""
        return cls(
            path=rec["path"],
            type=rec["type"],
            size=rec["size"],
            mode=rec["mode"],
            uid=rec["uid"],
            gid=rec["gid"],
            mtime_ns=rec["mtime_ns"],
            sha256=rec.get("sha256") if rec["type"] == "file" else None,
            target=_text(rec.get("target")),
            path_raw=_text(rec.get("path_raw")),
            target_raw=_text(rec.get("target_raw")),
            ino=rec.get("ino"),
            ctime_ns=rec.get("ctime_ns"),
            in_base=rec.get("in_base") is True,
        )

    def to_json(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "mode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "mtime_ns": self.mtime_ns,
        }
        for key in ("sha256", "target", "path_raw", "target_raw", "ino", "ctime_ns"):
            value = getattr(self, key)
            if value is not None:
                rec[key] = value
        if self.in_base:
            rec["in_base"] = True
        return rec


@dataclass(frozen=True)
class ContainerRecord:
    """A container of an app at backup time; `config` is what restore recreates it from."""

    id: str
    name: str
    image: str
    service: str | None
    state_before: str
    quiesced: str
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> ContainerRecord:
        return cls(
            id=str(rec.get("id") or ""),
            name=rec["name"],
            image=str(rec.get("image") or ""),
            service=_text(rec.get("service")),
            state_before=str(rec.get("state_before") or "unknown"),
            quiesced=str(rec.get("quiesced") or "none"),
            config=_dict(rec.get("config")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "image": self.image,
            "service": self.service,
            "state_before": self.state_before,
            "quiesced": self.quiesced,
            "config": self.config,
        }


@dataclass(frozen=True)
class MountRecord:
    """A mount: an app's (all fields) or a mount item's own (type, source, destination)."""

    type: str
    source: str
    destination: str
    id: str | None = None
    read_only: bool | None = None
    archive_path: str | None = None

    @classmethod
    def from_json(cls, rec: Any) -> MountRecord | None:
        if not isinstance(rec, dict):
            return None
        read_only = rec.get("read_only")
        return cls(
            type=str(rec.get("type") or ""),
            source=str(rec.get("source") or ""),
            destination=str(rec.get("destination") or ""),
            id=_text(rec.get("id")),
            read_only=read_only if isinstance(read_only, bool) else None,
            archive_path=_text(rec.get("archive_path")),
        )

    def to_json(self) -> dict[str, Any]:
        rec: dict[str, Any] = {} if self.id is None else {"id": self.id}
        rec |= {"type": self.type, "source": self.source, "destination": self.destination}
        if self.read_only is not None:
            rec["read_only"] = self.read_only
        if self.archive_path is not None:
            rec["archive_path"] = self.archive_path
        return rec


@dataclass(frozen=True)
class ItemRecord:
    """A selected item and the archive paths that hold it; apps with containers and mounts."""

    id: str
    kind: str
    label: str
    paths: tuple[str, ...] = ()
    containers: tuple[ContainerRecord, ...] | None = None  # apps only
    mounts: tuple[MountRecord, ...] | None = None  # apps only
    mount: MountRecord | None = None  # mount items only

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> ItemRecord:
        containers, mounts = rec.get("containers"), rec.get("mounts")
        return cls(
            id=rec["id"],
            kind=str(rec.get("kind", "")),
            label=str(rec.get("label", rec["id"])),
            paths=tuple(rec.get("paths") or ()),
            containers=None
            if containers is None
            else tuple(ContainerRecord.from_json(c) for c in containers),
            mounts=None
            if not isinstance(mounts, list)
            else tuple(m for m in map(MountRecord.from_json, mounts) if m is not None),
            mount=MountRecord.from_json(rec.get("mount")),
        )

    def to_json(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "paths": list(self.paths),
        }
        if self.containers is not None:
            rec["containers"] = [c.to_json() for c in self.containers]
        if self.mounts is not None:
            rec["mounts"] = [m.to_json() for m in self.mounts]
        if self.mount is not None:
            rec["mount"] = self.mount.to_json()
        return rec


@dataclass(frozen=True)
class VolumeRecord:
    """A named volume stored, with what restore needs to create it again."""

    name: str
    driver: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    archive_path: str | None = None

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> VolumeRecord:
        """From a record `manifest_problems` passed."""
        return cls(
            name=rec["name"],
            driver=rec.get("driver"),
            labels=rec.get("labels") or {},
            options=rec.get("options") or {},
            archive_path=_text(rec.get("archive_path")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver": self.driver,
            "labels": self.labels,
            "options": self.options,
            "archive_path": self.archive_path,
        }


@dataclass(frozen=True)
class SkippedRecord:
    """A host file the backup left out (a FIFO, a socket, an SQLite journal), and why."""

    path: str
    type: str
    reason: str

    @classmethod
    def from_json(cls, rec: Any) -> SkippedRecord | None:
        if not isinstance(rec, dict) or not isinstance(rec.get("path"), str):
            return None
        return cls(rec["path"], str(rec.get("type") or ""), str(rec.get("reason") or ""))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "reason": self.reason}


@dataclass(frozen=True)
class PortalRecord:
    """The Portal backed up; `public_key` checks the manifest's signature."""

    id: str | None = None
    name: str | None = None
    root: str | None = None  # the Portal root at backup time
    public_key: str | None = None

    @classmethod
    def from_json(cls, rec: Any) -> PortalRecord | None:
        """Lenient: any record gives its text fields (verify reads the key of any manifest)."""
        if not isinstance(rec, dict):
            return None
        return cls(*(_text(rec.get(k)) for k in ("id", "name", "root", "public_key")))

    def to_json(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"id": self.id, "name": self.name, "root": self.root}
        if self.public_key is not None:
            rec["public_key"] = self.public_key
        return rec


@dataclass(frozen=True)
class DifferentialRecord:
    """What a differential archive needs besides itself: its base (a full archive, found
    beside it by name and checked by SHA-256 of the file as stored) and the paths gone since."""

    base: str  # the base archive's file name
    base_created: str | None
    base_sha256: str
    deleted: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> DifferentialRecord:
        """From a record `differential_problem` passed."""
        return cls(
            base=rec["base"],
            base_created=_text(rec.get("base_created")),
            base_sha256=rec["base_sha256"],
            deleted=tuple(rec.get("deleted") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_created": self.base_created,
            "base_sha256": self.base_sha256,
            "deleted": list(self.deleted),
        }


def differential_problem(rec: Any) -> str | None:
    """Why a manifest's `differential` record cannot be used, or None."""
    if rec is None:
        return None
    deleted = rec.get("deleted") if isinstance(rec, dict) else None
    if not (
        isinstance(rec, dict)
        and isinstance(rec.get("base"), str)
        and rec["base"]
        and "/" not in rec["base"]
        and rec["base"] not in (".", "..")
        and isinstance(rec.get("base_sha256"), str)
        and _SHA256_HEX.fullmatch(rec["base_sha256"])
        and (rec.get("base_created") is None or isinstance(rec["base_created"], str))
        and (
            deleted is None
            or (isinstance(deleted, list) and all(isinstance(d, str) for d in deleted))
        )
    ):
        return (
            f"{MANIFEST_NAME}: its differential record (base name, SHA-256, deleted paths) "
            "is not valid."
        )
    return None


@dataclass(frozen=True)
class ToolRecord:
    name: str | None = "portal-backup"
    version: str | None = None

    @classmethod
    def from_json(cls, rec: Any) -> ToolRecord:
        rec = _dict(rec)
        return cls(_text(rec.get("name")), _text(rec.get("version")))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class Manifest:
    """The whole manifest. Keys are written in the order of the fields."""

    tool: ToolRecord
    created: str | None
    host: str | None
    portal: PortalRecord | None
    quiesce: str | None
    identity_included: bool
    db_private_keys_removed: bool
    items: tuple[ItemRecord, ...]
    volumes: tuple[VolumeRecord, ...] = ()
    entries: tuple[ManifestEntry, ...] = ()
    skipped: tuple[SkippedRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    differential: DifferentialRecord | None = None  # set on a differential archive (issue 14)
    format: int = FORMAT_VERSION

    @classmethod
    def from_json(
        cls, doc: dict[str, Any], entries: tuple[ManifestEntry, ...] | None = None
    ) -> Manifest:
        """From a document `manifest_problems` passed (and that has items and entries);
        `entries` when they were built already (parse_manifest's fast path)."""
        if entries is None:
            entries = tuple(ManifestEntry.from_json(e) for e in doc["entries"])
        return cls(
            format=doc["format"],
            tool=ToolRecord.from_json(doc.get("tool")),
            created=doc.get("created"),
            host=doc.get("host"),
            portal=PortalRecord.from_json(doc.get("portal")),
            quiesce=_text(doc.get("quiesce")),
            identity_included=bool(doc.get("identity_included")),
            db_private_keys_removed=bool(doc.get("db_private_keys_removed")),
            items=tuple(ItemRecord.from_json(i) for i in doc["items"]),
            volumes=tuple(VolumeRecord.from_json(v) for v in doc.get("volumes") or ()),
            entries=entries,
            skipped=tuple(
                s for s in map(SkippedRecord.from_json, _list(doc.get("skipped"))) if s is not None
            ),
            warnings=tuple(w for w in _list(doc.get("warnings")) if isinstance(w, str)),
            differential=None
            if doc.get("differential") is None
            else DifferentialRecord.from_json(doc["differential"]),
        )

    def header_json(self) -> dict[str, Any]:
        """Everything but the entries, in the order written."""
        head: dict[str, Any] = {
            "format": self.format,
            "tool": self.tool.to_json(),
            "created": self.created,
            "host": self.host,
            "portal": None if self.portal is None else self.portal.to_json(),
            "quiesce": self.quiesce,
            "identity_included": self.identity_included,
            "db_private_keys_removed": self.db_private_keys_removed,
            "items": [i.to_json() for i in self.items],
            "volumes": [v.to_json() for v in self.volumes],
            "skipped": [s.to_json() for s in self.skipped],
            "warnings": list(self.warnings),
        }
        if self.differential is not None:
            head["differential"] = self.differential.to_json()
        return head

    def to_json(self) -> dict[str, Any]:
        return {**self.header_json(), "entries": [e.to_json() for e in self.entries]}

    def item(self, item_id: str) -> ItemRecord | None:
        return next((i for i in self.items if i.id == item_id), None)

    def volume(self, name: str) -> VolumeRecord | None:
        return next((v for v in self.volumes if v.name == name), None)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- checks


def _brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def manifest_entry_problems(entry: Any) -> str | None:
    """Why one manifest entry cannot be used (a wrong type or an out-of-range value), as a
    sentence naming it, or None. Restore trusts these values (chown, chmod, utime), so an
    archive is refused on the first one that is wrong rather than failing half way."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return f"{MANIFEST_NAME}: an entry has no path."
    name = show_short(entry["path"])
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in _ENTRY_TYPES:
        return f"{name}: the manifest's type {_brief(kind)} is not file, dir or symlink."
    for key, low, end in _ENTRY_INTS:
        value: Any = entry.get(key)
        if not _is_int(value) or not low <= value < end:
            return f"{name}: the manifest's {key} {_brief(value)} is missing or out of range."
    if kind == "file" and not (
        isinstance(entry.get("sha256"), str) and _SHA256_HEX.fullmatch(entry["sha256"])
    ):
        return f"{name}: the manifest has no valid SHA-256 for it."
    for key in ("ino", "ctime_ns"):
        value = entry.get(key)
        if value is not None and not (_is_int(value) and -_INT64 <= value < (1 << 64)):
            return f"{name}: the manifest's {key} {_brief(value)} is out of range."
    if entry.get("in_base") not in (None, True, False):
        return f"{name}: the manifest's in_base {_brief(entry['in_base'])} is not true or false."
    target = entry.get("target")
    if kind == "symlink" and not (
        isinstance(target, str) and target and "\x00" not in target and _encodes(target)
    ):
        return f"{name}: the manifest has no valid link target for it."
    return None


def _volume_ok(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("name"), str)
        and (v.get("driver") is None or isinstance(v["driver"], str))
        and all(v.get(k) is None or isinstance(v[k], dict) for k in ("labels", "options"))
    )


def shape_problems(doc: dict[str, Any]) -> Iterator[str]:
    """Top-level values of the wrong type, which a restore plan would trip over."""
    for key in _OPTIONAL_TEXT:
        if doc.get(key) is not None and not isinstance(doc[key], str):
            yield f"{MANIFEST_NAME}: its {key} is not text."
    for key in ("tool", "portal"):
        value = doc.get(key)
        if value is not None and not (
            isinstance(value, dict)
            and all(value.get(k) is None or isinstance(value[k], str) for k in _RECORD_TEXT)
        ):
            yield f"{MANIFEST_NAME}: its {key} is not a record with texts."
    items, volumes = doc.get("items"), doc.get("volumes")
    if not isinstance(items, list):
        yield f"{MANIFEST_NAME}: it has no list of items."
        items = []
    if volumes is not None and not (isinstance(volumes, list) and all(map(_volume_ok, volumes))):
        yield f"{MANIFEST_NAME}: its volumes are not a list of records."
    differential = differential_problem(doc.get("differential"))
    if differential:
        yield differential
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            yield f"{MANIFEST_NAME}: item {number} has no id."
            continue
        label = show_short(item["id"])
        paths, containers = item.get("paths"), item.get("containers")
        if paths is not None and not (
            isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        ):
            yield f"{MANIFEST_NAME}: the paths of item {label} are not a list of texts."
        if containers is not None and not (
            isinstance(containers, list)
            and all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in containers)
        ):
            yield f"{MANIFEST_NAME}: the containers of item {label} are not a list of records."


def manifest_problems(doc: dict[str, Any]) -> list[str]:
    """Every reason a (format 1) manifest's values cannot be used: its shape, then each entry."""
    problems = list(shape_problems(doc))
    entries = doc.get("entries")
    if not isinstance(entries, list):
        return [*problems, f"{MANIFEST_NAME}: it has no list of entries."]
    for entry in entries:
        problem = manifest_entry_problems(entry)
        if problem:
            problems.append(problem)
    return problems


# --------------------------------------------------------------------------- reading


def manifest_bytes(reader: ZipReader) -> bytes:
    entry = reader.get(MANIFEST_NAME)
    if entry is None:
        raise PortalBackupError(
            f"{reader.name} is not a portal-backup archive (it has no "
            f"{MANIFEST_NAME}); unzip it by hand instead"
        )
    try:
        return reader.read_entry(entry, limit=MANIFEST_LIMIT)
    except ZipFormatError as exc:
        raise PortalBackupError(f"the manifest cannot be read: {exc}") from exc


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest of `raw`, or PortalBackupError saying (in one sentence) why it is unusable."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # the C decoder recurses on nesting
        raise PortalBackupError(f"the manifest is not valid JSON ({exc})") from exc
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if not isinstance(fmt, int) or fmt < 1:
        raise PortalBackupError("the manifest has no valid format number")
    if fmt > FORMAT_VERSION:
        raise PortalBackupError(
            f"the archive's format {fmt} is newer than this portal-backup "
            "reads; upgrade portal-backup"
        )
    if not isinstance(doc.get("items"), list) or not isinstance(doc.get("entries"), list):
        raise PortalBackupError("the manifest lists no items or no entries")
    entries = _checked_entries(doc["entries"])
    if entries is not None and not any(True for _ in shape_problems(doc)):
        return Manifest.from_json(doc, entries)
    problems = manifest_problems(doc)  # out-of-range values would fail half way through
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise PortalBackupError(f"the manifest cannot be used: {problems[0].rstrip('.')}{more}")
    return Manifest.from_json(doc)


def _checked_entries(records: list[Any]) -> tuple[ManifestEntry, ...] | None:
    """The entries, checked and built in one pass, or None as soon as one is unusual (then
    manifest_problems says why, or the ordinary path builds it). Accepts only what
    manifest_entry_problems accepts; one loop with local names, as a manifest may hold
    millions of entries."""
    out: list[ManifestEntry] = []
    append, new, sha_ok = out.append, ManifestEntry, _SHA256_HEX.fullmatch
    int64, id_end, u64 = _INT64, _ID_END, 1 << 64
    for rec in records:
        if type(rec) is not dict:
            return None
        get = rec.get
        path, kind, size, mode = get("path"), get("type"), get("size"), get("mode")
        uid, gid, mtime = get("uid"), get("gid"), get("mtime_ns")
        ino, ctime, in_base = get("ino"), get("ctime_ns"), get("in_base")
        if not (
            type(path) is str
            and type(size) is int
            and type(mode) is int
            and type(uid) is int
            and type(gid) is int
            and type(mtime) is int
            and 0 <= size < int64
            and 0 <= mode < 0o10000
            and 0 <= uid < id_end
            and 0 <= gid < id_end
            and -int64 <= mtime < int64
            and (ino is None or (type(ino) is int and -int64 <= ino < u64))
            and (ctime is None or (type(ctime) is int and -int64 <= ctime < u64))
            and (in_base is None or type(in_base) is bool)
        ):
            return None
        sha256 = target = None
        if kind == "file":
            sha256 = get("sha256")
            if type(sha256) is not str or not sha_ok(sha256):
                return None
        elif kind == "symlink":
            target = get("target")
            if not (
                type(target) is str
                and target
                and "\x00" not in target
                and (target.isascii() or _encodes(target))
            ):
                return None
        elif kind != "dir":
            return None
        if target is None and type(get("target")) is str:
            target = get("target")  # kept as from_json keeps it
        path_raw, target_raw = get("path_raw"), get("target_raw")
        append(
            new(
                path,
                kind,
                size,
                mode,
                uid,
                gid,
                mtime,
                sha256,
                target,
                path_raw if type(path_raw) is str else None,
                target_raw if type(target_raw) is str else None,
                ino,
                ctime,
                in_base is True,
            )
        )
    return tuple(out)


def read_manifest(reader: ZipReader) -> Manifest:
    return parse_manifest(manifest_bytes(reader))
