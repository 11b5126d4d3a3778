"""What a restore may create on this host, whatever the archive says and whoever signed it.

A container is recreated only when every setting its manifest records stays inside the Portal:
bind sources inside the Portal root (never its core files, which hold the identity key), named
volumes the archive itself holds, no Docker socket, no host namespaces, no privileges. Anything
else is refused and named, never silently dropped: a container without its settings would be a
different container. Bind mounts outside the Portal root are restored only into an allow-list
of data directories, never into a system path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tui.core.archive.manifest_model import VolumeRecord

__all__ = [
    "BIND_ROOTS_ENV",
    "ContainerPolicy",
    "bind_target_refusal",
    "inside",
    "system_path_refusal",
    "volume_refusal",
]

# Settings the backup records and restore_docker.create_container applies; any other one in a
# manifest is refused rather than dropped.
KNOWN_SETTINGS = frozenset(
    {
        "image",
        "image_id",
        "command",
        "entrypoint",
        "env",
        "labels",
        "working_dir",
        "user",
        "hostname",
        "restart_policy",
        "network_mode",
        "ports",
        "exposed_ports",
        "mounts",
    }
)
# What the dangerous ones do, in the words a refusal uses.
_DANGEROUS = {
    "privileged": "runs privileged",
    "cap_add": "adds capabilities",
    "capabilities": "adds capabilities",
    "devices": "maps host devices",
    "device_requests": "maps host devices",
    "security_opt": "changes its security options",
    "pid_mode": "shares the host's PID namespace",
    "ipc_mode": "shares an IPC namespace",
    "userns_mode": "leaves the user namespace",
    "uts_mode": "shares the host's UTS namespace",
    "cgroup_parent": "picks its cgroup",
    "cgroupns_mode": "shares a cgroup namespace",
    "sysctls": "sets kernel parameters",
    "volumes_from": "mounts another container's volumes",
    "tmpfs": "mounts tmpfs",
    "binds": "binds host paths",
}
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
# Host directories a bind mount outside the Portal root may be restored into (env overrides).
BIND_ROOTS_ENV = "PORTAL_BACKUP_BIND_ROOTS"
DEFAULT_BIND_ROOTS = ("/srv", "/opt", "/mnt", "/media", "/data")
# Never written, whatever the allow-list says: what a root attacker would use, and the Docker
# socket's directory.
SYSTEM_DIRS = (
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var",
    "/root",
    "/home",
    "/snap",
)


def inside(inner: str, outer: str) -> bool:
    inner, outer = inner.rstrip("/") or "/", outer.rstrip("/") or "/"
    return inner == outer or inner.startswith(outer if outer == "/" else outer + "/")


def _overlap(a: str, b: str) -> bool:
    return inside(a, b) or inside(b, a)


def bind_roots() -> tuple[str, ...]:
    value = os.environ.get(BIND_ROOTS_ENV)
    if value is None:
        return DEFAULT_BIND_ROOTS
    return tuple(os.path.normpath(p) for p in value.split(":") if p.startswith("/"))


def system_path_refusal(dest: str, portal_root: str) -> str | None:
    """Why `dest` (outside the Portal root) is never restored, or None."""
    norm = os.path.normpath(dest)
    if inside(norm, portal_root) and norm != portal_root:
        return None
    if norm.count("/") < 2 or any(_overlap(norm, d) for d in SYSTEM_DIRS):
        return "restoring over a system directory is refused"
    if inside(portal_root, norm):
        return "it holds the whole Portal"
    return None


def bind_target_refusal(dest: str, portal_root: str) -> str | None:
    """Why a bind mount outside the Portal root may not land at `dest`, or None."""
    why = system_path_refusal(dest, portal_root)
    if why or inside(dest, portal_root):
        return why
    roots = bind_roots()
    if not any(inside(os.path.normpath(dest), r) and os.path.normpath(dest) != r for r in roots):
        return (
            "bind mounts outside the Portal root are restored only under "
            f"{', '.join(roots) or '(nothing: ' + BIND_ROOTS_ENV + ' is empty)'}"
        )
    real = os.path.realpath(dest)  # a symlinked parent must not lead elsewhere
    if real != os.path.normpath(dest) and not any(inside(real, r) for r in roots):
        return f"it leads to {real} through a symbolic link"
    return None


def volume_refusal(rec: VolumeRecord, trusted: bool, portal_root: str) -> str | None:
    """Why a volume the archive describes is not created as described, or None."""
    driver = rec.driver or "local"
    options = rec.options
    device = options.get("device")
    if (
        isinstance(device, str)
        and device
        and not (inside(os.path.realpath(device), os.path.realpath(portal_root)))
    ):
        return f"its driver options mount the host path {device} (outside the Portal root)"
    if trusted:
        return None
    if driver != "local":
        return f"it uses the volume driver {driver}, which only a trusted archive may ask for"
    if options:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
        return f"it carries driver options ({shown}), which only a trusted archive may set"
    return None


@dataclass(frozen=True)
class ContainerPolicy:
    """The limits of a recreated container on this host."""

    portal_root: str  # this host's
    archived_root: str | None  # the root at backup time: bind sources are moved from it
    volumes: frozenset[str]  # named volumes the archive holds
    container_ids: tuple[str, ...]  # IDs of the archive's containers (network sharing)

    def remap(self, source: str) -> str:
        old, norm = self.archived_root, os.path.normpath(source)
        if old and inside(norm, old):
            return os.path.normpath(self.portal_root + norm[len(old.rstrip("/")) :])
        return norm

    def refusals(self, cfg: dict[str, Any]) -> list[str]:
        """Each refused setting of a container's recorded config, in words; [] when none."""
        out: list[str] = []
        for key in sorted(cfg):
            value = cfg[key]
            if key in KNOWN_SETTINGS or value in (None, False, "", [], {}):
                continue
            out.append(
                _DANGEROUS.get(
                    key, f"records the setting {key!r}, which portal-backup does not recreate"
                )
            )
        mounts = cfg.get("mounts") or []
        for m in mounts if isinstance(mounts, list) else [None]:
            why = self.mount_refusal(m)
            if why:
                out.append(why)
        out += self._network_refusals(cfg.get("network_mode"))
        return list(dict.fromkeys(out))

    def mount_refusal(self, m: Any) -> str | None:
        if not isinstance(m, dict) or not isinstance(m.get("source"), str):
            return "records a mount it cannot read"
        kind, source = m.get("type") or "bind", m["source"]
        if kind == "volume":
            return (
                None
                if source in self.volumes
                else (f"mounts the volume {source}, which the archive does not hold")
            )
        if kind != "bind":
            return f"records a {kind} mount"
        return self.bind_refusal(self.remap(source))

    def bind_refusal(self, source: str) -> str | None:
        """Why a bind source (already moved to this root) is refused; symbolic links count."""
        norm = os.path.normpath(source)
        root = os.path.normpath(self.portal_root)
        for path in dict.fromkeys((norm, os.path.realpath(norm))):
            if path in DOCKER_SOCKETS or os.path.basename(path) == "docker.sock":
                return f"binds the Docker socket {source}"
            if not inside(path, root) and not inside(path, os.path.realpath(root)):
                shown = source if path == norm else f"{source} (a link to {path})"
                return f"binds {shown} (outside the Portal root)"
            rel = os.path.relpath(path, root if inside(path, root) else os.path.realpath(root))
            if rel == "." or rel == "core" or rel.startswith("core/"):
                return f"binds {source} (the Portal's own files, with its identity key)"
        return None

    def _network_refusals(self, mode: Any) -> Iterable[str]:
        if not isinstance(mode, str) or not mode:
            return []
        if mode == "host":
            return ["uses host networking"]
        if mode.startswith("container:"):
            other = mode.split(":", 1)[1]
            if not other or not any(cid.startswith(other) for cid in self.container_ids if cid):
                return [f"shares the network of container {other}, which is not in the archive"]
        return []
