"""verify_archive end to end: good backups pass, every kind of damage is caught and named."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import stat
import struct
import subprocess
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
import zipfixtures as zf
from zipfixtures import Backup, RawEntry, SeekOnly, build_zip, flip_bit, make_backup

from tui.core.archive.extract import check_names, join_records, relative
from tui.core.archive.verify import (
    MAX_PROBLEMS,
    VerifyProgress,
    VerifyReport,
    parse_sha256sums,
    verify_archive,
)
from tui.core.archive.zipreader import ZipReader
from tui.core.errors import Cancelled, PortalBackupError
from tui.core.model import MAX_PATH_DEPTH
from tui.core.restore.plan import load_plan

FILES = {
    "user_data/shared/a.txt": b"hello\n",
    "user_data/shared/photo.jpg": os.urandom(200_000),
    "user_data/app_data/x/db.sqlite": b"SQLite format 3\x00" * 20_000,
    "user_data/shared/back\\slash.txt": b"a name with a backslash",
}
DIRS = ["user_data/shared/docs/"]
LINKS = {"user_data/app_data/x/link": "../../etc"}
STORED = ["user_data/shared/photo.jpg"]


def backup(tmp_path: Path, name: str = "b.zip", **kw: Any) -> Backup:
    kw.setdefault("stored", STORED)
    return make_backup(tmp_path / name, FILES, dirs=DIRS, symlinks=LINKS, **kw)


def about(report: VerifyReport, name: str) -> list[str]:
    return [p for p in report.problems if p.startswith(f"{name}: ")]


def test_good_backup(tmp_path: Path) -> None:
    b = backup(tmp_path)
    report = verify_archive(b.path)
    assert report.ok, report.problems
    assert report.problems == [] and report.problem_count == 0
    assert report.has_manifest and report.has_sums
    assert report.signature == "unsigned" and report.signed_by is None
    assert report.entries == len(FILES) + len(DIRS) + len(LINKS) + 3
    assert report.bytes_checked == sum(len(d) for d in b.files.values()) + len(
        b.sums.encode()
    ) + sum(len(t) for t in LINKS.values())
    assert report.notes == []
    # The fixture's SHA256SUMS is what coreutils expects, so the checks above mean something.
    out = tmp_path / "unzipped"
    subprocess.run(["unzip", "-q", str(b.path), "-d", str(out)], check=True)
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, check=True)


def test_accepts_an_open_file(tmp_path: Path) -> None:
    b = backup(tmp_path)
    with open(b.path, "rb") as f:
        report = verify_archive(f)
        assert not f.closed
    assert report.ok, report.problems


def test_accepts_a_read_seek_tell_object(tmp_path: Path) -> None:
    b = backup(tmp_path)
    report = verify_archive(cast(BinaryIO, SeekOnly(b.path.read_bytes())))
    assert report.ok and report.has_manifest, report.problems


def test_foreign_zip_gets_structure_and_crc_checks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_bytes(b"text " * 1000)
    (src / "l").symlink_to("d/f.txt")
    out = tmp_path / "foreign.zip"
    subprocess.run(["zip", "-q", "-y", "-r", str(out), "."], cwd=src, check=True)
    report = verify_archive(out)
    assert report.ok and not report.has_manifest and not report.has_sums
    assert report.signature == "unsigned"
    assert report.notes and "only its structure and CRC-32s" in report.notes[0]
    flip_bit(out, zf.data_offset(out, "d/f.txt") + 5)
    damaged = verify_archive(out)
    assert not damaged.ok and len(about(damaged, "d/f.txt")) == 1


@pytest.mark.parametrize("name", ["user_data/shared/photo.jpg", "user_data/app_data/x/db.sqlite"])
def test_bit_flip_in_data_names_the_entry(tmp_path: Path, name: str) -> None:
    b = backup(tmp_path)
    with zipfile.ZipFile(b.path) as z:
        middle = z.getinfo(name).compress_size // 2
    flip_bit(b.path, zf.data_offset(b.path, name) + middle, 6)
    report = verify_archive(b.path)
    assert not report.ok
    assert len(report.problems) == 1 and report.problems[0].startswith(f"{name}: ")


def test_bit_flip_in_central_directory(tmp_path: Path) -> None:
    name = "user_data/shared/a.txt"
    b = backup(tmp_path)
    in_name = tmp_path / "name.zip"
    in_name.write_bytes(b.path.read_bytes())
    flip_bit(in_name, zf.central_offset(b.path, name) + 46 + len(name) - 1, 0)  # a.txt -> a.txu
    report = verify_archive(in_name)
    assert not report.ok
    assert about(report, "user_data/shared/a.txu")  # local header differs
    assert about(report, name)  # listed in SHA256SUMS and the manifest, but missing
    in_offset = tmp_path / "offset.zip"
    in_offset.write_bytes(b.path.read_bytes())
    flip_bit(in_offset, zf.central_offset(b.path, name) + 42, 3)
    report = verify_archive(in_offset)
    assert not report.ok and about(report, name)


def test_altered_sums_line(tmp_path: Path) -> None:
    name = "user_data/shared/a.txt"
    real = hashlib.sha256(FILES[name]).hexdigest()
    b = backup(tmp_path, edit_sums=lambda s: s.replace(real, real[:-1] + "0" if real[-1] != "0"
                                                       else real[:-1] + "1"))  # fmt: skip
    report = verify_archive(b.path)
    assert report.problems == [f"{name}: its SHA-256 does not match SHA256SUMS."]


def test_sums_with_missing_extra_and_bad_lines(tmp_path: Path) -> None:
    def edit(sums: str) -> str:
        lines = [line for line in sums.splitlines(keepends=True) if "db.sqlite" not in line]
        return "".join(lines) + "0" * 64 + "  ghost.txt\n" + "not a checksum line\n"

    report = verify_archive(backup(tmp_path, edit_sums=edit).path)
    assert not report.ok
    assert about(report, "user_data/app_data/x/db.sqlite") == [
        "user_data/app_data/x/db.sqlite: not listed in SHA256SUMS."
    ]
    assert about(report, "ghost.txt") == ["ghost.txt: listed in SHA256SUMS but missing."]
    assert any("is not in sha256sum format" in p for p in about(report, "SHA256SUMS"))


def test_altered_manifest_sha(tmp_path: Path) -> None:
    name = "user_data/app_data/x/db.sqlite"

    def edit(manifest: dict[str, Any]) -> None:
        for rec in manifest["entries"]:
            if rec["path"] == name:
                rec["sha256"] = hashlib.sha256(b"something else").hexdigest()

    report = verify_archive(backup(tmp_path, edit_manifest=edit).path)
    assert report.problems == [f"{name}: its SHA-256 does not match the manifest."]


def test_manifest_mismatches(tmp_path: Path) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        by = {rec["path"]: rec for rec in manifest["entries"]}
        by["user_data/shared/a.txt"]["size"] = 7
        by["user_data/shared/docs/"].update(type="file", sha256="0" * 64)
        by["user_data/app_data/x/link"]["target"] = "/etc"
        manifest["entries"].append({"path": "user_data/shared/gone.txt", "type": "file",
                                    "size": 1, "mode": 0o644, "uid": 0, "gid": 0,
                                    "mtime_ns": 0, "sha256": "0" * 64})  # fmt: skip

    b = backup(tmp_path, edit_manifest=edit, extra_entries={"user_data/sneaked.txt": b"hi"})
    report = verify_archive(b.path)
    assert not report.ok
    assert about(report, "user_data/shared/a.txt") == [
        "user_data/shared/a.txt: the manifest says 7 bytes but the archive holds 6."
    ]
    assert about(report, "user_data/shared/docs/") == [
        "user_data/shared/docs/: the manifest says 'file' but the archive has a dir."
    ]
    assert about(report, "user_data/app_data/x/link") == [
        "user_data/app_data/x/link: its link target does not match the manifest."
    ]
    assert about(report, "user_data/shared/gone.txt") == [
        "user_data/shared/gone.txt: listed in the manifest but missing."
    ]
    assert about(report, "user_data/sneaked.txt") == [
        "user_data/sneaked.txt: not listed in SHA256SUMS.",
        "user_data/sneaked.txt: in the archive but not listed in the manifest.",
    ]


def test_manifest_from_the_future(tmp_path: Path) -> None:
    report = verify_archive(backup(tmp_path, edit_manifest=lambda m: m.update(format=2)).path)
    assert report.problems == ["portal-backup.json: format 2 is newer than this tool reads."]


def test_damaged_metadata_is_reported_once(tmp_path: Path) -> None:
    b = backup(tmp_path)
    flip_bit(b.path, zf.data_offset(b.path, "SHA256SUMS") + 20, 2)
    report = verify_archive(b.path)
    assert not report.ok and report.has_sums
    assert len(about(report, "SHA256SUMS")) == 1


def test_truncated_archive(tmp_path: Path) -> None:
    b = backup(tmp_path)
    data = b.path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 100):
        b.path.write_bytes(data[:cut])
        report = verify_archive(b.path)
        assert not report.ok and report.problems and report.entries == 0


def test_appended_garbage(tmp_path: Path) -> None:
    b = backup(tmp_path)
    with open(b.path, "ab") as f:
        f.write(b"\x00garbage after the end\x00")
    report = verify_archive(b.path)
    assert not report.ok
    assert len(report.problems) == 1 and "after the end record" in report.problems[0]


def test_duplicates_overlaps_and_unsafe_names(tmp_path: Path) -> None:
    path = tmp_path / "hostile.zip"
    inner = zf.local_header(b"inner", zlib.crc32(b"evil"), 4, 4, 0, 0x800) + b"evil"
    path.write_bytes(build_zip([
        RawEntry("outer", inner),
        RawEntry("inner", b"evil", local=False, header_offset=30 + len("outer")),
        RawEntry("twice", b"1"),
        RawEntry("twice", b"2"),
        RawEntry("../evil", b"x"),
        RawEntry("/abs", b"y"),
    ]))  # fmt: skip
    report = verify_archive(path)
    assert not report.ok
    assert about(report, "inner") == ["inner: its data overlaps that of outer."]
    assert about(report, "twice") == ["twice: the name appears 2 times."]
    assert about(report, "../evil") and about(report, "/abs")


def test_progress_is_throttled_and_complete(tmp_path: Path) -> None:
    files = {f"user_data/shared/f{i:04d}.txt": f"file {i}\n".encode() * 50 for i in range(3000)}
    files["user_data/shared/big.bin"] = os.urandom(8 << 20)
    b = make_backup(tmp_path / "many.zip", files, stored=["user_data/shared/big.bin"])
    events: list[VerifyProgress] = []
    start = time.monotonic()
    report = verify_archive(b.path, on_progress=events.append)
    elapsed = time.monotonic() - start
    assert report.ok, report.problems
    assert 2 <= len(events) <= 3 + elapsed * 8
    assert len(events) < report.entries / 10
    last = events[-1]
    assert (last.bytes_done, last.entries_done) == (last.bytes_total, last.entries_total)
    assert last.entries_total == report.entries and last.bytes_done == report.bytes_checked
    assert all(a.bytes_done <= b.bytes_done for a, b in itertools.pairwise(events))


def test_cancel(tmp_path: Path) -> None:
    b = backup(tmp_path)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        verify_archive(b.path, cancel=cancel, on_progress=lambda _event: cancel.set())


def test_problem_list_is_capped(tmp_path: Path) -> None:
    files = {f"f{i:03d}": b"%d" % i for i in range(120)}

    def scramble(sums: str) -> str:
        return "".join("0" * 64 + line[64:] if line[65:].startswith(" f") else line
                       for line in sums.splitlines(keepends=True))  # fmt: skip

    report = verify_archive(make_backup(tmp_path / "c.zip", files, edit_sums=scramble).path)
    assert report.problem_count == 120
    assert len(report.problems) == MAX_PROBLEMS + 1
    assert report.problems[-1] == "... and 70 more problems."


def test_names_needing_sha256sum_escapes(tmp_path: Path) -> None:
    files = {"odd/new\nline.txt": b"1", "odd/back\\slash": b"2", "odd/both\\\n": b"3"}
    b = make_backup(tmp_path / "esc.zip", files)
    assert "\\" + hashlib.sha256(b"1").hexdigest() + "  odd/new\\nline.txt\n" in b.sums
    report = verify_archive(b.path)
    assert report.ok, report.problems


def test_parse_sha256sums() -> None:
    h = "ab" * 32
    sums, problems = parse_sha256sums(
        f"{h}  plain\n{h} *binary mode\n\\{h}  a\\\\b\\nc\n{h.upper()}  upper\n"
        f"{h}  plain\nshort  x\n\\{h}  bad\\escape\n"
    )
    assert sums == {"plain": h, "binary mode": h, "a\\b\nc": h, "upper": h}
    assert problems == [
        "plain: listed twice in SHA256SUMS.",
        "SHA256SUMS: line 6 is not in sha256sum format.",
        "SHA256SUMS: line 7 is not in sha256sum format.",
    ]


def test_zip64_backup_with_many_entries(tmp_path: Path) -> None:
    files = {f"user_data/shared/{i // 1000:02d}/{i:05d}": b"" for i in range(70_000)}
    b = make_backup(tmp_path / "big.zip", files)
    subprocess.run(["unzip", "-tq", str(b.path)], check=True, capture_output=True)
    with zipfile.ZipFile(b.path) as z:
        assert len(z.infolist()) == 70_003  # and README, manifest, SHA256SUMS
    report = verify_archive(b.path)
    assert report.ok, report.problems
    assert report.entries == 70_003


# --- signatures -------------------------------------------------------------------------------


def test_signature_needs_a_public_key(tmp_path: Path) -> None:
    report = verify_archive(backup(tmp_path, signature=b"sig").path)
    assert report.signature == "invalid" and not report.ok
    assert about(report, "portal-backup.json.sig")


def test_signature_check_can_be_skipped(tmp_path: Path) -> None:
    b = backup(tmp_path, signature=b"sig", public_key="not checked")
    report = verify_archive(b.path, public_key_check=False)
    assert report.ok and report.signature == "unchecked" and report.signed_by is None
    assert report.notes


def rsa_key_pair() -> tuple[Any, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public.decode()


def test_bad_signature_is_invalid(tmp_path: Path) -> None:
    pytest.importorskip("tui.core.crypto.signing")
    _key, public = rsa_key_pair()
    b = backup(tmp_path, signature=b"\x00" * 512, public_key=public)
    report = verify_archive(b.path)
    assert report.signature == "invalid" and report.signed_by is None and not report.ok
    assert about(report, "portal-backup.json.sig")


def test_unreadable_public_key_is_invalid(tmp_path: Path) -> None:
    pytest.importorskip("tui.core.crypto.signing")
    b = backup(tmp_path, signature=b"\x00" * 64, public_key="-----BEGIN PUBLIC KEY-----\nnope\n")
    report = verify_archive(b.path)
    assert report.signature == "invalid" and not report.ok
    assert about(report, "portal-backup.json.sig")[0].startswith(
        "portal-backup.json.sig: it could not be checked: "
    )


def test_good_signature_is_valid(tmp_path: Path) -> None:
    signing = pytest.importorskip("tui.core.crypto.signing")
    sign = getattr(signing, "sign_manifest", None)
    if sign is None:
        pytest.skip("tui.core.crypto.signing has no sign_manifest to make a signature with")
    from cryptography.hazmat.primitives import serialization

    key, public = rsa_key_pair()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signatures: list[bytes] = []

    def signer(data: bytes) -> bytes:
        signatures.append(sign(data, pem.decode()))
        return signatures[-1]

    b = backup(tmp_path, public_key=public, sign=signer)
    report = verify_archive(b.path)
    assert report.ok, report.problems
    assert report.signature == "valid"
    assert report.signed_by == b.manifest["portal"]["id"]
    # The same signature over an edited manifest no longer holds.
    forged = backup(tmp_path, "forged.zip", public_key=public, signature=signatures[0],
                    edit_manifest=lambda m: m.update(host="elsewhere"))  # fmt: skip
    report = verify_archive(forged.path)
    assert report.signature == "invalid" and not report.ok


# --- the zip's own metadata against the manifest (issue 9) -----------------------------------


def set_central_mode(path: Path, name: str, mode: int) -> None:
    """Rewrites an entry's Unix mode in the central directory (external attributes)."""
    raw = bytearray(path.read_bytes())
    pos = zf.central_offset(path, name) + 38
    attr = struct.unpack_from("<L", raw, pos)[0]
    struct.pack_into("<L", raw, pos, (attr & 0xFFFF) | (mode << 16))
    path.write_bytes(bytes(raw))


