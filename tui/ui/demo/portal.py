"""A made-up Portal for pictures, snapshot tests and layout checks: fixed data, no Docker.

Everything here is deterministic: names, sizes, states, the last-backup record, the progress
events of a backup and the clock they are timed with. The real backup is never faked in tests
that claim to prove it (those use tui.ui.logic.datasource.HostSource against a real Docker engine).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.errors import Cancelled
from tui.core.events import EventSink, Finished, ItemState, Log, Progress
from tui.core.model import (
    DB_REL,
    IDENTITY_ARCHIVE_REL,
    ContainerInfo,
    Inventory,
    Item,
    MountInfo,
    PortalInfo,
    Size,
    Source,
    VolumeInfo,
)
from tui.core.plan import Plan, PlanStep
from tui.ui.logic.datasource import Loaded
from tui.ui.logic.selection import ASSUMED_RATE, STOP_SECONDS

ROOT = "/home/portal"
PORTAL_ID = hashlib.sha512(b"demo portal").hexdigest()
NOW = 1772366400.0  # 2026-03-01T12:00:00Z: "now" for everything shown by the demo
ENVIRON = {"SSH_CONNECTION": "192.0.2.10 51234 198.51.100.7 22", "USER": "anna"}
ARCHIVE = f"/root/portal-backup-{PORTAL_ID[:6]}-20260301-120000.zip"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _container(app: str, service: str, state: str, mounts: list[MountInfo]) -> ContainerInfo:
    cid = hashlib.sha256(f"{app}/{service}".encode()).hexdigest()
    return ContainerInfo(
        id=cid,
        name=f"{app}-{service}-1",
        image=f"{app}:latest",
        state=state,
        service=service,
        mounts=tuple(mounts),
        config={"labels": {"com.docker.compose.project": app}},
    )


def _bind(path: str, dest: str) -> MountInfo:
    return MountInfo("bind", path, dest, False)


def _volume(name: str, dest: str) -> MountInfo:
    return MountInfo("volume", name, dest, False)


# app -> [(service, state, mounts)]
_APPS: dict[str, list[tuple[str, str, list[MountInfo]]]] = {
    "immich": [
        ("server", "running", [_bind(f"{ROOT}/user_data/app_data/immich/library", "/photos")]),
        ("db", "running", [_volume("immich_pgdata", "/var/lib/postgresql/data")]),
    ],
    "jellyfin": [
        (
            "web",
            "running",
            [
                _bind(f"{ROOT}/user_data/app_data/jellyfin/config", "/config"),
                _bind("/srv/media", "/media"),
            ],
        ),
    ],
    "nextcloud": [
        (
            "app",
            "running",
            [
                _bind(f"{ROOT}/user_data/app_data/nextcloud/data", "/data"),
                _bind(f"{ROOT}/user_data/shared", "/shared"),
            ],
        ),
    ],
    "vaultwarden": [
        ("web", "paused", [_bind(f"{ROOT}/user_data/app_data/vaultwarden/data", "/data")]),
    ],
    "wiki": [
        ("web", "exited", [_bind(f"{ROOT}/user_data/app_data/wiki/pages", "/pages")]),
        ("worker", "created", []),
    ],
}
_UNUSED_VOLUMES = ("old_export", "paperless_media")


def _generated_apps(containers: int) -> dict[str, list[tuple[str, str, list[MountInfo]]]]:
    """`containers` containers spread over apps of 1 to 3 services, for large-host checks."""
    apps: dict[str, list[tuple[str, str, list[MountInfo]]]] = {}
    n = 0
    while n < containers:
        name = f"app{len(apps) + 1:03d}"
        services = []
        for s in range(min(1 + len(apps) % 3, containers - n)):
            mounts = [_bind(f"{ROOT}/user_data/app_data/{name}/svc{s}", "/data")]
            if s == 1:
                mounts.append(_volume(f"{name}_db", "/var/lib/db"))
            services.append((f"svc{s}", ("running", "running", "paused", "exited")[n % 4], mounts))
            n += 1
        apps[name] = services
    return apps


def demo_inventory(containers: int | None = None) -> Inventory:
    """The demo Portal; with `containers`, that many containers in generated apps instead."""
    from tui.core.inventory import mount_item_id, mount_label, mount_source, summarize_states

    root = Path(ROOT)
    items = [
        Item(
            "core/db",
            "core",
            "Internal database",
            sources=[Source("path", f"{ROOT}/{DB_REL}", DB_REL)],
            holds_identity=True,
        ),
        Item(
            "core/identity",
            "core",
            "Portal identity (private key)",
            sources=[Source("path", f"{ROOT}/{DB_REL}", IDENTITY_ARCHIVE_REL)],
            holds_identity=True,
            note="the archive will hold the Portal's private key",
        ),
        Item(
            "core/config",
            "core",
            "Portal settings",
            sources=[
                Source("path", f"{ROOT}/core/portal_core_config.yml", "core/portal_core_config.yml")
            ],
        ),
        Item(
            "core/apps",
            "core",
            "Installed app definitions",
            sources=[Source("path", f"{ROOT}/core/installed_apps", "core/installed_apps/")],
        ),
        Item(
            "shared",
            "shared",
            "Documents and media",
            sources=[Source("path", f"{ROOT}/user_data/shared", "user_data/shared/")],
        ),
    ]
    apps = _APPS if containers is None else _generated_apps(containers)
    volumes: dict[str, VolumeInfo] = {}
    for app, services in apps.items():
        conts = [_container(app, s, state, mounts) for s, state, mounts in services]
        own = Source("path", f"{ROOT}/user_data/app_data/{app}", f"user_data/app_data/{app}/")
        sources = [own]
        mount_items = []
        seen: set[tuple[str, str]] = set()
        for c in conts:
            for m in c.mounts:
                if (m.type, m.source) in seen:
                    continue
                seen.add((m.type, m.source))
                if m.type == "volume":
                    volumes[m.source] = VolumeInfo(m.source, "local", f"/var/lib/docker/{m.source}")
                src = mount_source(root, m)
                label = mount_label(root, app, m)
                mount_items.append(
                    Item(
                        mount_item_id(app, label),
                        "mount",
                        f"{'volume' if m.type == 'volume' else 'bind'} {label}",
                        parent=f"app/{app}",
                        sources=[src],
                        containers=conts,
                        mount=m,
                        needs_docker=m.type == "volume",
                    )
                )
                if not src.location.startswith(own.location + "/"):
                    sources.append(src)
        items.append(
            Item(
                f"app/{app}",
                "app",
                app,
                sources=sources,
                containers=conts,
                state=summarize_states(conts),
                needs_docker=True,
            )
        )
        items.extend(mount_items)
    for name in _UNUSED_VOLUMES if containers is None else ():
        volumes[name] = VolumeInfo(name, "local", f"/var/lib/docker/{name}")
        items.append(
            Item(
                f"volume/{name}",
                "volume",
                name,
                sources=[Source("volume", name, f"volumes/{name}/")],
                needs_docker=True,
                state="unused",
            )
        )
    return Inventory(
        items=items,
        portal=PortalInfo(ROOT, PORTAL_ID, PORTAL_ID[:6]),
        docker_ok=True,
        volumes=volumes,
    )


# What each tree of the demo Portal holds: (bytes, files) by archive path. An app's own folder
# counts here without the mounts below it (demo_sizes adds them). The restore demo
# (tui/ui/demo/restore.py) shows the same figures for the same archive paths.
SOURCE_SIZES: dict[str, Size] = {
    DB_REL: Size(48_213, 1),
    IDENTITY_ARCHIVE_REL: Size(48_213, 1),  # read from the database file: the same bytes
    "core/portal_core_config.yml": Size(1_024, 1),
    "core/installed_apps/": Size(23_552, 14),
    "user_data/shared/": Size(18_734_211_072, 23_411),
    "user_data/app_data/immich/": Size(1_048_576, 11),
    "user_data/app_data/immich/library/": Size(96_636_764_160, 41_020),
    "volumes/immich_pgdata/": Size(1_288_490_188, 2_113),
    "user_data/app_data/jellyfin/": Size(20_971_520, 118),
    "user_data/app_data/jellyfin/config/": Size(367_001_600, 2_410),
    "binds/srv/media/": Size(41_875_931_136, 1_876),
    "user_data/app_data/nextcloud/": Size(483_648, 12),
    "user_data/app_data/nextcloud/data/": Size(2_147_000_000, 9_800),
    "user_data/app_data/vaultwarden/": Size(8_192, 2),
    "user_data/app_data/vaultwarden/data/": Size(4_710_400, 35),
    "user_data/app_data/wiki/": Size(3_433, 4),
    "user_data/app_data/wiki/pages/": Size(1_150_000, 210),
    "volumes/old_export/": Size(52_428_800, 211),
    "volumes/paperless_media/": Size(3_355_443_200, 5_120),
}
# The home screen's downtime guess assumes these; the demo backup runs at them, so the guess
# and the done screen's downtimes tell the same story.
RATE = ASSUMED_RATE  # bytes per second read and compressed
ARCHIVE_RATIO = 0.96  # archive size / data read: photos and media hardly compress
PROGRESS_AT = 0.4  # how far the pictured backup has come
CURRENT_FILE = {"app/immich": "user_data/app_data/immich/library/2023/07/IMG_20230714_181502.jpg"}


def _source_size(src: Source) -> Size:
    if src.archive_path in SOURCE_SIZES:
        return SOURCE_SIZES[src.archive_path]
    # The generated large hosts (demo_inventory(containers=...)): fixed, made-up sizes.
    seed = int(hashlib.sha256(src.archive_path.encode()).hexdigest()[:8], 16)
    return Size(1_000_000 + seed % 3_000_000_000, 10 + seed % 5_000)


def _add(sizes: list[Size]) -> Size:
    return Size(sum(s.bytes for s in sizes), sum(s.files for s in sizes))


def _tree_size(inventory: Inventory, src: Source) -> Size:
    """A source's whole tree: an app's own folder holds the bind mounts below it."""
    below = src.location.rstrip("/") + "/"
    inner = [
        _source_size(i.sources[0])
        for i in inventory.items
        if i.kind == "mount" and i.sources[0].location.startswith(below)
    ]
    return _add([_source_size(src), *inner])


def demo_sizes(inventory: Inventory) -> dict[str, Size]:
    """Each item's size, as compute_sizes would find it on the demo Portal."""
    return {i.id: _add([_tree_size(inventory, s) for s in i.sources]) for i in inventory.items}


