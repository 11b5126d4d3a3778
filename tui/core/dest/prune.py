"""Retention at a destination: decide with retention.decide, then delete what it removes.

Only this Portal's archives are considered (names that parse, with its <who>); the newest of
them, and the newest verified one, are never removed; an empty policy is refused. A delete that
fails does not stop the others, and no base is deleted while a differential that needs it is
still there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tui.core.dest.backups import BackupInfo, list_backups, parse_archive_name
from tui.core.dest.retention import Decision, KeepPolicy, decide, newest_first
from tui.core.dest.store import Store
from tui.core.errors import PortalBackupError, UsageError, error_sentence

NEWEST = "newest"
NEWEST_VERIFIED = "newest verified"


class PruneError(PortalBackupError):
    """Some deletions failed; the others went ahead. str() is one sentence."""

    def __init__(self, decisions: list[Decision], failures: dict[str, str]) -> None:
        first = next(iter(failures.values()))  # the store's sentence names archive and place
        more = len(failures) - 1
        super().__init__(first + (f" (and {more} more deletions failed)" if more else ""))
        self.decisions = decisions
        self.failures = failures  # {name: sentence}


def require_policy(policy: KeepPolicy) -> None:
    if policy.empty():
        raise UsageError(
            "a retention policy that keeps nothing would delete every archive: give at least "
            "one --keep-* rule above 0 (for example --keep-daily 7)"
        )


def this_portal_id(portal_root: str) -> str:
    """The <who> this host writes into archive names, read without Docker."""
    from tui.core.inventory import load_inventory
    from tui.core.naming import archive_who

    return archive_who(load_inventory(portal_root, use_docker=False))


def prune(store: Store, policy: KeepPolicy, *, portal_id: str, dry_run: bool) -> list[Decision]:
    """Decide (oldest first) and, unless dry_run, delete the archives removed. PruneError when
    a deletion failed (after trying all of them)."""
    require_policy(policy)
    backups = [b for b in list_backups(store) if b.portal_id == portal_id]
    decisions = decide(backups, policy, protect=_protected(backups))
    if dry_run:
        return decisions
    failures: dict[str, str] = {}
    # Newest first: differentials go before their base, so a failure can spare the base.
    for i in reversed(range(len(decisions))):
        d = decisions[i]
        if d.keep:
            continue
        stuck = [b.name for b in backups if b.base == d.name and b.name in failures]
        if stuck:
            decisions[i] = replace(d, keep=True, reasons=(f"base of {stuck[0]} (not deleted)",))
            continue
        try:
            store.delete(d.name)
        except PortalBackupError as exc:
            failures[d.name] = error_sentence(exc)
    if failures:
        raise PruneError(decisions, failures)
    return decisions


def _protected(backups: Sequence[BackupInfo]) -> dict[str, str]:
    """The newest archive, and the newest one this host uploaded and verified."""
    if not backups:
        return {}
    newest = newest_first(backups)[0]
    protect = {newest.name: NEWEST}
    verified = newest_first([b for b in backups if b.verified])
    if verified and verified[0].name != newest.name:
        protect[verified[0].name] = NEWEST_VERIFIED
    return protect


def in_chains(decisions: Sequence[Decision]) -> list[tuple[Decision, str | None]]:
    """(decision, its base's name or None) with each differential right after its base (the
    bases oldest first, each one's differentials oldest first), as `prune` shows chains
    (issue 14). A differential whose base is not among them stays at its own time."""
    names = {d.name for d in decisions}
    children: dict[str, list[Decision]] = {}
    top: list[tuple[Decision, str | None]] = []
    for d in decisions:
        parsed = parse_archive_name(d.name)
        base = parsed[2] if parsed is not None else None
        if base is not None and base in names:
            children.setdefault(base, []).append(d)
        else:
            top.append((d, base))
    out: list[tuple[Decision, str | None]] = []
    for d, base in top:
        out.append((d, base))
        out += [(x, d.name) for x in children.get(d.name, [])]
    return out
