"""A made-up Portal for pictures, snapshot tests and layout checks: fixed data, no Docker.

Everything here is deterministic: names, sizes, states, the last-backup record, the progress
events of a backup and the clock they are timed with. The real backup is never faked in tests
that claim to prove it (those use tui.ui.logic.datasource.HostSource against a real Docker engine).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.errors import Cancelled
from tui.core.events import EventSink, Finished, ItemState, Log, Progress
from tui.core.model import (
    ContainerInfo,
    Inventory,
    Item,
    MountInfo,
    PortalInfo,
    Size,
    Source,
    VolumeInfo,
)
from tui.core.plan import Plan
from tui.ui.logic.datasource import Loaded

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
    from tui.core.inventory import mount_label, mount_source, summarize_states

    root = Path(ROOT)
    items = [
        Item(
            "core/db",
            "core",
            "Internal database",
            sources=[
                Source("path", f"{ROOT}/core/portal_core_db.json", "core/portal_core_db.json")
            ],
            holds_identity=True,
        ),
        Item(
            "core/identity",
            "core",
            "Portal identity (private key)",
            sources=[
                Source("path", f"{ROOT}/core/portal_core_db.json", "core/portal_identity.json")
            ],
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
                        f"app/{app}/{label}",
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


def _source_size(src: Source) -> Size:
    """A fixed, plausible size for each demo tree."""
    fixed = {
        "core/portal_core_db.json": Size(48_213, 1),
        "core/portal_identity.json": Size(48_213, 1),
        "core/portal_core_config.yml": Size(1_024, 1),
        "core/installed_apps/": Size(23_552, 14),
        "user_data/shared/": Size(18_734_211_072, 23_411),
        "binds/srv/media/": Size(412_339_122_176, 8_204),
        "volumes/immich_pgdata/": Size(1_288_490_188, 2_113),
        "volumes/old_export/": Size(52_428_800, 211),
        "volumes/paperless_media/": Size(3_355_443_200, 5_120),
    }
    if src.archive_path in fixed:
        return fixed[src.archive_path]
    seed = int(hashlib.sha256(src.archive_path.encode()).hexdigest()[:8], 16)
    return Size(1_000_000 + seed % 3_000_000_000, 10 + seed % 5_000)


def demo_sizes(inventory: Inventory) -> dict[str, Size]:
    """Each item's size, as compute_sizes would find it on the demo Portal."""
    mounts = [i.sources[0] for i in inventory.items if i.kind == "mount"]

    def tree_size(src: Source) -> Size:
        # An app's own folder holds the bind mounts below it.
        inner = [
            _source_size(m) for m in mounts if m.location.startswith(src.location.rstrip("/") + "/")
        ]
        own = _source_size(src)
        return Size(
            own.bytes + sum(s.bytes for s in inner), own.files + sum(s.files for s in inner)
        )

    out = {}
    for item in inventory.items:
        sizes = [tree_size(s) for s in item.sources]
        out[item.id] = Size(sum(s.bytes for s in sizes), sum(s.files for s in sizes))
    return out


def demo_finished() -> Finished:
    return Finished(
        path=ARCHIVE,
        bytes=21_474_836_480,
        bytes_in=33_285_996_544,
        files=41_230,
        seconds=734.2,
        sha256=hashlib.sha256(b"demo archive").hexdigest(),
        holds_identity=True,
        downtime={"immich": 212.4, "jellyfin": 8.1, "nextcloud": 301.0},
    )


def demo_events(plan: Plan) -> list[Any]:
    """The events of a backup about 40% done: the core items and one app finished."""
    events: list[Any] = [Log("info", "computing sizes")]
    steps = plan.steps
    for step in steps[:-3]:
        if step.containers:
            events += [
                ItemState(step.item_ids[0], "stopping"),
                Log("info", f"stopped {step.containers[0].name}"),
            ]
        events += [ItemState(step.item_ids[0], "copying"), ItemState(step.item_ids[0], "done")]
        if step.containers:
            events.append(Log("info", f"started {step.containers[0].name}"))
    current = steps[-3] if len(steps) >= 3 else steps[-1]
    events += [
        ItemState(current.item_ids[0], "stopping"),
        Log(
            "info",
            f"stopped {current.containers[0].name}" if current.containers else "reading volume",
        ),
        Log("warning", "skipped fifo user_data/shared/tmp/upload.fifo"),
        ItemState(current.item_ids[0], "copying"),
    ]
    events.append(
        Progress(
            bytes_done=13_314_398_617,
            bytes_total=33_285_996_544,
            files_done=16_492,
            files_total=41_230,
            item=current.item_ids[0],
            path=f"{current.sources[0].archive_path}2023/07/IMG_20230714_181502.jpg"
            if current.sources
            else None,
            rate=92_274_688.0,
            eta=216.4,
            elapsed=144.3,
        )
    )
    return events


