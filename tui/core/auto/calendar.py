"""Schedules in systemd's OnCalendar syntax: checking them, their next times, and cron lines.

`systemd-analyze calendar` is the authority when it is installed (it is on nearly every Linux,
also where systemd is not the init); a small built-in check stands in where it is not.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from datetime import UTC, datetime

_SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
}
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbers 0..6
_WEEKDAY_TOKEN = re.compile(r"^[A-Za-z]{3,9}(?:(?:\.\.|,)[A-Za-z]{3,9})*$")
_DATE_TOKEN = re.compile(r"^(?:[0-9*]+-)?[0-9*,./~]+-[0-9*,./~]+$")
_TIME_TOKEN = re.compile(r"^[0-9*,./]+:[0-9*,./]+(?::[0-9*,./]+)?$")
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)")
_FIELD_MAX = {"minute": 59, "hour": 23, "day": 31, "month": 12}


def _analyze(expr: str, iterations: int = 1) -> str | None:
    """`systemd-analyze calendar`'s report on EXPR, None when the tool is not installed;
    ValueError when systemd does not accept EXPR."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        return None
    done = subprocess.run(
        [tool, "calendar", f"--iterations={iterations}", "--", expr.strip()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise _not_calendar(expr)
    return done.stdout


def _not_calendar(expr: str) -> ValueError:
    return ValueError(f"{expr.strip()!r} is not a systemd OnCalendar expression")


def check_calendar(expr: str) -> None:
    """ValueError (one sentence) when EXPR is not an OnCalendar expression."""
    if _analyze(expr) is None and not _builtin_ok(expr.strip()):
        raise _not_calendar(expr)


def _builtin_ok(expr: str) -> bool:
    """A loose structural check: [weekdays] [date] [time] or a shorthand such as "daily"."""
    if expr.lower() in _SHORTHANDS:
        return True
    tokens = expr.split()
    if not tokens or len(tokens) > 3:
        return False
    if _WEEKDAY_TOKEN.match(tokens[0]):
        days = re.split(r"\.\.|,", tokens[0].lower())
        if not all(d[:3] in _WEEKDAYS for d in days):
            return False
        tokens = tokens[1:]
    if tokens and _DATE_TOKEN.match(tokens[0]):
        tokens = tokens[1:]
    if tokens and _TIME_TOKEN.match(tokens[0]):
        tokens = tokens[1:]
    return not tokens


def next_times(expr: str, count: int = 3) -> list[datetime]:
    """The next COUNT times EXPR elapses (UTC), or [] when systemd-analyze is not installed."""
    report = _analyze(expr, count)
    if report is None:
        return []
    times: list[datetime] = []
    for line in report.splitlines():
        match = _STAMP.search(line)
        if not match:
            continue
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        if "(in UTC)" in line:
            times[-1] = when  # the local time on the line before, in UTC
        else:
            times.append(when)  # UTC already, or followed by its "(in UTC)" line
    return times


def longest_gap(expr: str) -> float | None:
    """The longest time between two runs over the next eight (seconds), or None unknown."""
    times = next_times(expr, 8)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    return max(gaps) if gaps else None


def normalized(expr: str) -> str:
    """systemd's normalized form when systemd-analyze is there, else the shorthands expanded."""
    expr = expr.strip()
    for line in (_analyze(expr) or "").splitlines():
        if line.strip().startswith("Normalized form:"):
            return line.split(":", 1)[1].strip()
    return _SHORTHANDS.get(expr.lower(), expr)


def to_cron(expr: str) -> str:
    """The five cron fields for EXPR; ValueError (one sentence) when cron cannot express it."""
    norm = normalized(expr)
    if norm.lower() in _SHORTHANDS:
        norm = _SHORTHANDS[norm.lower()]
    tokens = norm.split()
    weekdays = "*"
    if tokens and _WEEKDAY_TOKEN.match(tokens[0]):
        weekdays = _cron_weekdays(tokens.pop(0), expr)
    date = tokens.pop(0) if len(tokens) == 2 else "*-*-*"
    time = tokens[0] if len(tokens) == 1 else ""
    date_parts = date.split("-")
    time_parts = time.split(":")
    if len(date_parts) == 2:
        date_parts.insert(0, "*")
    if len(time_parts) == 2:
        time_parts.append("00")
    if (
        len(date_parts) != 3
        or len(time_parts) != 3
        or date_parts[0] != "*"
        or time_parts[2] not in ("0", "00")
    ):
        raise _no_cron(expr)
    _year, month, day = date_parts
    hour, minute, _ = time_parts
    return " ".join(
        [
            _cron_field(minute, "minute", expr),
            _cron_field(hour, "hour", expr),
            _cron_field(day, "day", expr),
            _cron_field(month, "month", expr),
            weekdays,
        ]
    )


def _no_cron(expr: str) -> ValueError:
    return ValueError(
        f"the schedule {expr!r} cannot be written as a cron line (cron has no seconds, years "
        "or time zones); use a daily, weekly or every-N-hours schedule on this host"
    )


def _cron_field(text: str, kind: str, expr: str) -> str:
    parts = []
    for part in text.split(","):
        step = ""
        if "/" in part:
            part, every = part.split("/", 1)
            if not every.isdigit():
                raise _no_cron(expr)
            step = f"/{int(every)}"
            if part != "*" and ".." not in part:
                part = f"{part}..{_FIELD_MAX[kind]}"
        if part == "*":
            parts.append("*" + step)
            continue
        bounds = part.split("..")
        if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
            raise _no_cron(expr)
        parts.append("-".join(str(int(b)) for b in bounds) + step)
    return ",".join(parts)


def _cron_weekdays(token: str, expr: str) -> str:
    """systemd's weeks run Mon..Sun; cron numbers Sunday 0, so a range ending on Sunday splits
    (Fri..Sun is 5-6,0: every cron reads that, not all read 7)."""
    out = []
    for part in token.lower().split(","):
        names = part.split("..")
        if len(names) > 2 or not all(n[:3] in _WEEKDAYS for n in names):
            raise _no_cron(expr)
        days = [_WEEKDAYS.index(n[:3]) or 7 for n in names]  # Mon 1 .. Sun 7
        if days != sorted(days):  # systemd refuses Sun..Mon too
            raise _no_cron(expr)
        first, last = days[0], days[-1]
        if last < 7:
            out.append(f"{first}-{last}" if first != last else str(first))
        elif first < 7:
            out += [f"{first}-6" if first < 6 else "6", "0"]
        else:
            out.append("0")
    return ",".join(out)
