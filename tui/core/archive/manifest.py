"""Writing an archive's metadata: the manifest (portal-backup.json, its model is
manifest_model.Manifest), SHA256SUMS and README.txt."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from tui import __version__
from tui.core.archive.manifest_model import (
    ContainerRecord,
    ItemRecord,
    Manifest,
    ManifestEntry,
    MountRecord,
    ToolRecord,
    VolumeRecord,
)
from tui.core.archive.zipwriter import WrittenEntry
from tui.core.model import Inventory

if TYPE_CHECKING:
    from tui.core.plan import Plan


def entry_record(
    e: WrittenEntry, stat_id: tuple[int | None, int | None] = (None, None)
) -> ManifestEntry:
    """One entry of the manifest. A path (or link target) that is not UTF-8 is the str
    os.fsdecode makes of it (JSON escapes its bytes as \\udcXX) and its exact bytes are in
    `path_raw` (`target_raw`), base64. `stat_id` is the (inode, ctime_ns) read with it."""
    path_raw, target_raw = (_raw_base64(text) for text in (e.name, e.target))
    return ManifestEntry(
        path=e.name,
        type=e.type,
        size=e.size,
        mode=e.meta.mode,
        uid=e.meta.uid,
        gid=e.meta.gid,
        mtime_ns=e.meta.mtime_ns,
        sha256=e.sha256 if e.type == "file" else None,
        target=e.target,
        path_raw=path_raw,
        target_raw=target_raw,
        ino=stat_id[0],
        ctime_ns=stat_id[1],
    )


def _raw_base64(text: str | None) -> str | None:
    """The bytes of a name that is not valid UTF-8, base64, or None for a UTF-8 one."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii")
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


def item_records(plan: Plan, inventory: Inventory, how: dict[str, str]) -> tuple[ItemRecord, ...]:
    """Each selected item with the archive paths that hold it; apps with their containers
    (state before the backup, how each was quiesced, the config restore recreates them from)."""
    items = []
    for it in plan.items:
        containers = mounts = None
        if it.kind == "app":
            containers = tuple(
                ContainerRecord(
                    id=c.id,
                    name=c.name,
                    image=c.image,
                    service=c.service,
                    state_before=c.state,
                    quiesced=how.get(c.id, "none"),
                    config=c.config,
                )
                for c in it.containers
            )
            mounts = tuple(
                MountRecord(
                    id=m.id,
                    type=m.mount.type,
                    source=m.mount.source,
                    destination=m.mount.destination,
                    read_only=m.mount.read_only,
                    archive_path=m.sources[0].archive_path,
                )
                for m in inventory.items
                if m.parent == it.id and m.mount
            )
        mount = None
        if it.kind == "mount" and it.mount is not None:
            mount = MountRecord(it.mount.type, it.mount.source, it.mount.destination)
        items.append(
            ItemRecord(
                id=it.id,
                kind=it.kind,
                label=it.label,
                paths=tuple(plan.item_paths.get(it.id, [])),
                containers=containers,
                mounts=mounts,
                mount=mount,
            )
        )
    return tuple(items)


def volume_records(plan: Plan, inventory: Inventory) -> tuple[VolumeRecord, ...]:
    """Every named volume stored, with what restore needs to create it again."""
    names = sorted({s.location for st in plan.steps for s in st.sources if s.kind == "volume"})
    return tuple(
        VolumeRecord(
            name=v.name,
            driver=v.driver,
            labels=v.labels,
            options=v.options,
            archive_path=f"volumes/{v.name}/",
        )
        for v in (inventory.volumes.get(n) for n in names)
        if v is not None
    )


def tool_record() -> ToolRecord:
    return ToolRecord("portal-backup", __version__)


