"""Hand events from a worker thread to the UI in batches, a few times a second.

A backup emits many events (progress, item states, one log line per skipped file); posting a
Textual message for each would flood the UI's queue and, over SSH, the link. The batcher keeps
them in a list and delivers that list from its own timer thread at most `hz` times a second, so
events that arrive just before a long pause (a container taking 30 s to stop) still show at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Collects items from any thread; `deliver` gets them as a list from the timer thread."""

    def __init__(
        self,
        deliver: Callable[[list[T]], object],
        hz: float = 5.0,
        compact: Callable[[list[T]], list[T]] | None = None,
    ) -> None:
        self._deliver = deliver
        self._interval = 1.0 / hz
        self._compact = compact
        self._items: list[T] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ui-batcher", daemon=True)
        self._thread.start()

    def push(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    __call__ = push  # usable directly as an EventSink

    def flush(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        if items:
            self._deliver(self._compact(items) if self._compact else items)

    def close(self) -> None:
        """Stop the timer and deliver whatever is left (from the calling thread)."""
        self._stop.set()
        self._thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