def step_size(inventory: Inventory, step: PlanStep) -> Size:
    """What one step of a backup reads (the database steps read the database file)."""
    if step.special:
        return _source_size(Source("path", f"{ROOT}/{DB_REL}", DB_REL))
    return _add([_tree_size(inventory, s) for s in step.sources])


def demo_totals(inventory: Inventory, plan: Plan) -> Size:
    """What the demo backup of `plan` reads: the total its progress and done screens show."""
    return _add([step_size(inventory, s) for s in plan.steps])


def _running(step: PlanStep) -> int:
    return sum(c.state == "running" for c in step.containers)


def demo_finished(inventory: Inventory, plan: Plan, quiesce: str = "stop") -> Finished:
    """The end of the demo backup of `plan`: its sizes, and times at RATE."""
    total = demo_totals(inventory, plan)
    stops = 0.0 if quiesce == "none" else STOP_SECONDS * sum(_running(s) for s in plan.steps)
    downtime = {
        step.app: step_size(inventory, step).bytes / RATE + STOP_SECONDS * _running(step)
        for step in plan.steps
        if step.app and _running(step) and quiesce != "none"
    }
    return Finished(
        path=ARCHIVE,
        bytes=int(total.bytes * ARCHIVE_RATIO),
        bytes_in=total.bytes,
        files=total.files,
        seconds=round(total.bytes / RATE + stops, 1),
        sha256=hashlib.sha256(b"demo archive").hexdigest(),
        holds_identity=plan.include_identity,
        downtime={app: round(s, 1) for app, s in downtime.items()},
    )


