"""The demo Portal's last backup, as `portal-backup create` writes it, for the explorer.

A small selection (the Portal's own files, vaultwarden and the wiki) so the whole archive can
be made in memory, with the sizes the demo lists for those trees (tui/ui/demo/portal.py
SOURCE_SIZES). It is written the way the engine writes one: the real zip writer, the real
manifest, README.txt and SHA256SUMS builders, and a manifest signature made with the demo
Portal's identity key (Ed25519 from a fixed seed, so the bytes never change).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import random
from datetime import datetime
from typing import BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tui.core.archive.manifest import (
    build_manifest,
    entry_record,
    item_records,
    readme_text,
    sums_line,
    tool_record,
    volume_records,
)
from tui.core.archive.manifest_model import (
    DifferentialRecord,
    Manifest,
    ManifestEntry,
    PortalRecord,
)
from tui.core.archive.zipwriter import EntryMeta, WrittenEntry, ZipWriter
from tui.core.crypto.signing import public_key_pem, sign_manifest
from tui.core.model import (
    DB_REL,
    MANIFEST_NAME,
    META_NAMES,
    README_NAME,
    SIGNATURE_NAME,
    SUMS_NAME,
    Size,
)
from tui.core.plan import build_plan, resolve_selection
from tui.ui.demo.portal import NOW, PORTAL_ID, ROOT, SOURCE_SIZES, demo_inventory

LAST_TIME = NOW - 3 * 86400 - 3600  # 2026-02-26T11:00:00Z
LAST_ARCHIVE = f"/root/portal-backup-{PORTAL_ID[:6]}-20260226-110000.zip"
SELECTION = ["core/db", "core/identity", "core/config", "core/apps", "app/vaultwarden", "app/wiki"]
_MTIME_NS = int(LAST_TIME - 86400) * 10**9  # the files were last changed a day before
# The demo Portal's identity: a fixed key, so its signature and the pictures never change.
IDENTITY_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
IDENTITY_PEM = IDENTITY_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def _padded(text: str, size: int, comment: str) -> bytes:
    """`text` grown to exactly `size` bytes with comment lines (the demo lists that size)."""
    data = text.encode()
    while len(data) < size:
        data += (comment + "\n").encode()[: size - len(data)]
    return data[:size]


def _database() -> bytes:
    """A TinyDB file like Portal's, with the identity (and its private key) inside."""
    usage = {
        str(n): {
            "app": ("wiki", "vaultwarden", "immich")[n % 3],
            "ts": f"{{TinyDate}}:2026-02-{1 + n % 25:02d}T0{n % 10}:00:00",
        }
        for n in range(1, 400)
    }
    doc = {
        "_default": {"1": {"portal_name": "Annas Portal"}},
        "identities": {
            "1": {
                "id": PORTAL_ID,
                "name": "Annas Portal",
                "email": "anna@example.org",
                "description": "",
                "is_default": True,
                "private_key": IDENTITY_PEM,
            }
        },
        "installed_apps": {
            str(n): {"name": app, "installed_at": "{TinyDate}:2025-11-02T09:14:00"}
            for n, app in enumerate(("immich", "jellyfin", "nextcloud", "vaultwarden", "wiki"), 1)
        },
        "terminals": {},
        "peers": {},
        "backups": {},
        "tours": {},
        "app_usage_track": usage,
    }
    text = json.dumps(doc)
    size = SOURCE_SIZES[DB_REL].bytes
    assert len(text) < size, "the demo database outgrew the size the demo lists"
    return (text + " " * (size - len(text))).encode()


def _tree(prefix: str, names: list[str], size: Size, text: bool) -> dict[str, bytes]:
    """Files under `prefix` adding up to exactly `size`: text that compresses, or bytes that
    do not (a database, attachments), from a fixed seed."""
    assert len(names) == size.files
    rng = random.Random(prefix)
    out = {}
    for n, name in enumerate(names):
        length = size.bytes // size.files + (n < size.bytes % size.files)
        if text:
            out[prefix + name] = _padded(f"# {name}\n", length, f"Line {n} of {name}: notes.")
        else:
            out[prefix + name] = rng.randbytes(length)
    return out


