"""A made-up restore for pictures and snapshot tests: fixed data, no Docker, no disk.

The archive comes from the demo Portal's previous server (tui/ui/demo/portal.py); this host was
set up again as a new Portal, so its identity differs. Some apps are here, one is missing and
can be recreated, one is missing and its image is not here. The plan is built by hand; selecting
runs the real RestorePlan.select on it (nothing it does touches this machine: images are marked
present or not up front, and no database target is composed unless core/identity is ticked
alone, which looks under a Portal root that does not exist here)."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from tui.core.archive.manifest_model import (
    ItemRecord,
    Manifest,
    ManifestEntry,
    MountRecord,
    ToolRecord,
    VolumeRecord,
)
from tui.core.crypto.trust import Trust
from tui.core.errors import Cancelled
from tui.core.events import EventSink, ItemState, Log, Progress
from tui.core.model import (
    DB_REL,
    IDENTITY_ARCHIVE_REL,
    ContainerInfo,
    MountInfo,
    Size,
    VolumeInfo,
)
from tui.core.restore.diff import PathChange, TargetDiff
from tui.core.restore.plan import (
    ArchiveInfo,
    ContainerPlan,
    ItemPlan,
    RestorePlan,
    RestoreSelection,
    TargetPlan,
)
from tui.core.restore.run import RestoreFinished, RestoreOptions
from tui.ui.demo.portal import ARCHIVE, PORTAL_ID, RATE, ROOT
from tui.ui.logic.restore_backend import RestoreSession, SizeSink

HOST_PORTAL_ID = hashlib.sha512(b"demo portal, set up again").hexdigest()
APP_DATA = f"{ROOT}/user_data/app_data"
STAMP = "20260301-121500"


def _t(archive_path: str, size: Size, here: bool, *, volume: bool = False) -> TargetPlan:
    """A target of the archive, and whether this host has it now."""
    if volume:
        name = archive_path[len("volumes/") :].rstrip("/")
        return TargetPlan(
            archive_path,
            "volume",
            name,
            True,
            here,
            size,
            mountpoint=f"/var/lib/docker/volumes/{name}/_data" if here else None,
            volume=VolumeRecord(name, "local"),
        )
    return TargetPlan(
        archive_path,
        "path",
        f"{ROOT}/{archive_path.rstrip('/')}",
        archive_path.endswith("/"),
        here,
        size,
    )


def _c(
    app: str, service: str, image: str, before: str, now: str | None, image_present: bool = True
) -> ContainerPlan:
    cid = hashlib.sha256(f"{app}/{service}".encode()).hexdigest()
    return ContainerPlan(
        name=f"{app}-{service}-1",
        service=service,
        image=image,
        state_before=before,
        state_now=now,
        id_now=cid if now else None,
        config={"image": image},
        old_id=cid,
        image_present=None if now else image_present,
    )


def _host(app: str, service: str, state: str, mount: MountInfo) -> ContainerInfo:
    cid = hashlib.sha256(f"{app}/{service}".encode()).hexdigest()
    return ContainerInfo(cid, f"{app}-{service}-1", "", state, service, (mount,))


# What the demo host holds now, per item and target: what measuring this host finds.
SIZES_NOW: dict[str, list[Size]] = {
    "core/db": [Size(51_002, 1)],
    "core/config": [Size(1_024, 1)],
    "core/apps": [Size(20_480, 12)],
    "shared": [Size(18_801_004_544, 23_502)],
    "app/immich": [Size(96_002_162_688, 40_888), Size(1_311_244_288, 2_140)],
    "app/immich/library": [Size(96_001_114_112, 40_877)],
    "app/immich/immich_pgdata": [Size(1_311_244_288, 2_140)],
    "app/vaultwarden": [Size(4_702_208, 36)],
    "app/vaultwarden/data": [Size(4_694_016, 34)],
    "volume/paperless_media": [Size(3_355_443_200, 5_120)],
}


def _items() -> tuple[list[ItemPlan], list[ContainerInfo], dict[str, VolumeInfo]]:
    s = Size
    core = [
        ItemPlan(
            "core/db", "core", "Internal database", "present", [_t(DB_REL, s(48_213, 1), True)]
        ),
        ItemPlan("core/identity", "core", "Portal identity (private key)", "present", []),
        ItemPlan(
            "core/config",
            "core",
            "Portal settings",
            "present",
            [_t("core/portal_core_config.yml", s(1_024, 1), True)],
        ),
        ItemPlan(
            "core/apps",
            "core",
            "Installed app definitions",
            "present",
            [_t("core/installed_apps/", s(23_552, 14), True)],
        ),
        ItemPlan(
            "shared",
            "shared",
            "Documents and media",
            "present",
            [_t("user_data/shared/", s(18_734_211_072, 23_411), True)],
        ),
    ]
    immich_lib = _t("user_data/app_data/immich/library/", s(96_636_764_160, 41_020), True)
    immich_db = _t("volumes/immich_pgdata/", s(1_288_490_188, 2_113), True, volume=True)
    immich = ItemPlan(
        "app/immich",
        "app",
        "immich",
        "present",
        [_t("user_data/app_data/immich/", s(96_637_812_736, 41_031), True), immich_db],
        [
            _c("immich", "server", "ghcr.io/immich-app/immich-server:v1.99", "running", "running"),
            _c("immich", "db", "postgres:15", "running", "running"),
        ],
    )
    vault = ItemPlan(
        "app/vaultwarden",
        "app",
        "vaultwarden",
        "present",
        [_t("user_data/app_data/vaultwarden/", s(4_718_592, 37), True)],
        [_c("vaultwarden", "web", "vaultwarden/server:1.30", "paused", "paused")],
    )
    vault_data = _t("user_data/app_data/vaultwarden/data/", s(4_710_400, 35), True)
    nextcloud = ItemPlan(
        "app/nextcloud",
        "app",
        "nextcloud",
        "missing",
        [_t("user_data/app_data/nextcloud/", s(2_147_483_648, 9_812), False)],
        [_c("nextcloud", "app", "nextcloud:28", "running", None)],
        notes=[
            f"{ROOT}/user_data/shared is left alone: it holds the Portal's documents; "
            "restore shared to replace it"
        ],
    )
    nextcloud_data = _t("user_data/app_data/nextcloud/data/", s(2_147_000_000, 9_800), False)
    wiki = ItemPlan(
        "app/wiki",
        "app",
        "wiki",
        "missing",
        [_t("user_data/app_data/wiki/", s(1_153_433, 214), False)],
        [
            _c("wiki", "web", "ghcr.io/example/wiki:2.1", "exited", None, image_present=False),
            _c("wiki", "worker", "ghcr.io/example/wiki:2.1", "created", None, image_present=False),
        ],
    )
    wiki_pages = _t("user_data/app_data/wiki/pages/", s(1_150_000, 210), False)
    items = [
        *core,
        immich,
        ItemPlan("app/immich/library", "mount", "bind library", "present", [immich_lib]),
        ItemPlan(
            "app/immich/immich_pgdata", "mount", "volume immich_pgdata", "present", [immich_db]
        ),
        nextcloud,
        ItemPlan("app/nextcloud/data", "mount", "bind data", "missing", [nextcloud_data]),
        vault,
        ItemPlan("app/vaultwarden/data", "mount", "bind data", "present", [vault_data]),
        wiki,
        ItemPlan("app/wiki/pages", "mount", "bind pages", "missing", [wiki_pages]),
        ItemPlan(
            "volume/paperless_media",
            "volume",
            "paperless_media",
            "present",
            [_t("volumes/paperless_media/", s(3_355_443_200, 5_120), True, volume=True)],
        ),
        ItemPlan(
            "volume/old_export",
            "volume",
            "old_export",
            "missing",
            [_t("volumes/old_export/", s(52_428_800, 211), False, volume=True)],
        ),
    ]
    host = [
        _host(
            "immich",
            "server",
            "running",
            MountInfo("bind", f"{APP_DATA}/immich/library", "/photos", False),
        ),
        _host(
            "immich",
            "db",
            "running",
            MountInfo("volume", "immich_pgdata", "/var/lib/postgresql/data", False),
        ),
        _host(
            "vaultwarden",
            "web",
            "paused",
            MountInfo("bind", f"{APP_DATA}/vaultwarden/data", "/data", False),
        ),
    ]
    volumes = {
        n: VolumeInfo(n, "local", f"/var/lib/docker/volumes/{n}/_data")
        for n in ("immich_pgdata", "paperless_media")
    }
    return items, host, volumes


def demo_plan() -> RestorePlan:
    items, host, volumes = _items()
    mounts = {
        "app/immich": ("library", "immich_pgdata"),
        "app/nextcloud": ("data",),
        "app/vaultwarden": ("data",),
        "app/wiki": ("pages",),
    }
    records = tuple(
        ItemRecord(
            app, "app", app[4:], mounts=tuple(MountRecord("", "", "", id=f"{app}/{m}") for m in ms)
        )
        for app, ms in mounts.items()
    )
    entries = tuple(
        ManifestEntry(path, "file", size, 0o600, 0, 0, 0)
        for path, size in ((DB_REL, 48_213), (IDENTITY_ARCHIVE_REL, 2_310))
    )
    plan = RestorePlan(
        archive=ArchiveInfo(
            name=ARCHIVE,
            created="2026-03-01T12:00:00Z",
            host="portal",
            portal_id=PORTAL_ID,
            portal_name=PORTAL_ID[:6],
            portal_root=ROOT,
            tool_version="0.1.0",
            identity_included=True,
            db_private_keys_removed=False,
        ),
        portal_root=ROOT,
        current_portal_id=HOST_PORTAL_ID,
        docker_ok=True,
        items=items,
        host_containers=host,
        host_volumes=volumes,
        manifest=Manifest(
            ToolRecord(), None, None, None, None, True, False, records, entries=entries
        ),
        entry_names=[DB_REL, IDENTITY_ARCHIVE_REL],
        trust=Trust("key", hashlib.sha256(PORTAL_ID.encode()).hexdigest()),
    )  # --trust-key'd
    return plan


def _changes(t: TargetPlan) -> TargetDiff:
    """A few plausible, fixed changes per target."""
    diff = TargetDiff(t)
    if not t.exists_now:
        diff.changes = [PathChange("", "add", "dir" if t.is_dir else "file")]
        diff.changes += [PathChange(f"{n:02d}.dat", "add", "file") for n in range(3)]
        return diff
    if not t.is_dir:
        diff.changes = [PathChange("", "change", "content (51002 -> 48213 bytes)")]
        return diff
    seed = int(hashlib.sha256(t.archive_path.encode()).hexdigest()[:6], 16)
    diff.changes = [
        PathChange("2023/07/IMG_20230714_181502.jpg", "add", "file"),
        PathChange("2023/07/IMG_20230714_181544.jpg", "add", "file"),
        PathChange("config/settings.json", "change", "content (912 -> 1204 bytes)"),
        PathChange("cache/thumbs.db", "remove", "file"),
        PathChange("2023/07", "meta", "mtime"),
    ]
    diff.unchanged = 40 + seed % 4000
    return diff


class DemoRestore:
    """The demo as a RestoreBackend. With `hold`, a run shows its events and waits until it is
    cancelled (for pictures of a restore in progress)."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.runs: list[tuple[list[str], RestoreOptions]] = []

    def open(self, path: str) -> RestoreSession:
        return RestoreSession(path, demo_plan())

    def measure(self, session: RestoreSession, on_size: SizeSink, cancel: threading.Event) -> None:
        # Sizes "now" arrive after the first paint, as on a real host.
        for item_id, found in SIZES_NOW.items():
            for index, size in enumerate(found):
                on_size(item_id, index, size)

    def select(self, session: RestoreSession, ids: list[str]) -> RestoreSelection:
        return session.plan.select(ids)

    def diff(self, session: RestoreSession, sel: RestoreSelection) -> dict[str, list[TargetDiff]]:
        return {item.id: [_changes(t) for t in sel.targets[item.id]] for item in sel.items}

    def run(
        self,
        session: RestoreSession,
        sel: RestoreSelection,
        options: RestoreOptions,
        on_event: EventSink,
        cancel: threading.Event,
    ) -> RestoreFinished:
        self.runs.append(([i.id for i in sel.items], options))
        runnable = [i for i in sel.items if i.id not in sel.failing]
        for item in sel.items:
            on_event(ItemState(item.id, "waiting"))
        for item_id, why in sel.failing.items():
            on_event(ItemState(item_id, "failed", why))
        total = sum(t.size_archive.bytes for i in runnable for t in sel.targets[i.id])
        files = sum(t.size_archive.files for i in runnable for t in sel.targets[i.id])
        done: list[str] = []
        kept: list[str] = []
        created: list[str] = []
        held = runnable[-1:] if self.hold else []
        for item in runnable:
            on_event(ItemState(item.id, "copying", "verifying"))
            if item in held:
                on_event(
                    Progress(
                        bytes_done=int(total * 0.62),
                        bytes_total=total,
                        files_done=int(files * 0.6),
                        files_total=files,
                        item=item.id,
                        path=None,
                        rate=RATE,
                        eta=round(total * 0.38 / RATE, 1),
                        elapsed=round(total * 0.62 / RATE, 1),
                    )
                )
                on_event(ItemState(item.id, "copying", "extracting"))
                cancel.wait()
                raise Cancelled("the restore was cancelled; nothing more was changed")
            _demo_item(item.id, sel, options, on_event, kept, created)
            done.append(item.id)
        finished = RestoreFinished(
            archive=session.path,
            done=done,
            failed=dict(sel.failing),
            bytes=total,
            files=files,
            seconds=round(total / RATE, 1),
            kept=kept,
            created=created,
        )
        on_event(Progress(total, total, files, files, None, None, 0.0, None, finished.seconds))
        on_event(finished)
        return finished