def demo_events(inventory: Inventory, plan: Plan) -> list[Any]:
    """The events of the demo backup of `plan` until PROGRESS_AT of its bytes are read: the
    steps before that point done, the one it falls in half-way, all timed at RATE."""
    total = demo_totals(inventory, plan)
    target = int(total.bytes * PROGRESS_AT)
    events: list[Any] = [Log("info", "computing sizes")]
    done = Size(0, 0)
    current = plan.steps[-1]
    for step in plan.steps:
        size = step_size(inventory, step)
        if done.bytes + size.bytes > target:
            current = step
            break
        if step.containers:
            events += [
                ItemState(step.item_ids[0], "stopping"),
                Log("info", f"stopped {step.containers[0].name}"),
            ]
        events += [ItemState(step.item_ids[0], "copying"), ItemState(step.item_ids[0], "done")]
        if step.containers:
            events.append(Log("info", f"started {step.containers[0].name}"))
        done = _add([done, size])
    item = current.item_ids[0]
    events += [
        ItemState(item, "stopping"),
        Log(
            "info",
            f"stopped {current.containers[0].name}" if current.containers else "reading volume",
        ),
        Log("warning", "skipped fifo user_data/shared/tmp/upload.fifo"),
        ItemState(item, "copying"),
    ]
    size = step_size(inventory, current)
    part = (target - done.bytes) / size.bytes if size.bytes else 0.0
    path = CURRENT_FILE.get(item) or (
        f"{current.sources[0].archive_path}2023/07/IMG_20230714_181502.jpg"
        if current.sources
        else None
    )
    events.append(
        Progress(
            bytes_done=target,
            bytes_total=total.bytes,
            files_done=done.files + int(size.files * part),
            files_total=total.files,
            item=item,
            path=path,
            rate=RATE,
            eta=round((total.bytes - target) / RATE, 1),
            elapsed=round(target / RATE, 1),
        )
    )
    return events


