"""Property-based tests (hypothesis) of the archive reader, verify and the restore planner.

An archive is untrusted input. Generated archives (hand-made bytes from tests/zipfixtures.py,
real ones from tui.core.archive.zipwriter, and bit flips, truncations and overwritten words of
both) and manifests with wrong types and out-of-range values go to the ZipReader (open, list,
read every entry), verify_archive, the restore planner (load_plan with client=None, select
--all, then extract.join_records and check_names) and a real restore into a temporary Portal
root. Each must end in success or one PortalBackupError sentence: never another exception,
never a hang (a watchdog turns one into a failure), never a write outside the Portal root.

Runs are derandomized (the same examples every time, so CI is reproducible) and bounded; the
module prints how many archives each property generated.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import stat
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zipfixtures as zf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify import plan_error  # the planner's whole path, as `restore --all` takes it
from zipfixtures import RawEntry, build_zip, crafted_backup

from tui.core.archive.manifest import entry_record
from tui.core.archive.manifest_model import manifest_problems
from tui.core.archive.verify import verify_archive
from tui.core.archive.zipreader import ZipFormatError, ZipReader, structure_problems
from tui.core.archive.zipwriter import EntryMeta, WrittenEntry, ZipWriter
from tui.core.errors import PortalBackupError
from tui.core.events import Log
from tui.core.restore.plan import load_plan
from tui.core.restore.policy import BIND_ROOTS_ENV
from tui.core.restore.run import RestoreOptions, run_restore

# Hypothesis' deadline only measures an example after it returns, so a real hang is caught by
# the watchdog below instead; a slow CI machine then cannot turn a timing into a failure.
SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
RESTORE_SETTINGS = settings(SETTINGS, max_examples=100)
WATCHDOG_SECONDS = 30
GENERATED: Counter[str] = Counter()  # archives generated per property, printed at the end

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
SHARED = "user_data/shared/"
APP = "user_data/app_data/gen/"


class Hang(BaseException):  # not an Exception: the restore must not catch it as an item's failure
    pass


@contextlib.contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[None]:
    def on_alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"no answer within {seconds} s: a hang")

    # pytest-timeout may own SIGALRM and its timer: both are put back, less the time spent.
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:
            left = max(0.001, outer_delay - (time.monotonic() - started))
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def assert_sentence(message: object) -> None:
    text = str(message)
    assert text.strip(), "an empty message"
    assert "\n" not in text and "Traceback" not in text, text


@pytest.fixture(scope="module", autouse=True)
def report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: how many archives each property generated (for the CI log)."""
    yield
    line = "property archives generated: " + ", ".join(
        f"{prop} {n}" for prop, n in GENERATED.items()
    )
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # past the capture, into the CI log
        reporter.write_line(line)


# --------------------------------------------------------------------------- strategies

COMPONENTS = st.sampled_from(
    [
        "a",
        "b",
        "..",
        ".",
        "",
        "ü",
        "日本語",
        "x\\y",
        "\\",
        "C:",
        " ",
        "\x7f",
        "a" * 300,
        "..\\..",
        "con",
        "\x00",
    ]
)
NAMES = st.builds(
    lambda lead, parts, deep, trail: lead + "/".join([*parts, *["d"] * deep]) + trail,
    st.sampled_from(["", "", "", "/", "\\", "C:/"]),
    st.lists(COMPONENTS | st.text(max_size=6), min_size=1, max_size=4),
    st.sampled_from([0, 0, 0, 1, 40, 300]),
    st.sampled_from(["", "", "/"]),
)
MODES = st.sampled_from(
    [
        stat.S_IFREG | 0o644,
        stat.S_IFREG | 0o4755,
        stat.S_IFDIR | 0o755,
        stat.S_IFLNK | 0o777,
        stat.S_IFCHR | 0o644,
        0o644,
        0,
    ]
) | st.integers(0, 0xFFFF)
EXTRAS = st.sampled_from(
    [
        b"",
        zf.unix_extra(0, 0, 0),
        zf.unix_extra(-5, 2**32 - 1, 7),
        struct.pack("<HHB", 0x5455, 1, 1),  # a timestamp flag without the time
        struct.pack("<HHBB", 0x7875, 2, 1, 200),  # a uid length past the field
        struct.pack("<HH", 0x0001, 8) + b"\xff" * 8,
        struct.pack("<HH", 0x0001, 40),  # longer than what follows
    ]
) | st.binary(max_size=24)


