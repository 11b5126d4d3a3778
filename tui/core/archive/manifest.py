"""The manifest (portal-backup.json), SHA256SUMS and README.txt of an archive."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from tui import __version__
from tui.core.archive.zipwriter import WrittenEntry
from tui.core.model import Inventory

if TYPE_CHECKING:
    from tui.core.plan import Plan

FORMAT_VERSION = 1


def entry_record(e: WrittenEntry) -> dict[str, Any]:
    """One entry of the manifest. A path (or link target) that is not UTF-8 is the str
    os.fsdecode makes of it (JSON escapes its bytes as \\udcXX) and its exact bytes are in
    `path_raw` (`target_raw`), base64."""
    rec: dict[str, Any] = {
        "path": e.name,
        "type": e.type,
        "size": e.size,
        "mode": e.meta.mode,
        "uid": e.meta.uid,
        "gid": e.meta.gid,
        "mtime_ns": e.meta.mtime_ns,
    }
    if e.sha256 is not None and e.type == "file":
        rec["sha256"] = e.sha256
    if e.target is not None:
        rec["target"] = e.target
    for key, text in (("path_raw", e.name), ("target_raw", e.target)):
        raw = _raw_bytes(text)
        if raw is not None:
            rec[key] = base64.b64encode(raw).decode("ascii")
    return rec


def _raw_bytes(text: str | None) -> bytes | None:
    """The bytes of a name that is not valid UTF-8, or None for a UTF-8 one."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return None


def _dumps(obj: Any, **kwargs: Any) -> str:
    """JSON with non-ASCII text as is, except names that are not UTF-8: those are escaped
    (\\udcXX), so the manifest itself always is valid UTF-8."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, **kwargs)
    return text


def item_records(plan: Plan, inventory: Inventory, how: dict[str, str]) -> list[dict[str, Any]]:
    """Each selected item with the archive paths that hold it; apps with their containers
    (state before the backup, how each was quiesced, the config restore recreates them from)."""
    items = []
    for it in plan.items:
        rec: dict[str, Any] = {
            "id": it.id,
            "kind": it.kind,
            "label": it.label,
            "paths": plan.item_paths.get(it.id, []),
        }
        if it.kind == "app":
            rec["containers"] = [
                {
                    "id": c.id,
                    "name": c.name,
                    "image": c.image,
                    "service": c.service,
                    "state_before": c.state,
                    "quiesced": how.get(c.id, "none"),
                    "config": c.config,
                }
                for c in it.containers
            ]
            rec["mounts"] = [
                {
                    "id": m.id,
                    "type": m.mount.type,
                    "source": m.mount.source,
                    "destination": m.mount.destination,
                    "read_only": m.mount.read_only,
                    "archive_path": m.sources[0].archive_path,
                }
                for m in inventory.items
                if m.parent == it.id and m.mount
            ]
        if it.kind == "mount" and it.mount is not None:
            rec["mount"] = {
                "type": it.mount.type,
                "source": it.mount.source,
                "destination": it.mount.destination,
            }
        items.append(rec)
    return items


def volume_records(plan: Plan, inventory: Inventory) -> list[dict[str, Any]]:
    """Every named volume stored, with what restore needs to create it again."""
    names = sorted({s.location for st in plan.steps for s in st.sources if s.kind == "volume"})
    return [
        {
            "name": v.name,
            "driver": v.driver,
            "labels": v.labels,
            "options": v.options,
            "archive_path": f"volumes/{v.name}/",
        }
        for v in (inventory.volumes.get(n) for n in names)
        if v is not None
    ]


def build_manifest(header: dict[str, Any], entries: list[dict[str, Any]]) -> bytes:
    doc = {
        "format": FORMAT_VERSION,
        "tool": {"name": "portal-backup", "version": __version__},
        **header,
        "entries": entries,
    }
    # One entry per line keeps a million-entry manifest greppable and diffable.
    head = _dumps({k: v for k, v in doc.items() if k != "entries"}, indent=1)
    lines = ",\n  ".join(_dumps(e) for e in entries)
    return (head[:-2] + ',\n "entries": [\n  ' + lines + "\n ]\n}\n").encode()


def sums_line(sha256: str, name: str) -> str:
    """One line in GNU `sha256sum` format, with its escaping for backslash and newline."""
    if "\\" in name or "\n" in name or "\r" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{sha256}  {escaped}\n"
    return f"{sha256}  {name}\n"


def readme_text(header: dict[str, Any]) -> str:
    portal = header.get("portal") or {}
    who = (
        f"the Portal {portal.get('name')} ({portal.get('id')})"
        if portal.get("id")
        else f"the host {header.get('host')}"
    )
    items = "\n".join(
        f"  - {i['id']}: {', '.join(i['paths']) or '(nothing)'}" for i in header.get("items", [])
    )
    identity = (
        "\nTHIS ARCHIVE HOLDS THE PORTAL'S PRIVATE KEY (its identity). Whoever has this file can\n"
        "impersonate the Portal. Keep it private; encrypt it before storing it anywhere else.\n"
        if header.get("identity_included")
        else ""
    )
    return f"""portal-backup archive
=====================

A backup of {who}, made {header.get("created")} by portal-backup {__version__}.
It is a plain ZIP file: any unzip tool opens it.
{identity}
What is inside
--------------
core/...                      the Portal's own files (database, settings, app definitions)
user_data/shared/...          documents and media
user_data/app_data/<app>/...  each app's state
volumes/<volume>/...          named Docker volumes (the contents of the volume's root)
binds/<host path>/...         bind mounts from outside the Portal root
portal-backup.json            the manifest: every item, container and file with its metadata
SHA256SUMS                    checksums of every file

Items:
{items}

Checking it
-----------
  unzip -X -^ -d restore-here ARCHIVE.zip (-X keeps owners, run as root; -^ keeps
                                          control characters such as newlines in names)
  cd restore-here && sha256sum -c SHA256SUMS
or: portal-backup verify ARCHIVE.zip

Restoring by hand
-----------------
1. Stop the app:            docker compose -p <app> stop
2. Move its data aside:     mv /home/portal/user_data/app_data/<app> <app>.old
3. Copy it back:            cp -a restore-here/user_data/app_data/<app> \\
                                  /home/portal/user_data/app_data/
   For a named volume:      cp -a restore-here/volumes/<volume>/. \\
                            "$(docker volume inspect -f '{{{{.Mountpoint}}}}' <volume>)"/
4. Start the app again:     docker compose -p <app> start
Or let the tool do it safely:  portal-backup restore ARCHIVE.zip app/<app>
"""
