"""Which archives a retention policy keeps: `restic forget`'s bucket semantics on archive names.

Each rule (last, hourly, daily, weekly, monthly, yearly) walks the archives newest first and
keeps the newest archive of each of its N most recent buckets that hold an archive (for "last",
every archive is its own bucket). When the walk reaches the oldest archive and the rule still
has a count left, that oldest archive is kept too (restic >= 0.17: it keeps the history as long
as the policy allows). An archive kept by several rules lists every reason. Buckets are UTC,
the time in the archive's name (restic uses local time; names are UTC, and a host's time zone
can change); weeks are ISO weeks (Monday to Sunday, numbered in their ISO year).

Differential archives (issue 14) need their base: a kept differential keeps its base, whatever
the rules say. A base none of whose kept differentials needs it is removed like any archive,
so a chain is kept or removed whole. See docs/retention.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol, TypeVar

from tui.core.dest.backups import ARCHIVE_NAME

NOT_KEPT = "not kept by any rule"


class Archive(Protocol):
    """What retention reads of a backup (BackupInfo has it)."""

    @property
    def name(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def base(self) -> str | None: ...


A = TypeVar("A", bound=Archive)


@dataclass(frozen=True)
class KeepPolicy:
    """How many buckets of each kind to keep (0: the rule is off)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"keep {f.name} must be a whole number of 0 or more, not {value!r}"
                )

    def empty(self) -> bool:
        return all(getattr(self, f.name) == 0 for f in fields(self))

    @classmethod
    def from_mapping(cls, keep: Mapping[str, int]) -> KeepPolicy:
        """From a config's `keep = { daily = 7, weekly = 4 }`."""
        known = [f.name for f in fields(cls)]
        for key in keep:
            if key not in known:
                raise ValueError(f"unknown retention rule {key!r}: use {', '.join(known)}")
        return cls(**dict(keep))


@dataclass(frozen=True)
class Decision:
    name: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...]  # the rules that keep it, or (NOT_KEPT,)


# A rule's bucket of an archive time, written as it reads in a reason (and compared as such).
_BUCKETS: dict[str, Callable[[datetime], str]] = {
    "hourly": lambda t: t.strftime("%Y-%m-%d %H:00"),
    "daily": lambda t: t.strftime("%Y-%m-%d"),
    "weekly": lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2]),
    "monthly": lambda t: t.strftime("%Y-%m"),
    "yearly": lambda t: t.strftime("%Y"),
}


def _sequence(name: str) -> int:
    """Two runs within one second are named "...-HHMMSS", "...-HHMMSS-2", "-3"..."""
    m = ARCHIVE_NAME.match(name)
    return int(m["n"][1:]) if m and m["n"] else 1


def newest_first(archives: Sequence[A]) -> list[A]:
    return sorted(archives, key=lambda a: (a.time, _sequence(a.name), a.name), reverse=True)


def rule_keeps(archives: Sequence[Archive], rule: str, count: int) -> dict[str, str]:
    """The archives one rule keeps: {name: reason}. `archives` is newest first."""
    kept: dict[str, str] = {}
    previous: str | None = None
    for nr, archive in enumerate(archives):
        if count == 0:
            break
        bucket = f"#{nr + 1}" if rule == "last" else _BUCKETS[rule](archive.time)
        if bucket != previous:
            kept[archive.name] = f"{rule} {bucket}"
        elif nr == len(archives) - 1:
            kept[archive.name] = f"oldest {rule} {bucket}"
        else:
            continue
        previous = bucket
        count -= 1
    return kept


def decide(
    backups: Sequence[Archive], policy: KeepPolicy, *, protect: Mapping[str, str] | None = None
) -> list[Decision]:
    """Keep or remove each archive, oldest first. `protect` ({name: reason}) keeps archives
    whatever the rules say (prune's newest good backup). An empty policy keeps everything (as
    restic does; prune refuses it before it gets here)."""
    archives = newest_first(backups)
    reasons: dict[str, list[str]] = {a.name: [] for a in archives}
    if policy.empty():
        for a in archives:
            reasons[a.name].append("empty policy keeps everything")
    for f in fields(policy):
        for name, reason in rule_keeps(archives, f.name, getattr(policy, f.name)).items():
            reasons[name].append(reason)
    for name, reason in (protect or {}).items():
        if name in reasons:
            reasons[name].append(reason)
    _keep_bases(archives, reasons)
    return [
        Decision(
            name=a.name,
            time=a.time,
            keep=bool(reasons[a.name]),
            reasons=tuple(reasons[a.name]) or (NOT_KEPT,),
        )
        for a in reversed(archives)
    ]


def _keep_bases(archives: Sequence[Archive], reasons: dict[str, list[str]]) -> None:
    """A kept differential keeps its base. A base is always a full archive (its name, built
    from the differential's, has no "-since-"), so one step is the whole chain."""
    for a in archives:
        if reasons[a.name] and a.base is not None and a.base in reasons:
            reasons[a.base].append(f"base of {a.name}")
