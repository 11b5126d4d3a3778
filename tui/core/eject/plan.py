"""What an eject writes for each app: services, where their state goes, what is left out.

Plain data built from the manifest alone (nothing here touches the disk or Docker). Every bind
mount becomes a path inside the app's folder, so the folder is self-contained and nothing the
archive says can make Compose mount a host path: the Docker socket, `/`, the Portal's own files
and host paths the archive does not hold are removed, each with a sentence saying why. What
still reaches the host (published ports, host networking) is listed in `host_access`, which a
dry run prints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from tui.core.archive.manifest_model import ContainerRecord, ItemRecord, Manifest
from tui.core.errors import UsageError
from tui.core.restore.policy import DOCKER_SOCKETS, KNOWN_SETTINGS, ContainerPolicy, inside

__all__ = [
    "AppPlan",
    "LocalMount",
    "PortMap",
    "ServicePlan",
    "app_ids",
    "local_path",
    "plan_eject",
]

# Images of the authentication proxies a Portal puts in front of an app; without the Portal
# there is nothing for them to check a login against.
AUTH_SIDECAR_IMAGES = frozenset(
    {"oauth2-proxy", "traefik-forward-auth", "forward-auth", "portal-auth", "authelia"}
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class LocalMount:
    """A mount of a service: its place in the container and the folder beside compose.yaml."""

    target: str
    local: str  # relative to the app folder, e.g. "data/library"
    read_only: bool
    note: str | None = None  # e.g. "not in the archive: starts empty"


@dataclass
class PortMap:
    container_port: str  # "80/tcp"
    host_ip: str  # "" for every interface
    recorded: int | None  # the host port at backup time; None: Docker chose one
    published: int | None  # what compose.yaml publishes


@dataclass
class ServicePlan:
    name: str
    container: str  # the container's name at backup time
    image: str
    image_id: str | None
    state_before: str
    command: Any = None  # a list or a string, as Docker recorded it
    entrypoint: Any = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    restart: str | None = None
    network_mode: str | None = None
    ports: list[PortMap] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    mounts: list[LocalMount] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # sentences, written as comments
    changed: list[str] = field(default_factory=list)  # carried over, but altered

    def host_access(self) -> list[str]:
        out = [f"service {self.name}: {_port_words(p)}" for p in self.ports]
        if self.network_mode == "host":
            out.append(f"service {self.name}: uses the host's network (network_mode: host)")
        return out


@dataclass
class AppPlan:
    app: str  # the folder's name and the Compose project's
    item_id: str
    services: list[ServicePlan]
    trees: list[tuple[str, str]]  # (archive path, local path) extracted into the folder
    empty_dirs: list[str]  # local paths created empty (the archive holds nothing there)
    removed: list[str] = field(default_factory=list)  # whole services and app-wide notes
    archived_root: str | None = None

    def host_access(self) -> list[str]:
        return [line for s in self.services for line in s.host_access()]

    def all_removed(self) -> list[str]:
        return self.removed + [f"service {s.name}: {r}" for s in self.services for r in s.removed]


def _port_words(p: PortMap) -> str:
    where = f"only {p.host_ip}" if p.host_ip else "every interface"
    if p.published is None:
        return f"publishes port {p.container_port} on a port Docker picks ({where})"
    return f"publishes port {p.container_port} on host port {p.published} ({where})"


def safe_name(name: str, fallback: str) -> str:
    """A folder or service name made of [A-Za-z0-9_.-], never hidden, never "." or ".."."""
    clean = _SAFE_NAME.sub("_", name).lstrip(".") or fallback
    return clean[:100]


def app_ids(manifest: Manifest) -> list[str]:
    return [i.id for i in manifest.items if i.kind == "app" and i.containers]


def local_path(archive_path: str, app: str) -> str | None:
    """Where an archive tree goes inside the app's folder; None for the Portal's own files and
    for a path that could leave the folder (a manifest may claim any archive path)."""
    path = archive_path.rstrip("/")
    if any(part in ("", ".", "..") for part in path.split("/")) or "\x00" in path:
        return None
    own = f"user_data/app_data/{app}"
    if path == own or path.startswith(own + "/"):
        return "data" + path[len(own) :]
    if path == "user_data/shared" or path.startswith("user_data/shared/"):
        return path[len("user_data/") :]
    if path.startswith(("volumes/", "binds/", "user_data/app_data/")):
        return path if not path.startswith("user_data/") else path[len("user_data/") :]
    return None


def plan_eject(manifest: Manifest, ids: list[str]) -> list[AppPlan]:
    """A plan per chosen app (all apps with containers when `ids` is empty)."""
    known = app_ids(manifest)
    wanted = ids or known
    unknown = [i for i in wanted if i not in known]
    if unknown:
        offer = ", ".join(known) or "none"
        raise UsageError(
            f"{unknown[0]} is not an app with containers in this archive (apps: {offer})"
        )
    entry_paths = {e.path for e in manifest.entries}
    plans: list[AppPlan] = []
    used: set[str] = set()
    for item_id in dict.fromkeys(wanted):
        item = manifest.item(item_id)
        assert item is not None
        plan = _AppPlanner(manifest, item, entry_paths).plan()
        if plan.app in used:
            plan.app = f"{plan.app}-{len(used) + 1}"
        used.add(plan.app)
        plans.append(plan)
    return plans


class _AppPlanner:
    def __init__(self, manifest: Manifest, item: ItemRecord, entry_paths: set[str]) -> None:
        self.manifest = manifest
        self.item = item
        self.entry_paths = entry_paths
        self.name = item.id.removeprefix("app/")
        self.root = (
            os.path.normpath(manifest.portal.root)
            if manifest.portal and manifest.portal.root
            else None
        )
        self.trees: dict[str, str] = {}  # archive path -> local path
        self.empty: dict[str, None] = {}
        containers = item.containers or ()
        self.service_of = {c.id: self._service_name(c) for c in containers}

    def _service_name(self, c: ContainerRecord) -> str:
        return safe_name(c.service or c.name, "service")

    def plan(self) -> AppPlan:
        removed: list[str] = []
        services: list[ServicePlan] = []
        names: set[str] = set()
        own = f"user_data/app_data/{self.name}/"
        if self._holds(own):
            self.trees[own] = "data"  # the app's whole state, mounted or not
        for c in self.item.containers or ():
            image_base = c.image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
            if image_base in AUTH_SIDECAR_IMAGES:
                removed.append(
                    f"service {self.service_of[c.id]} ({c.image}) was the Portal's login check "
                    "in front of the app and is gone: nothing stands between the app's port "
                    "and whoever reaches it, so keep that port private or put your own proxy "
                    "in front"
                )
                continue
            svc = self._service(c)
            while svc.name in names:
                svc.name += "-2"
            names.add(svc.name)
            services.append(svc)
        return AppPlan(
            app=safe_name(self.name, "app"),
            item_id=self.item.id,
            services=services,
            trees=_outermost(self.trees),
            empty_dirs=[d for d in self.empty if not _covered(d, self.trees.values())],
            removed=removed,
            archived_root=self.root,
        )

    def _service(self, c: ContainerRecord) -> ServicePlan:
        cfg = c.config
        svc = ServicePlan(
            name=self.service_of[c.id],
            container=c.name,
            image=str(cfg.get("image") or c.image),
            image_id=cfg.get("image_id") if isinstance(cfg.get("image_id"), str) else None,
            state_before=c.state_before,
            command=cfg.get("command"),
            entrypoint=cfg.get("entrypoint"),
            env=[e for e in cfg.get("env") or [] if isinstance(e, str)],
            working_dir=_text(cfg.get("working_dir")),
            user=_text(cfg.get("user")),
        )
        hostname = _text(cfg.get("hostname"))
        if hostname and not (c.id and c.id.startswith(hostname)):
            svc.hostname = hostname  # a name the app chose, not Docker's default (the ID)
        self._labels(svc, cfg.get("labels"))
        self._restart(svc, cfg.get("restart_policy"))
        self._network(svc, _text(cfg.get("network_mode")))
        self._ports(svc, cfg.get("ports"), cfg.get("exposed_ports"))
        for m in cfg.get("mounts") or []:
            self._mount(svc, m)
        for key in sorted(k for k in cfg if k not in KNOWN_SETTINGS and cfg[k]):
            words = _policy(self.root).refusals({key: cfg[key]})
            svc.removed.append(
                f"{words[0] if words else key} ({key}): not carried over, an eject never "
                "grants more than the archive's plain settings"
            )
        return svc

    def _labels(self, svc: ServicePlan, labels: Any) -> None:
        dropped_compose = dropped_proxy = 0
        for key, value in (labels or {}).items() if isinstance(labels, dict) else ():
            if key.startswith("com.docker.compose."):
                dropped_compose += 1
            elif key.startswith("traefik.") or key == "traefik":
                dropped_proxy += 1
            else:
                svc.labels[str(key)] = str(value)
        if dropped_proxy:
            svc.removed.append(
                f"{dropped_proxy} label(s) traefik.*: the Portal's reverse proxy routed its "
                "domain to the app with them; there is no such proxy here, open the published "
                "port instead"
            )
        if dropped_compose:
            svc.removed.append(
                f"{dropped_compose} label(s) com.docker.compose.*: the Portal's Compose project "
                "wrote them; Compose writes its own for this folder"
            )

    def _restart(self, svc: ServicePlan, policy: Any) -> None:
        if not isinstance(policy, dict):
            return
        name = _text(policy.get("Name"))
        if name in ("always", "unless-stopped"):
            svc.restart = name
        elif name == "on-failure":
            count = policy.get("MaximumRetryCount")
            svc.restart = f"on-failure:{count}" if isinstance(count, int) and count else name

    def _network(self, svc: ServicePlan, mode: str | None) -> None:
        if not mode or mode in ("default", "bridge"):
            return
        if mode in ("none", "host"):
            svc.network_mode = mode
            return
        if mode.startswith("container:"):
            other = mode.split(":", 1)[1]
            match = [s for cid, s in self.service_of.items() if other and cid.startswith(other)]
            if match:
                svc.network_mode = f"service:{match[0]}"
                svc.changed.append(
                    f"network_mode {mode} (a container ID) is now service:{match[0]}"
                )
            else:
                svc.removed.append(
                    f"network_mode {mode}: it shared the network of a container outside this "
                    "app; it gets a network of its own"
                )
            return
        svc.removed.append(
            f"network {mode}: the Portal's internal network, where its reverse proxy and shared "
            "services reached the app; Compose gives this folder's services a network of "
            "their own"
        )

    def _ports(self, svc: ServicePlan, ports: Any, exposed: Any) -> None:
        bound: set[str] = set()
        for key, bindings in sorted((ports or {}).items()) if isinstance(ports, dict) else ():
            if not isinstance(key, str):
                continue
            for b in bindings if isinstance(bindings, list) else []:
                if not isinstance(b, dict):
                    continue
                host_port = str(b.get("HostPort") or "")
                recorded = int(host_port) if host_port.isdigit() else None
                if recorded is not None and not 0 < recorded < 65536:
                    recorded = None
                host_ip = str(b.get("HostIp") or "")
                if host_ip in ("0.0.0.0", "::"):
                    host_ip = ""
                svc.ports.append(PortMap(key, host_ip, recorded, recorded))
                bound.add(key)
        svc.expose = (
            [p for p in exposed if isinstance(p, str) and p not in bound]
            if isinstance(exposed, list)
            else []
        )

    def _mount(self, svc: ServicePlan, m: Any) -> None:
        if not isinstance(m, dict):
            svc.removed.append("a mount the manifest records in a form that cannot be read")
            return
        kind, source = str(m.get("type") or "bind"), str(m.get("source") or "")
        target = str(m.get("target") or m.get("destination") or "")
        read_only = bool(m.get("read_only"))
        if not target.startswith("/"):
            svc.removed.append(
                f"the mount of {source or '(nothing)'} at {target!r}: no path in the container"
            )
            return
        if kind == "volume":
            self._volume(svc, source, target, read_only)
        elif kind == "bind":
            self._bind(svc, source, target, read_only)
        else:
            svc.removed.append(f"a {kind} mount at {target}: only binds and volumes are carried")

    def _volume(self, svc: ServicePlan, name: str, target: str, read_only: bool) -> None:
        arch = f"volumes/{name}/"
        local = (
            local_path(arch, self.name)
            if name and "/" not in name and name not in (".", "..")
            else None
        )
        if local is None:
            svc.removed.append(f"the volume {name!r} at {target}: not a usable volume name")
            return
        note = None
        if self._holds(arch):
            self.trees[arch] = local
        else:
            self.empty[local] = None
            note = "the archive does not hold this volume: it starts empty"
        rec = self.manifest.volume(name)
        if rec is not None and rec.options:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(rec.options.items()))
            svc.changed.append(
                f"the volume {name} had driver options ({shown}); here it is the folder "
                f"./{local} with the volume's contents"
            )
        svc.changed.append(f"the named volume {name} is the folder ./{local}")
        svc.mounts.append(LocalMount(target, local, read_only, note))

    def _bind(self, svc: ServicePlan, source: str, target: str, read_only: bool) -> None:
        norm = os.path.normpath(source) if source.startswith("/") else ""
        why = self._bind_refusal(norm)
        if why:
            svc.removed.append(f"the bind mount {source} at {target}: {why}")
            return
        arch = self._bind_archive_path(norm)
        local = local_path(arch, self.name) if arch else None
        if arch is None or local is None:
            svc.removed.append(
                f"the bind mount {source} at {target}: the host path is not in the archive; "
                "add it back by hand if the app needs it"
            )
            return
        note = None
        if arch.rstrip("/") in self.entry_paths:  # a single file
            self.trees[arch.rstrip("/")] = local
        elif self._holds(arch):
            self.trees[arch] = local
        else:
            self.empty[local] = None
            note = "the archive does not hold it: it starts empty"
        svc.changed.append(f"the bind mount {source} is ./{local}")
        svc.mounts.append(LocalMount(target, local, read_only, note))

    def _holds(self, tree: str) -> bool:
        """Whether the archive has the folder `tree` ("a/b/") or anything below it."""
        return tree in self.entry_paths or any(p.startswith(tree) for p in self.entry_paths)

    def _bind_refusal(self, norm: str) -> str | None:
        if not norm:
            return "not an absolute host path"
        if norm == "/":
            return "it gave the container the host's whole file system; never carried over"
        if norm in DOCKER_SOCKETS or os.path.basename(norm) == "docker.sock":
            return (
                "the Docker socket gives a container control of the host's Docker (root on "
                "the host); never carried over"
            )
        if self.root and (norm == self.root or inside(norm, os.path.join(self.root, "core"))):
            return (
                "the Portal's own files (its database holds the identity key); never carried over"
            )
        return None

    def _bind_archive_path(self, norm: str) -> str | None:
        """The archive path of a bind source: the manifest's own record, else its layout."""
        for m in self.item.mounts or ():
            if m.type == "bind" and os.path.normpath(m.source) == norm and m.archive_path:
                return m.archive_path
        if self.root and inside(norm, self.root):
            rel = os.path.relpath(norm, self.root)
            return rel + "/" if rel.startswith("user_data/") else None
        return None


def _policy(root: str | None) -> ContainerPolicy:
    return ContainerPolicy(root or "/nonexistent", None, frozenset(), ())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _covered(local: str, roots: Any) -> bool:
    return any(inside(local, r) for r in roots)


def _outermost(trees: dict[str, str]) -> list[tuple[str, str]]:
    """The trees to extract, without those inside another one (stored once, extracted once)."""
    out: list[tuple[str, str]] = []
    for arch in sorted(trees, key=len):
        if not any(inside(arch.rstrip("/"), a.rstrip("/")) for a, _ in out):
            out.append((arch, trees[arch]))
    return out
