"""Test archives: hand-crafted ZIP bytes, and backups in the project's layout made with zipfile.

Independent of the project's own writer and reader, so a bug in either cannot hide itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX32 = 0xFFFFFFFF
DOS_TIME, DOS_DATE = (12 << 11) | (30 << 5), ((2024 - 1980) << 9) | (5 << 5) | 17


# --- hand-crafted archives -------------------------------------------------------------------


@dataclass
class RawEntry:
    """One entry of a hand-crafted archive; the overrides let tests build broken archives."""

    name: str
    data: bytes = b""
    method: int = 0  # 0 stored, 8 deflate, anything else is written as if stored
    mode: int = 0o100644
    flags: int = 0x800
    raw_name: bytes | None = None  # the exact name bytes (for non-UTF-8 names)
    local: bool = True  # write a local header and data
    header_offset: int | None = None  # the central directory points here instead
    zip64: bool = False  # sizes and offset in a ZIP64 extra, 0xFFFFFFFF in the 32-bit slots
    extra: bytes = b""  # appended to both headers' extra fields
    crc: int | None = None  # declared CRC-32 (default: the real one)
    size: int | None = None  # declared uncompressed size
    compressed_size: int | None = None  # declared compressed size (central directory only)


def deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def local_header(name: bytes, crc: int, csize: int, size: int, method: int, flags: int,
                 extra: bytes = b"") -> bytes:  # fmt: skip
    return struct.pack("<LHHHHHLLLHH", 0x04034B50, 20, flags, method, DOS_TIME, DOS_DATE,
                       crc, csize, size, len(name), len(extra)) + name + extra  # fmt: skip


def end_records(count: int, cd_offset: int, cd_size: int, *, zip64: bool, comment: bytes) -> bytes:
    out = b""
    if zip64:
        z64_offset = cd_offset + cd_size
        out += struct.pack("<LQHHLLQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, count, count,
                           cd_size, cd_offset)  # fmt: skip
        out += struct.pack("<LLQL", 0x07064B50, 0, z64_offset, 1)
        count16, cd_size32, cd_offset32 = 0xFFFF, MAX32, MAX32
    else:
        count16, cd_size32, cd_offset32 = count, cd_size, cd_offset
    return out + struct.pack("<LHHHHLLH", 0x06054B50, 0, 0, count16, count16, cd_size32,
                             cd_offset32, len(comment)) + comment  # fmt: skip


def build_zip(entries: Iterable[RawEntry], *, comment: bytes = b"", prefix: bytes = b"",
              force_zip64: bool = False) -> bytes:  # fmt: skip
    """A ZIP as bytes. `prefix` is written first and every offset accounts for it."""
    body = bytearray(prefix)
    central = bytearray()
    count = 0
    for e in entries:
        count += 1
        name = e.raw_name if e.raw_name is not None else e.name.encode()
        payload = deflate(e.data) if e.method == 8 else e.data
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        size = len(e.data) if e.size is None else e.size
        offset = len(body) if e.header_offset is None else e.header_offset
        if e.local:
            body += local_header(name, crc, len(payload), size, e.method, e.flags, e.extra)
            body += payload
        csize = len(payload) if e.compressed_size is None else e.compressed_size
        extra = e.extra
        if e.zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, csize, offset) + extra
            size = csize = offset = MAX32
        central += struct.pack("<LBBHHHHHLLLHHHHHLL", 0x02014B50, 30, 3, 20, e.flags, e.method,
                               DOS_TIME, DOS_DATE, crc, csize, size, len(name), len(extra), 0, 0,
                               0, (e.mode << 16) | (0x10 if e.name.endswith("/") else 0),
                               offset)  # fmt: skip
        central += name + extra
    cd_offset = len(body)
    zip64 = force_zip64 or count >= 0xFFFF
    return bytes(body + central + end_records(count, cd_offset, len(central), zip64=zip64,
                                              comment=comment))  # fmt: skip


def write_many_empty_files(path: Path, count: int) -> None:
    """A valid ZIP64 archive of `count` empty stored files, written quickly for parser tests."""
    header = struct.Struct("<LHHHHHLLLHH")
    central = struct.Struct("<LBBHHHHHLLLHHHHHLL")
    locals_: list[bytes] = []
    centrals: list[bytes] = []
    offset = 0
    mode = 0o100644 << 16
    for i in range(count):
        name = f"d{i // 1000:04d}/f{i:07d}".encode()
        lfh = header.pack(0x04034B50, 20, 0x800, 0, DOS_TIME, DOS_DATE, 0, 0, 0, len(name), 0)
        locals_.append(lfh + name)
        centrals.append(central.pack(0x02014B50, 30, 3, 20, 0x800, 0, DOS_TIME, DOS_DATE, 0, 0, 0,
                                     len(name), 0, 0, 0, 0, mode, offset) + name)  # fmt: skip
        offset += len(lfh) + len(name)
    cd = b"".join(centrals)
    with open(path, "wb") as f:
        f.write(b"".join(locals_))
        f.write(cd)
        f.write(end_records(count, offset, len(cd), zip64=True, comment=b""))


class SeekOnly:
    """A file object with only read/seek/tell, like the decrypting reader (no fileno, no mmap)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buf.seek(offset, whence)

    def tell(self) -> int:
        return self._buf.tell()


