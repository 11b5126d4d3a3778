"""The explorer's "extract into a folder": the core's extract_entries, on real zips and files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from zipfixtures import unix_zip

from tui.core.archive.extract import extract_entries
from tui.core.archive.zipreader import ZipReader


def _zip(
    files: dict[str, bytes],
    links: dict[str, str | bytes] | None = None,
    dirs: dict[str, int] | None = None,
) -> ZipReader:
    return ZipReader(io.BytesIO(unix_zip(files, links, dirs)))


def test_extract_refuses_escapes_and_never_writes_through_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "trap").symlink_to(outside)  # already in the destination
    reader = _zip(
        {
            "../evil": b"!",
            "/abs": b"!",
            "ok/a.txt": b"fine",
            "trap/x.txt": b"no",
            "link/y.txt": b"no",
        },
        links={"link": str(outside), "ok/up": "../../outside"},
    )
    report = extract_entries(reader, reader.entries, str(dest))
    assert (dest / "ok" / "a.txt").read_bytes() == b"fine"
    refused = dict(report.refused)
    assert "'..'" in refused["../evil"] and "/abs" in refused
    assert "symbolic link" in refused["trap/x.txt"]
    assert "outside" in refused["link"] and "outside" in refused["ok/up"]
    assert os.listdir(outside) == [] and not (tmp_path / "evil").exists()
    # The refused link was never made, so link/y.txt lands in a plain folder inside dest.
    assert (dest / "link").is_dir() and not (dest / "link").is_symlink()
    assert not report.ok and report.files == 2 and report.destination == str(dest)


def test_extract_never_overwrites_and_refuses_an_existing_symlink_leaf(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    (tmp_path / "a.txt").write_bytes(b"mine")
    (tmp_path / "b.txt").symlink_to(outside)
    reader = _zip({"a.txt": b"theirs", "b.txt": b"theirs"})
    report = extract_entries(reader, reader.entries, str(tmp_path))
    refused = dict(report.refused)
    assert "already exists" in refused["a.txt"] and "already exists" in refused["b.txt"]
    assert (tmp_path / "a.txt").read_bytes() == b"mine" and outside.read_bytes() == b"keep"


def test_a_link_inside_is_made_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    reader = _zip({"d/real.txt": b"r", "alias/x.txt": b"no"}, links={"alias": "d"})
    # The link comes after the file written below its name would be: put it first.
    entries = sorted(reader.entries, key=lambda e: e.name != "alias")
    report = extract_entries(reader, entries, str(tmp_path))
    assert os.readlink(tmp_path / "alias") == "d" and report.links == 1
    assert "symbolic link" in dict(report.refused)["alias/x.txt"]
    assert os.listdir(tmp_path / "d") == ["real.txt"]


def test_a_link_target_that_is_not_text_is_refused(tmp_path: Path) -> None:
    reader = _zip({}, links={"bad": b"\xff\xfe"})
    report = extract_entries(reader, reader.entries, str(tmp_path))
    assert "not UTF-8" in dict(report.refused)["bad"] and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("strip,expected", [("ok/", "a.txt"), ("", "ok/a.txt")])
def test_extract_strips_the_selected_folder_parent(
    tmp_path: Path, strip: str, expected: str
) -> None:
    reader = _zip({"ok/a.txt": b"fine"})
    extract_entries(reader, reader.entries, str(tmp_path), strip=strip)
    assert (tmp_path / expected).read_bytes() == b"fine"


def test_folder_modes_are_applied_after_their_contents(tmp_path: Path) -> None:
    reader = _zip({"ro/f.txt": b"x"}, dirs={"ro/": 0o555})
    report = extract_entries(reader, reader.entries, str(tmp_path))
    assert report.ok and report.dirs == 1 and report.files == 1
    assert (tmp_path / "ro" / "f.txt").read_bytes() == b"x"
    assert (tmp_path / "ro").stat().st_mode & 0o777 == 0o555