def test_setuid_added_in_the_central_directory_fails_verify(tmp_path: Path) -> None:
    name = "user_data/shared/a.txt"
    b = backup(tmp_path)
    set_central_mode(b.path, name, stat.S_IFREG | stat.S_ISUID | 0o644)
    # What makes it matter: Info-ZIP applies it (-K keeps setuid bits, -X owners).
    out = tmp_path / "unzipped"
    subprocess.run(["unzip", "-q", "-X", "-K", str(b.path), name, "-d", str(out)], check=True)
    assert (out / name).stat().st_mode & stat.S_ISUID
    report = verify_archive(b.path)
    assert not report.ok
    assert about(report, name) == [
        f"{name}: the archive stores mode 104644 but the manifest says 100644."
    ]


def test_type_bits_owner_and_mtime_are_compared(tmp_path: Path) -> None:
    file, folder = "user_data/app_data/x/db.sqlite", "user_data/shared/docs/"

    def edit(manifest: dict[str, Any]) -> None:
        by = {rec["path"]: rec for rec in manifest["entries"]}
        by[file].update(uid=0, mtime_ns=(zf.MTIME + 5) * 10**9 + 999)

    b = backup(tmp_path, edit_manifest=edit)
    set_central_mode(b.path, folder, stat.S_IFREG | 0o755)  # a directory posing as a file
    report = verify_archive(b.path)
    assert about(report, file) == [
        f"{file}: the archive stores owner 1000:1000 but the manifest says 0:1000.",
        f"{file}: the archive stores mtime {zf.MTIME} but the manifest says {zf.MTIME + 5}.",
    ]
    assert about(report, folder) == [
        f"{folder}: the archive stores mode 100755 but the manifest says 40755."
    ]
    assert report.problem_count == 3


