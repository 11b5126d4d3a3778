"""Human-readable sizes and durations, shared by the CLI and the UI."""

from __future__ import annotations

import humanize


def human_bytes(n: float | None) -> str:
    if n is None:
        return "…"
    return humanize.naturalsize(n, binary=False, format="%.1f")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
