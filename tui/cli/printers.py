"""Turning progress events into terminal output for the CLI (plain, live line, or JSON)."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from tui.core.events import Event, Finished, ItemState, Log, Progress, event_to_json
from tui.core.humanfmt import duration, human_bytes


class _SafeWriter:
    """Writes that survive a closed terminal (SIGHUP): the backup must go on or stop cleanly."""

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
    def __init__(self) -> None:
        self.out = _SafeWriter(sys.stdout)

    def __call__(self, event: Event) -> None:
        self.out.write(json.dumps(event_to_json(event)) + "\n")


class PlainPrinter:
    """One line per notable event and a progress line every few seconds (logs, cron, pipes)."""

    def __init__(self, interval: float = 5.0) -> None:
        self.out = _SafeWriter(sys.stderr)
        self.interval = interval
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self.out.write(progress_line(event) + "\n")
        elif isinstance(event, ItemState) and event.state in ("copying", "done", "failed"):
            self.out.write(f"{event.item}: {event.state}\n")
        elif isinstance(event, Log) and event.level != "info":
            self.out.write(f"{event.level}: {event.message}\n")
        elif isinstance(event, Finished):
            self.out.write(finished_line(event) + "\n")


class LivePrinter(PlainPrinter):
    """A single self-updating line on a terminal."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.out.write("\r\x1b[K" + progress_line(event)[:200])
            return
        self.out.write("\r\x1b[K")
        super().__call__(event)


def progress_line(p: Progress) -> str:
    pct = 100.0 * p.bytes_done / p.bytes_total if p.bytes_total else 0.0
    eta = f", ETA {duration(p.eta)}" if p.eta is not None else ""
    return (
        f"{pct:5.1f}%  {human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}, "
        f"{p.files_done}/{p.files_total} files, {human_bytes(p.rate)}/s{eta}"
        f"  {p.item or ''}"
    )


def finished_line(f: Finished) -> str:
    rate = f.bytes_in / f.seconds if f.seconds else 0.0
    line = (
        f"done: {human_bytes(f.bytes)} archive from {human_bytes(f.bytes_in)} in "
        f"{f.files} files, {duration(f.seconds)} ({human_bytes(rate)}/s)"
    )
    if f.holds_identity:
        line += "\nthis archive holds the Portal's private key: keep it private"
    return line


def make_printer(kind: str) -> object:
    if kind == "json":
        return JsonPrinter()
    if kind == "none":
        return lambda _e: None
    if kind == "plain" or not sys.stderr.isatty():
        return PlainPrinter()
    return LivePrinter()
