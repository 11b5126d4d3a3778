"""retention.decide: restic forget's bucket rules on archive names, and whole differential chains.

The hand-written cases spell out the expected keep sets (and reasons) for timestamps on hour,
day, ISO-week, month and year boundaries; the properties hold for any timeline hypothesis finds.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.dest.backups import BackupInfo
from tui.core.dest.retention import NOT_KEPT, Decision, KeepPolicy, decide

WHO = "abc123"


def archive(stamp: str, since: str | None = None) -> BackupInfo:
    """The archive named after `stamp` (YYYYMMDD-HHMMSS[-N]), a differential when `since`."""
    name = f"portal-backup-{WHO}-{stamp}" + (f"-since-{since}" if since else "") + ".zip"
    base = f"portal-backup-{WHO}-{since}.zip" if since else None
    time = datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return BackupInfo(
        name=name,
        time=time,
        size=1,
        encrypted=False,
        portal_id=WHO,
        verified=True,
        base=base,
    )


def kept(archives: Sequence[BackupInfo], policy: KeepPolicy) -> dict[str, tuple[str, ...]]:
    """{stamp part of the name: reasons} of the archives kept."""
    prefix = f"portal-backup-{WHO}-"
    return {
        d.name.removeprefix(prefix).removesuffix(".zip"): d.reasons
        for d in decide(archives, policy)
        if d.keep
    }


def timeline(*stamps: str) -> list[BackupInfo]:
    return [archive(s) for s in stamps]


# --------------------------------------------------------------------------- by hand


def test_year_boundary_one_second_apart() -> None:
    archives = timeline("20261231-235959", "20270101-000000")
    assert kept(archives, KeepPolicy(hourly=2, daily=2, monthly=2, yearly=2)) == {
        "20270101-000000": (
            "hourly 2027-01-01 00:00",
            "daily 2027-01-01",
            "monthly 2027-01",
            "yearly 2027",
        ),
        "20261231-235959": (
            "hourly 2026-12-31 23:00",
            "daily 2026-12-31",
            "monthly 2026-12",
            "yearly 2026",
        ),
    }
    assert kept(archives, KeepPolicy(yearly=1)) == {"20270101-000000": ("yearly 2027",)}
    # 2026-12-31 (Thursday) and 2027-01-01 (Friday) are both in ISO week 53 of 2026.
    assert kept(archives, KeepPolicy(weekly=1)) == {"20270101-000000": ("weekly 2026-W53",)}
    # A count left when the walk reaches the oldest archive keeps it too (restic >= 0.17).
    assert kept(archives, KeepPolicy(weekly=2)) == {
        "20270101-000000": ("weekly 2026-W53",),
        "20261231-235959": ("oldest weekly 2026-W53",),
    }


def test_sunday_and_monday_are_different_iso_weeks() -> None:
    archives = timeline(
        "20261129-120000",  # Sunday, 2026-W48
        "20261130-120000",  # Monday, 2026-W49
        "20261206-230000",  # Sunday, 2026-W49
        "20261207-010000",  # Monday, 2026-W50
        "20261207-020000",  # Monday, 2026-W50
    )
    assert kept(archives, KeepPolicy(weekly=2)) == {
        "20261207-020000": ("weekly 2026-W50",),
        "20261206-230000": ("weekly 2026-W49",),
    }
    assert kept(archives, KeepPolicy(weekly=3)) == {
        "20261207-020000": ("weekly 2026-W50",),
        "20261206-230000": ("weekly 2026-W49",),
        "20261129-120000": ("weekly 2026-W48",),
    }
    assert kept(archives, KeepPolicy(daily=2)) == {
        "20261207-020000": ("daily 2026-12-07",),
        "20261206-230000": ("daily 2026-12-06",),
    }


def test_two_archives_per_hour() -> None:
    archives = timeline(
        "20261205-095959",
        "20261205-100500",
        "20261205-105500",
        "20261205-111000",
        "20261205-115900",
        "20261205-120000",
    )
    assert kept(archives, KeepPolicy(hourly=3)) == {
        "20261205-120000": ("hourly 2026-12-05 12:00",),
        "20261205-115900": ("hourly 2026-12-05 11:00",),
        "20261205-105500": ("hourly 2026-12-05 10:00",),
    }
    assert kept(archives, KeepPolicy(hourly=9)) == {
        "20261205-120000": ("hourly 2026-12-05 12:00",),
        "20261205-115900": ("hourly 2026-12-05 11:00",),
        "20261205-105500": ("hourly 2026-12-05 10:00",),
        "20261205-095959": ("hourly 2026-12-05 09:00",),
    }
    assert kept(archives, KeepPolicy(last=2, hourly=1)) == {
        "20261205-120000": ("last #1", "hourly 2026-12-05 12:00"),
        "20261205-115900": ("last #2",),
    }
    # Three left of one hour: the oldest of the last bucket is kept while counts remain.
    assert kept(archives[1:4], KeepPolicy(hourly=3)) == {
        "20261205-111000": ("hourly 2026-12-05 11:00",),
        "20261205-105500": ("hourly 2026-12-05 10:00",),
        "20261205-100500": ("oldest hourly 2026-12-05 10:00",),
    }


def test_month_boundaries_and_same_second_runs() -> None:
    archives = timeline(
        "20260131-235959",
        "20260201-000000",
        "20260228-120000",
        "20260301-000000",
        "20260301-000000-2",  # a second run within the same second: the newer one
    )
    assert kept(archives, KeepPolicy(monthly=2)) == {
        "20260301-000000-2": ("monthly 2026-03",),
        "20260228-120000": ("monthly 2026-02",),
    }
    assert kept(archives, KeepPolicy(last=1, monthly=4)) == {
        "20260301-000000-2": ("last #1", "monthly 2026-03"),
        "20260228-120000": ("monthly 2026-02",),
        "20260131-235959": ("monthly 2026-01",),
    }


def test_docs_worked_example() -> None:
    """The table in docs/retention.md."""
    archives = timeline(
        "20261124-030000",
        "20261126-030000",
        "20261129-030000",
        "20261130-030000",
        "20261202-030000",
        "20261203-030000",
        "20261204-030000",
        "20261205-030000",
        "20261205-143000",
        "20261206-030000",
    )
    assert kept(archives, KeepPolicy(daily=3, weekly=2)) == {
        "20261206-030000": ("daily 2026-12-06", "weekly 2026-W49"),
        "20261205-143000": ("daily 2026-12-05",),
        "20261204-030000": ("daily 2026-12-04",),
        "20261129-030000": ("weekly 2026-W48",),
    }


def test_differential_chains_are_kept_or_removed_whole() -> None:
    archives = [
        archive("20261201-030000"),  # full A
        archive("20261202-030000", since="20261201-030000"),
        archive("20261203-030000", since="20261201-030000"),
        archive("20261204-030000"),  # full B
        archive("20261205-030000", since="20261204-030000"),
        archive("20261206-030000", since="20261204-030000"),
    ]
    decisions = decide(archives, KeepPolicy(daily=2))
    assert [(d.name[21:36], d.keep, d.reasons) for d in decisions] == [
        ("20261201-030000", False, (NOT_KEPT,)),
        ("20261202-030000", False, (NOT_KEPT,)),
        ("20261203-030000", False, (NOT_KEPT,)),
        (
            "20261204-030000",
            True,
            (
                "base of portal-backup-abc123-20261206-030000-since-20261204-030000.zip",
                "base of portal-backup-abc123-20261205-030000-since-20261204-030000.zip",
            ),
        ),
        ("20261205-030000", True, ("daily 2026-12-05",)),
        ("20261206-030000", True, ("daily 2026-12-06",)),
    ]
    # A kept differential of full A keeps A; A's other differential still goes.
    base_of = "base of portal-backup-abc123-"
    assert kept(archives, KeepPolicy(last=1, daily=4, yearly=1)) == {
        "20261206-030000-since-20261204-030000": ("last #1", "daily 2026-12-06", "yearly 2026"),
        "20261205-030000-since-20261204-030000": ("daily 2026-12-05",),
        "20261204-030000": (
            "daily 2026-12-04",
            f"{base_of}20261206-030000-since-20261204-030000.zip",
            f"{base_of}20261205-030000-since-20261204-030000.zip",
        ),
        "20261203-030000-since-20261201-030000": ("daily 2026-12-03",),
        "20261201-030000": (f"{base_of}20261203-030000-since-20261201-030000.zip",),
    }


def test_policy_from_mapping_and_its_errors() -> None:
    assert KeepPolicy.from_mapping({"daily": 7, "weekly": 4}) == KeepPolicy(daily=7, weekly=4)
    assert KeepPolicy().empty() and not KeepPolicy(yearly=1).empty()
    with pytest.raises(ValueError, match="unknown retention rule 'dayly'"):
        KeepPolicy.from_mapping({"dayly": 7})
    with pytest.raises(ValueError, match="keep weekly must be a whole number of 0 or more"):
        KeepPolicy.from_mapping({"weekly": -1})
    with pytest.raises(ValueError, match="keep daily"):
        KeepPolicy.from_mapping({"daily": True})


def test_empty_policy_keeps_everything() -> None:
    decisions = decide(timeline("20261205-030000", "20261206-030000"), KeepPolicy())
    assert all(d.keep for d in decisions)


# --------------------------------------------------------------------------- properties

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
START = datetime(2024, 12, 28, tzinfo=UTC)  # a few days before a year and ISO-week boundary


def bucket_of(rule: str, t: datetime) -> Hashable:
    """Written independently of retention.py (tuples, not labels)."""
    if rule == "hourly":
        return (t.date(), t.hour)
    if rule == "daily":
        return t.date()
    if rule == "weekly":
        return t.isocalendar()[:2]
    if rule == "monthly":
        return (t.year, t.month)
    return t.year


@st.composite
def timelines(draw: st.DrawFn) -> list[BackupInfo]:
    # Hours from a few short ranges, so buckets hold several archives and runs cross the
    # boundaries of days, weeks, months and years.
    spans = st.sampled_from([24, 24 * 10, 24 * 90, 24 * 800])
    count = draw(st.integers(1, 25))
    span = draw(spans)
    offsets = draw(
        st.lists(st.integers(0, span * 3600 - 1), min_size=count, max_size=count, unique=True)
    )
    out: list[BackupInfo] = []
    fulls: list[str] = []
    for off in sorted(offsets):
        stamp = (START + timedelta(seconds=off)).strftime("%Y%m%d-%H%M%S")
        since = draw(st.sampled_from([None, *fulls[-3:]])) if fulls else None
        out.append(archive(stamp, since))
        if since is None:
            fulls.append(stamp)
    return out


policies = st.builds(KeepPolicy, **{r: st.integers(0, 4) for r in RULES})
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def by_name(decisions: Sequence[Decision]) -> dict[str, Decision]:
    return {d.name: d for d in decisions}


def rule_reasons(d: Decision, rule: str) -> list[str]:
    return [r for r in d.reasons if r.startswith((f"{rule} ", f"oldest {rule} "))]


@PROPS
@given(timelines(), policies)
def test_each_rule_keeps_at_most_its_count_of_buckets(
    archives: list[BackupInfo], policy: KeepPolicy
) -> None:
    decisions = decide(archives, policy)
    for rule in RULES:
        mine = [d for d in decisions if rule_reasons(d, rule)]
        assert len(mine) <= getattr(policy, rule)
        if rule != "last":
            assert len({bucket_of(rule, d.time) for d in mine}) <= getattr(policy, rule)


@PROPS
@given(timelines(), policies)
def test_each_rule_keeps_the_newest_of_its_most_recent_buckets(
    archives: list[BackupInfo], policy: KeepPolicy
) -> None:
    decisions = by_name(decide(archives, policy))
    newest = sorted(archives, key=lambda a: a.time, reverse=True)
    for rule in RULES:
        firsts: dict[Hashable, BackupInfo] = {}
        for a in newest:
            firsts.setdefault(a.name if rule == "last" else bucket_of(rule, a.time), a)
        for a in list(firsts.values())[: getattr(policy, rule)]:
            assert rule_reasons(decisions[a.name], rule), (rule, a.name)


@PROPS
@given(timelines(), policies)
def test_newest_is_kept_and_kept_set_covers_each_rule_alone(
    archives: list[BackupInfo], policy: KeepPolicy
) -> None:
    decisions = by_name(decide(archives, policy))
    if not policy.empty():
        assert decisions[max(archives, key=lambda a: a.time).name].keep
    kept_all = {n for n, d in decisions.items() if d.keep}
    for rule in RULES:
        alone = KeepPolicy(**{rule: getattr(policy, rule)})
        if not alone.empty():
            assert {d.name for d in decide(archives, alone) if d.keep} <= kept_all


@PROPS
@given(timelines(), policies)
def test_chains_never_broken_and_nothing_kept_without_a_reason(
    archives: list[BackupInfo], policy: KeepPolicy
) -> None:
    decisions = by_name(decide(archives, policy))
    assert [d.name for d in decide(archives, policy)] == [a.name for a in archives]
    for a in archives:
        d = decisions[a.name]
        needed_by_kept = any(b.base == a.name and decisions[b.name].keep for b in archives)
        by_rule = any(rule_reasons(d, rule) for rule in RULES)
        if policy.empty():
            continue
        # Kept exactly when a rule keeps it or a kept differential needs it.
        assert d.keep == (by_rule or needed_by_kept)
        assert d.reasons == ((NOT_KEPT,) if not d.keep else d.reasons)
        if d.keep and a.base is not None:
            assert decisions[a.base].keep, f"{a.name} kept without its base {a.base}"
