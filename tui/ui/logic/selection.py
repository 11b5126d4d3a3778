"""What the home screen has checked, and what that adds up to. Plain Python, no Textual.

Rules: toggling an app toggles all its mounts; an app counts as whole (its own app_data
directory included) only while every one of its mounts is checked, otherwise only the checked
mounts are backed up and the row shows as partial. What needs Docker while it is unreachable
cannot be checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from tui.core.model import Inventory, Item, Size, Source
from tui.core.plan import IDENTITY_ID, needs_docker, stored_sources

CheckState = Literal["on", "off", "partial"]

# Rough figures for the summary's downtime estimate: a guess shown as "~", never a promise.
ASSUMED_RATE = 100e6  # bytes per second read and compressed
STOP_SECONDS = 2.0  # per running container, stop plus start


def _key(src: Source) -> tuple[str, str]:
    return src.kind, src.location


class CheckSet:
    """A checked set of rows, some with children (an app's mounts): what each box shows, and
    toggling a row or a group of rows. Subclasses fill in `children` and `checked`, and say
    what toggling a child does to its parent."""

    children: dict[str, list[str]]
    checked: set[str]

    # ------------------------------------------------------------------ single rows

    def state(self, item_id: str) -> CheckState:
        if item_id in self.checked:
            return "on"
        if any(k in self.checked for k in self.children.get(item_id, ())):
            return "partial"
        return "off"

    def set(self, item_id: str, on: bool) -> None:
        ids = [item_id, *self.children.get(item_id, ())]
        if on:
            self.checked.update(ids)
        else:
            self.checked.difference_update(ids)
        self._set_parent(item_id, on)

    def _set_parent(self, item_id: str, on: bool) -> None:
        """After `item_id` (and its children) changed: its parent's own check."""

    def toggle(self, item_id: str) -> None:
        self.set(item_id, self.state(item_id) != "on")

    def why_not(self, item_id: str) -> str | None:
        """Why this row cannot be ticked now (one sentence), or None when it can."""
        return None

    # ------------------------------------------------------------------ groups of rows

    def in_groups(self, item_id: str) -> bool:
        """Whether a group toggle changes this row."""
        return self.why_not(item_id) is None

    def group_state(self, ids: Iterable[str]) -> CheckState:
        states = {self.state(i) for i in ids}
        if not states or states == {"off"}:
            return "off"
        return "on" if states == {"on"} else "partial"

    def toggle_group(self, ids: Iterable[str]) -> None:
        ids = [i for i in ids if self.in_groups(i)]
        on = self.group_state(ids) != "on"
        for i in ids:
            self.set(i, on)


class Selection(CheckSet):
    """Everything that can be backed up now is checked at first. Items that need Docker while
    it is unreachable are `blocked`: never checked, and ticking one says why."""

    def __init__(self, inventory: Inventory, checked: Iterable[str] | None = None) -> None:
        self.inventory = inventory
        self.by_id: dict[str, Item] = {i.id: i for i in inventory.items}
        self.children: dict[str, list[str]] = {}
        for item in inventory.items:
            if item.parent:
                self.children.setdefault(item.parent, []).append(item.id)
        self.blocked: set[str] = (
            set() if inventory.docker_ok else {i.id for i in inventory.items if needs_docker(i)}
        )
        self.checked: set[str] = set(self.by_id if checked is None else checked) - self.blocked

    def why_not(self, item_id: str) -> str | None:
        if item_id not in self.blocked:
            return None
        return (
            f"{self.by_id[item_id].label} needs Docker, which is not reachable: "
            "start Docker, then press r to reload the list."
        )

    def set(self, item_id: str, on: bool) -> None:
        super().set(item_id, on)
        self.checked -= self.blocked

    def _set_parent(self, item_id: str, on: bool) -> None:
        # An app is checked exactly while all its mounts are.
        parent = self.by_id[item_id].parent
        if parent is not None:
            if all(k in self.checked for k in self.children[parent]):
                self.checked.add(parent)
            else:
                self.checked.discard(parent)

    # ------------------------------------------------------------------ results

    @property
    def identity_included(self) -> bool:
        return IDENTITY_ID in self.checked

    def selected_ids(self) -> list[str]:
        """IDs for `resolve_selection`: a whole app by its ID, a partial one by its mounts."""
        return [
            i.id
            for i in self.inventory.items
            if i.id in self.checked and not (i.parent and i.parent in self.checked)
        ]

    def totals(self, quiesce: str) -> Totals:
        sizes = source_sizes(self.inventory)
        chosen = stored_sources(self.by_id[i] for i in self.selected_ids())
        total_bytes = total_files = pending = 0
        for src in chosen:
            size = sizes.get(_key(src))
            if size is None:
                pending += 1
            else:
                total_bytes += size.bytes
                total_files += size.files
        apps = 0
        downtime = 0.0
        if quiesce != "none":
            for app in self.inventory.items:
                running = sum(c.state == "running" for c in app.containers)
                if app.kind != "app" or not running or self.state(app.id) == "off":
                    continue
                apps += 1
                rows = (
                    [app.id]
                    if app.id in self.checked
                    else [k for k in self.children.get(app.id, ()) if k in self.checked]
                )
                data = sum(s.bytes for r in rows if (s := self.by_id[r].size) is not None)
                downtime += STOP_SECONDS * running + data / ASSUMED_RATE
        return Totals(
            bytes=total_bytes,
            files=total_files,
            pending_sources=pending,
            items=len(self.selected_ids()),
            apps_quiesced=apps,
            downtime_estimate=downtime,
        )


@dataclass(frozen=True)
class Totals:
    bytes: int
    files: int
    pending_sources: int  # sources whose size is not known yet
    items: int
    apps_quiesced: int  # apps with running containers that will be stopped or paused
    downtime_estimate: float  # seconds, all apps together


def source_sizes(inventory: Inventory) -> dict[tuple[str, str], Size]:
    """Each source's size, from the items' sizes (an app's own directory by difference)."""
    out: dict[tuple[str, str], Size] = {}
    for item in inventory.items:
        if len(item.sources) == 1 and item.size is not None:
            out[_key(item.sources[0])] = item.size
    for item in inventory.items:
        if item.kind != "app" or item.size is None:
            continue
        unknown = [s for s in item.sources if _key(s) not in out]
        if len(unknown) == 1:
            known = [out[_key(s)] for s in item.sources if _key(s) in out]
            out[_key(unknown[0])] = Size(
                max(0, item.size.bytes - sum(k.bytes for k in known)),
                max(0, item.size.files - sum(k.files for k in known)),
            )
    return out