class DemoSource:
    """The demo Portal as a DataSource. `size_gate` holds sizes back until set; `hold` keeps a
    demo backup running (events shown, no Finished) until it is cancelled; `automatic` shows
    the automatic backups' reminder line, read at NOW from the job the environment points at
    (tui/ui/demo/automatic.py writes the demo one)."""

    def __init__(
        self,
        containers: int | None = None,
        size_gate: threading.Event | None = None,
        hold: bool = False,
        automatic: bool = False,
    ) -> None:
        self.containers = containers
        self.size_gate = size_gate
        self.hold = hold
        self.automatic = automatic
        self.clock = FakeClock()

    def load(self) -> Loaded:
        from tui.ui.demo.archive import LAST_ARCHIVE, LAST_TIME, demo_archive_bytes

        last = {
            "path": LAST_ARCHIVE,
            "time": LAST_TIME,
            "bytes": len(demo_archive_bytes()),
            "items": [],
            "sha256": hashlib.sha256(demo_archive_bytes()).hexdigest(),
        }
        attention = None
        if self.automatic:  # the job's last good run is this host's last backup too
            from tui.core.auto.history import read_runs
            from tui.ui.logic.automatic import attention_line

            attention = attention_line(NOW)
            good = [r for r in read_runs() if r.ok]
            if good:
                run = good[-1]
                path = f"{run.target}/{run.archive}"
                last = {"path": path, "time": run.ended, "bytes": run.bytes_out, "items": run.items}
        return Loaded(demo_inventory(self.containers), None, last, attention)

    def compute_sizes(
        self, loaded: Loaded, on_size: Callable[[str, Size], None], cancel: threading.Event
    ) -> None:
        if self.size_gate is not None:
            while not self.size_gate.wait(0.05):
                if cancel.is_set():
                    return
        for item_id, size in demo_sizes(loaded.inventory).items():
            item = loaded.inventory.get(item_id)
            if item is not None:
                item.size = size
            on_size(item_id, size)

    def run_backup(
        self, loaded: Loaded, plan: Plan, options: Any, on_event: EventSink, cancel: threading.Event
    ) -> Finished:
        for event in demo_events(loaded.inventory, plan):
            on_event(event)
        if self.hold:
            cancel.wait()
            raise Cancelled(
                "the backup was cancelled; nothing was kept and every container was restarted"
            )
        finished = demo_finished(loaded.inventory, plan, getattr(options, "quiesce", "stop"))
        if getattr(options, "encrypt_to", None):  # as the engine names an encrypted archive
            finished = dataclasses.replace(finished, path=finished.path + ".age")
        on_event(finished)
        return finished


def demo_archive_bytes() -> bytes:
    """The demo's last backup as a zip (tui/ui/demo/archive.py), for the explorer."""
    from tui.ui.demo.archive import demo_archive_bytes as build

    return build()
