"""Progress events: the only thing a running backup, verify or restore tells its caller.

Each event is a small dataclass with a `type` tag; `event_to_json` gives the one-line JSON form
that `--progress json` prints. Producers throttle `Progress` to a few per second (Throttle),
so neither a terminal over SSH nor the TUI's message queue is flooded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ItemPhase = Literal[
    "waiting", "stopping", "pausing", "copying", "restarting", "done", "failed", "cancelled"
]
LogLevel = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Progress:
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    item: str | None
    path: str | None
    rate: float  # bytes per second, smoothed
    eta: float | None  # seconds, None when unknown
    elapsed: float
    type: str = "progress"


@dataclass(frozen=True)
class ItemState:
    item: str
    state: ItemPhase
    detail: str | None = None
    type: str = "item"


@dataclass(frozen=True)
class Log:
    level: LogLevel
    message: str
    type: str = "log"


@dataclass(frozen=True)
class Finished:
    path: str
    bytes: int  # archive size
    bytes_in: int  # data read
    files: int
    seconds: float
    sha256: str
    holds_identity: bool
    downtime: dict[str, float] = field(default_factory=dict)  # app -> seconds stopped/paused
    destination: str | None = None  # a destination's label when streamed there (--to)
    name: str | None = None  # the archive's name at the destination
    verified: bool = False  # read back from the destination and its SHA-256 compared
    type: str = "finished"


@dataclass(frozen=True)
class Upload:
    """Bytes handed to a destination (stdout or --to) so far, throttled like Progress."""

    bytes_sent: int
    rate: float  # bytes per second, smoothed
    destination: str  # the destination's label, or "stdout"
    type: str = "upload"


@dataclass(frozen=True)
class RestoreFinished:
    """The last event of a restore (RestoreRun.run also returns it)."""

    archive: str
    done: list[str]
    failed: dict[str, str]  # item ID -> why
    bytes: int  # file bytes written
    files: int
    seconds: float
    kept: list[str] = field(default_factory=list)  # where previous data was kept
    created: list[str] = field(default_factory=list)  # containers created from the manifest
    warnings: list[str] = field(default_factory=list)
    type: str = "restore-finished"

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class RestoreRefused:
    """An item the trust model or the container policy kept out of a restore."""

    item: str
    reason: str
    type: str = "restore-refused"


Event = Progress | ItemState | Log | Finished | Upload | RestoreFinished | RestoreRefused
EventSink = Callable[[Event], None]


_LEVELS: dict[str, LogLevel] = {"info": "info", "warning": "warning", "error": "error"}


def log_level(level: str) -> LogLevel:
    """A level passed around as a plain str; anything unknown is an error."""
    return _LEVELS.get(level, "error")


def event_to_json(event: Event) -> dict[str, Any]:
    return asdict(event)


def ignore_events(_event: Event) -> None:
    """An EventSink that drops everything."""


class Throttle:
    """Lets a Progress through at most `hz` times a second (plus the first and forced ones)."""

    def __init__(self, hz: float = 8.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / hz
        self._clock = clock
        self._last = float("-inf")

    def ready(self, force: bool = False) -> bool:
        now = self._clock()
        if force or now - self._last >= self._interval:
            self._last = now
            return True
        return False


class RateMeter:
    """Exponentially smoothed throughput and ETA.

    No ETA before ETA_AFTER seconds and ETA_MIN_BYTES read: the first second's rate (opening
    files, starting containers) is far below the steady one and would promise hours.
    """

    ETA_AFTER = 3.0
    ETA_MIN_BYTES = 4 << 20

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.start = clock()
        self._last_t = self.start
        self._last_bytes = 0
        self.rate = 0.0

    def update(self, done: int) -> float:
        now = self._clock()
        dt = now - self._last_t
        if dt >= 0.25:
            inst = (done - self._last_bytes) / dt
            self.rate = inst if self.rate == 0.0 else 0.7 * self.rate + 0.3 * inst
            self._last_t, self._last_bytes = now, done
        return self.rate

    def eta(self, done: int, total: int) -> float | None:
        if self.rate <= 0 or total <= 0:
            return None
        if self.elapsed() < self.ETA_AFTER or done < min(self.ETA_MIN_BYTES, total):
            return None
        return max(0.0, (total - done) / self.rate)

    def elapsed(self) -> float:
        return self._clock() - self.start
