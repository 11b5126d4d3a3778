"""The one manifest model: what the backup writes parses back to the same model and the same
bytes, unknown keys are tolerated, raw names survive, and every reader refuses the same way."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
import restorekit as rk
import zipfixtures as zf
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.archive.manifest import build_manifest, tool_record
from tui.core.archive.manifest_model import (
    ContainerRecord,
    ItemRecord,
    Manifest,
    ManifestEntry,
    MountRecord,
    PortalRecord,
    SkippedRecord,
    ToolRecord,
    VolumeRecord,
    manifest_problems,
    parse_manifest,
    read_manifest,
)
from tui.core.archive.verify import verify_archive
from tui.core.archive.zipreader import ZipReader
from tui.core.errors import PortalBackupError
from tui.core.model import MANIFEST_NAME
from tui.core.restore.plan import load_plan

# Names as the walks make them: any str os.fsdecode gives (lone surrogates for non-UTF-8 bytes).
NAMES = st.binary(min_size=1, max_size=12).filter(lambda b: b"\x00" not in b).map(os.fsdecode)
TEXT = st.text(max_size=12)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
IDS = st.integers(0, (1 << 32) - 2)


def _raw(name: str) -> str | None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return base64.b64encode(name.encode("utf-8", "surrogateescape")).decode("ascii")
    return None


@st.composite
def entries(draw: st.DrawFn) -> ManifestEntry:
    path, kind = draw(NAMES), draw(st.sampled_from(["file", "dir", "symlink"]))
    target = draw(st.text(min_size=1, max_size=8).filter(lambda t: "\x00" not in t))
    try:
        target.encode("utf-8")
    except UnicodeEncodeError:
        target = "t"
    return ManifestEntry(
        path=path + ("/" if kind == "dir" else ""),
        type=kind,
        size=draw(st.integers(0, (1 << 63) - 1)),
        mode=draw(st.integers(0, 0o7777)),
        uid=draw(IDS),
        gid=draw(IDS),
        mtime_ns=draw(INT64),
        sha256=draw(st.text("0123456789abcdef", min_size=64, max_size=64))
        if kind == "file"
        else None,
        target=target if kind == "symlink" else None,
        path_raw=_raw(path + ("/" if kind == "dir" else "")),
    )


CONFIG = st.dictionaries(TEXT, st.none() | st.integers() | TEXT | st.lists(TEXT), max_size=3)
CONTAINERS = st.builds(
    ContainerRecord,
    id=TEXT,
    name=TEXT,
    image=TEXT,
    service=st.none() | TEXT,
    state_before=st.text(min_size=1, max_size=8),
    quiesced=st.text(min_size=1, max_size=8),
    config=CONFIG,
)
MOUNTS = st.builds(
    MountRecord,
    type=TEXT,
    source=TEXT,
    destination=TEXT,
    id=st.none() | TEXT,
    read_only=st.none() | st.booleans(),
    archive_path=st.none() | TEXT,
)
ITEMS = st.builds(
    ItemRecord,
    id=TEXT,
    kind=TEXT,
    label=TEXT,
    paths=st.tuples(TEXT, TEXT),
    containers=st.none() | st.lists(CONTAINERS, max_size=2).map(tuple),
    mounts=st.none() | st.lists(MOUNTS, max_size=2).map(tuple),
    mount=st.none() | MOUNTS,
)
LABELS = st.dictionaries(TEXT, TEXT, max_size=2)
MANIFESTS = st.builds(
    Manifest,
    tool=st.builds(ToolRecord, name=st.none() | TEXT, version=st.none() | TEXT),
    created=st.none() | TEXT,
    host=st.none() | TEXT,
    portal=st.none()
    | st.builds(
        PortalRecord,
        id=st.none() | TEXT,
        name=st.none() | TEXT,
        root=st.none() | TEXT,
        public_key=st.none() | TEXT,
    ),
    quiesce=st.none() | TEXT,
    identity_included=st.booleans(),
    db_private_keys_removed=st.booleans(),
    items=st.lists(ITEMS, max_size=3).map(tuple),
    volumes=st.lists(
        st.builds(
            VolumeRecord,
            name=TEXT,
            driver=st.none() | TEXT,
            labels=LABELS,
            options=LABELS,
            archive_path=st.none() | TEXT,
        ),
        max_size=2,
    ).map(tuple),
    entries=st.lists(entries(), max_size=6).map(tuple),
    skipped=st.lists(st.builds(SkippedRecord, path=TEXT, type=TEXT, reason=TEXT), max_size=2).map(
        tuple
    ),
    warnings=st.lists(TEXT, max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(manifest=MANIFESTS)
def test_the_model_round_trips_through_the_written_bytes(manifest: Manifest) -> None:
    raw = build_manifest(manifest)
    raw.decode("utf-8")  # always valid UTF-8: names that are not are escaped as \udcXX
    assert parse_manifest(raw) == manifest
    assert parse_manifest(json.dumps(manifest.to_json()).encode()) == manifest
    assert build_manifest(parse_manifest(raw)) == raw


def _small() -> Manifest:
    name = os.fsdecode(b"user_data/shared/caf\xe9.txt")
    return Manifest(
        tool=tool_record(),
        created="2026-03-01T12:00:00Z",
        host="h",
        portal=PortalRecord("f00ba4", "f00ba4", "/home/portal"),
        quiesce="stop",
        identity_included=False,
        db_private_keys_removed=False,
        items=(ItemRecord("shared", "shared", "Documents", ("user_data/shared/",)),),
        entries=(
            ManifestEntry("user_data/shared/", "dir", 0, 0o755, 0, 0, 0),
            ManifestEntry(name, "file", 1, 0o644, 0, 0, 0, "0" * 64, path_raw=_raw(name)),
        ),
    )


def test_unknown_keys_are_tolerated_and_raw_names_kept() -> None:
    doc: dict[str, Any] = _small().to_json()
    doc["from_the_future"] = {"anything": [1, 2]}
    doc["items"][0]["colour"] = "blue"
    doc["entries"][1]["xattrs"] = {"user.a": "b"}
    doc["portal"]["region"] = "eu"
    parsed = parse_manifest(json.dumps(doc).encode())
    assert parsed == _small()
    raw_name = parsed.entries[1].path_raw
    assert raw_name is not None
    assert base64.b64decode(raw_name) == b"user_data/shared/caf\xe9.txt"
    assert os.fsencode(parsed.entries[1].path) == b"user_data/shared/caf\xe9.txt"


@pytest.mark.parametrize(
    ("edit", "sentence"),
    [
        (lambda d: d.update(format=2), "the archive's format 2 is newer than this portal-backup"),
        (lambda d: d.update(format="1"), "the manifest has no valid format number"),
        (lambda d: d.pop("items"), "the manifest lists no items or no entries"),
        (
            lambda d: d["entries"][1].update(uid=-1),
            "the manifest cannot be used: user_data/shared/caf",
        ),
        (
            lambda d: d.update(volumes=[{"name": "v", "driver": 5}]),
            "the manifest cannot be used: portal-backup.json: its volumes are not a list",
        ),
    ],
)
def test_unusable_manifests_are_refused_in_one_sentence(edit: Any, sentence: str) -> None:
    doc = _small().to_json()
    edit(doc)
    with pytest.raises(PortalBackupError) as info:
        parse_manifest(json.dumps(doc).encode())
    assert str(info.value).startswith(sentence)
    assert "\n" not in str(info.value)


def test_not_json_is_one_sentence() -> None:
    with pytest.raises(PortalBackupError, match=r"^the manifest is not valid JSON \("):
        parse_manifest(b"{" * 10 + b"nope")


def test_what_the_backup_writes_is_the_model_byte_for_byte(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    archive = rk.backup(portal_host, tmp_path / "out")
    with open(archive, "rb") as fp:
        reader = ZipReader(fp, name=str(archive))
        entry = reader.get(MANIFEST_NAME)
        assert entry is not None
        raw = reader.read_entry(entry)
        manifest = read_manifest(reader)
    assert build_manifest(manifest) == raw
    assert manifest_problems(json.loads(raw)) == []
    assert json.loads(raw) == manifest.to_json()
    apps = [i for i in manifest.items if i.kind == "app"]
    assert apps and all(i.containers for i in apps)
    assert all(isinstance(c.config, dict) and c.config for i in apps for c in i.containers or ())
    assert {v.name for v in manifest.volumes} >= {portal_host.orphan_volume}
    assert verify_archive(archive).ok


def test_verify_and_restore_refuse_the_same_manifest(tmp_path: Path) -> None:
    """A value restore would trip over is a verify problem, in the same words."""

    def edit(doc: dict[str, Any]) -> None:
        doc["entries"][0]["mode"] = 0o10000

    b = zf.make_backup(tmp_path / "b.zip", {"user_data/shared/a.txt": b"a"}, edit_manifest=edit)
    name = b.manifest["entries"][0]["path"]
    sentence = f"{name}: the manifest's mode 4096 is missing or out of range."
    assert sentence in verify_archive(b.path).problems
    with open(b.path, "rb") as fp, pytest.raises(PortalBackupError) as info:
        load_plan(ZipReader(fp, name=str(b.path)), str(tmp_path / "root"), None, sizes=False)
    assert str(info.value) == f"the manifest cannot be used: {sentence.rstrip('.')}"