class DemoSource:
    """The demo Portal as a DataSource. `size_gate` holds sizes back until set; `hold` keeps a
    demo backup running (events shown, no Finished) until it is cancelled."""

    def __init__(
        self,
        containers: int | None = None,
        size_gate: threading.Event | None = None,
        hold: bool = False,
    ) -> None:
        self.containers = containers
        self.size_gate = size_gate
        self.hold = hold
        self.clock = FakeClock()

    def load(self) -> Loaded:
        last = {
            "path": "/root/portal-backup-old.zip",
            "time": NOW - 3 * 86400 - 3600,
            "bytes": 19_327_352_832,
            "items": [],
            "sha256": "0" * 64,
        }
        return Loaded(demo_inventory(self.containers), None, last)

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
        for event in demo_events(plan):
            on_event(event)
        if self.hold:
            cancel.wait()
            raise Cancelled(
                "the backup was cancelled; nothing was kept and every container was restarted"
            )
        finished = demo_finished()
        if getattr(options, "encrypt_to", None):  # as the engine names an encrypted archive
            finished = dataclasses.replace(finished, path=finished.path + ".age")
        on_event(finished)
        return finished


def demo_archive_bytes() -> bytes:
    """A small portal-backup-like zip with fixed contents and times, for the explorer."""
    files: dict[str, bytes] = {
        "core/portal_core_config.yml": b"log_level: INFO\nportal_domain: f00ba4.p.getportal.org\n",
        "core/portal_core_db.json": json.dumps(
            {
                "identities": {
                    "1": {
                        "id": PORTAL_ID,
                        "name": "Annas Portal",
                        "is_default": True,
                        "private_key": (
                            "-----BEGIN PRIVATE KEY-----\nMIIEdemo\n-----END PRIVATE KEY-----\n"
                        ),
                    }
                },
                "installed_apps": {"1": {"name": "wiki"}},
            }
        ).encode(),
        "core/portal_identity.json": json.dumps({"identities": {}}).encode(),
        "core/installed_apps/wiki/docker-compose.yml": (
            b"services:\n  web:\n    image: wiki:latest\n    volumes:\n      - ./pages:/pages\n"
        ),
        "user_data/shared/Documents/notes.md": b"# Notes\n\n- buy tomatoes\n- call Ben\n" * 8,
        "user_data/shared/Media/photo.jpg": bytes(range(256)) * 24,
        "user_data/app_data/wiki/pages/Home.md": b"# Welcome\n\nThis is the wiki.\n",
        "user_data/app_data/wiki/pages/app.py": b"def main() -> None:\n    print('hi')\n",
        "volumes/immich_pgdata/PG_VERSION": b"15\n",
    }
    manifest = {
        "format": 1,
        "tool": {"name": "portal-backup", "version": "0.1.0"},
        "created": "2026-03-01T12:00:00Z",
        "host": "portal",
        "portal": {"id": PORTAL_ID, "name": PORTAL_ID[:6], "root": ROOT},
        "quiesce": "stop",
        "identity_included": True,
        "db_private_keys_removed": False,
        "items": [
            {
                "id": "app/wiki",
                "kind": "app",
                "label": "wiki",
                "containers": [
                    {"name": "wiki-web-1", "state_before": "running", "quiesced": "stopped"},
                    {
                        "name": "wiki-worker-1",
                        "state_before": "exited",
                        "quiesced": "not running (exited)",
                    },
                ],
            },
            {
                "id": "app/immich",
                "kind": "app",
                "label": "immich",
                "containers": [
                    {"name": "immich-db-1", "state_before": "running", "quiesced": "stopped"}
                ],
            },
        ],
        "entries": [],
        "skipped": [],
        "warnings": [],
    }
    stamp = (2026, 3, 1, 12, 0, 0)
    manifest["entries"] = [
        {
            "path": name,
            "type": "file",
            "size": len(data),
            "mode": 0o644,
            "uid": 0,
            "gid": 0,
            "mtime_ns": int(NOW) * 10**9,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        for name, data in files.items()
    ]
    files["portal-backup.json"] = json.dumps(manifest, indent=1).encode()
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()
    ).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data)
    return buf.getvalue()
