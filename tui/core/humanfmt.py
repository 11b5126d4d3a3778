"""Human-readable sizes and durations, shared by the CLI and the UI."""

from __future__ import annotations

import humanize


def human_bytes(n: float | None) -> str:
    if n is None:
        return "…"
    if abs(n) < 1000:  # "481 B": humanize's "481 Bytes" is too wide for a size column
        return f"{int(n)} B"
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


def count(n: int) -> str:
    """A file count in at most six characters: 999, 12,345, 123.4k, 12.3M."""
    if n < 100_000:
        return f"{n:,}"
    if n < 10_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"
