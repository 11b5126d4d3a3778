"""Plain data shared by the engine, the CLI and the UI.

Everything here is a frozen-ish dataclass of primitive values so it can cross thread boundaries,
be printed as JSON, and be rendered by the UI without the UI touching Docker or the disk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ItemKind = Literal["core", "shared", "app", "mount", "volume"]
MountType = Literal["bind", "volume"]
ContainerState = Literal["running", "paused", "exited", "created", "restarting", "dead", "removing"]

# Archive layout roots (the archive contract, GUIDE section 3).
VOLUMES_PREFIX = "volumes/"
BINDS_PREFIX = "binds/"
MANIFEST_NAME = "portal-backup.json"
SIGNATURE_NAME = "portal-backup.json.sig"
SUMS_NAME = "SHA256SUMS"
README_NAME = "README.txt"
META_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME, SUMS_NAME, README_NAME})
# Deepest path (in components) the writer stores and verify/restore accept: deeper trees are
# refused with a sentence, so no walk ever has to go deeper than this.
MAX_PATH_DEPTH = 4096

# Paths under the Portal root.
DB_REL = "core/portal_core_db.json"
CONFIG_REL = "core/portal_core_config.yml"
APPS_REL = "core/installed_apps"
SHARED_REL = "user_data/shared"
APP_DATA_REL = "user_data/app_data"
IDENTITY_ARCHIVE_REL = "core/portal_identity.json"


@dataclass(frozen=True)
class Size:
    bytes: int
    files: int


@dataclass(frozen=True)
class MountInfo:
    """One mount of one container."""

    type: MountType
    source: str  # host path for binds, volume name for volumes
    destination: str  # path inside the container
    read_only: bool


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    state: str
    service: str | None
    mounts: tuple[MountInfo, ...]
    # Everything restore needs to recreate the container (image, command, env, labels...).
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    driver: str
    mountpoint: str
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    options: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Source:
    """A tree to copy: where it comes from and where it lands in the archive.

    kind "path" reads a host path; kind "volume" reads a named volume (from its mountpoint when
    readable, otherwise through the Docker API). archive_path never starts with "/" and, for
    trees, ends with "/".
    """

    kind: Literal["path", "volume"]
    location: str  # absolute host path, or volume name
    archive_path: str


@dataclass
class Item:
    """One selectable row: `list` prints these and `create` takes their IDs."""

    id: str
    kind: ItemKind
    label: str
    parent: str | None = None  # app item ID for mounts
    sources: list[Source] = field(default_factory=list)
    containers: list[ContainerInfo] = field(default_factory=list)
    needs_docker: bool = False
    holds_identity: bool = False
    state: str | None = None  # app: summary of container states
    size: Size | None = None  # None until computed
    note: str | None = None  # e.g. "not readable: permission denied"
    mount: MountInfo | None = None  # for kind == "mount"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "parent": self.parent,
            "state": self.state,
            "needs_docker": self.needs_docker,
            "holds_identity": self.holds_identity,
            "bytes": self.size.bytes if self.size else None,
            "files": self.size.files if self.size else None,
            "containers": [
                {"name": c.name, "image": c.image, "state": c.state, "service": c.service}
                for c in self.containers
            ],
            "paths": [s.archive_path for s in self.sources],
        }
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class PortalInfo:
    root: str
    id: str | None  # default identity record's id
    name: str | None  # first 6 characters of the id


@dataclass
class Inventory:
    items: list[Item]
    portal: PortalInfo | None  # None when the Portal root is absent
    docker_ok: bool
    volumes: dict[str, VolumeInfo] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, item_id: str) -> Item | None:
        for item in self.items:
            if item.id == item_id:
                return item
        return None


def to_plain(obj: Any) -> Any:
    """Dataclasses to dicts, tuples to lists: ready for json.dumps."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj
