"""The fastest standard deflate this machine has, and the store-or-deflate decision.

ISA-L (PyPI `isal`) deflates about ten times faster than zlib at a similar ratio and releases
the GIL, so worker threads compress in parallel. Without it we fall back to zlib.
"""

from __future__ import annotations

import types
import zlib
from collections.abc import Callable
from typing import Any, cast

_fast: types.ModuleType  # isal_zlib or zlib: the same API
try:  # pragma: no cover - depends on the platform's wheels
    from isal import isal_zlib as _fast

    BACKEND = "isal"
    DEFAULT_LEVEL = 2  # ISA-L level 2: within 5 % of zlib -6 in size, ~20 % faster than 3
    MAX_LEVEL = 3
except ImportError:  # pragma: no cover
    _fast = zlib
    BACKEND = "zlib"
    DEFAULT_LEVEL = 6
    MAX_LEVEL = 9

crc32: Callable[[bytes | bytearray | memoryview, int], int] = _fast.crc32

WINDOW = 32 * 1024
# A final, empty fixed-Huffman block: closes a stream whose pieces all ended in a sync flush.
FINAL_EMPTY_BLOCK = b"\x03\x00"

# Formats that are already compressed: deflating them burns CPU for nothing.
COMPRESSED_SUFFIXES = frozenset(
    """
    jpg jpeg png gif webp heic heif avif jxl mp4 m4v mov mkv webm avi wmv flv 3gp mp3 m4a
    aac ogg oga opus flac wma zip gz tgz bz2 tbz xz txz zst lz4 lzma 7z rar cab jar war apk
    ipa deb rpm docx xlsx pptx odt ods odp epub woff woff2 br dmg iso squashfs
    """.split()  # noqa: SIM905 - a word list reads better than a list literal
)


def _compressobj(level: int, zdict: bytes | None) -> Any:
    if zdict:
        return _fast.compressobj(level, zlib.DEFLATED, -15, zdict=zdict)
    return _fast.compressobj(level, zlib.DEFLATED, -15)


def deflate_all(data: bytes | memoryview, level: int) -> bytes:
    """One complete raw deflate stream."""
    c = _compressobj(level, None)
    return cast(bytes, c.compress(data) + c.flush(zlib.Z_FINISH))


def deflate_piece(data: bytes | memoryview, level: int, zdict: bytes | None) -> bytes:
    """A byte-aligned, non-final piece of a deflate stream (pigz-style parallel pieces).

    Primed with the previous 32 KiB, so matches reach back into the previous piece; the sync
    flush ends it on a byte boundary, so pieces concatenate into one ordinary stream.
    """
    c = _compressobj(level, zdict)
    return cast(bytes, c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))


def suffix_is_compressed(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot + 1 :].lower() in COMPRESSED_SUFFIXES


def looks_compressible(sample: bytes) -> bool:
    """A quick trial on the first block: store data that deflate cannot shrink by 3 %."""
    if len(sample) < 256:
        return True
    c = _compressobj(1 if BACKEND == "zlib" else 0, None)
    out = len(c.compress(sample)) + len(c.flush(zlib.Z_FINISH))
    return out < len(sample) * 0.97
