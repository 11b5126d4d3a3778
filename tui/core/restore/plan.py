"""What an archive holds beside what this host has now: the plain data a restore shows first.

`load_plan` reads the manifest and looks at the host (Portal root, containers, volumes, sizes);
`RestorePlan.select` turns a choice of item IDs into a `RestoreSelection`: the host paths and
volumes that will be replaced (each once, the outermost winning), the containers that will be
stopped and started again, the containers that will be created, and what cannot be done. The CLI
prints these and a UI can show them; nothing here changes anything.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from tui.core.archive.chain import ChainReader, state_structure_problems
from tui.core.archive.manifest_model import (
    ItemRecord,
    Manifest,
    ManifestEntry,
    VolumeRecord,
    manifest_bytes,
    parse_manifest,
)
from tui.core.archive.zipreader import ZipFormatError, ZipReader, show
from tui.core.crypto.trust import Trust, assess_trust, portal_identity
from tui.core.errors import PortalBackupError, UsageError, first_line
from tui.core.inventory import list_containers, list_volumes
from tui.core.model import (
    APP_DATA_REL,
    BINDS_PREFIX,
    DB_REL,
    IDENTITY_ARCHIVE_REL,
    META_NAMES,
    SHARED_REL,
    SIGNATURE_NAME,
    VOLUMES_PREFIX,
    ContainerInfo,
    Size,
    VolumeInfo,
)
from tui.core.restore.policy import (
    ContainerPolicy,
    bind_target_refusal,
    system_path_refusal,
    volume_refusal,
)
from tui.core.sizes import scan_size

TargetKind = Literal["path", "volume", "db"]
DbMerge = Literal["identities", "keep_keys"]

_SIGNATURE_LIMIT = 1 << 16  # an RSA-4096 signature is 512 bytes


@dataclass(frozen=True)
class ArchiveInfo:
    name: str
    created: str | None
    host: str | None
    portal_id: str | None
    portal_name: str | None
    portal_root: str | None  # the Portal root at backup time (bind sources are remapped from it)
    tool_version: str | None
    identity_included: bool
    db_private_keys_removed: bool


@dataclass
class ContainerPlan:
    """A container of an app in the archive, and how it stands on this host now."""

    name: str
    service: str | None
    image: str
    state_before: str  # at backup time
    state_now: str | None  # None: no container of that name here
    id_now: str | None
    config: dict[str, Any] = field(repr=False)
    old_id: str = ""  # its ID when the backup was made
    image_present: bool | None = None  # checked for missing containers only


@dataclass
class TargetPlan:
    """One host path or volume that the restore replaces as a whole."""

    archive_path: str  # "user_data/app_data/x/", "core/portal_core_config.yml", "volumes/v/"
    kind: TargetKind
    dest: str  # absolute host path; the volume's name for kind "volume"
    is_dir: bool
    exists_now: bool
    size_archive: Size
    size_now: Size | None = None  # None: unknown (not computed, or not readable)
    mountpoint: str | None = None  # volumes that exist: where their files are
    volume: VolumeRecord | None = None  # the manifest's record (driver, labels, options)
    merge: DbMerge | None = None  # kind "db": how the database file is composed

    @property
    def label(self) -> str:
        return f"volume {self.dest}" if self.kind == "volume" else self.dest


@dataclass
class ItemPlan:
    id: str
    kind: str  # core, shared, app, mount, volume
    label: str
    status: str  # present, missing, partly present
    targets: list[TargetPlan]
    containers: list[ContainerPlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def size_archive(self) -> Size:
        return _sum_sizes(t.size_archive for t in self.targets)

    @property
    def size_now(self) -> Size | None:
        sizes = [t.size_now for t in self.targets]
        if any(s is None for s in sizes):
            return None
        return _sum_sizes(s for s in sizes if s is not None)


@dataclass
class StopPlan:
    """A container of this host that uses a replaced path or volume and is running now."""

    name: str
    id: str
    state: str  # running or paused (a paused one is started and paused again afterwards)


@dataclass
class RestoreSelection:
    plan: RestorePlan
    items: list[ItemPlan]
    targets: dict[str, list[TargetPlan]]  # item ID -> what it replaces (each target once)
    stops: dict[str, list[StopPlan]]  # item ID -> containers stopped while it is swapped in
    recreate: dict[str, list[ContainerPlan]]  # item ID -> containers created from the manifest
    volumes_to_create: dict[str, list[str]]  # item ID -> volumes created first
    failing: dict[str, str]  # item ID -> why it cannot be restored (nothing of it is touched)
    notes: dict[str, list[str]]  # item ID -> what was left out, and why
    identity_conflict: tuple[str, str] | None  # (current Portal ID, the archive's)
    # item ID -> what the trust model or the container policy refused (the rest of the item is
    # restored; a run with refusals ends with exit status 1)
    refused: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bytes_total(self) -> int:
        return sum(t.size_archive.bytes for ts in self.targets.values() for t in ts)

    @property
    def needs_docker(self) -> bool:
        return (
            any(t.kind == "volume" for ts in self.targets.values() for t in ts)
            or any(self.recreate.values())
            or any(self.stops.values())
        )


@dataclass
class RestorePlan:
    archive: ArchiveInfo
    portal_root: str
    current_portal_id: str | None
    docker_ok: bool
    items: list[ItemPlan]
    host_containers: list[ContainerInfo] = field(repr=False)
    host_volumes: dict[str, VolumeInfo] = field(repr=False)
    manifest: Manifest = field(repr=False)
    entry_names: list[str] = field(repr=False)  # data entries of the zip, in archive order
    client: Any = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    trust: Trust = field(default_factory=lambda: Trust("unsigned"))

    def item(self, item_id: str) -> ItemPlan | None:
        return next((i for i in self.items if i.id == item_id), None)

    def resolve(self, ids: list[str], select_all: bool = False) -> list[ItemPlan]:
        """Items by ID or glob, in archive order. Globs never pick core items unless they
        start with "core" (the Portal's own files are restored only when asked for)."""
        if select_all:
            return list(self.items)
        chosen: set[str] = set()
        for wanted in ids:
            if any(ch in wanted for ch in "*?["):
                hits = [
                    i.id
                    for i in self.items
                    if fnmatch.fnmatchcase(i.id, wanted)
                    and (i.kind != "core" or wanted.startswith("core"))
                ]
            else:
                hits = [wanted] if self.item(wanted) else []
            if not hits:
                raise UsageError(
                    f"the archive holds no item {wanted!r} (run `portal-backup "
                    "restore ARCHIVE` to see what it holds)"
                )
            chosen.update(hits)
        return [i for i in self.items if i.id in chosen]

    def select(self, ids: list[str], select_all: bool = False) -> RestoreSelection:
        # Bind mounts outside the Portal root need their item named exactly (no --all, no glob).
        explicit = set() if select_all else {i for i in ids if not any(c in i for c in "*?[")}
        return _select(self, self.resolve(ids, select_all), explicit)


# --------------------------------------------------------------------------- reading


def signature_bytes(reader: ZipReader) -> bytes | None:
    """The manifest's signature, or None when there is none (or it cannot be read)."""
    entry = reader.get(SIGNATURE_NAME)
    if entry is None:
        return None
    try:
        return reader.read_entry(entry, limit=_SIGNATURE_LIMIT)
    except ZipFormatError:
        return b""  # present but unreadable: it verifies under no key


def check_structure(reader: ZipReader) -> None:
    """Refuses the whole archive when its layout is unsafe (names, duplicates, overlaps)."""
    problems = state_structure_problems(reader)  # a differential's chain: each file
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise PortalBackupError(f"refusing to restore from {reader.name}: {problems[0]}{more}")


def load_plan(
    reader: ZipReader,
    portal_root: str,
    client: Any | None,
    *,
    sizes: bool = True,
    trust_keys: list[bytes] | None = None,
) -> RestorePlan:
    """The archive's items beside this host's state. `client` None: Docker is not reachable.
    `trust_keys`: PEM keys the user trusts besides this Portal's identity (--trust-key)."""
    check_structure(reader)
    raw = manifest_bytes(reader)
    doc = parse_manifest(raw)
    if doc.differential is not None and not isinstance(reader, ChainReader):
        # Its unchanged files are in the base: alone it would restore a tree with holes.
        raise PortalBackupError(
            f"{reader.name} is a differential backup: it is restored with its base "
            f"{doc.differential.base} (open it with tui.core.archive.chain.open_state)"
        )
    portal = doc.portal
    claimed_key = portal.public_key if portal else None
    archive = ArchiveInfo(
        name=reader.name,
        created=doc.created,
        host=doc.host,
        portal_id=portal.id if portal else None,
        portal_name=portal.name if portal else None,
        portal_root=portal.root if portal else None,
        tool_version=doc.tool.version,
        identity_included=doc.identity_included,
        db_private_keys_removed=doc.db_private_keys_removed,
    )
    warnings: list[str] = []
    containers: list[ContainerInfo] = []
    volumes: dict[str, VolumeInfo] = {}
    docker_ok = client is not None
    if client is not None:
        try:
            containers = list_containers(client)
            volumes = list_volumes(client)
        except Exception as exc:
            docker_ok = False
            warnings.append(f"Docker did not answer ({first_line(exc)})")
    entry_names = [e.name for e in reader.entries if e.name not in META_NAMES]
    sizes_by_prefix = _ArchiveSizes(doc.entries)
    root = os.path.abspath(portal_root)
    plan = RestorePlan(
        archive=archive,
        portal_root=root,
        current_portal_id=_current_portal_id(root),
        docker_ok=docker_ok,
        items=[],
        host_containers=containers,
        host_volumes=volumes,
        manifest=doc,
        entry_names=entry_names,
        client=client if docker_ok else None,
        warnings=warnings,
        trust=assess_trust(raw, signature_bytes(reader), claimed_key, root, trust_keys or []),
    )
    volume_records = {v.name: v for v in doc.volumes}
    by_name = {c.name: c for c in containers}
    for rec in doc.items:
        plan.items.append(_item_plan(plan, rec, sizes_by_prefix, volume_records, by_name, sizes))
    return plan


def _current_portal_id(root: str) -> str | None:
    ident = portal_identity(root)
    return ident.get("id") if ident and isinstance(ident.get("id"), str) else None


class _ArchiveSizes:
    """Bytes and file count under any archive path, from the manifest's entries (sorted paths
    and prefix sums, so each lookup is two bisections)."""

    def __init__(self, entries: tuple[ManifestEntry, ...]) -> None:
        rows = sorted(
            (
                e.path,
                e.size if e.type == "file" else 0,
                0 if e.type == "dir" else 1,
            )  # like scan_size: no dirs
            for e in entries
        )
        self.paths = [r[0] for r in rows]
        self.bytes = list(itertools.accumulate((r[1] for r in rows), initial=0))
        self.files = list(itertools.accumulate((r[2] for r in rows), initial=0))

    def get(self, path: str) -> Size | None:
        """None when the archive holds nothing at `path` (a tree "a/" or a file "a/f")."""
        lo = bisect.bisect_left(self.paths, path)
        hi = (
            bisect.bisect_left(self.paths, path + "\U0010ffff")
            if path.endswith("/")
            else (lo + 1 if lo < len(self.paths) and self.paths[lo] == path else lo)
        )
        if hi == lo:
            return None
        return Size(self.bytes[hi] - self.bytes[lo], self.files[hi] - self.files[lo])


def dest_for(archive_path: str, portal_root: str) -> tuple[TargetKind, str]:
    """Where an archive path lands on this host: (kind, host path or volume name)."""
    if archive_path.startswith(VOLUMES_PREFIX):
        return "volume", archive_path[len(VOLUMES_PREFIX) :].split("/", 1)[0]
    if archive_path.startswith(BINDS_PREFIX):
        return "path", os.path.normpath("/" + archive_path[len(BINDS_PREFIX) :])
    return "path", os.path.normpath(os.path.join(portal_root, archive_path))


def _item_plan(
    plan: RestorePlan,
    rec: ItemRecord,
    sizes: _ArchiveSizes,
    volume_records: dict[str, VolumeRecord],
    by_name: dict[str, ContainerInfo],
    with_sizes: bool,
) -> ItemPlan:
    item = ItemPlan(id=rec.id, kind=rec.kind, label=rec.label, status="present", targets=[])
    paths = list(rec.paths)
    if item.id == "core/identity":
        # The identity lives in the database file: it is merged into it (see _select).
        paths = []
    for path in paths:
        size = sizes.get(path)
        if size is None:
            item.notes.append(f"{path} is listed but the archive holds nothing there")
            continue
        kind, dest = dest_for(path, plan.portal_root)
        target = TargetPlan(
            archive_path=path,
            kind=kind,
            dest=dest,
            is_dir=path.endswith("/"),
            exists_now=False,
            size_archive=size,
        )
        if kind == "volume":
            vol = plan.host_volumes.get(dest)
            target.volume = volume_records.get(dest) or VolumeRecord(dest)
            target.exists_now = vol is not None
            if vol is not None:
                target.mountpoint = vol.mountpoint
                if with_sizes and _readable(vol.mountpoint):
                    target.size_now = scan_size(vol.mountpoint)
        else:
            target.exists_now = os.path.lexists(dest)
            if with_sizes:
                target.size_now = scan_size(dest) if target.exists_now else Size(0, 0)
        item.targets.append(target)
    for c in rec.containers or ():
        now = by_name.get(c.name)
        item.containers.append(
            ContainerPlan(
                name=c.name,
                service=c.service,
                image=c.image,
                state_before=c.state_before,
                state_now=now.state if now else None,
                id_now=now.id if now else None,
                config=c.config,
                old_id=c.id,
            )
        )
    item.status = _status(item, plan)
    return item


def _status(item: ItemPlan, plan: RestorePlan) -> str:
    if item.id == "core/identity":
        return "present" if plan.current_portal_id else "missing"
    if item.kind == "app" and item.containers:
        here = sum(c.state_now is not None for c in item.containers)
        return (
            "present"
            if here == len(item.containers)
            else "missing"
            if here == 0
            else "partly present"
        )
    if not item.targets:
        return "present"
    here = sum(t.exists_now for t in item.targets)
    return "present" if here == len(item.targets) else "missing" if here == 0 else "partly present"


def _readable(path: str | None) -> bool:
    return path is not None and bool(path) and os.access(path, os.R_OK | os.X_OK)


# --------------------------------------------------------------------------- selecting


def _select(plan: RestorePlan, items: list[ItemPlan], explicit: set[str]) -> RestoreSelection:
    chosen = {i.id for i in items}
    sel = RestoreSelection(
        plan=plan,
        items=items,
        targets={},
        stops={},
        recreate={},
        volumes_to_create={},
        failing={},
        notes={},
        identity_conflict=None,
        refused={i.id: [] for i in items},
    )
    candidates: list[tuple[ItemPlan, TargetPlan]] = []
    left_out: list[tuple[ItemPlan, TargetPlan, str]] = []
    for item in items:
        sel.notes[item.id] = list(item.notes)
        for t in item.targets:
            why = _left_out(plan, item, t)
            guard = None if why else _guard(plan, item, t, explicit)
            if guard is not None and guard[0]:
                sel.refused[item.id].append(guard[1])
            elif why or guard:
                left_out.append((item, t, why or (guard[1] if guard else "")))
            else:
                candidates.append((item, t))
    db = _db_target(plan, chosen)
    if db is not None and not plan.trust.trusted:
        owner = next(i for i in items if i.id in ("core/db", "core/identity"))
        sel.refused[owner.id].append(_core_refusal(plan, db.dest))
        db = None
    elif db is not None:
        owner = next(i for i in items if i.id in ("core/db", "core/identity"))
        candidates = [(i, t) for i, t in candidates if t.archive_path != DB_REL]
        candidates.append((owner, db))

    # Each host path once: the outermost target wins, inner ones are part of it.
    claimed: list[tuple[ItemPlan, TargetPlan]] = []
    for item, t in sorted(candidates, key=lambda c: (c[1].kind == "volume", len(c[1].dest))):
        outer = next((o for o in claimed if _same_or_inside(t, o[1])), None)
        if outer is not None:
            if outer[0] is not item:
                sel.notes[item.id].append(f"{_show_target(t)} is restored with {outer[0].id}")
            continue
        claimed.append((item, t))
    for item in items:
        sel.targets[item.id] = [t for i, t in claimed if i is item]
    for item, t, why in left_out:
        # Left out of this item, but another chosen item may restore it all the same.
        outer = next((o for o in claimed if _same_or_inside(t, o[1])), None)
        sel.notes[item.id].append(
            f"{_show_target(t)} is restored with {outer[0].id}" if outer else why
        )

    for item in items:
        targets = sel.targets[item.id]
        sel.stops[item.id] = _stops_for(plan, targets)
        sel.volumes_to_create[item.id] = [
            t.dest for t in targets if t.kind == "volume" and not t.exists_now
        ]
        sel.recreate[item.id] = []
        if item.kind == "app":
            for c in (c for c in item.containers if c.state_now is None):
                why = _container_refusal(plan, c)
                if why:
                    sel.refused[item.id].append(f"container {c.name} not created: {why}")
                else:
                    sel.recreate[item.id].append(c)
        why = _cannot(plan, item, sel)
        if why:
            sel.failing[item.id] = why
        if item.id == "core/identity" and db is None and "core/db" in chosen:
            sel.notes[item.id].append("restored with core/db: the database holds the identity")
        elif (
            not targets
            and not sel.recreate[item.id]
            and item.id not in sel.failing
            and not sel.refused[item.id]
            and not any("restored with" in n for n in sel.notes[item.id])
        ):
            sel.notes[item.id].append("nothing to restore")

    if chosen & {"core/db", "core/identity"}:
        cur, arch = plan.current_portal_id, _archive_portal_id(plan)
        if cur and arch and cur != arch:
            sel.identity_conflict = (cur, arch)
    return sel


def _archive_portal_id(plan: RestorePlan) -> str | None:
    return plan.archive.portal_id


def _left_out(plan: RestorePlan, item: ItemPlan, t: TargetPlan) -> str | None:
    """Why a target of this item is not restored, or None."""
    if t.kind == "path":
        danger = system_path_refusal(t.dest, plan.portal_root)
        if danger:
            return f"{t.dest} is left alone: {danger}"
    if item.kind != "app" or t.kind != "path":
        return None
    # An app's restore never replaces the Portal's own files or the user's documents, even when
    # the app mounts them; those are their own items.
    root = plan.portal_root
    for own, item_id in (
        (os.path.join(root, "core"), "core/apps"),
        (os.path.join(root, SHARED_REL), "shared"),
    ):
        if _overlap(t.dest, own):
            return (
                f"{t.dest} is left alone: it holds the Portal's "
                f"{'documents' if item_id == 'shared' else 'own files'}; restore "
                f"{item_id if item_id == 'shared' else 'the core items'} to replace it"
            )
    app_data = os.path.join(root, APP_DATA_REL)
    if _overlap(t.dest, root) and not (_inside(t.dest, app_data) and t.dest != app_data):
        return f"{t.dest} is left alone: it holds the data of the whole Portal"
    return None


_TRUSTED_ONLY = "are restored only from an archive signed by this Portal or by a --trust-key"


def _guard(
    plan: RestorePlan, item: ItemPlan, t: TargetPlan, explicit: set[str]
) -> tuple[bool, str] | None:
    """What the trust model says about a target: None (restore it), (True, why) refused,
    (False, why) left out with a note (a bind mount outside the Portal root not named)."""
    root, trust = plan.portal_root, plan.trust
    if t.kind == "volume":
        why = (
            None
            if t.exists_now
            else volume_refusal(t.volume or VolumeRecord(t.dest), trust.trusted, root)
        )
        return (True, f"volume {t.dest} not created: {why}") if why else None
    dest = os.path.normpath(t.dest)
    if t.kind == "db" or _overlap(dest, os.path.join(root, "core")):
        return None if trust.trusted else (True, _core_refusal(plan, dest))
    if _inside(dest, root):
        return None  # plain data inside the Portal root: restored whatever the signature
    why = bind_target_refusal(dest, root)
    if why:
        return True, f"{dest} not restored: {why}"
    if not trust.trusted:
        return True, (
            f"{dest} not restored: bind mounts outside the Portal root "
            f"{_TRUSTED_ONLY}, and {trust.why_untrusted()}"
        )
    if item.id not in explicit or len(item.targets) != 1:
        own = next(
            (i.id for i in plan.items if [x.archive_path for x in i.targets] == [t.archive_path]),
            None,
        )
        return False, (
            f"{dest} is outside the Portal root: it is restored only when its item "
            f"is named on its own ({own or 'its mount item'}, not --all or a glob)"
        )
    return None


def _core_refusal(plan: RestorePlan, dest: str) -> str:
    return (
        f"{dest} not restored: the Portal's core files {_TRUSTED_ONLY}, and "
        f"{plan.trust.why_untrusted()}"
    )


def _container_refusal(plan: RestorePlan, c: ContainerPlan) -> str | None:
    """Why a container of the archive is not recreated: each refused setting, then trust."""
    why = ", ".join(container_policy(plan).refusals(c.config))
    if not plan.trust.trusted:
        untrusted = f"containers {_TRUSTED_ONLY}, and {plan.trust.why_untrusted()}"
        why = f"{why}; {untrusted}" if why else untrusted
    return why or None


def container_policy(plan: RestorePlan) -> ContainerPolicy:
    """The limits of containers recreated from this plan's archive (see restore_policy)."""
    volumes = {v.name for v in plan.manifest.volumes}
    volumes |= {t.dest for i in plan.items for t in i.targets if t.kind == "volume"}
    return ContainerPolicy(
        portal_root=plan.portal_root,
        archived_root=plan.archive.portal_root,
        volumes=frozenset(volumes),
        container_ids=tuple(c.old_id for i in plan.items for c in i.containers),
    )


def _db_target(plan: RestorePlan, chosen: set[str]) -> TargetPlan | None:
    """The database file when it cannot be restored byte for byte (identity merges)."""
    names = set(plan.entry_names)
    want_db = "core/db" in chosen and DB_REL in names
    want_identity = "core/identity" in chosen and (
        IDENTITY_ARCHIVE_REL in names
        or (DB_REL in names and not plan.archive.db_private_keys_removed)
    )
    if want_db and not plan.archive.db_private_keys_removed:
        return None  # the plain file target restores it exactly, identities included
    if not want_db and not want_identity:
        return None
    dest = os.path.join(plan.portal_root, DB_REL)
    source = (
        DB_REL if want_db else (IDENTITY_ARCHIVE_REL if IDENTITY_ARCHIVE_REL in names else DB_REL)
    )
    size = Size(
        next(
            (e.size for e in plan.manifest.entries if e.path == source),
            0,
        ),
        1,
    )
    exists = os.path.lexists(dest)
    return TargetPlan(
        archive_path=source,
        kind="db",
        dest=dest,
        is_dir=False,
        exists_now=exists,
        size_archive=size,
        size_now=scan_size(dest) if exists else Size(0, 0),
        merge="identities" if not want_db or want_identity else "keep_keys",
    )


def _stops_for(plan: RestorePlan, targets: list[TargetPlan]) -> list[StopPlan]:
    out: list[StopPlan] = []
    for c in plan.host_containers:
        if c.state not in ("running", "paused", "restarting"):
            continue
        if any(_uses(c, t) for t in targets):
            out.append(StopPlan(c.name, c.id, "paused" if c.state == "paused" else "running"))
    return sorted(out, key=lambda s: s.name)


def _uses(c: ContainerInfo, t: TargetPlan) -> bool:
    for m in c.mounts:
        if t.kind == "volume":
            if m.type == "volume" and m.source == t.dest:
                return True
        elif m.type == "bind" and _overlap(os.path.normpath(m.source), t.dest):
            return True
    return False


def _cannot(plan: RestorePlan, item: ItemPlan, sel: RestoreSelection) -> str | None:
    targets = sel.targets[item.id]
    needs = (
        any(t.kind == "volume" for t in targets)
        or bool(sel.recreate[item.id])
        or (item.kind in ("app", "mount") and bool(item.containers))
    )
    if needs and not plan.docker_ok:
        return "Docker is not reachable, and this item needs it"
    missing = sorted({c.image for c in sel.recreate[item.id] if not _image_present(plan, c)})
    if missing:
        return (
            "missing images: " + ", ".join(missing) + " (pull or load them, then run the "
            "restore again)"
        )
    return None


def _image_present(plan: RestorePlan, c: ContainerPlan) -> bool:
    if c.image_present is None:
        c.image_present = False
        for ref in (c.config.get("image") or c.image, c.config.get("image_id")):
            if not ref or plan.client is None:
                continue
            try:
                plan.client.api.inspect_image(ref)
            except Exception:
                continue
            c.image_present = True
            break
    return c.image_present


def _overlap(a: str, b: str) -> bool:
    return _inside(a, b) or _inside(b, a)


def _inside(inner: str, outer: str) -> bool:
    inner, outer = inner.rstrip("/") or "/", outer.rstrip("/") or "/"
    return inner == outer or inner.startswith(outer if outer == "/" else outer + "/")


def _same_or_inside(t: TargetPlan, outer: TargetPlan) -> bool:
    if t.kind == "volume" or outer.kind == "volume":
        return t.kind == outer.kind and t.dest == outer.dest
    return _inside(t.dest, outer.dest)


def _show_target(t: TargetPlan) -> str:
    return f"volume {t.dest}" if t.kind == "volume" else show(t.dest)


def _sum_sizes(sizes: Any) -> Size:
    b = f = 0
    for s in sizes:
        b += s.bytes
        f += s.files
    return Size(b, f)
