"""The words of a restore, once: plain strings built from the plan's plain data.

The CLI prints them as they are; the Restore screens (tui/ui/logic/restore_text.py) only add
Rich styling and their own layout around them. No Rich and no Textual here.
"""

from __future__ import annotations

import os
from typing import Literal

from tui.core.events import RestoreFinished
from tui.core.humanfmt import count, duration, human_bytes
from tui.core.model import Size
from tui.core.restore.diff import ChangeKind, PathChange, TargetDiff
from tui.core.restore.plan import ContainerPlan, ItemPlan, RestorePlan, RestoreSelection, TargetPlan

CHANGE_KINDS: tuple[ChangeKind, ...] = ("add", "change", "remove", "meta")  # listing order
CHANGE_LABELS: dict[ChangeKind, str] = {
    "add": "added",
    "change": "changed",
    "remove": "removed",
    "meta": "metadata",
}
MARKS: dict[ChangeKind, str] = {"add": "+", "change": "~", "remove": "-", "meta": "m"}
UNREADABLE = "its contents here cannot be read: all of it is written anew"
AFTER_CREATE = {"running": "start it", "paused": "start and pause it"}

HostRelation = Literal["other portal", "no portal yet", "same portal", "no portal"]


# --------------------------------------------------------------------------- numbers


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def files_phrase(n: int) -> str:
    return f"{count(n)} file{'' if n == 1 else 's'}"


def size_phrase(s: Size | None, unknown: str = "…") -> str:
    """ "1.2 MB in 3 files"; `unknown` while this host's side is not measured yet."""
    if s is None:
        return unknown
    return f"{human_bytes(s.bytes)} in {files_phrase(s.files)}"


def short_id(portal_id: str | None) -> str:
    """A Portal's name: the first six characters of its ID."""
    return portal_id[:6] if portal_id else "?"


# --------------------------------------------------------------------------- the archive


def archive_source(plan: RestorePlan) -> str:
    """Whose archive it is: "Portal abcdef" or "host NAME"."""
    a = plan.archive
    if a.portal_id:
        return f"Portal {a.portal_name or short_id(a.portal_id)}"
    return f"host {a.host or '?'}"


def host_relation(plan: RestorePlan) -> HostRelation:
    """This host beside the Portal the archive was made of."""
    here, there = plan.current_portal_id, plan.archive.portal_id
    if here and there and here != there:
        return "other portal"
    if there and not here:
        return "no portal yet"
    return "same portal" if here else "no portal"


def identity_warning(here: str | None, there: str | None, restoring: str) -> str:
    """Why restoring `restoring` (the database, or core/db or core/identity) is dangerous."""
    return (
        f"This host is Portal {short_id(here)}; the archive's database holds the identity of "
        f"Portal {short_id(there)}. Restoring {restoring} makes this host Portal "
        f"{short_id(there)}."
    )


# --------------------------------------------------------------------------- a selection


def runnable(sel: RestoreSelection) -> list[ItemPlan]:
    """The selected items that can be restored (the others say why in sel.failing)."""
    return [i for i in sel.items if i.id not in sel.failing]


def selection_size(sel: RestoreSelection) -> Size:
    """What the restorable items of `sel` write."""
    targets = [t for i in runnable(sel) for t in sel.targets[i.id]]
    return Size(
        sum(t.size_archive.bytes for t in targets), sum(t.size_archive.files for t in targets)
    )


def refusals(sel: RestoreSelection) -> list[tuple[str, str]]:
    """What the trust model and the container policy keep out: (item ID, why)."""
    return [(item_id, why) for item_id, whys in sel.refused.items() for why in whys]


def target_where(t: TargetPlan) -> str:
    return f"volume {t.dest}" if t.kind == "volume" else t.dest


def target_verb(t: TargetPlan) -> str:
    if t.kind == "db":
        return "rewrite" if t.exists_now else "create"
    if t.kind == "volume":
        return "replace" if t.exists_now else "create and fill"
    return "replace" if t.exists_now else "create"


def target_line(t: TargetPlan) -> str:
    """ "replace /path (now 1 MB in 2 files; archive 3 MB in 4 files)"."""
    now = f"now {size_phrase(t.size_now)}; " if t.exists_now else ""
    return f"{target_verb(t)} {target_where(t)} ({now}archive {size_phrase(t.size_archive)})"


def create_line(c: ContainerPlan) -> str:
    """A container missing here, created from the manifest."""
    after = AFTER_CREATE.get(c.state_before, f"leave it created (it was {c.state_before})")
    return f"create container {c.name} from {c.image}, then {after}"


# --------------------------------------------------------------------------- a dry run


def diff_summary(d: TargetDiff) -> str:
    """ "would change: 2 added, 1 removed; 40 unchanged"."""
    counts = [f"{n} {CHANGE_LABELS[k]}" for k in CHANGE_KINDS if (n := d.count(k))]
    return f"would change: {', '.join(counts) or 'nothing'}; {count(d.unchanged)} unchanged"


def diff_changes(d: TargetDiff) -> list[PathChange]:
    """The changes in listing order: added, changed, removed, metadata; by path in each."""
    order = {k: n for n, k in enumerate(CHANGE_KINDS)}
    return sorted(d.changes, key=lambda c: (order[c.kind], c.path))


def change_path(d: TargetDiff, c: PathChange) -> str:
    """The changed path as listed: relative to the target ("." for a directory itself)."""
    return c.path or ("." if d.target.is_dir else os.path.basename(d.target.dest))


# --------------------------------------------------------------------------- the result


def written_line(r: RestoreFinished) -> str:
    """ "1.2 MB in 3 files written in 4s (300 kB/s)"."""
    rate = r.bytes / r.seconds if r.seconds > 0 else 0.0
    return (
        f"{size_phrase(Size(r.bytes, r.files))} written in {duration(r.seconds)} "
        f"({human_bytes(rate)}/s)"
    )
