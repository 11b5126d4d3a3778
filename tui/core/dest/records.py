"""What this host uploaded: one JSON line per upload in state_dir()/uploads.jsonl, so `fetch`
can check a download against the SHA-256 computed on the way out and `backups` can say which
archives this host checked after uploading them."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tui.core.state import state_dir

RECORDS_NAME = "uploads.jsonl"


def record_upload(
    *,
    dest: str,
    name: str,
    size: int,
    sha256: str,
    portal_id: str | None,
    verified: bool,
    when: float | None = None,
) -> None:
    line = json.dumps(
        {
            "dest": dest,
            "name": name,
            "size": size,
            "sha256": sha256,
            "time": time.time() if when is None else when,
            "portal_id": portal_id,
            "verified": verified,
        }
    )
    # One write() with O_APPEND: concurrent runs never interleave inside a line.
    fd = os.open(
        state_dir() / RECORDS_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_uploads() -> list[dict[str, Any]]:
    try:
        text = (state_dir() / RECORDS_NAME).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a power loss
        if isinstance(rec, dict) and isinstance(rec.get("name"), str):
            out.append(rec)
    return out


def find_upload(label: str, name: str) -> dict[str, Any] | None:
    """The latest record of `name` uploaded to the destination `label`."""
    found = None
    for rec in read_uploads():
        if rec.get("dest") == label and rec["name"] == name:
            found = rec
    return found
