"""The CLI's one printer seam: a run's events as text lines, plain progress, or JSON lines.

`make_printer(kind, lines)` gives the EventSink that `create` and `restore` hand to the engine.
Progress is printed here the same way for both (a self-updating line on a terminal, else a line
every few seconds, always on stderr); what each other event says is the command's `lines`
(backup_lines here, tui/cli/restore.py's RestoreLines), so stdout carries only what the command
promises there.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Literal, TextIO

from tui.core.events import (
    Event,
    EventSink,
    Finished,
    ItemState,
    Log,
    Progress,
    Upload,
    event_to_json,
    ignore_events,
)
from tui.core.humanfmt import duration, human_bytes

Stream = Literal["out", "err"]
# The words of one event: (stream, line) pairs; none for what the command does not print.
EventLines = Callable[[Event], list[tuple[Stream, str]]]
LIVE_WIDTH = 200  # the live progress line is cut here
PLAIN_INTERVAL = 5.0  # seconds between progress lines when not on a terminal


class _SafeWriter:
    """Writes that survive a closed terminal (SIGHUP): the run must go on or stop cleanly."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True


class JsonPrinter:
    """Every event as one JSON object per line on stdout (`--progress json`, `--json`), or on
    stderr when stdout carries the archive (`-o -`)."""

    def __init__(self, stream: Stream = "out") -> None:
        self.out = _SafeWriter(sys.stdout if stream == "out" else sys.stderr)

    def __call__(self, event: Event) -> None:
        self.out.write(json.dumps(event_to_json(event)) + "\n")


class TextPrinter:
    """`lines` for each event; progress on stderr, live on a terminal or every `interval`
    seconds otherwise. With `quiet_start` the first progress line waits `interval` and a
    known total, so short runs print none."""

    def __init__(
        self,
        lines: EventLines,
        *,
        live: bool,
        interval: float = PLAIN_INTERVAL,
        quiet_start: bool = False,
    ) -> None:
        self.lines = lines
        self.live = live
        self.interval = interval
        self.quiet_start = quiet_start
        self.out = _SafeWriter(sys.stdout)
        self.err = _SafeWriter(sys.stderr)
        self._last = time.monotonic() if quiet_start else float("-inf")
        self._dirty = False  # the live line is on screen: cleared before any other line
        self._sent: Upload | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._progress(event)
            return
        if isinstance(event, Upload):
            self._sent = event  # shown on the next progress line
            return
        for stream, text in self.lines(event):
            if self._dirty:
                self.err.write("\r\x1b[K")
                self._dirty = False
            (self.out if stream == "out" else self.err).write(text + "\n")

    def _progress(self, p: Progress) -> None:
        line = progress_line(p) + (upload_note(self._sent) if self._sent else "")
        if self.live:
            self.err.write("\r\x1b[K" + line[:LIVE_WIDTH])
            self._dirty = True
            return
        now = time.monotonic()
        if now - self._last >= self.interval and (p.bytes_total or not self.quiet_start):
            self._last = now
            self.err.write(line + "\n")


def backup_lines(event: Event) -> list[tuple[Stream, str]]:
    """What `create` says besides progress, all on stderr (stdout ends with the path)."""
    if isinstance(event, ItemState) and event.state in ("copying", "done", "failed"):
        return [("err", f"{event.item}: {event.state}")]
    if isinstance(event, Log) and event.level != "info":
        return [("err", f"{event.level}: {event.message}")]
    if isinstance(event, Finished):
        return [("err", finished_line(event))]
    return []


def make_printer(
    kind: str,
    lines: EventLines = backup_lines,
    *,
    quiet_start: bool = False,
    stream: Stream = "out",
) -> EventSink:
    """The printer for `--progress KIND`: auto (live on a terminal), plain, json or none.
    `stream` is where JSON events go (text lines already keep stdout for results)."""
    if kind == "json":
        return JsonPrinter(stream)
    if kind == "none":
        return ignore_events
    live = kind == "auto" and sys.stderr.isatty()
    return TextPrinter(lines, live=live, quiet_start=quiet_start)


def progress_line(p: Progress) -> str:
    pct = 100.0 * p.bytes_done / p.bytes_total if p.bytes_total else 0.0
    eta = f", ETA {duration(p.eta)}" if p.eta is not None else ""
    return (
        f"{pct:5.1f}%  {human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}, "
        f"{p.files_done}/{p.files_total} files, {human_bytes(p.rate)}/s{eta}"
        f"  {p.item or ''}"
    )


def upload_note(u: Upload) -> str:
    return f"; sent {human_bytes(u.bytes_sent)} to {u.destination} at {human_bytes(u.rate)}/s"


def finished_line(f: Finished) -> str:
    rate = f.bytes_in / f.seconds if f.seconds else 0.0
    line = (
        f"done: {human_bytes(f.bytes)} archive from {human_bytes(f.bytes_in)} in "
        f"{f.files} files, {duration(f.seconds)} ({human_bytes(rate)}/s)"
    )
    if f.destination is not None:
        checked = "size and SHA-256 read back" if f.verified else "size"
        line += f"\nuploaded to {f.destination} as {f.name} ({checked} checked)"
    if f.holds_identity:
        line += "\nthis archive holds the Portal's private key: keep it private"
    return line
