"""Signals during a run: the commands that change things install these before they start."""

from __future__ import annotations

import signal
import threading
from typing import Any


def install_cancel_signals(cancel: threading.Event) -> None:
    """SIGINT, SIGTERM and SIGHUP become a clean cancel: containers resumed, no half archive."""

    def handler(signum: int, _frame: Any) -> None:
        cancel.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