def _demo_item(
    item_id: str,
    sel: RestoreSelection,
    options: RestoreOptions,
    on_event: Any,
    kept: list[str],
    created: list[str],
) -> None:
    stops = sel.stops[item_id]
    on_event(ItemState(item_id, "copying", "extracting"))
    if stops:
        on_event(ItemState(item_id, "stopping", ", ".join(s.name for s in stops)))
        for s in stops:
            on_event(
                Log(
                    "info",
                    f"stopped {s.name}" + (" (it was paused)" if s.state == "paused" else ""),
                )
            )
    on_event(ItemState(item_id, "copying", "swapping"))
    on_event(ItemState(item_id, "restarting"))
    for s in stops:
        on_event(Log("info", f"started {s.name}"))
    for c in sel.recreate[item_id]:
        created.append(c.name)
        on_event(Log("info", f"created container {c.name}"))
    if options.keep_old:
        for t in sel.targets[item_id]:
            if t.exists_now:
                where = (
                    f"volume {t.dest}: .pre-restore-{STAMP}"
                    if t.kind == "volume"
                    else f"{ROOT}/.pre-restore/{STAMP}/{t.dest[len(ROOT) + 1 :]}"
                )
                kept.append(where)
                on_event(Log("info", f"{item_id}: the previous data is kept at {where}"))
    on_event(ItemState(item_id, "done"))
