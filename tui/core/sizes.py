"""Sizes of items: a du-like walk (lstat only, no reads), done after the list is shown."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from tui.core.model import Inventory, Size, Source


def scan_size(path: str, cancel: threading.Event | None = None) -> Size:
    """Bytes of regular files and the count of entries, never following symlinks."""
    total = files = 0
    try:
        st = os.lstat(path)
    except OSError:
        return Size(0, 0)
    if not os.path.isdir(path) or os.path.islink(path):
        return Size(st.st_size, 1)
    stack = [path]
    while stack:
        if cancel is not None and cancel.is_set():
            break
        top = stack.pop()
        try:
            it = os.scandir(top)
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                        files += 1
                    else:
                        files += 1
                except OSError:
                    continue
    return Size(total, files)


def volume_size(
    source: Source, inventory: Inventory, client: Any | None, cache: dict[str, Size]
) -> Size | None:
    vol = inventory.volumes.get(source.location)
    if vol and vol.mountpoint and os.access(vol.mountpoint, os.R_OK | os.X_OK):
        return scan_size(vol.mountpoint)
    if client is None:
        return None
    if not cache:  # one `docker system df` call answers for every volume
        try:
            for v in client.df().get("Volumes") or []:
                usage = v.get("UsageData") or {}
                if usage.get("Size", -1) >= 0:
                    cache[v["Name"]] = Size(usage["Size"], 0)
        except Exception:
            return None
    return cache.get(source.location)


def compute_sizes(
    inventory: Inventory,
    client: Any | None = None,
    on_size: Callable[[str, Size], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Fill item.size for every item, calling on_size as each becomes known.

    Each distinct source is walked once, even when several items (an app and its mounts) share it.
    """
    known: dict[tuple[str, str], Size | None] = {}
    df_cache: dict[str, Size] = {}
    for item in inventory.items:
        if cancel is not None and cancel.is_set():
            return
        total = Size(0, 0)
        for src in item.sources:
            key = (src.kind, src.location)
            if key not in known:
                known[key] = (
                    scan_size(src.location, cancel)
                    if src.kind == "path"
                    else volume_size(src, inventory, client, df_cache)
                )
            size = known[key]
            if size is not None:
                total = Size(total.bytes + size.bytes, total.files + size.files)
        item.size = total
        if on_size is not None:
            on_size(item.id, total)
