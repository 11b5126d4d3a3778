"""The zip writer on its own: standard output on the parallel path, ZIP64, store-or-deflate."""

from __future__ import annotations

import os
import random
import subprocess
import zipfile
from pathlib import Path

import pytest

from tui.core.archive import deflate
from tui.core.archive.zipwriter import PIECE, EntryMeta, WrittenEntry, ZipWriteError, ZipWriter


def meta(name: str, mode: int = 0o644) -> EntryMeta:
    return EntryMeta(name, mode, 1000, 1000, 1_700_000_000 * 10**9)


def text_block(n: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    words = [b"portal", b"backup", b"zip", b"deflate", b"volume", b"container", b"photo"]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rnd.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])


def check_with_tools(path: Path) -> None:
    subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)
    seven = subprocess.run(["7z", "t", str(path)], capture_output=True, text=True)
    assert seven.returncode == 0 and "Everything is Ok" in seven.stdout, seven.stdout


def test_parallel_pieces_make_one_ordinary_deflate_stream(tmp_path: Path) -> None:
    # Several pieces, each deflated in the pool with the previous 32 KiB as dictionary.
    data = text_block(5 * PIECE + 12345, 1)
    src = tmp_path / "big.txt"
    src.write_bytes(data)
    written: list[WrittenEntry] = []
    out = tmp_path / "a.zip"
    with open(out, "wb") as f:
        w = ZipWriter(f, threads=2, on_written=written.append)
        w.add_file(meta("big.txt"), str(src), len(data))
        w.close()
    assert written[0].method == 8 and written[0].compressed_size < len(data) // 3
    with zipfile.ZipFile(out) as zf:
        assert zf.read("big.txt") == data
    check_with_tools(out)


def test_incompressible_and_media_files_are_stored(tmp_path: Path) -> None:
    rnd = os.urandom(2 * PIECE)
    (tmp_path / "noise.bin").write_bytes(rnd)
    (tmp_path / "photo.jpg").write_bytes(text_block(100_000, 2))  # compressible, but a .jpg
    (tmp_path / "small-noise").write_bytes(rnd[:5000])
    written: list[WrittenEntry] = []
    out = tmp_path / "a.zip"
    with open(out, "wb") as f:
        w = ZipWriter(f, on_written=written.append)
        for name in ("noise.bin", "photo.jpg", "small-noise"):
            p = tmp_path / name
            w.add_file(meta(name), str(p), p.stat().st_size)
        w.close()
    methods = {e.name: e.method for e in written}
    assert methods == {"noise.bin": 0, "photo.jpg": 0, "small-noise": 0}
    check_with_tools(out)


def test_order_of_entries_is_the_order_added(tmp_path: Path) -> None:
    names = []
    out = tmp_path / "a.zip"
    with open(out, "wb") as f:
        w = ZipWriter(f, threads=2)
        for i in range(300):
            name = f"d/{i:04d}.txt"
            names.append(name)
            size = PIECE * 2 if i % 50 == 0 else 100 + i
            if size > PIECE:
                p = tmp_path / "big"
                p.write_bytes(text_block(size, i))
                w.add_file(meta(name), str(p), size)
            else:
                w.add_bytes(meta(name), text_block(size, i))
        w.close()
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == names
    check_with_tools(out)


def test_more_than_65535_entries_use_zip64_end_records(tmp_path: Path) -> None:
    out = tmp_path / "many.zip"
    n = 70_000
    with open(out, "wb") as f:
        w = ZipWriter(f)
        for i in range(n):
            w.add_bytes(meta(f"f/{i}"), b"x")
        w.close()
    raw = out.read_bytes()
    assert b"PK\x06\x06" in raw[-200:]  # the ZIP64 end of central directory record
    with zipfile.ZipFile(out) as zf:
        assert len(zf.infolist()) == n
    check_with_tools(out)


@pytest.mark.slow
def test_file_over_4_gib_and_offsets_past_4_gib_use_zip64(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.img"
    size = (4 << 30) + 12345
    with open(sparse, "wb") as f:
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"tail!")
    out = tmp_path / "big.zip"
    written: list[WrittenEntry] = []
    with open(out, "wb") as f:
        w = ZipWriter(f, on_written=written.append)
        # Stored, so the next entry's local header lies past 4 GiB as well.
        w.add_file(meta("sparse.img"), str(sparse), size, compress=False)
        w.add_bytes(meta("after.txt"), b"after")
        w.close()
    sparse.unlink()
    assert written[0].size == size
    assert written[1].offset > 0xFFFFFFFF
    subprocess.run(["unzip", "-tq", str(out)], check=True, capture_output=True)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("after.txt") == b"after"
        info = zf.getinfo("sparse.img")
        assert info.file_size == size
        with zf.open(info) as member:
            member.seek(size - 5)
            assert member.read() == b"tail!"


def test_unsafe_names_are_refused(tmp_path: Path) -> None:
    with open(tmp_path / "a.zip", "wb") as f:
        w = ZipWriter(f)
        for bad in ("/etc/passwd", "a/../../b"):
            with pytest.raises(ZipWriteError, match="unsafe"):
                w.add_bytes(meta(bad), b"x")
        w.close()


def test_compressibility_trial() -> None:
    assert deflate.looks_compressible(text_block(65536, 3))
    assert not deflate.looks_compressible(os.urandom(65536))
    assert deflate.suffix_is_compressed("Photos/IMG_0001.JPG")
    assert not deflate.suffix_is_compressed("notes.txt")