# --- editing files in place ------------------------------------------------------------------


def flip_bit(path: Path, offset: int, bit: int = 0) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def data_offset(path: Path, name: str) -> int:
    """Where an entry's data starts, found with zipfile and the raw local header."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
    name_len, extra_len = struct.unpack_from("<HH", head, 26)
    return info.header_offset + 30 + name_len + extra_len


def central_offset(path: Path, name: str) -> int:
    """Where an entry's central directory record starts."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        start = zf.start_dir
    pos = raw.index(b"PK\x01\x02", start)
    while True:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, pos + 28)
        if raw[pos + 46 : pos + 46 + name_len] == name.encode():
            return pos
        pos += 46 + name_len + extra_len + comment_len


# --- backups in the project's layout ---------------------------------------------------------

MTIME = 1_700_000_000


def sums_line(digest: str, name: str) -> str:
    """One sha256sum line, escaped as GNU coreutils does for backslashes and newlines."""
    if "\\" in name or "\n" in name or "\r" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {name}\n"


def unix_extra(mtime: int, uid: int, gid: int) -> bytes:
    return struct.pack("<HHBi", 0x5455, 5, 1, mtime) + struct.pack(
        "<HHBBIBI", 0x7875, 11, 1, 4, uid, 4, gid
    )


@dataclass
class Backup:
    path: Path
    manifest: dict[str, Any]
    sums: str
    files: dict[str, bytes] = field(default_factory=dict)


