"""Helpers for the TUI's Pilot and snapshot tests (no pytest-asyncio: each test runs its own
event loop with asyncio.run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual.pilot import Pilot

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 60.0,
                   what: str = "a condition") -> None:
    """Let the app run until `predicate()` holds: a condition, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.02)