def demo_files() -> dict[str, bytes]:
    apps = ("immich", "jellyfin", "nextcloud", "vaultwarden", "wiki")
    definitions = [f"{a}/{f}" for a in apps for f in ("docker-compose.yml", ".env")]
    definitions += ["immich/hwaccel.yml", "jellyfin/README.md", "nextcloud/nginx.conf"]
    definitions += ["wiki/config.yml"]
    sizes = SOURCE_SIZES
    config = "log_level: INFO\nportal_domain: f00ba4.p.getportal.org\n"
    vault = ["db.sqlite3", "db.sqlite3-wal", "rsa_key.pem"]
    vault += [f"attachments/{n:04x}.bin" for n in range(20)]
    vault += [f"icon_cache/{n:02d}.png" for n in range(12)]
    return {
        DB_REL: _database(),
        "core/portal_core_config.yml": _padded(config, 1_024, "# set by the Portal"),
        **_tree("core/installed_apps/", definitions, sizes["core/installed_apps/"], True),
        **_tree(
            "user_data/app_data/vaultwarden/",
            ["config.json", "README.md"],
            sizes["user_data/app_data/vaultwarden/"],
            True,
        ),
        **_tree(
            "user_data/app_data/vaultwarden/data/",
            vault,
            sizes["user_data/app_data/vaultwarden/data/"],
            False,
        ),
        **_tree(
            "user_data/app_data/wiki/",
            ["config.yml", "README.md", "robots.txt", "theme.css"],
            sizes["user_data/app_data/wiki/"],
            True,
        ),
        **_tree(
            "user_data/app_data/wiki/pages/",
            [f"{topic}/{n:03d}.md" for topic in ("home", "howto", "recipes") for n in range(70)],
            sizes["user_data/app_data/wiki/pages/"],
            True,
        ),
    }


def _quiesced(state: str) -> str:
    """What the engine's stop mode does to a container in `state` (tui/core/quiesce.py)."""
    return {"running": "stopped", "paused": "stopped-paused"}.get(state, f"not running ({state})")


@functools.cache
def demo_archive_bytes() -> bytes:
    """The archive's bytes; made once per process (a few MB, well under a second)."""
    files = demo_files()
    return write_archive(files, dict.fromkeys(files, _MTIME_NS), "2026-02-26T11:00:00Z")


def write_archive(
    files: dict[str, bytes],
    mtimes: dict[str, int],
    created: str,
    unchanged: dict[str, ManifestEntry] | None = None,
    differential: DifferentialRecord | None = None,
) -> bytes:
    """An archive of the demo selection as the engine writes one: `files` stored, and for a
    differential the `unchanged` entries listed (in_base) but not stored too."""
    inventory = demo_inventory()
    plan = build_plan(inventory, resolve_selection(inventory, SELECTION))
    written_entries: dict[str, ManifestEntry] = {}
    sums: list[str] = []
    meta_ns = int(datetime.fromisoformat(created).timestamp()) * 10**9

    def written(e: WrittenEntry) -> None:  # as the engine's _on_written
        if e.type == "file" and e.sha256 and e.name != SUMS_NAME:
            sums.append(sums_line(e.sha256, e.name))
        if e.name not in META_NAMES:
            written_entries[e.name] = entry_record(e)

    buf = io.BytesIO()
    writer = ZipWriter(buf, threads=1, on_written=written)
    for name, data in files.items():
        mode = 0o600 if name == DB_REL else 0o644
        writer.add_bytes(EntryMeta(name, mode, 0, 0, mtimes[name]), data)
    writer.drain()
    kept = {p: dataclasses.replace(e, in_base=True) for p, e in (unchanged or {}).items()}
    state = [*written_entries, *(p for p in kept if p not in written_entries)]
    how = {c.id: _quiesced(c.state) for i in plan.items for c in i.containers}
    model = Manifest(
        tool=tool_record(),
        created=created,
        host="portal",
        portal=PortalRecord(PORTAL_ID, PORTAL_ID[:6], ROOT, public_key_pem(IDENTITY_PEM)),
        quiesce="stop",
        identity_included=plan.include_identity,
        db_private_keys_removed=plan.strip_private_keys,
        items=item_records(plan, inventory, how),
        volumes=volume_records(plan, inventory),
        entries=tuple(written_entries.get(p) or kept[p] for p in state),
        skipped=(),
        warnings=(),
        differential=differential,
    )
    manifest = build_manifest(model)
    for name, data in (
        (README_NAME, readme_text(model).encode()),
        (MANIFEST_NAME, manifest),
        (SIGNATURE_NAME, sign_manifest(manifest, IDENTITY_PEM)),
    ):
        writer.add_bytes(EntryMeta(name, 0o644, 0, 0, meta_ns), data)
    writer.drain()
    writer.add_bytes(EntryMeta(SUMS_NAME, 0o644, 0, 0, meta_ns), "".join(sums).encode())
    writer.close()
    return buf.getvalue()


def open_demo_archive(path: str) -> BinaryIO:
    """An ArchiveOpener for the app: the demo archive under whatever path it was given, so the
    pictures show a fixed path and nothing is written to disk."""
    fileobj = io.BytesIO(demo_archive_bytes())
    fileobj.name = path  # the reader and verify name the archive by it
    return fileobj
