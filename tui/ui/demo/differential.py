"""The demo Portal's differential backup (issue 14): made at the demo's NOW against its last full
backup (tui/ui/demo/archive.py), written the way the engine writes one. Since the full backup a
few wiki pages were edited, added and deleted, and vaultwarden's database and attachments grew.

`write_demo_chain(folder)` puts the full backup and the differential side by side on disk (the
explorer checks the base's SHA-256 on the file itself) and returns the differential's path.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import random
from pathlib import Path

from tui.core.archive.manifest_model import DifferentialRecord, manifest_bytes, parse_manifest
from tui.core.archive.zipreader import ZipReader
from tui.core.model import DB_REL
from tui.ui.demo.archive import LAST_ARCHIVE, demo_archive_bytes, demo_files, write_archive
from tui.ui.demo.portal import NOW, PORTAL_ID

BASE_NAME = os.path.basename(LAST_ARCHIVE)
DIFF_NAME = f"portal-backup-{PORTAL_ID[:6]}-20260301-120000-since-20260226-110000.zip"
CREATED = "2026-03-01T12:00:00Z"
WIKI = "user_data/app_data/wiki/pages/"
VAULT = "user_data/app_data/vaultwarden/data/"
EDITED = [f"{WIKI}howto/003.md", f"{WIKI}howto/017.md", DB_REL]
ADDED = [f"{WIKI}recipes/{n:03d}.md" for n in range(70, 73)]
ADDED += [f"{VAULT}attachments/{n:04x}.bin" for n in range(20, 22)]
REWRITTEN = [f"{VAULT}db.sqlite3", f"{VAULT}db.sqlite3-wal"]  # same size, new bytes
DELETED = [f"{WIKI}home/{n:03d}.md" for n in (12, 68, 69)]
CHANGED = [*EDITED, *REWRITTEN, *ADDED]
_CHANGED_NS = int(NOW - 5 * 3600) * 10**9  # this morning


def _changed_files(base: dict[str, bytes]) -> dict[str, bytes]:
    rng = random.Random("demo differential")
    out: dict[str, bytes] = {}
    for name in EDITED:
        if name == DB_REL:  # one more app-usage record's day moved on, same size
            out[name] = base[name].replace(b"2026-02-01T05", b"2026-03-01T05", 1)
        else:
            out[name] = base[name] + b"\nEdited on 2026-03-01: one more step.\n"
    for name in REWRITTEN:
        out[name] = rng.randbytes(len(base[name]))
    for name in ADDED:
        text = name.endswith(".md")
        out[name] = (
            f"# {os.path.basename(name)}\nA new page.\n".encode() if text else rng.randbytes(9_000)
        )
    return out


@functools.cache
def demo_differential_bytes() -> bytes:
    base_bytes = demo_archive_bytes()
    base_manifest = parse_manifest(
        manifest_bytes(ZipReader(io.BytesIO(base_bytes), name=BASE_NAME))
    )
    changed = _changed_files(demo_files())
    unchanged = {
        e.path: e for e in base_manifest.entries if e.path not in changed and e.path not in DELETED
    }
    record = DifferentialRecord(
        base=BASE_NAME,
        base_created=base_manifest.created,
        base_sha256=hashlib.sha256(base_bytes).hexdigest(),
        deleted=tuple(DELETED),
    )
    return write_archive(changed, dict.fromkeys(changed, _CHANGED_NS), CREATED, unchanged, record)


def write_demo_chain(folder: Path) -> Path:
    """The full backup and the differential in `folder`; the differential's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BASE_NAME).write_bytes(demo_archive_bytes())
    path = folder / DIFF_NAME
    path.write_bytes(demo_differential_bytes())
    return path