@st.composite
def raw_entries(draw: st.DrawFn) -> RawEntry:
    zip64 = draw(st.booleans())
    wide = U64 if zip64 else U32  # the 32-bit slots hold 0xFFFFFFFF then, the extra the rest
    return RawEntry(
        name=draw(NAMES),
        data=draw(st.binary(max_size=200)),
        method=draw(st.sampled_from([0, 8, 8, 12])),
        mode=draw(MODES),
        flags=draw(st.sampled_from([0x800, 0x800, 0, 0x1, 0x808])),
        raw_name=draw(st.none() | st.none() | st.binary(max_size=12)),
        local=draw(st.sampled_from([True, True, True, False])),
        header_offset=draw(st.none() | st.none() | wide),
        zip64=zip64,
        extra=draw(EXTRAS),
        crc=draw(st.none() | st.none() | U32),
        size=draw(st.none() | st.none() | U32),
        compressed_size=draw(st.none() | st.none() | wide),
    )


@st.composite
def hand_made(draw: st.DrawFn) -> bytes:
    return build_zip(
        draw(st.lists(raw_entries(), max_size=6)),
        comment=draw(st.sampled_from([b"", b"PK\x05\x06"])),
        prefix=draw(st.sampled_from([b"", b"#!/bin/sh\n"])),
        force_zip64=draw(st.booleans()),
    )


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """Bit flips, a truncation, overwritten words or inserted bytes; positions are biased
    towards the end, where the central directory and end records are."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        n = len(data)
        i = draw(st.integers(0, n - 1) | st.integers(max(0, n - 400), n - 1))
        op = draw(st.sampled_from(["flip", "flip", "cut", "word", "insert"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[i:]
        elif op == "word":
            word = draw(
                st.sampled_from(
                    [
                        b"\xff\xff\xff\xff",
                        b"\x00\x00\x00\x00",
                        b"\xff" * 8,
                        b"\xfe\xff\xff\x7f",
                        b"\x00\x00\x00\x80" * 2,
                    ]
                )
            )
            data[i : i + len(word)] = word
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


# --------------------------------------------------------------------------- base archives


def writer_backup(entries: list[tuple[str, str, bytes]]) -> bytes:
    """A backup made by the project's own writer: (name, type, data) entries, then the
    manifest (tui.core.archive.manifest's entry records) and SHA256SUMS, as `create` lays
    them out."""
    written: list[WrittenEntry] = []
    out = io.BytesIO()
    writer = ZipWriter(out, threads=2, on_written=written.append)
    for name, kind, data in entries:
        meta = EntryMeta(
            name, 0o755 if kind == "dir" else 0o640, 1000, 100, 1_700_000_000_123_456_789
        )
        if kind == "dir":
            writer.add_dir(meta)
        elif kind == "symlink":
            writer.add_symlink(meta, data.decode())
        else:
            writer.add_bytes(meta, data)
    writer.drain()
    doc = {
        "format": 1,
        "tool": {"name": "portal-backup", "version": "0.1.0"},
        "created": "2026-11-29T12:00:00Z",
        "host": "writer",
        "portal": None,
        "identity_included": False,
        "db_private_keys_removed": False,
        "items": [{"id": "shared", "kind": "shared", "label": "Documents", "paths": [SHARED]}],
        "volumes": [],
        "entries": [entry_record(e).to_json() for e in written],
        "skipped": [],
        "warnings": [],
    }
    manifest = json.dumps(doc).encode()
    sums = "".join(zf.sums_line(e.sha256, e.name) for e in written if e.sha256)
    sums += zf.sums_line(hashlib.sha256(manifest).hexdigest(), "portal-backup.json")
    meta = EntryMeta("portal-backup.json", 0o644, 0, 0, 1_700_000_000 * 10**9)
    writer.add_bytes(meta, manifest)
    writer.add_bytes(EntryMeta("SHA256SUMS", 0o644, 0, 0, 1_700_000_000 * 10**9), sums.encode())
    writer.close()
    return out.getvalue()


@cache
def base_archives() -> tuple[bytes, ...]:
    noise = random.Random(9).randbytes(3000)
    real = writer_backup(
        [
            (SHARED, "dir", b""),
            (SHARED + "a.txt", "file", b"hello\n" * 300),
            (SHARED + "noise.bin", "file", noise),
            (SHARED + "sub/", "dir", b""),
            (SHARED + "sub/link", "symlink", b"../a.txt"),
            (SHARED + "empty", "file", b""),
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        made = zf.make_backup(
            Path(tmp) / "b.zip",
            {SHARED + "a.txt": b"alpha\n" * 100, SHARED + "n.bin": noise[:700]},
            dirs=[SHARED],
            symlinks={SHARED + "l": "a.txt"},
            stored=[SHARED + "n.bin"],
        ).path.read_bytes()
    crafted = crafted_backup(
        [
            RawEntry(SHARED, mode=stat.S_IFDIR | 0o755),
            RawEntry(SHARED + "z", b"zip64 " * 50, method=8, zip64=True),
        ],
        [{"id": "shared", "kind": "shared", "paths": [SHARED]}],
    )
    return real, made, crafted


ARCHIVES = hand_made() | st.sampled_from(range(3)).flatmap(lambda i: mutated(base_archives()[i]))


def test_the_base_archives_verify_clean() -> None:
    """The mutations start from good archives: the writer's metadata (modes, owners, the
    extended timestamp) agrees with its manifest as verify compares them."""
    for data in base_archives():
        report = verify_archive(io.BytesIO(data))
        assert report.ok, report.problems


# --------------------------------------------------------------------------- the reader


def read_everything(data: bytes) -> None:
    try:
        reader = ZipReader(io.BytesIO(data), name="generated.zip")
    except ZipFormatError as exc:
        assert_sentence(exc)
        return
    for problem in structure_problems(reader):
        assert_sentence(problem)
    for entry in reader.entries:
        assert isinstance(entry.name, str)
        _ = (entry.mode, entry.mtime, entry.uid, entry.gid, entry.is_dir, entry.is_symlink)
        got = 0
        try:
            for chunk in reader.iter_chunks(entry, 1 << 16):
                got += len(chunk)
        except ZipFormatError as exc:
            assert_sentence(exc)
        else:
            assert got == entry.size  # a stream that ends cleanly gave exactly what it declared


@SETTINGS
@given(data=ARCHIVES)
def test_the_reader_gives_data_or_a_sentence(data: bytes) -> None:
    GENERATED["reader"] += 1
    with watchdog():
        read_everything(data)


# --------------------------------------------------------------------------- verify


def verify_sentences(data: bytes) -> bool:
    report = verify_archive(io.BytesIO(data))
    for problem in report.problems:
        assert_sentence(problem)
    assert report.ok == (report.problem_count == 0)
    return report.ok


@SETTINGS
@given(data=ARCHIVES)
def test_verify_gives_a_report_of_sentences(data: bytes) -> None:
    GENERATED["verify"] += 1
    with watchdog():
        verify_sentences(data)


# --------------------------------------------------------------------------- manifests

DELETE = object()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
ODD = st.sampled_from(
    [
        -1,
        0,
        1,
        2**31,
        2**32 - 1,
        2**32,
        2**40,
        2**63,
        -(2**63) - 1,
        0o7777,
        0o10000,
        10**30,
        "",
        "../../etc",
        "/etc",
        "binds/etc/",
        True,
        [],
        {},
    ]
)
VALUES = JSON | ODD | st.just(DELETE)
TOP_KEYS = [
    "format",
    "items",
    "entries",
    "volumes",
    "tool",
    "portal",
    "created",
    "host",
    "identity_included",
    "db_private_keys_removed",
]
ENTRY_KEYS = ["path", "type", "size", "mode", "uid", "gid", "mtime_ns", "sha256", "target"]
ITEM_KEYS = ["id", "kind", "label", "paths", "containers", "mounts"]
CONTAINER_KEYS = ["name", "image", "config", "state_before", "service", "id"]
EDITS = st.lists(
    st.tuples(
        st.sampled_from(["top", "entry", "item", "container", "volume"]),
        st.integers(0, 6),
        st.integers(0, 9),
        VALUES,
    ),
    max_size=4,
)


def _put(record: Any, key: str, value: Any) -> None:
    if not isinstance(record, dict):
        return
    if value is DELETE:
        record.pop(key, None)
    else:
        record[key] = value


def apply_edits(doc: dict[str, Any], edits: list[tuple[str, int, int, Any]]) -> None:
    for where, index, key, value in edits:
        if where == "top":
            _put(doc, TOP_KEYS[key % len(TOP_KEYS)], value)
            continue
        lists = {
            "entry": doc.get("entries"),
            "item": doc.get("items"),
            "volume": doc.get("volumes"),
        }
        if where == "container":
            items = doc.get("items")
            item = items[index % len(items)] if isinstance(items, list) and items else None
            lists["container"] = item.get("containers") if isinstance(item, dict) else None
        records = lists[where]
        if not isinstance(records, list) or not records:
            continue
        keys = {
            "entry": ENTRY_KEYS,
            "item": ITEM_KEYS,
            "container": CONTAINER_KEYS,
            "volume": ["name", "driver", "labels", "options", "archive_path"],
        }[where]
        _put(records[index % len(records)], keys[key % len(keys)], value)


def manifest_entries() -> list[RawEntry]:
    return [
        RawEntry(SHARED, mode=stat.S_IFDIR | 0o755),
        RawEntry(SHARED + "a.txt", b"alpha\n", method=8),
        RawEntry(SHARED + "link", b"a.txt", mode=stat.S_IFLNK | 0o777),
        RawEntry(APP, mode=stat.S_IFDIR | 0o700),
        RawEntry(APP + "state.db", b"\x00" * 40, mode=stat.S_IFREG | 0o600),
    ]


MANIFEST_ITEMS = [
    {"id": "shared", "kind": "shared", "label": "Documents", "paths": [SHARED]},
    {
        "id": "app/gen",
        "kind": "app",
        "label": "gen",
        "paths": [APP],
        "containers": [
            {
                "name": "gen-web-1",
                "image": "busybox",
                "state_before": "running",
                "config": {"image": "busybox"},
            }
        ],
    },
]


@pytest.fixture
def portal_root(tmp_path: Path) -> Path:
    root = tmp_path / "portal"
    (root / SHARED).mkdir(parents=True)
    (root / SHARED / "mine.txt").write_text("the user's own file\n")
    return root


@SETTINGS
@given(edits=EDITS)
def test_manifest_values_give_a_plan_or_a_sentence(
    edits: list[tuple[str, int, int, Any]], portal_root: Path
) -> None:
    GENERATED["manifest"] += 1
    docs: list[dict[str, Any]] = []

    def edit(doc: dict[str, Any]) -> None:
        apply_edits(doc, edits)
        docs.append(doc)

    data = crafted_backup(manifest_entries(), json.loads(json.dumps(MANIFEST_ITEMS)), edit=edit)
    with watchdog():
        verified = verify_sentences(data)
        refusal = plan_error(data, portal_root)
    doc = docs[0]
    if doc.get("format") == 1 and isinstance(doc.get("entries"), list) and manifest_problems(doc):
        assert not verified  # out-of-range values: verify reports them, the planner refuses
        assert refusal is not None
    if verified:
        assert refusal is None, refusal  # what verify passes, the planner plans


# --------------------------------------------------------------------------- restores


@st.composite
def trees(draw: st.DrawFn, bind_prefix: str) -> tuple[list[RawEntry], list[dict[str, Any]]]:
    """Data entries under the shared documents, an app's directory and a bind outside the
    Portal root (which an unsigned archive must never write), with hostile names among them;
    the manifest lists them faithfully."""
    entries: list[RawEntry] = []
    prefixes = [SHARED, APP, bind_prefix]
    for prefix in prefixes:
        if draw(st.booleans()):
            entries.append(
                RawEntry(
                    prefix, mode=stat.S_IFDIR | draw(st.sampled_from([0o755, 0o700, 0o555, 0o1777]))
                )
            )
    for _ in range(draw(st.integers(0, 6))):
        prefix = draw(st.sampled_from(prefixes))
        rel = draw(NAMES | st.sampled_from(["f", "dir/f", "dir/", "d/" * 30 + "f"]))
        kind = draw(st.sampled_from(["file", "file", "dir", "symlink"]))
        name = prefix + rel.rstrip("/") + ("/" if kind == "dir" else "")
        if kind == "dir":
            entries.append(RawEntry(name, mode=stat.S_IFDIR | 0o755))
        elif kind == "symlink":
            target = draw(st.sampled_from(["f", "../../..", "/etc", bind_prefix[6:], "."]))
            entries.append(RawEntry(name, target.encode(), mode=stat.S_IFLNK | 0o777))
        else:
            entries.append(
                RawEntry(
                    name,
                    draw(st.binary(max_size=64)),
                    method=draw(st.sampled_from([0, 8])),
                    mode=stat.S_IFREG | draw(st.sampled_from([0o644, 0o4755, 0o000])),
                )
            )
    items = [
        {"id": "shared", "kind": "shared", "label": "Documents", "paths": [SHARED]},
        {"id": "app/gen", "kind": "app", "label": "gen", "paths": [APP]},
        {
            "id": "app/gen/bind",
            "kind": "mount",
            "parent": "app/gen",
            "label": bind_prefix,
            "paths": [bind_prefix],
        },
    ]
    return entries, items


def outside_listing(tmp: Path, root: Path) -> dict[str, tuple[int, int, int]]:
    """Everything under `tmp` but the Portal root: (mode, size, mtime) by path."""
    seen: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(tmp):
        if Path(dirpath) == tmp and root.name in dirnames:
            dirnames.remove(root.name)
        for name in [*dirnames, *filenames]:
            st_ = os.lstat(os.path.join(dirpath, name))
            seen[os.path.join(dirpath, name)] = (st_.st_mode, st_.st_size, st_.st_mtime_ns)
    return seen


@RESTORE_SETTINGS
@given(data=st.data())
def test_restoring_generated_archives_never_writes_outside_the_portal_root(
    data: st.DataObject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_BACKUP_LOCK_FILE", str(tmp_path / "run.lock"))
    # The sentinel directory is where binds may go: only the trust model keeps it untouched.
    monkeypatch.setenv(BIND_ROOTS_ENV, str(tmp_path))
    GENERATED["restore"] += 1
    tmp = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        root = tmp / "portal"
        (root / SHARED).mkdir(parents=True)
        (root / SHARED / "mine.txt").write_text("the user's own file\n")
        sentinel = tmp / "sentinel"
        sentinel.mkdir()
        (sentinel / "keep.txt").write_text("never touched\n")
        bind_prefix = "binds" + str(sentinel) + "/"
        entries, items = data.draw(trees(bind_prefix))
        archive = crafted_backup(entries, items)
        before = outside_listing(tmp, root)
        with watchdog():
            restore_all(archive, root)
        assert outside_listing(tmp, root) == before
    finally:
        remove_tree(tmp)


def restore_all(archive: bytes, root: Path) -> None:
    reader = ZipReader(io.BytesIO(archive), name="generated.zip")
    messages: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, Log):
            messages.append(event.message)

    try:
        plan = load_plan(reader, str(root), None)
        result = run_restore(
            reader, plan.select([], select_all=True), RestoreOptions(), None, on_event
        )
    except PortalBackupError as exc:
        assert_sentence(exc)
        GENERATED["restore (refused)"] += 1
        return
    if result.done:
        GENERATED["restore (some item restored)"] += 1
    for why in result.failed.values():
        assert_sentence(why)
        assert "Error:" not in why, why  # an exception's name: an unexpected error
    for message in messages:
        assert_sentence(message)


def remove_tree(path: Path) -> None:
    """rmtree, after making every directory writable (a restored 0555 directory)."""
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            path_ = os.path.join(dirpath, name)
            if not os.path.islink(path_):
                with contextlib.suppress(OSError):
                    os.chmod(path_, 0o700)
    shutil.rmtree(path, ignore_errors=True)
