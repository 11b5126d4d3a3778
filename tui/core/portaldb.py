"""The Portal's internal database (TinyDB JSON): consistent reads, identity, key stripping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.core.errors import PortalBackupError


def read_consistent(path: Path, attempts: int = 20) -> bytes:
    """The file's bytes as one complete version.

    TinyDB rewrites the file in place, so a single read can catch it half written. We read until
    two consecutive reads agree and parse as JSON.
    """
    previous: bytes | None = None
    for _ in range(attempts):
        data = path.read_bytes()
        if data == previous and _parses(data):
            return data
        previous = data
    raise PortalBackupError(f"{path} kept changing while it was read; try again")


def _parses(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise PortalBackupError(f"the Portal database is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise PortalBackupError("the Portal database is not a TinyDB document")
    return doc


def default_identity(doc: dict[str, Any]) -> dict[str, Any] | None:
    table = doc.get("identities")
    if not isinstance(table, dict):
        return None
    records = [r for r in table.values() if isinstance(r, dict)]
    for rec in records:
        if rec.get("is_default"):
            return rec
    return records[0] if records else None


def without_private_keys(doc: dict[str, Any]) -> bytes:
    """The database with every identity's private key removed (identity deselected)."""
    stripped = json.loads(json.dumps(doc))
    for rec in (stripped.get("identities") or {}).values():
        if isinstance(rec, dict):
            rec.pop("private_key", None)
    return json.dumps(stripped).encode()


def identities_only(doc: dict[str, Any]) -> bytes:
    """Just the identities table, for an archive that holds the identity but not the database."""
    return json.dumps({"identities": doc.get("identities") or {}}, indent=1).encode()
