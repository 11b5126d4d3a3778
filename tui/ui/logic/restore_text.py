"""The Restore screens' layout and Rich styling of a restore's words (no Textual): the archive
line, an item's details, the summary, the dry run, the confirmation and the result. The words
themselves, shared with the CLI, are tui/core/restore/describe.py. Styles are ANSI colour
names, so 16-colour terminals show them as meant."""

from __future__ import annotations

import os

from rich.text import Text

from tui.core.events import RestoreFinished
from tui.core.humanfmt import count, human_bytes
from tui.core.restore.describe import (
    MARKS,
    UNREADABLE,
    archive_source,
    change_path,
    create_line,
    diff_changes,
    diff_summary,
    host_relation,
    plural,
    runnable,
    selection_size,
    short_id,
    size_phrase,
    target_line,
    written_line,
)
from tui.core.restore.describe import identity_warning as identity_sentence
from tui.core.restore.describe import refusals as refusal_pairs
from tui.core.restore.diff import ChangeKind, TargetDiff
from tui.core.restore.plan import ItemPlan, RestorePlan, RestoreSelection, StopPlan
from tui.ui.logic.restore_choice import IDENTITY_ITEMS, RestoreChoice, identity_differs

DIFF_LINES = 200  # changed paths listed per target in the dry run
MARK_STYLES: dict[ChangeKind, str] = {
    "add": "green",
    "change": "yellow",
    "remove": "red",
    "meta": "cyan",
}
STATUS_WORDS = {"present": "present", "missing": "missing", "partly present": "partly"}


def archive_line(plan: RestorePlan) -> Text:
    a = plan.archive
    made = (a.created or "?").replace("T", " ").rstrip("Z")[:16]  # to the minute
    text = Text.assemble(("From ", "bold"), f"{archive_source(plan)}, {made} · ")
    relation = host_relation(plan)
    if relation == "other portal":
        text.append(
            f"this host: another Portal ({short_id(plan.current_portal_id)})", style="bold yellow"
        )
    elif relation == "no portal yet":
        text.append("this host: no Portal yet")
    elif relation == "same portal":
        text.append("this host: the same Portal")
    else:
        text.append("no Portal on either side")
    text.append(f" · {plan.trust.short()}", style="" if plan.trust.trusted else "bold yellow")
    return text


def identity_warning(plan: RestorePlan) -> Text:
    here, there = plan.current_portal_id, plan.archive.portal_id
    restoring = " or ".join(IDENTITY_ITEMS)
    return Text(f"⚠ {identity_sentence(here, there, restoring)}", style="bold red")


def state_word(plan: RestorePlan, item: ItemPlan) -> tuple[str, str]:
    """The row's state column: (word, style)."""
    if item.id in IDENTITY_ITEMS and identity_differs(plan):
        return "OTHER ID", "bold red"
    word = STATUS_WORDS.get(item.status, item.status)
    return word, {"missing": "yellow", "partly": "yellow"}.get(word, "")


def effect_word(sel: RestoreSelection | None, item_id: str) -> tuple[str, str]:
    """The row's last column: what restoring it alone does to containers."""
    if sel is None or item_id not in sel.targets:
        return "", ""
    if item_id in sel.failing:
        return "cannot", "bold red"
    made, stops = len(sel.recreate[item_id]), len(sel.stops[item_id])
    if made:
        return f"creates {made}", "green"
    if stops:
        return f"stops {stops}", "yellow"
    return "", ""


def stop_line(stops: list[StopPlan]) -> str:
    names = ", ".join(f"{s.name} ({s.state})" for s in stops)
    return f"stop {names} while the data is swapped in, then start again"


def item_lines(sel: RestoreSelection, item_id: str) -> list[Text]:
    """What restoring this item does, one line each (the details pane and the dry run)."""
    if item_id in sel.failing:
        return [Text(f"✗ cannot be restored: {sel.failing[item_id]}", style="bold red")]
    lines = [Text(f"• {target_line(t)}") for t in sel.targets[item_id]]
    if sel.stops[item_id]:
        lines.append(Text(f"• {stop_line(sel.stops[item_id])}", style="yellow"))
    for c in sel.recreate[item_id]:
        lines.append(Text(f"• {create_line(c)}"))
    for why in sel.refused.get(item_id, []):
        lines.append(Text(f"✗ {why}", style="bold red"))
    for note in sel.notes[item_id]:
        lines.append(Text(f"note: {note}", style="dim"))
    return lines


