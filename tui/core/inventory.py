"""What exists on this host: Portal core items, apps with their containers and mounts, volumes.

`load_inventory` is quick (no tree walks) so a list can paint at once; sizes come afterwards
from `sizes.compute_sizes`. Each missing part (no Portal root, no Docker, no permission) turns
into a warning while the rest is still listed.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tui.core import portaldb
from tui.core.docker_api import connect
from tui.core.errors import DockerUnavailable, PortalBackupError, first_line
from tui.core.model import (
    APP_DATA_REL,
    APPS_REL,
    BINDS_PREFIX,
    CONFIG_REL,
    DB_REL,
    IDENTITY_ARCHIVE_REL,
    SHARED_REL,
    VOLUMES_PREFIX,
    ContainerInfo,
    Inventory,
    Item,
    ItemKind,
    MountInfo,
    PortalInfo,
    Source,
    VolumeInfo,
)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def default_portal_root() -> str:
    return os.environ.get("PORTAL_ROOT") or "/home/portal"


def load_inventory(
    portal_root: str, client: Any | None = None, *, use_docker: bool = True
) -> Inventory:
    """Everything that can be backed up. `client` is a docker client, or None to connect."""
    root = Path(portal_root)
    warnings: list[str] = []
    portal = _read_portal(root, warnings)
    items: list[Item] = _portal_items(root, portal, warnings) if portal else []

    docker_ok = False
    containers: list[ContainerInfo] = []
    volumes: dict[str, VolumeInfo] = {}
    if use_docker:
        try:
            client = client or connect()
            containers = list_containers(client)
            volumes = list_volumes(client)
            docker_ok = True
        except DockerUnavailable as exc:
            warnings.append(f"{exc}; listing the Portal's own items only")
        except Exception as exc:  # the SDK raises APIError, requests errors...
            warnings.append(
                f"Docker did not answer ({first_line(exc)}); listing the Portal's own items only"
            )

    items += _app_items(root if portal else None, containers, volumes)
    used = {m.source for c in containers for m in c.mounts if m.type == "volume"}
    for name in sorted(volumes):
        if name not in used:
            items.append(
                Item(
                    id=f"volume/{name}",
                    kind="volume",
                    label=name,
                    sources=[Source("volume", name, f"{VOLUMES_PREFIX}{name}/")],
                    needs_docker=True,
                    state="unused",
                )
            )
    return Inventory(
        items=items, portal=portal, docker_ok=docker_ok, volumes=volumes, warnings=warnings
    )


# --------------------------------------------------------------------------- Portal


def _read_portal(root: Path, warnings: list[str]) -> PortalInfo | None:
    if not root.is_dir():
        warnings.append(
            f"no Portal at {root} (set --portal-root or PORTAL_ROOT); "
            "listing Docker apps and volumes only"
        )
        return None
    if not os.access(root, os.R_OK | os.X_OK):
        warnings.append(f"permission denied reading {root}; run as root or as the Portal user")
        return None
    info = PortalInfo(root=str(root), id=None, name=None)
    db = root / DB_REL
    if db.is_file():
        try:
            ident = portaldb.default_identity(portaldb.load(portaldb.read_consistent(db)))
            if ident and isinstance(ident.get("id"), str):
                info.id = ident["id"]
                info.name = ident["id"][:6]
        except (OSError, PortalBackupError) as exc:
            warnings.append(f"could not read the Portal database: {first_line(exc)}")
    return info


def _portal_items(root: Path, portal: PortalInfo, warnings: list[str]) -> list[Item]:
    items: list[Item] = []
    db = root / DB_REL
    if db.is_file():
        items.append(
            Item(
                "core/db",
                "core",
                "Internal database",
                sources=[Source("path", str(db), DB_REL)],
                holds_identity=True,
            )
        )
        items.append(
            Item(
                "core/identity",
                "core",
                "Portal identity (private key)",
                sources=[Source("path", str(db), IDENTITY_ARCHIVE_REL)],
                holds_identity=True,
                note="the archive will hold the Portal's private key",
            )
        )
    for item_id, rel, label in (
        ("core/config", CONFIG_REL, "Portal settings"),
        ("core/apps", APPS_REL, "Installed app definitions"),
        ("shared", SHARED_REL, "Documents and media"),
    ):
        path = root / rel
        if path.exists():
            suffix = "/" if path.is_dir() else ""
            kind: ItemKind = "shared" if item_id == "shared" else "core"
            items.append(
                Item(
                    item_id,
                    kind,
                    label,
                    sources=[Source("path", str(path), rel + suffix)],
                )
            )
    if not items:
        warnings.append(f"{root} holds no Portal data (no core/ or user_data/)")
    return items


# --------------------------------------------------------------------------- Docker


def list_containers(client: Any) -> list[ContainerInfo]:
    out = []
    for c in client.api.containers(all=True):
        try:
            attrs = client.api.inspect_container(c["Id"])
        except Exception:  # removed between the list and the inspect
            continue
        out.append(container_from_attrs(attrs))
    return out


def container_from_attrs(attrs: dict[str, Any]) -> ContainerInfo:
    cfg = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    labels = cfg.get("Labels") or {}
    mounts = tuple(
        MountInfo(
            type="volume" if m.get("Type") == "volume" else "bind",
            source=m.get("Name") if m.get("Type") == "volume" else m.get("Source", ""),
            destination=m.get("Destination", ""),
            read_only=not m.get("RW", True),
        )
        for m in attrs.get("Mounts") or []
        if m.get("Type") in ("volume", "bind")
    )
    state = (attrs.get("State") or {}).get("Status", "unknown")
    config = {
        "image": cfg.get("Image"),
        "image_id": attrs.get("Image"),
        "command": cfg.get("Cmd"),
        "entrypoint": cfg.get("Entrypoint"),
        "env": cfg.get("Env") or [],
        "labels": labels,
        "working_dir": cfg.get("WorkingDir") or None,
        "user": cfg.get("User") or None,
        "hostname": cfg.get("Hostname"),
        "restart_policy": host.get("RestartPolicy") or {},
        "network_mode": host.get("NetworkMode"),
        # Published ports, so a restore onto a fresh host recreates them.
        "ports": host.get("PortBindings") or {},
        "exposed_ports": sorted((cfg.get("ExposedPorts") or {}).keys()),
        "mounts": [
            {"type": m.type, "source": m.source, "target": m.destination, "read_only": m.read_only}
            for m in mounts
        ],
    }
    return ContainerInfo(
        id=attrs["Id"],
        name=(attrs.get("Name") or "").lstrip("/"),
        image=cfg.get("Image") or "",
        state=state,
        service=labels.get(SERVICE_LABEL),
        mounts=mounts,
        config=config,
    )


def list_volumes(client: Any) -> dict[str, VolumeInfo]:
    out = {}
    for v in client.api.volumes().get("Volumes") or []:
        out[v["Name"]] = VolumeInfo(
            name=v["Name"],
            driver=v.get("Driver", "local"),
            mountpoint=v.get("Mountpoint", ""),
            labels=v.get("Labels") or {},
            options=v.get("Options") or {},
        )
    return out


def app_name(container: ContainerInfo) -> str:
    return container.config.get("labels", {}).get(PROJECT_LABEL) or container.name


def _app_items(
    root: Path | None, containers: list[ContainerInfo], volumes: dict[str, VolumeInfo]
) -> list[Item]:
    by_app: dict[str, list[ContainerInfo]] = defaultdict(list)
    for c in containers:
        by_app[app_name(c)].append(c)
    app_data = root / APP_DATA_REL if root else None
    if app_data and app_data.is_dir():
        for entry in sorted(os.listdir(app_data)):
            if (app_data / entry).is_dir():
                by_app.setdefault(entry, [])

    items: list[Item] = []
    for name in sorted(by_app):
        conts = sorted(by_app[name], key=lambda c: c.name)
        sources: list[Source] = []
        own_dir = app_data / name if app_data else None
        if own_dir and own_dir.is_dir():
            sources.append(Source("path", str(own_dir), f"{APP_DATA_REL}/{name}/"))
        mount_items: list[Item] = []
        seen: set[tuple[str, str]] = set()
        for c in conts:
            for m in c.mounts:
                key = (m.type, m.source)
                if key in seen:
                    continue
                seen.add(key)
                src = mount_source(root, m)
                where = mount_label(root, name, m)
                mount_id = mount_item_id(name, where)
                if any(i.id == mount_id for i in mount_items):
                    mount_id = f"app/{name}/{where}"  # /x beside app_data's x: keep them apart
                mount_items.append(
                    Item(
                        id=mount_id,
                        kind="mount",
                        label=f"{'volume' if m.type == 'volume' else 'bind'} {where}",
                        parent=f"app/{name}",
                        sources=[src],
                        containers=conts,
                        mount=m,
                        needs_docker=m.type == "volume",
                    )
                )
                if not any(_covers(s, src) for s in sources):
                    sources.append(src)
        if not sources:
            # Containers without mounts and no app_data folder (a plain `docker run`): there
            # is nothing to back up, so this is no app, and it is never stopped for nothing.
            continue
        items.append(
            Item(
                id=f"app/{name}",
                kind="app",
                label=name,
                sources=sources,
                containers=conts,
                state=summarize_states(conts),
                needs_docker=bool(conts),
            )
        )
        items.extend(mount_items)
    return items


def mount_source(root: Path | None, m: MountInfo) -> Source:
    if m.type == "volume":
        return Source("volume", m.source, f"{VOLUMES_PREFIX}{m.source}/")
    src = os.path.normpath(m.source)
    suffix = "/" if os.path.isdir(src) or not os.path.exists(src) else ""
    if root is not None:
        rel = _relative_to(src, str(root))
        if rel is not None:
            return Source("path", src, rel + suffix if rel else "")
    return Source("path", src, BINDS_PREFIX + src.lstrip("/") + suffix)


def mount_label(root: Path | None, app: str, m: MountInfo) -> str:
    if m.type == "volume":
        return m.source
    if root is not None:
        rel = _relative_to(os.path.normpath(m.source), str(root / APP_DATA_REL / app))
        if rel:
            return rel
    return os.path.normpath(m.source)


def mount_item_id(app: str, where: str) -> str:
    """`app/<app>/<mount>` for a mount_label: a host path outside the Portal root loses its
    leading `/` (`app/x/srv/data`, like the archive's `binds/srv/data/`), so no ID holds `//`."""
    return f"app/{app}/{where.lstrip('/')}"


def match_item_ids(wanted: Iterable[str], known: Iterable[str]) -> list[str]:
    """IDs as typed -> the known IDs they name. `app/x//srv/data` (how IDs of binds outside
    the Portal root were written before, and still are in older archives) and
    `app/x/srv/data` name the same item; globs and unknown IDs pass through unchanged."""
    by_form = {_collapse_slashes(k): k for k in known}
    exact = set(by_form.values())
    return [
        w if w in exact or any(c in w for c in "*?[") else by_form.get(_collapse_slashes(w), w)
        for w in wanted
    ]


def _collapse_slashes(item_id: str) -> str:
    return re.sub("/{2,}", "/", item_id)


def summarize_states(conts: list[ContainerInfo]) -> str:
    if not conts:
        return "no containers"
    states = sorted({c.state for c in conts})
    return states[0] if len(states) == 1 else "mixed: " + ", ".join(states)


def _relative_to(path: str, base: str) -> str | None:
    base = os.path.normpath(base)
    if path == base:
        return ""
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return None


def _covers(outer: Source, inner: Source) -> bool:
    if outer.kind != inner.kind:
        return False
    if outer.kind == "volume":
        return outer.location == inner.location
    return _relative_to(inner.location, outer.location) is not None