def plan_error(archive: Path | bytes, root: Path) -> str | None:
    """The restore planner's refusal of this archive (a path or its bytes) for `restore --all`
    into the Portal `root` without Docker, down to the extractor's name checks; None when it
    plans it."""
    root.mkdir(exist_ok=True)
    source = io.BytesIO(archive) if isinstance(archive, bytes) else archive.open("rb")
    name = "generated.zip" if isinstance(archive, bytes) else str(archive)
    with source:
        try:
            reader = ZipReader(cast(BinaryIO, source), name=name)
            plan = load_plan(reader, str(root), None, sizes=False)
            sel = plan.select([], select_all=True)
            for targets in sel.targets.values():
                for t in targets:
                    names = [n for n in plan.entry_names if relative(n, t.archive_path) is not None]
                    check_names(
                        join_records(reader, [e.to_json() for e in plan.manifest.entries], names),
                        t.archive_path,
                    )
        except PortalBackupError as exc:
            assert "\n" not in str(exc)
            return str(exc)
    return None


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        ("user_data/shared/a.txt", "uid", -1),
        ("user_data/shared/a.txt", "uid", 2**40),
        ("user_data/shared/a.txt", "gid", 2**32 - 1),
        ("user_data/shared/a.txt", "mode", 0o17777),
        ("user_data/shared/a.txt", "size", -1),
        ("user_data/shared/a.txt", "mtime_ns", 10**30),
        ("user_data/shared/a.txt", "uid", "0"),
        ("user_data/shared/a.txt", "mode", True),
        ("user_data/shared/a.txt", "sha256", 5),
        ("user_data/shared/a.txt", "type", ["file"]),
        ("user_data/app_data/x/link", "target", 5),
        ("user_data/shared/docs/", "mtime_ns", None),
    ],
)
def test_out_of_range_manifest_values_are_sentences(
    tmp_path: Path, path: str, key: str, value: Any
) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        manifest["items"] = [
            {"id": "shared", "kind": "shared", "label": "Documents", "paths": ["user_data/shared/"]}
        ]
        for rec in manifest["entries"]:
            if rec["path"] == path:
                rec[key] = value

    b = backup(tmp_path, edit_manifest=edit)
    report = verify_archive(b.path)
    assert not report.ok
    assert any(p.startswith(f"{path}: the manifest") for p in about(report, path)), report.problems
    error = plan_error(b.path, tmp_path / "portal")
    assert error is not None and error.startswith(f"the manifest cannot be used: {path}: ")
    assert "\n" not in error


