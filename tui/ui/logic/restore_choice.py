"""What the Restore screen has ticked. Plain Python, no Textual.

Rules: an app ticked restores all of it (its folder, its mounts, its missing containers), so
ticking it ticks its mounts and unticking one of them unticks the app, leaving the others as
mounts restored on their own. The Portal's own files (core items) are ticked only one by one,
never by a group toggle, and never by default. By default the choice is what this host lacks:
items of the archive that are missing here, so opening the screen never proposes to replace
data that exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from tui.core.restore.plan import ItemPlan, RestorePlan
from tui.ui.logic.selection import CheckSet, CheckState

SECTIONS = (("section:portal", "Portal"), ("section:apps", "Apps"), ("section:volumes", "Volumes"))
CORE_KIND = "core"
IDENTITY_ITEMS = ("core/db", "core/identity")


def section_of(item: ItemPlan) -> str:
    if item.kind in ("core", "shared"):
        return "section:portal"
    return "section:volumes" if item.kind == "volume" else "section:apps"


def parents_of(plan: RestorePlan) -> dict[str, str]:
    """Mount item ID -> its app's ID: from the manifest's app records, or else by ID prefix
    (a mount's ID is its app's ID, a slash and the mount's label)."""
    ids = {i.id for i in plan.items}
    out: dict[str, str] = {}
    for rec in plan.manifest.items:
        if rec.id not in ids:
            continue
        for m in rec.mounts or ():
            if m.id is not None and m.id in ids:
                out[m.id] = rec.id
    apps = sorted((i.id for i in plan.items if i.kind == "app"), key=len, reverse=True)
    for item in plan.items:
        if item.kind == "mount" and item.id not in out:
            app = next((a for a in apps if item.id.startswith(a + "/")), None)
            if app is not None:
                out[item.id] = app
    return out


def default_ticks(plan: RestorePlan) -> set[str]:
    """What this host lacks, the Portal's own files excepted."""
    return {i.id for i in plan.items if i.kind != CORE_KIND and i.status == "missing"}


def identity_differs(plan: RestorePlan) -> bool:
    """This host is a Portal, and not the one the archive was made of."""
    here, there = plan.current_portal_id, plan.archive.portal_id
    return bool(here and there and here != there)


class RestoreChoice(CheckSet):
    def __init__(self, plan: RestorePlan, checked: Iterable[str] | None = None) -> None:
        self.plan = plan
        self.by_id: dict[str, ItemPlan] = {i.id: i for i in plan.items}
        self.parent = parents_of(plan)
        self.children: dict[str, list[str]] = {}
        for item in plan.items:  # archive order
            if item.id in self.parent:
                self.children.setdefault(self.parent[item.id], []).append(item.id)
        self.checked: set[str] = set()
        for item_id in default_ticks(plan) if checked is None else checked:
            if item_id in self.by_id:
                self.set(item_id, True)

    def _set_parent(self, item_id: str, on: bool) -> None:
        # The app restores all of its mounts or is not restored as a whole.
        parent = self.parent.get(item_id)
        if not on and parent is not None:
            self.checked.discard(parent)

    # ------------------------------------------------------------------ groups of rows

    def in_groups(self, item_id: str) -> bool:
        """Core items are left as they are by group toggles (ticked one by one only)."""
        return not self.is_core(item_id)

    def group_state(self, ids: Iterable[str], include_core: bool = False) -> CheckState:
        """What a group toggle would see (core items left out), or with `include_core` what
        a section's box shows."""
        return super().group_state(i for i in ids if include_core or not self.is_core(i))

    def is_core(self, item_id: str) -> bool:
        item = self.by_id.get(item_id)
        return item is not None and item.kind == CORE_KIND

    # ------------------------------------------------------------------ results

    def selected_ids(self) -> list[str]:
        """IDs for RestorePlan.select, in archive order: a whole app by its ID (its mounts are
        part of it), a partly ticked one by its ticked mounts."""
        return [
            i.id
            for i in self.plan.items
            if i.id in self.checked and self.parent.get(i.id) not in self.checked
        ]

    @property
    def identity_ticked(self) -> bool:
        return any(i in self.checked for i in IDENTITY_ITEMS)