def make_backup(
    path: Path,
    files: dict[str, bytes],
    *,
    dirs: Iterable[str] = (),
    symlinks: dict[str, str] | None = None,
    stored: Iterable[str] = (),
    extra_entries: dict[str, bytes] | None = None,
    edit_manifest: Callable[[dict[str, Any]], None] | None = None,
    edit_sums: Callable[[str], str] | None = None,
    signature: bytes | None = None,
    public_key: str | None = None,
    portal_id: str = "f00ba4" + "0" * 58,
    sign: Callable[[bytes], bytes] | None = None,
) -> Backup:
    """A small backup as portal-backup lays it out: data entries, README, manifest, sums.

    `extra_entries` are written as plain files but left out of the manifest and sums;
    `sign` (or a fixed `signature`) adds portal-backup.json.sig.
    """
    symlinks = symlinks or {}
    stored = set(stored)
    entries: list[dict[str, Any]] = []
    all_files: dict[str, bytes] = {}
    with zipfile.ZipFile(path, "w") as zf:

        def put(name: str, data: bytes, mode: int, method: int) -> None:
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            info.create_system = 3
            info.external_attr = (mode << 16) | (0x10 if name.endswith("/") else 0)
            info.compress_type = method
            info.extra = unix_extra(MTIME, 1000, 1000)
            info.flag_bits |= 0x800
            zf.writestr(info, data)

        for name in dirs:
            put(name, b"", stat.S_IFDIR | 0o755, zipfile.ZIP_STORED)
            entries.append({"path": name, "type": "dir", "size": 0, "mode": 0o755, "uid": 1000,
                            "gid": 1000, "mtime_ns": MTIME * 10**9})  # fmt: skip
        for name, data in files.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            put(name, data, stat.S_IFREG | 0o644, method)
            all_files[name] = data
            entries.append({"path": name, "type": "file", "size": len(data), "mode": 0o644,
                            "uid": 1000, "gid": 1000, "mtime_ns": MTIME * 10**9,
                            "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
        for name, target in symlinks.items():
            put(name, target.encode(), stat.S_IFLNK | 0o777, zipfile.ZIP_STORED)
            entries.append({"path": name, "type": "symlink", "size": len(target.encode()),
                            "mode": 0o777, "uid": 1000, "gid": 1000,
                            "mtime_ns": MTIME * 10**9, "target": target})  # fmt: skip
        for name, data in (extra_entries or {}).items():
            put(name, data, stat.S_IFREG | 0o644, zipfile.ZIP_DEFLATED)
            all_files[name] = data

        manifest: dict[str, Any] = {
            "format": 1,
            "tool": {"name": "portal-backup", "version": "0.1.0"},
            "created": "2026-11-29T12:00:00Z",
            "host": "testhost",
            "portal": {"id": portal_id, "name": portal_id[:6], "root": "/home/portal"},
            "quiesce": "none",
            "identity_included": False,
            "db_private_keys_removed": False,
            "items": [],
            "volumes": [],
            "entries": entries,
            "skipped": [],
            "warnings": [],
        }
        if public_key is not None:
            manifest["portal"]["public_key"] = public_key
        if edit_manifest:
            edit_manifest(manifest)
        readme = b"A portal-backup archive (test fixture).\n"
        manifest_bytes = json.dumps(manifest, indent=1).encode()
        meta: dict[str, bytes] = {"README.txt": readme, "portal-backup.json": manifest_bytes}
        if sign is not None:
            signature = sign(manifest_bytes)
        if signature is not None:
            meta["portal-backup.json.sig"] = signature
        for name, data in meta.items():
            put(name, data, stat.S_IFREG | 0o644, zipfile.ZIP_DEFLATED)
            all_files[name] = data

        sums = "".join(
            sums_line(hashlib.sha256(data).hexdigest(), name) for name, data in all_files.items()
            if name not in (extra_entries or {})
        )  # fmt: skip
        if edit_sums:
            sums = edit_sums(sums)
        put("SHA256SUMS", sums.encode(), stat.S_IFREG | 0o644, zipfile.ZIP_DEFLATED)
    return Backup(path, manifest, sums, all_files)


def manifest_record(e: RawEntry) -> dict[str, object]:
    """The manifest entry a backup would write for `e` (owner root, a fixed mtime)."""
    kind = "dir" if e.name.endswith("/") else "symlink" if stat.S_ISLNK(e.mode) else "file"
    rec: dict[str, object] = {
        "path": e.name,
        "type": kind,
        "size": len(e.data) if e.size is None else e.size,
        "mode": e.mode & 0o7777,
        "uid": 0,
        "gid": 0,
        "mtime_ns": 1_700_000_000 * 10**9,
    }
    if kind == "file":
        rec["sha256"] = hashlib.sha256(e.data).hexdigest()
    if kind == "symlink":
        rec["target"] = e.data.decode()
    return rec


def crafted_backup(
    entries: list[RawEntry],
    items: list[dict[str, object]],
    records: list[dict[str, object]] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    """A hand-made portal-backup archive: `entries`, then a manifest listing `records` (by
    default each entry faithfully) and `items` (`edit` may change it), then a SHA256SUMS of
    the regular files."""
    if records is None:
        records = [manifest_record(e) for e in entries]
    doc: dict[str, Any] = {
        "format": 1,
        "tool": {"name": "portal-backup", "version": "0.1.0"},
        "created": "2026-11-29T12:00:00Z",
        "host": "crafted",
        "portal": None,
        "identity_included": False,
        "db_private_keys_removed": False,
        "items": items,
        "volumes": [],
        "entries": records,
        "skipped": [],
        "warnings": [],
    }
    if edit is not None:
        edit(doc)
    manifest = json.dumps(doc).encode()
    meta = [RawEntry("portal-backup.json", manifest, method=8)]
    files = [e for e in [*entries, *meta] if not e.name.endswith("/") and not stat.S_ISLNK(e.mode)]
    sums = "".join(sums_line(hashlib.sha256(e.data).hexdigest(), e.name) for e in files)
    return build_zip([*entries, *meta, RawEntry("SHA256SUMS", sums.encode(), method=8)])


def unix_zip(
    files: dict[str, bytes],
    links: dict[str, str | bytes] | None = None,
    dirs: dict[str, int] | None = None,
) -> bytes:
    """A zip (zipfile's own writer) with Unix entries: files, symlinks (name -> target) and
    directories (name ending in "/" -> permission bits), directories first."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, mode in (dirs or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = ((0o040000 | mode) << 16) | 0x10
            zf.writestr(info, b"")
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()