def test_a_deeply_nested_manifest_is_a_sentence(tmp_path: Path) -> None:
    nested = b'{"format": 1, "items": [], "entries": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    path = tmp_path / "nested.zip"
    path.write_bytes(build_zip([RawEntry("portal-backup.json", nested, method=8)]))
    report = verify_archive(path)
    assert [p for p in report.problems if "not valid JSON" in p]
    error = plan_error(path, tmp_path / "portal") or ""
    assert error.startswith("the manifest is not valid JSON")


def deep_archive(depth: int, *, chain: bool) -> bytes:
    """An app whose tree is `depth` directories deep below its own (with every directory
    between, or only the deepest), and one file at the bottom."""
    app = "user_data/app_data/deep/"
    levels = range(1, depth + 1) if chain else [depth]
    dirs = [RawEntry(app + "d/" * i, mode=stat.S_IFDIR | 0o755) for i in levels]
    entries = [
        RawEntry(app, mode=stat.S_IFDIR | 0o755),
        *dirs,
        RawEntry(dirs[-1].name + "bottom.txt", b"at the bottom\n"),
    ]
    return zf.crafted_backup(
        entries, [{"id": "app/deep", "kind": "app", "label": "deep", "paths": [app]}]
    )


def test_a_tree_deeper_than_the_limit_fails_verify_and_planning(tmp_path: Path) -> None:
    path = tmp_path / "deep.zip"
    # The deepest directory has exactly the allowed depth; the file below it is one too many.
    path.write_bytes(deep_archive(MAX_PATH_DEPTH - 3, chain=False))
    report = verify_archive(path)
    assert not report.ok
    deepest = [p for p in report.problems if "directories deep" in p]
    assert deepest == [
        f"user_data/app_data/deep/{'d/' * 48}...: the name is "
        f"{MAX_PATH_DEPTH + 1} directories deep, more than the "
        f"{MAX_PATH_DEPTH} allowed."
    ]
    error = plan_error(path, tmp_path / "portal") or ""
    assert error.startswith(f"refusing to restore from {path}: ") and "deep" in error


def test_a_2000_level_tree_verifies_and_plans_without_recursion(tmp_path: Path) -> None:
    path = tmp_path / "deep.zip"
    path.write_bytes(deep_archive(2000, chain=True))
    report = verify_archive(path)
    assert report.ok, report.problems[:3]
    assert report.entries == 2000 + 4  # the app, 2000 levels, the file, manifest and sums
    assert plan_error(path, tmp_path / "portal") is None