def details(plan: RestorePlan, item: ItemPlan, sel: RestoreSelection | None, heading: str) -> Text:
    """The details pane: the item, its containers here and at backup time, then `heading`
    ("Ticked: restoring it will", ...) and what restoring it does, from `sel`."""
    word, style = state_word(plan, item)
    text = Text.assemble((item.id, "bold"), f"  {item.label} · ", (word, style))
    for c in item.containers:
        text.append(f"\n  {c.name}: ")
        text.append(
            "not on this host" if c.state_now is None else f"{c.state_now} here",
            style="dim" if c.state_now is None else "",
        )
        text.append(f", {c.state_before} at backup time", style="dim")
    text.append("\n")
    text.append(heading, style="bold")
    if sel is None or item.id not in sel.targets:
        text.append("\n…working it out", style="dim")
        return text
    for line in item_lines(sel, item.id):
        text.append("\n")
        text.append_text(line)
    if item.id in IDENTITY_ITEMS and identity_differs(plan):
        text.append("\n")
        text.append_text(identity_warning(plan))
    return text


def summary(choice: RestoreChoice, sel: RestoreSelection | None, keep_old: bool) -> Text:
    """At most three short lines: what is ticked and what it does, the identity warning, and
    what cannot be restored."""
    ids = choice.selected_ids()
    fate = "old data: kept aside (k)" if keep_old else "old data: deleted (k)"
    if not ids:
        return Text.assemble(
            ("Nothing ticked", "bold"),
            f" · space ticks a row, a all but the Portal's own files · {fate}",
        )
    if sel is None or [i.id for i in sel.items] != ids:
        return Text.assemble(
            ("Ticked ", "bold"),
            f"{plural(len(ids), 'item')} · working out what that restores… · {fate}",
        )
    size = selection_size(sel)
    ready = [i.id for i in runnable(sel)]
    stops = sorted({s.name for i in ready for s in sel.stops[i]})
    made = sum(len(sel.recreate[i]) for i in ready)
    text = Text.assemble(
        ("Ticked ", "bold"), f"{plural(len(ids), 'item')}, {human_bytes(size.bytes)} to write"
    )
    if stops:
        text.append(f" · stops {len(stops)}")
    if made:
        text.append(f" · creates {made}")
    text.append(f" · {fate}")
    if sel.identity_conflict:
        here, there = (short_id(p) for p in sel.identity_conflict)
        text.append(
            f"\n⚠ This host (Portal {here}) becomes Portal {there}: its identity is replaced",
            style="bold red",
        )
    if sel.failing:
        first = next(iter(sel.failing))
        text.append(
            f"\n✗ {len(sel.failing)} cannot be restored: {first}: {sel.failing[first]}",
            style="bold red",
        )
    refused = refusals(sel)
    if refused:
        text.append(f"\n✗ {len(refused)} refused: {refused[0]}", style="bold red")
    return text


def refusals(sel: RestoreSelection) -> list[str]:
    """What the trust model and the container policy keep out, as "item: why"."""
    return [f"{item_id}: {why}" for item_id, why in refusal_pairs(sel)]


def confirm_text(sel: RestoreSelection, keep_old: bool) -> Text:
    ready = runnable(sel)
    text = Text(
        f"{plural(len(ready), 'item')}, "
        f"{size_phrase(selection_size(sel))}, from {os.path.basename(sel.plan.archive.name)}:"
        f" {', '.join(i.id for i in ready[:6])}"
        f"{' …' if len(ready) > 6 else ''}.\n"
    )
    stops = sorted({s.name for i in ready for s in sel.stops[i.id]})
    if stops:
        text.append(
            f"Stopped while their data is swapped in, then started again: {', '.join(stops)}.\n"
        )
    made = [c.name for i in ready for c in sel.recreate[i.id]]
    if made:
        text.append(f"Created from the archive: {', '.join(made)}.\n")
    text.append(
        "Every entry is checked before anything is touched; if an item fails, its "
        "previous data is put back.\n"
    )
    text.append(
        "The data it replaces is kept aside."
        if keep_old
        else "The data it replaces is deleted once the apps run again.",
        style="bold",
    )
    if sel.failing:
        text.append(
            f"\n{len(sel.failing)} ticked item(s) cannot be restored and are skipped.",
            style="yellow",
        )
    for line in refusals(sel):
        text.append(f"\nRefused: {line}", style="yellow")
    return text


