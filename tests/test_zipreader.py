"""The ZIP reader against archives from Python's zipfile, Info-ZIP zip and hand-crafted bytes."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import time
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, cast

import pytest
import zipfixtures as zf
from zipfixtures import RawEntry, SeekOnly, build_zip, flip_bit

from tui.core.archive.zipreader import (
    ZipFormatError,
    ZipReader,
    safe_name,
    structure_problems,
    unsafe_reason,
)
from tui.core.errors import PortalBackupError

RANDOMISH = os.urandom(300_000) + b"compressible text " * 200_000  # ~3.9 MB


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- reading good archives ---------------------------------------------------------------------


def test_python_zipfile_archive(tmp_path: Path) -> None:
    path = tmp_path / "py.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("stored.txt", b"plain", compress_type=zipfile.ZIP_STORED)
        z.writestr("big.bin", RANDOMISH, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("dir/", b"")
        z.writestr("dir/é ü.txt", b"unicode")
        z.writestr("empty", b"", compress_type=zipfile.ZIP_DEFLATED)
    with ZipReader.open(path) as r, zipfile.ZipFile(path) as ref:
        assert [e.name for e in r.entries] == ref.namelist()
        for entry, info in zip(r.entries, ref.infolist(), strict=True):
            assert (entry.size, entry.compressed_size, entry.crc) == (
                info.file_size, info.compress_size, info.CRC
            )  # fmt: skip
            assert entry.header_offset == info.header_offset
            assert entry.date_time == info.date_time
            assert r.read_entry(entry) == ref.read(info)
        assert r.get("dir/") is not None and r.get("dir/").is_dir  # type: ignore[union-attr]  # present
        assert r.get("dir/é ü.txt").raw_name == "dir/é ü.txt".encode()  # type: ignore[union-attr]  # present
        assert structure_problems(r) == []


def test_streaming_reads_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", RANDOMISH)
    with ZipReader.open(path) as r:
        entry = r.entries[0]
        assert b"".join(r.iter_chunks(entry, chunk=65536)) == RANDOMISH
        with r.open_entry(entry) as s:
            parts = []
            while part := s.read(12345):
                assert len(part) <= 12345
                parts.append(part)
        assert b"".join(parts) == RANDOMISH
        # Two open streams interleaved on one file object do not disturb each other.
        a, b = r.open_entry(entry), r.open_entry(entry)
        assert a.read(1000) + b.read(5) == RANDOMISH[:1000] + RANDOMISH[:5]
        assert a.read() == RANDOMISH[1000:] and b.read() == RANDOMISH[5:]


def test_read_only_seekable_object() -> None:
    data = build_zip([RawEntry("a.txt", b"alpha", method=8), RawEntry("b.txt", b"beta")])
    r = ZipReader(cast(BinaryIO, SeekOnly(data)), name="mem.zip")
    assert r.name == "mem.zip"
    assert [r.read_entry(e) for e in r.entries] == [b"alpha", b"beta"]
    assert structure_problems(r) == []


def test_unix_metadata_from_extras(tmp_path: Path) -> None:
    before_1980 = -86400 * 365 * 5  # 1965: only the extended timestamp can hold it
    extra = zf.unix_extra(before_1980, 1234, 567)
    data = build_zip([
        RawEntry("bin/run", b"#!/bin/sh\n", mode=stat.S_IFREG | 0o4755, extra=extra),
        RawEntry("link", b"bin/run", mode=stat.S_IFLNK | 0o777),
        RawEntry("d/", mode=stat.S_IFDIR | 0o700),
    ])  # fmt: skip
    r = ZipReader(io.BytesIO(data))
    run, link, d = r.entries
    assert run.mtime == before_1980 and (run.uid, run.gid) == (1234, 567)
    assert run.mode == 0o4755 and run.unix_mode == stat.S_IFREG | 0o4755
    assert run.is_file and not run.is_symlink and not run.is_dir
    assert link.is_symlink and not link.is_file and r.read_entry(link) == b"bin/run"
    assert link.uid is None and link.gid is None
    # No extended timestamp: the DOS time (2024-05-17 12:30:00), read as UTC.
    assert link.mtime == 1715949000
    assert d.is_dir and d.mode == 0o700


def test_non_unix_entries_have_default_modes() -> None:
    data = build_zip([RawEntry("a.txt", b"x"), RawEntry("d/")])
    raw = bytearray(data)
    # Rewrite "version made by" to host 0 (MS-DOS) in both central records.
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        raw[pos + 5] = 0
        pos = raw.find(b"PK\x01\x02", pos + 1)
    a, d = ZipReader(io.BytesIO(bytes(raw))).entries
    assert a.unix_mode is None and a.mode == 0o644 and not a.is_symlink
    assert d.unix_mode is None and d.mode == 0o755


def test_cp437_and_utf8_names() -> None:
    data = bytearray(build_zip([
        RawEntry("café-dos", raw_name=b"caf\x82", flags=0),
        RawEntry("naïve", flags=0x800),
        RawEntry("café-unix", raw_name=b"caf\xe9", flags=0),
    ]))  # fmt: skip
    data[data.index(b"PK\x01\x02") + 5] = 0  # the first entry was made on MS-DOS
    r = ZipReader(io.BytesIO(bytes(data)))
    # Without the UTF-8 flag: cp437 from DOS hosts; raw bytes from Unix ones (as Info-ZIP
    # keeps them), decoded like os.fsdecode so the exact bytes can be written back.
    assert [e.name for e in r.entries] == ["café", "naïve", "caf\udce9"]
    assert os.fsencode(r.entries[2].name) == b"caf\xe9"
    assert r.entries[0].raw_name == b"caf\x82"
    assert [r.read_entry(e) for e in r.entries] == [b"", b"", b""]


def test_info_zip_archive_with_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "docs" / "empty").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "big.bin").write_bytes(RANDOMISH)
    (src / "link").symlink_to("docs/a.txt")
    (src / "dangling").symlink_to("../nowhere")
    os.chmod(src / "docs" / "a.txt", 0o640)
    os.utime(src / "docs" / "a.txt", (1_600_000_000, 1_600_000_000))
    out = tmp_path / "info.zip"
    subprocess.run(["zip", "-q", "-y", "-r", str(out), "."], cwd=src, check=True)
    with ZipReader.open(out) as r:
        by = {e.name: e for e in r.entries}
        assert set(by) == {"docs/", "docs/empty/", "docs/a.txt", "big.bin", "link", "dangling"}
        assert by["link"].is_symlink and r.read_entry(by["link"]) == b"docs/a.txt"
        assert by["dangling"].is_symlink and r.read_entry(by["dangling"]) == b"../nowhere"
        a = by["docs/a.txt"]
        assert a.mode == 0o640 and a.mtime == 1_600_000_000
        assert (a.uid, a.gid) == (os.getuid(), os.getgid())
        assert by["docs/empty/"].is_dir
        assert r.read_entry(by["big.bin"]) == RANDOMISH
        assert by["big.bin"].method == 8
        assert structure_problems(r) == []


def test_info_zip_forced_zip64(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(RANDOMISH)
    out = tmp_path / "z64.zip"
    subprocess.run(["zip", "-q", "-fz", str(out), src.name], cwd=tmp_path, check=True)
    with ZipReader.open(out) as r:
        (entry,) = r.entries
        assert entry.size == len(RANDOMISH)
        assert r.read_entry(entry) == RANDOMISH
        assert structure_problems(r) == []


def test_zip64_extra_in_central_directory() -> None:
    data = build_zip([RawEntry("a", b"first"), RawEntry("b", b"second" * 100, method=8,
                                                          zip64=True)])  # fmt: skip
    r = ZipReader(io.BytesIO(data))
    b = r.entries[1]
    assert b.size == 600 and b.header_offset == 30 + 1 + 5
    assert r.read_entry(b) == b"second" * 100
    assert structure_problems(r) == []


def test_zip64_with_more_than_65535_entries(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    count = 70_000
    with zipfile.ZipFile(path, "w", allowZip64=True) as z:
        for i in range(count):
            z.writestr(f"f/{i:05d}", str(i))
    subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)
    with ZipReader.open(path) as r:
        assert r.zip64
        assert len(r.entries) == count
        assert r.read_entry(r.entries[-1]) == str(count - 1).encode()
        assert r.entries[65_536].name == "f/65536"
        assert structure_problems(r) == []


def test_archive_comment_and_empty_archive() -> None:
    comment = b"PK\x05\x06 looks like a record but is a comment " * 10
    r = ZipReader(io.BytesIO(build_zip([RawEntry("x", b"1")], comment=comment)))
    assert r.comment == comment and structure_problems(r) == []
    empty = ZipReader(io.BytesIO(build_zip([])))
    assert empty.entries == [] and structure_problems(empty) == []


# --- damaged and hostile archives -------------------------------------------------------------


def test_not_a_zip_and_truncated(tmp_path: Path) -> None:
    with pytest.raises(ZipFormatError, match="no end of central directory"):
        ZipReader(io.BytesIO(b"hello, this is not a zip file at all" * 10))
    with pytest.raises(ZipFormatError):
        ZipReader(io.BytesIO(b""))
    data = build_zip([RawEntry("a", b"x" * 1000), RawEntry("b", b"y" * 1000)])
    for cut in (len(data) - 1, len(data) - 30, len(data) // 2, 10):
        with pytest.raises(ZipFormatError) as err:
            ZipReader(io.BytesIO(data[:cut]))
        assert isinstance(err.value, PortalBackupError)


def test_bit_flip_in_stored_data_fails_crc(tmp_path: Path) -> None:
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("keep.txt", b"fine")
        z.writestr("docs/victim.txt", b"important words " * 100)
    flip_bit(path, zf.data_offset(path, "docs/victim.txt") + 500, 3)
    with ZipReader.open(path) as r:
        assert r.read_entry(r.entries[0]) == b"fine"
        with pytest.raises(ZipFormatError, match=r"^docs/victim\.txt: its CRC-32 does not match"):
            r.read_entry(r.entries[1])


def test_bit_flip_in_deflated_data_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", RANDOMISH)
    with zipfile.ZipFile(path) as z:
        csize = z.getinfo("big.bin").compress_size
    start = zf.data_offset(path, "big.bin")
    for where in (10, csize // 2, csize - 40):
        damaged = tmp_path / f"d{where}.zip"
        damaged.write_bytes(path.read_bytes())
        flip_bit(damaged, start + where, 5)
        with ZipReader.open(damaged) as r, pytest.raises(ZipFormatError, match=r"^big\.bin: "):
            r.read_entry(r.entries[0])


def test_declared_size_is_enforced() -> None:
    payload = b"A" * 1_000_000
    # A "bomb": declares 1,000 bytes but inflates to a million. Reading stops at 1,001.
    bomb = ZipReader(io.BytesIO(build_zip([RawEntry("bomb", payload, method=8, size=1000)])))
    with bomb.open_entry(bomb.entries[0]) as s:
        assert isinstance(s, io.BufferedIOBase)  # so it has read1
        got = 0
        with pytest.raises(ZipFormatError, match=r"^bomb: its data is larger than the declared"):
            while chunk := s.read1(1 << 20):
                got += len(chunk)
        assert got <= 1000
    short = ZipReader(io.BytesIO(build_zip([RawEntry("short", b"abc", method=8, size=5)])))
    with pytest.raises(ZipFormatError, match=r"^short: it holds 3 bytes but its header says 5"):
        short.read_entry(short.entries[0])
    stored = ZipReader(io.BytesIO(build_zip([RawEntry("st", b"abcdef", size=3)])))
    with pytest.raises(ZipFormatError, match=r"^st: "):
        stored.read_entry(stored.entries[0])
    eleven = ZipReader(io.BytesIO(build_zip([RawEntry("eleven", b"x" * 11)])))
    with pytest.raises(ZipFormatError, match=r"^eleven: 11 bytes is more than the 10 allowed"):
        eleven.read_entry(eleven.entries[0], limit=10)
    assert eleven.read_entry(eleven.entries[0], limit=11) == b"x" * 11


def test_unsupported_method_and_encryption() -> None:
    r = ZipReader(io.BytesIO(build_zip([
        RawEntry("bz", b"data", method=12),
        RawEntry("secret", b"data", flags=0x801),
    ])))  # fmt: skip
    with pytest.raises(ZipFormatError, match=r"^bz: compression method 12 is not supported"):
        r.read_entry(r.entries[0])
    with pytest.raises(ZipFormatError, match=r"^secret: the entry is encrypted"):
        r.read_entry(r.entries[1])


def test_local_header_must_match_central(tmp_path: Path) -> None:
    path = write(tmp_path / "l.zip", build_zip([RawEntry("name.txt", b"data")]))
    flip_bit(path, 30 + 2, 1)  # inside the local header's copy of the name
    with ZipReader.open(path) as r:
        with pytest.raises(ZipFormatError, match=r"^name.txt: the name in its local header"):
            r.read_entry(r.entries[0])
        assert any("name.txt: the name in its local header" in p for p in structure_problems(r))


def test_bit_flip_in_central_directory(tmp_path: Path) -> None:
    entries = [RawEntry("a.txt", b"alpha"), RawEntry("b.txt", b"bravo"), RawEntry("c.txt", b"c")]
    good = write(tmp_path / "good.zip", build_zip(entries))
    # In a name: the central name no longer matches its local header.
    name_hit = write(tmp_path / "name.zip", good.read_bytes())
    flip_bit(name_hit, zf.central_offset(good, "b.txt") + 46, 1)
    with ZipReader.open(name_hit) as r:
        assert r.entries[1].name == "`.txt"  # "b" (0x62) with bit 1 flipped
        assert any("`.txt: the name in its local header" in p for p in structure_problems(r))
    # In an offset: the entry now points into another entry's bytes.
    for bit in (0, 2, 4):
        hit = write(tmp_path / f"off{bit}.zip", good.read_bytes())
        flip_bit(hit, zf.central_offset(good, "b.txt") + 42, bit)
        with ZipReader.open(hit) as r:
            problems = structure_problems(r)
            assert any(p.startswith("b.txt: ") for p in problems), problems
    # In the end record's directory offset: the reader refuses the archive.
    off = write(tmp_path / "eocd.zip", good.read_bytes())
    flip_bit(off, len(good.read_bytes()) - 22 + 16, 2)
    with pytest.raises(ZipFormatError):
        ZipReader.open(off)


def test_trailing_garbage_and_leading_data() -> None:
    data = build_zip([RawEntry("a", b"x")])
    r = ZipReader(io.BytesIO(data + b"GARBAGE"))
    assert r.read_entry(r.entries[0]) == b"x"
    assert any("7 bytes of unexpected data after the end record" in p
               for p in structure_problems(r))  # fmt: skip
    # A declared comment may follow the record; a longer tail may not.
    with_comment = build_zip([RawEntry("a", b"x")], comment=b"hi")
    assert structure_problems(ZipReader(io.BytesIO(with_comment))) == []
    assert structure_problems(ZipReader(io.BytesIO(with_comment + b"!")))
    prefixed = ZipReader(io.BytesIO(build_zip([RawEntry("a", b"x")], prefix=b"#!/bin/sh\n")))
    assert prefixed.read_entry(prefixed.entries[0]) == b"x"
    assert any("10 bytes of unexpected data before the first entry" in p
               for p in structure_problems(prefixed))  # fmt: skip


def test_duplicate_names() -> None:
    r = ZipReader(io.BytesIO(build_zip([RawEntry("same", b"1"), RawEntry("same", b"2")])))
    assert [r.read_entry(e) for e in r.entries] == [b"1", b"2"]
    assert r.get("same") is r.entries[0]
    assert structure_problems(r) == ["same: the name appears 2 times."]


def test_overlapping_entries() -> None:
    # "outer" stores a complete local header + data for "inner"; the central directory points
    # "inner" into the middle of "outer". Both read back with good CRCs; only layout shows it.
    inner_local = zf.local_header(b"inner", zlib.crc32(b"secret"), 6, 6, 0, 0x800) + b"secret"
    outer_offset = 0
    inner_offset = outer_offset + 30 + len(b"outer")
    data = build_zip([
        RawEntry("outer", inner_local),
        RawEntry("inner", b"secret", local=False, header_offset=inner_offset),
    ])  # fmt: skip
    r = ZipReader(io.BytesIO(data))
    assert [r.read_entry(e) for e in r.entries] == [inner_local, b"secret"]
    assert structure_problems(r) == ["inner: its data overlaps that of outer."]


def test_entry_running_into_central_directory() -> None:
    data = build_zip([RawEntry("a", b"x" * 10), RawEntry("b", b"y" * 10, compressed_size=50)])
    assert "b: its data runs into the central directory." in structure_problems(
        ZipReader(io.BytesIO(data))
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "'..' component"),
        ("a/../../evil", "'..' component"),
        ("a/..", "'..' component"),
        ("/abs", "absolute path"),
        ("\\server\\share", "backslash"),
        ("a\\..\\..\\evil", "backslashes are read as separators"),
        ("C:/Windows", "drive letter"),
        ("c:evil", "drive letter"),
        ("nul\x00byte", "NUL"),
        ("", "empty"),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    why = unsafe_reason(name)
    assert why is not None and reason in why
    assert not safe_name(name)


@pytest.mark.parametrize("name", ["a/b", "weird\\name.txt", "..foo", "a/..b/c", "dir/", "ab:c"])
def test_safe_names(name: str) -> None:
    assert safe_name(name) and unsafe_reason(name) is None


def test_unsafe_names_in_structure_problems() -> None:
    r = ZipReader(io.BytesIO(build_zip([RawEntry("../evil", b"x"), RawEntry("/abs", b"y")])))
    problems = structure_problems(r)
    assert "../evil: unsafe name: the name has a '..' component." in problems
    assert "/abs: unsafe name: the name is an absolute path." in problems


def test_million_entry_central_directory(tmp_path: Path) -> None:
    path = tmp_path / "million.zip"
    count = 1_000_000
    zf.write_many_empty_files(path, count)
    start = time.perf_counter()
    with ZipReader.open(path) as r:
        seconds = time.perf_counter() - start
        print(f"\nparsed {count:,} central directory entries in {seconds:.2f} s")
        assert len(r.entries) == count and r.zip64
        last = r.entries[-1]
        assert last.name == "d0999/f0999999" and last.size == 0
        assert r.read_entry(last) == b""


# --- offsets and sizes beyond the file (issue 9) ----------------------------------------------


@pytest.mark.parametrize("offset", [2**32 + 5, 2**63 + 7, 2**64 - 1])
def test_a_huge_zip64_offset_is_a_sentence(offset: int) -> None:
    r = ZipReader(
        io.BytesIO(
            build_zip(
                [RawEntry("ok", b"fine"), RawEntry("far", b"x", zip64=True, header_offset=offset)]
            )
        )
    )
    far = r.entries[1]
    assert far.header_offset == offset
    message = f"far: its local header offset {offset} lies past the end of the archive."
    assert message in structure_problems(r)
    with pytest.raises(ZipFormatError) as err:
        r.read_entry(far)
    assert str(err.value) == message
    assert r.read_entry(r.entries[0]) == b"fine"


@pytest.mark.parametrize("size", [2**40, 2**64 - 1])
def test_a_huge_zip64_size_is_a_sentence(size: int) -> None:
    r = ZipReader(
        io.BytesIO(build_zip([RawEntry("big", b"x" * 10, zip64=True, compressed_size=size)]))
    )
    with pytest.raises(ZipFormatError, match=r"^big: its declared size runs past the end"):
        r.read_entry(r.entries[0])
    assert "big: its data runs into the central directory." in structure_problems(r)


@pytest.mark.parametrize("offset", [2**40, 2**63 + 1, 2**64 - 1])
def test_a_huge_zip64_end_record_offset_is_a_sentence(offset: int) -> None:
    data = bytearray(build_zip([RawEntry("a", b"x")], force_zip64=True))
    locator = len(data) - 22 - 20
    assert data[locator : locator + 4] == b"PK\x06\x07"
    data[locator + 8 : locator + 16] = offset.to_bytes(8, "little")
    with pytest.raises(ZipFormatError, match="ZIP64 end record's offset points past"):
        ZipReader(io.BytesIO(bytes(data)))


def test_names_deeper_than_the_limit_are_a_layout_problem() -> None:
    from tui.core.model import MAX_PATH_DEPTH

    ok = "d/" * (MAX_PATH_DEPTH - 1) + "f"
    too_deep = "d/" * MAX_PATH_DEPTH + "f"
    r = ZipReader(io.BytesIO(build_zip([RawEntry(ok, b"1"), RawEntry(too_deep, b"2")])))
    assert structure_problems(r) == [
        f"{'d/' * 60}...: the name is {MAX_PATH_DEPTH + 1} directories deep, "
        f"more than the {MAX_PATH_DEPTH} allowed."
    ]