def build_manifest(manifest: Manifest) -> bytes:
    # One entry per line keeps a million-entry manifest greppable and diffable.
    head = _dumps(manifest.header_json(), indent=1)
    lines = ",\n  ".join(_dumps(e.to_json()) for e in manifest.entries)
    return (head[:-2] + ',\n "entries": [\n  ' + lines + "\n ]\n}\n").encode()


def sums_line(sha256: str, name: str) -> str:
    """One line in GNU `sha256sum` format, with its escaping for backslash and newline."""
    if "\\" in name or "\n" in name or "\r" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{sha256}  {escaped}\n"
    return f"{sha256}  {name}\n"


def readme_text(manifest: Manifest) -> str:
    portal = manifest.portal
    who = (
        f"the Portal {portal.name} ({portal.id})"
        if portal is not None and portal.id
        else f"the host {manifest.host}"
    )
    items = "\n".join(f"  - {i.id}: {', '.join(i.paths) or '(nothing)'}" for i in manifest.items)
    identity = (
        "\nTHIS ARCHIVE HOLDS THE PORTAL'S PRIVATE KEY (its identity). Whoever has this file can\n"
        "impersonate the Portal. Keep it private; encrypt it before storing it anywhere else.\n"
        if manifest.identity_included
        else "\nThe database was stored without the identities' private keys.\n"
        if manifest.db_private_keys_removed
        else ""
    )
    return f"""portal-backup archive
=====================

A backup of {who}, made {manifest.created} by portal-backup {__version__}.
It is a plain ZIP file: any unzip tool opens it.
{identity}{differential_text(manifest)}
What is inside
--------------
core/...                      the Portal's own files (database, settings, app definitions);
                              the Portal's identity and its private key are records of the
                              database, core/portal_core_db.json (table "identities")
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

Leave with your data (run an app without a Portal)
--------------------------------------------------
Everything an app needs is in here: its state under user_data/app_data/<app>/ and
volumes/<volume>/, and how it ran in portal-backup.json (each container's image, command,
environment, ports and mounts; core/installed_apps/<app>/docker-compose.yml too when core/apps
was backed up). By hand: unzip as root (-X keeps owners), copy the app's folders next to a
docker-compose.yml, point each bind mount at them (./data/...) and each named volume at its
copy, drop the Portal's traefik labels, its "portal" network and the Docker socket, then
run docker compose up -d. Or: portal-backup eject ARCHIVE.zip app/<app> -o DIR writes that
folder for you (see docs/eject.md).
"""


def differential_text(manifest: Manifest) -> str:
    """README words for a differential: it needs its base, and how to combine them by hand."""
    diff = manifest.differential
    if diff is None:
        return ""
    kept = sum(1 for e in manifest.entries if e.in_base)
    return f"""
THIS IS A DIFFERENTIAL BACKUP: it holds only what changed since the full backup
  {diff.base}
(made {diff.base_created or "at an unknown time"}, SHA-256 {diff.base_sha256}).
It cannot be restored without that file; keep both. The manifest (portal-backup.json)
still lists every file of the state at this time ({len(manifest.entries)} entries, {kept} of them
unchanged and held by the base, marked "in_base"); {len(diff.deleted)} paths were deleted since the
base and are listed under "differential" -> "deleted".

Combining them by hand
----------------------
  sha256sum BASE.zip          (must print the SHA-256 above)
  unzip -X -^ -d restore-here BASE.zip
  unzip -X -^ -o -d restore-here THIS.zip
  then delete, inside restore-here, every path listed under "deleted" in
  portal-backup.json, e.g. with jq (the grep drops any absolute or ".." path, which a
  sound archive never lists):
    jq -r '.differential.deleted[]' portal-backup.json | grep -vE '^/|(^|/)[.][.](/|$)' |
      (cd restore-here && xargs -d '\\n' rm -rf --)
  Use THIS archive's portal-backup.json, SHA256SUMS and README.txt (the base's are older).
Or let the tool do it: put both files in one directory and run
  portal-backup restore THIS.zip ...
"""
