"""A random-access ZIP reader over any seekable binary file object.

Only read, seek and tell are used (no fileno, no mmap), so the source may be a plain file or a
decrypting reader. The whole central directory is read in one call and parsed with
`struct.unpack_from` on that single buffer: a million entries parse in about 1.5 s.
Entry streams verify CRC-32 and size as they go and refuse to inflate past the declared size.
Every offset and size read from the archive is bounded by the file's size before it is used, so a
crafted (ZIP64) value gives a ZipFormatError sentence, never an OverflowError.

Streams share the reader's file object and seek before every read, so several may be open at
once, but a reader must not be used from two threads at the same time.
"""

from __future__ import annotations

import calendar
import gc
import io
import re
import stat
import struct
import types
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from tui.core.errors import PortalBackupError
from tui.core.model import MAX_PATH_DEPTH

_inflate_lib: types.ModuleType  # isal_zlib or zlib: the same API
try:  # ISA-L inflates and checksums several times faster than zlib.
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _inflate_lib = zlib

__all__ = [
    "ZipEntry",
    "ZipFormatError",
    "ZipReader",
    "path_depth",
    "safe_name",
    "show_short",
    "structure_problems",
    "unsafe_reason",
]

_crc32 = _inflate_lib.crc32

_EOCD = struct.Struct("<L4H2LH")  # end of central directory record (22 bytes)
_EOCD_SIG = b"PK\x05\x06"
_LOC64 = struct.Struct("<LLQL")  # ZIP64 end of central directory locator (20 bytes)
_LOC64_SIG = 0x07064B50
_EOCD64 = struct.Struct("<LQHHLLQQQQ")  # ZIP64 end of central directory record (56 bytes)
_EOCD64_SIG = 0x06064B50
_CDH = struct.Struct("<LBBHHHHHLLLHHHHHLL")  # central directory file header (46 bytes)
_CDH_SIG = 0x02014B50
_LFH = struct.Struct("<LHHHHHLLLHH")  # local file header (30 bytes)
_LFH_SIG = 0x04034B50

_MAX32 = 0xFFFFFFFF
_MAX_COMMENT = 0xFFFF
_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800
_UNIX = 3
_STORED, _DEFLATED = 0, 8
_RAW_CHUNK = 1 << 18  # compressed bytes read per call while inflating
_DOS_EPOCH = 315532800  # 1980-01-01T00:00:00Z, used for invalid DOS dates
_MAX_SIZE = (1 << 63) - 1  # beyond what any file, seek or read can be
_SHOWN_NAME = 120  # characters of a very long name kept in a message
_NAME_MAX = 255  # bytes in one path component (NAME_MAX)


class ZipFormatError(PortalBackupError):
    """The archive (or one of its entries) is not a ZIP we can read, or is damaged."""


def show(name: str) -> str:
    """A name as it should appear in a one-line message (escaped if it holds control chars)."""
    return name if name.isprintable() else repr(name)[1:-1]


def show_short(name: str) -> str:
    """show(name), cut to its first characters when it is too long for a one-line message."""
    text = show(name)
    return text if len(text) <= _SHOWN_NAME else text[:_SHOWN_NAME] + "..."


def path_depth(name: str) -> int:
    """How many path components an archive name has ("a/b/" and "a/b" both have 2)."""
    return name.rstrip("/").count("/") + 1


def _extra_field(extra: bytes, wanted: int) -> bytes | None:
    """The data of the first extra field with header ID `wanted`, or None."""
    pos, end = 0, len(extra)
    while pos + 4 <= end:
        hid, size = struct.unpack_from("<HH", extra, pos)
        pos += 4
        if hid == wanted:
            return extra[pos : pos + size] if pos + size <= end else None
        pos += size
    return None


def _dos_to_epoch(date: int, time: int) -> int:
    year, month, day = 1980 + (date >> 9), (date >> 5) & 0xF, date & 0x1F
    hour, minute, second = time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 62):
        return _DOS_EPOCH
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


class ZipEntry:
    """One central directory record. Sizes and offset are already resolved from ZIP64 extras."""

    __slots__ = (
        "compressed_size",
        "crc",
        "create_system",
        "dos_date",
        "dos_time",
        "external_attr",
        "extra",
        "flags",
        "header_offset",
        "method",
        "name",
        "raw_name",
        "size",
    )

    def __init__(
        self,
        name: str,
        raw_name: bytes,
        method: int,
        flags: int,
        crc: int,
        compressed_size: int,
        size: int,
        header_offset: int,
        external_attr: int,
        create_system: int,
        dos_time: int,
        dos_date: int,
        extra: bytes,
    ) -> None:
        self.name = name
        self.raw_name = raw_name
        self.method = method
        self.flags = flags
        self.crc = crc
        self.compressed_size = compressed_size
        self.size = size
        self.header_offset = header_offset
        self.external_attr = external_attr
        self.create_system = create_system
        self.dos_time = dos_time
        self.dos_date = dos_date
        self.extra = extra

    def __repr__(self) -> str:
        return f"<ZipEntry {self.name!r} size={self.size} method={self.method}>"

    @property
    def unix_mode(self) -> int | None:
        """The full st_mode when the entry was made on Unix, else None."""
        if self.create_system != _UNIX:
            return None
        return (self.external_attr >> 16) or None

    @property
    def is_symlink(self) -> bool:
        mode = self.unix_mode
        return mode is not None and stat.S_ISLNK(mode)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_file(self) -> bool:
        """A regular file: neither a directory nor a symlink."""
        return not self.is_dir and not self.is_symlink

    @property
    def mode(self) -> int:
        """Permission bits (st_mode & 0o7777), with the usual defaults when none were stored."""
        mode = self.unix_mode
        if mode is not None:
            return mode & 0o7777
        return 0o755 if self.is_dir else 0o644

    @property
    def date_time(self) -> tuple[int, int, int, int, int, int]:
        d, t = self.dos_date, self.dos_time
        return (1980 + (d >> 9), (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)

    @property
    def unix_mtime(self) -> int | None:
        """The extended timestamp's (0x5455) modification time, or None when it has none."""
        ts = _extra_field(self.extra, 0x5455)
        if ts is not None and len(ts) >= 5 and ts[0] & 1:
            return cast(int, struct.unpack_from("<i", ts, 1)[0])
        return None

    @property
    def mtime(self) -> int:
        """UTC epoch seconds: the extended timestamp (0x5455) when present, else the DOS time."""
        mtime = self.unix_mtime
        return _dos_to_epoch(self.dos_date, self.dos_time) if mtime is None else mtime

    def _unix_ids(self) -> tuple[int, int] | None:
        # Info-ZIP "new Unix" field: version 1, then a length-prefixed little-endian uid and gid.
        ux = _extra_field(self.extra, 0x7875)
        if ux is None or len(ux) < 3 or ux[0] != 1:
            return None
        uid_len = ux[1]
        if len(ux) < 3 + uid_len:
            return None
        gid_len = ux[2 + uid_len]
        if len(ux) < 3 + uid_len + gid_len:
            return None
        uid = int.from_bytes(ux[2 : 2 + uid_len], "little")
        gid = int.from_bytes(ux[3 + uid_len : 3 + uid_len + gid_len], "little")
        return uid, gid

    @property
    def uid(self) -> int | None:
        ids = self._unix_ids()
        return ids[0] if ids else None

    @property
    def gid(self) -> int | None:
        ids = self._unix_ids()
        return ids[1] if ids else None


def _resolve_zip64(
    name: str, extra: bytes, size: int, csize: int, offset: int
) -> tuple[int, int, int]:
    # The 0x0001 field holds, in this order, only the values whose 32-bit slot is 0xFFFFFFFF.
    z64 = _extra_field(extra, 0x0001)
    if z64 is None:
        raise ZipFormatError(f"{show(name)}: a size or offset needs a ZIP64 extra field it lacks.")
    values = list(struct.unpack_from(f"<{len(z64) // 8}Q", z64))
    out = []
    for value in (size, csize, offset):
        if value == _MAX32:
            if not values:
                raise ZipFormatError(f"{show(name)}: its ZIP64 extra field is too short.")
            value = values.pop(0)
        out.append(value)
    return out[0], out[1], out[2]


class ZipReader:
    """Reads the central directory of a ZIP on open; entries are then read on demand."""

    entries: list[ZipEntry]  # in central directory order
    comment: bytes
    file_size: int
    eocd_offset: int  # where the (32-bit) end record starts
    cd_offset: int
    cd_size: int
    zip64: bool  # a ZIP64 end record is present

    def __init__(self, fileobj: BinaryIO, *, name: str = "") -> None:
        self._fp = fileobj
        self._owns = False
        self.name = name or str(getattr(fileobj, "name", "")) or "archive"
        # Non-fatal oddities noticed while parsing; structure_problems() reports them.
        self.layout_problems: list[str] = []
        self._by_name: dict[str, ZipEntry] | None = None
        self._read_directory()

    @classmethod
    def open(cls, path: str | Path) -> ZipReader:
        fp = open(path, "rb")  # noqa: SIM115 - owned by the reader, closed in close()
        try:
            reader = cls(cast(BinaryIO, fp), name=str(path))
        except BaseException:
            fp.close()
            raise
        reader._owns = True
        return reader

    def close(self) -> None:
        if self._owns:
            self._fp.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _fail(self, what: str) -> ZipFormatError:
        return ZipFormatError(f"{self.name}: {what}")

    def _read_at(self, offset: int, size: int) -> bytes:
        self._fp.seek(offset)
        return self._fp.read(size)

    def _find_end_record(self, tail: bytes) -> int:
        """The end record's position in `tail` (the file's last bytes), or -1.

        It is followed only by its comment, so the first choice is a record whose comment ends
        exactly at EOF; failing that, the last one that fits (the file then has a tail).
        """
        fitting = -1
        pos = tail.rfind(_EOCD_SIG)
        while pos >= 0:
            if pos + _EOCD.size <= len(tail):
                end = pos + _EOCD.size + _EOCD.unpack_from(tail, pos)[7]
                if end == len(tail):
                    return pos
                if end < len(tail) and fitting < 0:
                    fitting = pos
            pos = tail.rfind(_EOCD_SIG, 0, pos)
        return fitting

    def _read_directory(self) -> None:
        self._fp.seek(0, io.SEEK_END)
        self.file_size = file_size = self._fp.tell()
        back = min(file_size, _EOCD.size + _MAX_COMMENT)
        tail = self._read_at(file_size - back, back)
        pos = self._find_end_record(tail)
        if pos < 0:
            raise self._fail("no end of central directory record: not a zip file, or truncated.")
        _, disk, cd_disk, _, count, cd_size, cd_offset, comment_len = _EOCD.unpack_from(tail, pos)
        self.eocd_offset = eocd = file_size - back + pos
        end = eocd + _EOCD.size + comment_len
        self.comment = tail[pos + _EOCD.size : pos + _EOCD.size + comment_len]
        if end != file_size:
            self.layout_problems.append(
                f"{self.name}: {file_size - end} bytes of unexpected data after the end record."
            )
        cd_end = eocd  # where the central directory should stop
        self.zip64 = False
        loc = self._read_at(eocd - _LOC64.size, _LOC64.size) if eocd >= _LOC64.size else b""
        if len(loc) == _LOC64.size and _LOC64.unpack(loc)[0] == _LOC64_SIG:
            self.zip64 = True
            z64_offset = _LOC64.unpack(loc)[2]
            if z64_offset + _EOCD64.size > eocd - _LOC64.size:
                raise self._fail("the ZIP64 end record's offset points past its locator.")
            rec = self._read_at(z64_offset, _EOCD64.size)
            if len(rec) < _EOCD64.size or _EOCD64.unpack(rec)[0] != _EOCD64_SIG:
                raise self._fail("the ZIP64 end of central directory record is missing or damaged.")
            _, rec_size, _, _, disk, cd_disk, _, count, cd_size, cd_offset = _EOCD64.unpack(rec)
            if z64_offset + 12 + rec_size != eocd - _LOC64.size:
                self.layout_problems.append(
                    f"{self.name}: the ZIP64 end record is not followed by its locator."
                )
            cd_end = z64_offset
        if disk != 0 or cd_disk != 0:
            raise self._fail("spanned (multi-disk) archives are not supported.")
        if cd_offset + cd_size > cd_end:
            raise self._fail("the central directory lies beyond its end record (damaged offsets).")
        if cd_offset + cd_size != cd_end:
            self.layout_problems.append(
                f"{self.name}: {cd_end - cd_offset - cd_size} bytes of unexpected data "
                "between the central directory and its end record."
            )
        self.cd_offset, self.cd_size = cd_offset, cd_size
        buf = self._read_at(cd_offset, cd_size)
        if len(buf) != cd_size:
            raise self._fail("the central directory is truncated.")
        # A million new objects would trigger dozens of pointless GC passes (none form cycles).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self.entries = self._parse_directory(buf)
        finally:
            if gc_was_enabled:
                gc.enable()
        if len(self.entries) != count:
            self.layout_problems.append(
                f"{self.name}: the end record declares {count} entries "
                f"but the central directory holds {len(self.entries)}."
            )

    def _parse_directory(self, buf: bytes) -> list[ZipEntry]:
        # Hot loop: a million iterations for big archives, so everything is a local name.
        unpack = _CDH.unpack_from
        entries: list[ZipEntry] = []
        append = entries.append
        entry_cls = ZipEntry
        pos, end = 0, len(buf)
        while pos < end:
            if pos + 46 > end:
                raise self._fail(f"central directory record #{len(entries) + 1} is truncated.")
            (
                sig,
                _,
                system,
                _,
                flags,
                method,
                dtime,
                ddate,
                crc,
                csize,
                size,
                name_len,
                extra_len,
                comment_len,
                _,
                _,
                ext_attr,
                offset,
            ) = unpack(buf, pos)
            if sig != _CDH_SIG:
                raise self._fail(f"central directory record #{len(entries) + 1} is damaged.")
            p = pos + 46
            raw = buf[p : p + name_len]
            extra = buf[p + name_len : p + name_len + extra_len]
            pos = p + name_len + extra_len + comment_len
            if pos > end:
                raise self._fail(f"central directory record #{len(entries) + 1} is truncated.")
            if flags & _FLAG_UTF8:
                try:
                    name = raw.decode("utf-8")
                except UnicodeDecodeError:
                    name = raw.decode("utf-8", "replace")
                    self.layout_problems.append(f"{show(name)}: the name is not valid UTF-8.")
            elif system == _UNIX:
                # Raw name bytes, as Info-ZIP stores names that are not UTF-8: decoded like
                # os.fsdecode, so writing the str back to disk recreates the exact bytes.
                name = raw.decode("utf-8", "surrogateescape")
            else:
                name = raw.decode("cp437")
            if size == _MAX32 or csize == _MAX32 or offset == _MAX32:
                size, csize, offset = _resolve_zip64(name, extra, size, csize, offset)
            append(
                entry_cls(
                    name,
                    raw,
                    method,
                    flags,
                    crc,
                    csize,
                    size,
                    offset,
                    ext_attr,
                    system,
                    dtime,
                    ddate,
                    extra,
                )
            )
        return entries

    def sharing(self, fileobj: BinaryIO) -> ZipReader:
        """A reader over another file object holding the same bytes, sharing this one's parsed
        directory: one per thread, so entries can be read in parallel (the directory is not
        parsed again)."""
        twin = object.__new__(ZipReader)
        twin.__dict__.update(self.__dict__)
        twin._fp = fileobj
        twin._owns = False
        return twin

    def get(self, name: str) -> ZipEntry | None:
        """The first entry with this name."""
        if self._by_name is None:
            by_name: dict[str, ZipEntry] = {}
            for entry in self.entries:
                by_name.setdefault(entry.name, entry)
            self._by_name = by_name
        return self._by_name.get(name)

    def data_offset(self, entry: ZipEntry) -> int:
        """Checks the entry's local header and returns where its data starts."""
        # A crafted (ZIP64) offset may exceed what seek accepts: bound it by the file first.
        if entry.header_offset + _LFH.size > self.file_size:
            raise ZipFormatError(
                f"{show_short(entry.name)}: its local header offset {entry.header_offset} "
                "lies past the end of the archive."
            )
        head = self._read_at(entry.header_offset, _LFH.size)
        if len(head) < _LFH.size or _LFH.unpack(head)[0] != _LFH_SIG:
            raise ZipFormatError(f"{show(entry.name)}: its local header is missing or damaged.")
        name_len, extra_len = _LFH.unpack(head)[9:]
        start = entry.header_offset + _LFH.size
        if self._fp.read(name_len) != entry.raw_name:
            raise ZipFormatError(
                f"{show(entry.name)}: the name in its local header differs from the directory's."
            )
        return start + int(name_len) + int(extra_len)

    def open_entry(self, entry: ZipEntry) -> BinaryIO:
        """A stream of the entry's bytes; raises ZipFormatError when they fail their checks."""
        if entry.flags & _FLAG_ENCRYPTED:
            raise ZipFormatError(f"{show(entry.name)}: the entry is encrypted (unsupported).")
        if entry.method not in (_STORED, _DEFLATED):
            raise ZipFormatError(
                f"{show(entry.name)}: compression method {entry.method} is not supported "
                "(only stored and deflate are)."
            )
        start = self.data_offset(entry)
        if start + entry.compressed_size > self.file_size or entry.size > _MAX_SIZE:
            raise ZipFormatError(
                f"{show_short(entry.name)}: its declared size runs past the end of the archive."
            )
        return cast(BinaryIO, self._stream(entry, start))

    def _stream(self, entry: ZipEntry, start: int) -> _EntryStream:
        return _EntryStream(self._fp, entry, start)

    def read_entry(self, entry: ZipEntry, limit: int | None = None) -> bytes:
        """All of the entry's bytes; refuses entries declaring more than `limit` bytes."""
        if limit is not None and entry.size > limit:
            raise ZipFormatError(
                f"{show(entry.name)}: {entry.size} bytes is more than the {limit} allowed here."
            )
        with self.open_entry(entry) as stream:
            return stream.read()

    def iter_chunks(self, entry: ZipEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        stream = self.open_entry(entry)
        with cast(_EntryStream, stream) as buffered:  # read1: one inflate step, no copy
            while data := buffered.read1(chunk):
                yield data


class _EntryStream(io.BufferedIOBase):
    """Decompresses one entry, checking CRC-32 and size; never yields more than size + 1 bytes."""

    def __init__(self, fp: BinaryIO, entry: ZipEntry, data_offset: int) -> None:
        super().__init__()
        self._fp = fp
        self._entry = entry
        self._pos = data_offset  # next compressed byte in the file
        self._left = entry.compressed_size  # compressed bytes not yet read
        self._out = 0
        self._crc = 0
        self._done = False
        self._tail = b""  # compressed input the inflater has not consumed yet
        self._inflater = _inflate_lib.decompressobj(-15) if entry.method == _DEFLATED else None

    def readable(self) -> bool:
        return True

    def _error(self, what: str) -> ZipFormatError:
        return ZipFormatError(f"{show(self._entry.name)}: {what}")

    def _read_raw(self, size: int) -> bytes:
        self._fp.seek(self._pos)
        data = self._fp.read(size)
        if len(data) != size:
            raise self._error("its data is truncated (the archive ends early).")
        self._pos += size
        self._left -= size
        return data

    def _finish(self) -> None:
        self._done = True
        if self._out != self._entry.size:
            raise self._error(
                f"it holds {self._out} bytes but its header says {self._entry.size} (damaged)."
            )
        if self._crc != self._entry.crc:
            raise self._error("its CRC-32 does not match: the data is damaged.")

    def _read_some(self, max_out: int) -> bytes:
        """Up to max_out bytes; b"" only at the (checked) end."""
        if self._done:
            return b""
        # Zip-bomb guard: never produce more than one byte beyond the declared size.
        max_out = min(max_out, self._entry.size + 1 - self._out)
        inflater = self._inflater
        if inflater is None:
            if self._left == 0:
                self._finish()
                return b""
            data = self._read_raw(min(max_out, self._left))
        else:
            while True:
                if not self._tail and self._left:
                    self._tail = self._read_raw(min(self._left, _RAW_CHUNK))
                try:
                    data = inflater.decompress(self._tail, max_out)
                except _inflate_lib.error as err:  # isal's IsalError is not a zlib.error
                    raise self._error(f"its compressed data is damaged ({err}).") from None
                self._tail = inflater.unconsumed_tail
                if data:
                    break
                if inflater.eof:
                    if self._tail or self._left or inflater.unused_data:
                        raise self._error("its compressed data continues past the stream's end.")
                    self._finish()
                    return b""
                if not self._tail and not self._left:
                    raise self._error("its compressed data ends before the stream does.")
        self._out += len(data)
        if self._out > self._entry.size:
            self._done = True
            raise self._error(f"its data is larger than the declared {self._entry.size} bytes.")
        self._crc = _crc32(data, self._crc)
        return data

    def read1(self, size: int | None = -1) -> bytes:
        return self._read_some(size if size is not None and size >= 0 else 1 << 20)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        parts: list[bytes] = []
        while size > 0 and (data := self._read_some(size)):
            parts.append(data)
            size -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_reason(name: str) -> str | None:
    """Why extracting this name could write outside the target directory, or None if it is safe.

    A backslash inside a Unix file name is legal, so it is refused only where a Windows
    extractor would read it as a separator that escapes (a leading one, or around `..`).
    """
    if not name:
        return "the name is empty"
    if "\x00" in name:
        return "the name contains a NUL byte"
    if name.startswith("/"):
        return "the name is an absolute path"
    if name.startswith("\\"):
        return "the name starts with a backslash (an absolute Windows path)"
    if _DRIVE.match(name):
        return "the name starts with a drive letter"
    if ".." in name.split("/"):
        return "the name has a '..' component"
    if ".." in re.split(r"[/\\]", name):
        return "the name has a '..' component when backslashes are read as separators"
    return None


def safe_name(name: str) -> bool:
    return unsafe_reason(name) is None


def structure_problems(reader: ZipReader) -> list[str]:
    """Everything wrong with the archive's layout, without reading any entry's data."""
    problems = list(reader.layout_problems)
    counts: dict[str, int] = {}
    paths: dict[str, str] = {}  # "a" for both "a" and "a/": one cannot be a file and a dir
    for entry in reader.entries:
        counts[entry.name] = counts.get(entry.name, 0) + 1
        other = paths.setdefault(entry.name.rstrip("/"), entry.name)
        if other != entry.name:
            problems.append(
                f"{show_short(entry.name)}: the same path as {show_short(other)}, "
                "as a file and a directory at once."
            )
        depth = path_depth(entry.name)
        if depth > MAX_PATH_DEPTH:
            problems.append(
                f"{show_short(entry.name)}: the name is {depth} directories deep, "
                f"more than the {MAX_PATH_DEPTH} allowed."
            )
        elif any(len(part) > _NAME_MAX for part in entry.raw_name.split(b"/")):
            problems.append(
                f"{show_short(entry.name)}: a component of the name is longer than "
                f"{_NAME_MAX} bytes, which no Linux file system can create."
            )
        reason = unsafe_reason(entry.name)
        if reason:
            problems.append(f"{show(entry.name)}: unsafe name: {reason}.")
    problems.extend(
        f"{show(name)}: the name appears {n} times." for name, n in counts.items() if n > 1
    )
    # Each entry occupies [local header, end of data); ranges must be disjoint and before the
    # central directory. The header size comes from the real local header, not the central one.
    spans: list[tuple[int, int, ZipEntry]] = []
    for entry in reader.entries:
        try:
            end = reader.data_offset(entry) + entry.compressed_size
        except ZipFormatError as err:
            problems.append(str(err))
            continue
        spans.append((entry.header_offset, end, entry))
        if end > reader.cd_offset:
            problems.append(f"{show(entry.name)}: its data runs into the central directory.")
    spans.sort(key=lambda span: span[0])
    first = spans[0][0] if spans else (0 if reader.entries else reader.cd_offset)
    if first > 0:
        problems.append(f"{reader.name}: {first} bytes of unexpected data before the first entry.")
    prev_end, prev = 0, None
    for start, end, entry in spans:
        if prev is not None and start < prev_end:
            problems.append(f"{show(entry.name)}: its data overlaps that of {show(prev.name)}.")
        if end > prev_end:
            prev_end, prev = end, entry
    return problems
