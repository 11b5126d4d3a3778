"""A selection of item IDs -> an ordered plan of steps, each host tree stored once."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from tui.core.errors import DockerUnavailable, UsageError
from tui.core.model import DB_REL, ContainerInfo, Inventory, Item, Source

DB_ID = "core/db"
IDENTITY_ID = "core/identity"


@dataclass
class PlanStep:
    """Copy `sources` while `containers` (one app's) are quiesced."""

    label: str
    item_ids: list[str]
    sources: list[Source]
    app: str | None = None
    containers: list[ContainerInfo] = field(default_factory=list)
    special: str | None = None  # "db" or "identity": read through portaldb, not walked


@dataclass
class Plan:
    steps: list[PlanStep]
    items: list[Item]
    include_identity: bool
    strip_private_keys: bool
    item_paths: dict[str, list[str]]  # item ID -> archive paths that hold it

    @property
    def item_ids(self) -> list[str]:
        return [i.id for i in self.items]

    @property
    def estimated_bytes(self) -> int:
        return sum(i.size.bytes for i in self.items if i.size and i.kind != "mount")


def resolve_selection(
    inventory: Inventory,
    ids: list[str],
    *,
    select_all: bool = False,
    exclude: list[str] | None = None,
) -> list[Item]:
    """Item IDs (globs allowed) -> items. An app implies its mounts; unknown IDs are errors."""
    by_id = {i.id: i for i in inventory.items}
    chosen: dict[str, Item] = {}
    patterns = list(by_id) if select_all else ids
    if not patterns:
        raise UsageError(
            "nothing selected: name items to back up (see `portal-backup list`) or use --all"
        )
    for pat in patterns:
        matches = (
            [i for i in by_id if fnmatch.fnmatchcase(i, pat)]
            if _is_glob(pat)
            else ([pat] if pat in by_id else [])
        )
        if not matches:
            raise UsageError(f"no item {pat!r} on this host (see `portal-backup list`)")
        for m in matches:
            chosen[m] = by_id[m]
            if by_id[m].kind == "app":
                for child in inventory.items:
                    if child.parent == m:
                        chosen[child.id] = child
    for pat in exclude or []:
        hit = [
            i
            for i in list(chosen)
            if fnmatch.fnmatchcase(i, pat)
            or i == pat
            or (chosen[i].parent is not None and fnmatch.fnmatchcase(chosen[i].parent or "", pat))
        ]
        if not hit and not any(fnmatch.fnmatchcase(i, pat) for i in by_id):
            raise UsageError(f"--exclude {pat!r} matches no item (see `portal-backup list`)")
        for i in hit:
            chosen.pop(i, None)
    # An app whose mounts were all excluded still counts if its own directory is selected.
    return [i for i in inventory.items if i.id in chosen]


def needs_docker(item: Item) -> bool:
    """Whether backing up `item` needs a reachable Docker engine.

    Volumes are read through Docker; apps and their mounts too, because without Docker we
    cannot know whether an app is writing (nor stop it)."""
    return item.needs_docker or item.kind in ("app", "mount")


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def build_plan(inventory: Inventory, items: list[Item]) -> Plan:
    selected = {i.id for i in items}
    if not inventory.docker_ok:
        needing = [i.id for i in items if needs_docker(i)]
        if needing:
            raise DockerUnavailable(
                f"Docker is not reachable, but {needing[0]} needs it; start Docker or leave it out"
            )
    include_identity = IDENTITY_ID in selected
    strip = DB_ID in selected and not include_identity

    steps: list[PlanStep] = []
    claimed: list[Source] = []
    item_paths: dict[str, list[str]] = {}

    def claim(src: Source) -> bool:
        for c in claimed:
            if inside(src, c):
                return False
        claimed.append(src)
        return True

    core = [i for i in items if i.kind in ("core", "shared")]
    for it in core:
        item_paths[it.id] = [s.archive_path for s in it.sources]
    if "core/db" in selected and include_identity:
        item_paths[IDENTITY_ID] = [DB_REL]  # stored inside the database, not as its own entry
    if "core/db" in selected:
        # The database holds the identity; one read stores both.
        ids = ["core/db", "core/identity"] if include_identity else ["core/db"]
        steps.append(PlanStep("Internal database", ids, [], special="db"))
    elif include_identity:
        steps.append(PlanStep("Portal identity", ["core/identity"], [], special="identity"))
    for it in core:
        if it.id in ("core/db", "core/identity"):
            continue
        srcs = [s for s in it.sources if claim(s)]
        steps.append(PlanStep(it.label, [it.id], srcs))

    mounts = [i for i in items if i.kind == "mount"]
    for app in [i for i in inventory.items if i.kind == "app"]:
        app_selected = app.id in selected
        my_mounts = [m for m in mounts if m.parent == app.id]
        if not app_selected and not my_mounts:
            continue
        if app_selected:
            wanted = list(app.sources)
            ids = [app.id] + [m.id for m in my_mounts]
        else:
            wanted = [m.sources[0] for m in my_mounts]
            ids = [m.id for m in my_mounts]
        item_paths[app.id] = [s.archive_path for s in app.sources] if app_selected else []
        for m in my_mounts:
            item_paths[m.id] = [m.sources[0].archive_path]
        srcs = [s for s in wanted if claim(s)]
        steps.append(PlanStep(app.label, ids, srcs, app=app.label, containers=list(app.containers)))

    for it in items:
        if it.kind == "volume":
            item_paths[it.id] = [s.archive_path for s in it.sources]
            srcs = [s for s in it.sources if claim(s)]
            steps.append(PlanStep(it.label, [it.id], srcs))
    return Plan(
        steps=steps,
        items=items,
        include_identity=include_identity,
        strip_private_keys=strip,
        item_paths=item_paths,
    )


def inside(inner: Source, outer: Source) -> bool:
    """Whether `inner` is `outer` or lies below it: storing `outer` stores it too."""
    if inner.kind != outer.kind:
        return False
    if inner.kind == "volume":
        return inner.location == outer.location
    a, b = inner.location.rstrip("/"), outer.location.rstrip("/")
    return a == b or a.startswith(b + "/")


def stored_sources(items: Iterable[Item]) -> list[Source]:
    """The host trees a backup of `items` reads, each once (the sizes a selection adds up to).

    The plan's rules: the identity is read from the database file, so with core/db it adds
    nothing; a tree equal to or inside another chosen one is stored with it.
    """
    chosen = list(items)
    with_db = any(i.id == DB_ID for i in chosen)
    sources = [s for i in chosen if not (i.id == IDENTITY_ID and with_db) for s in i.sources]
    out: list[Source] = []
    for src in sorted(sources, key=lambda s: (s.kind, len(s.location))):
        if not any(inside(src, o) for o in out):
            out.append(src)
    return out


def nested_claims(plan: Plan) -> dict[str, list[str]]:
    """For each path source, the later-claimed sources below it, pruned from its walk."""
    all_paths = [s for step in plan.steps for s in step.sources if s.kind == "path"]
    out: dict[str, list[str]] = {}
    for s in all_paths:
        below = [
            t.location
            for t in all_paths
            if t is not s and t.location.startswith(s.location.rstrip("/") + "/")
        ]
        if below:
            out[s.location] = below
    return out