def identity_confirm_text(sel: RestoreSelection) -> Text:
    assert sel.identity_conflict is not None
    here, there = (short_id(p) for p in sel.identity_conflict)
    return Text.assemble(
        (
            f"This host is Portal {here}. The archive's database holds the identity of Portal "
            f"{there}.",
            "bold",
        ),
        f"\n\nRestoring it makes this host Portal {there}: other Portals and apps will take it "
        f"for that one, and Portal {here}'s own identity is replaced. Do this only when this "
        "host replaces that Portal.",
    )


# --------------------------------------------------------------------------- dry run


def diff_lines(d: TargetDiff, limit: int = DIFF_LINES) -> list[Text]:
    if not d.readable:
        return [Text(f"  {UNREADABLE}", style="dim")]
    lines = [Text(f"  {diff_summary(d)}", style="bold")]
    for c in diff_changes(d)[:limit]:
        line = Text.assemble("  ", (MARKS[c.kind], MARK_STYLES[c.kind]), f" {change_path(d, c)}")
        if c.detail:
            line.append(f"  ({c.detail})", style="dim")
        lines.append(line)
    if len(d.changes) > limit:
        lines.append(
            Text(
                f"  … and {count(len(d.changes) - limit)} more (the CLI's "
                "restore --dry-run --json lists them all)",
                style="dim",
            )
        )
    return lines


def dry_run_text(sel: RestoreSelection, diffs: dict[str, list[TargetDiff]]) -> Text:
    text = Text()
    for n, item in enumerate(sel.items):
        if n:
            text.append("\n\n")
        text.append(f"{item.id}", style="bold")
        text.append(f"  ({item.status})")
        if item.id in sel.failing:
            text.append(f"\n✗ cannot be restored: {sel.failing[item.id]}", style="bold red")
            continue
        for t, d in zip(sel.targets[item.id], diffs.get(item.id, []), strict=False):
            text.append(f"\n{target_line(t)}")
            for line in diff_lines(d):
                text.append("\n")
                text.append_text(line)
        rest = item_lines(sel, item.id)[len(sel.targets[item.id]) :]
        for line in rest:
            text.append("\n")
            text.append_text(line)
    if sel.identity_conflict:
        text.append("\n\n")
        text.append_text(identity_warning(sel.plan))
    text.append("\n\nDry run: nothing was changed.", style="bold")
    return text


# --------------------------------------------------------------------------- result


def result_text(r: RestoreFinished, keep_old: bool) -> Text:
    text = Text()
    if r.done:
        text.append(f"Restored {plural(len(r.done), 'item')}", style="bold green")
        text.append(f": {', '.join(r.done)}\n")
    else:
        text.append("Nothing was restored.\n", style="bold")
    text.append(f"{written_line(r)}\n")
    if r.failed:
        text.append(f"\nFailed {len(r.failed)}", style="bold red")
        text.append(" (each is as it was before: its previous data, its containers):")
        for item, why in r.failed.items():
            text.append(f"\n✗ {item}: ", style="bold red")
            text.append(why)
        text.append("\n")
    if r.kept:
        text.append("\nThe data replaced is kept at:", style="bold")
        for k in r.kept:
            text.append(f"\n  {k}")
        text.append("\n  (delete it once the restored apps work)\n", style="dim")
    elif r.done and keep_old:
        text.append(
            "\nNothing that existed here was replaced, so nothing was kept aside.\n", style="dim"
        )
    elif r.done:
        text.append("\nThe data replaced was deleted, as chosen.\n", style="dim")
    if r.created:
        text.append("\nContainers created from the archive: ", style="bold")
        text.append(", ".join(r.created) + "\n")
    for w in r.warnings:
        text.append(f"\n⚠ {w}", style="yellow")
    return text
