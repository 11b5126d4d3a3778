"""What the explorer's preview pane shows for an entry. Plain Python; runs in a worker.

Only the first part of an entry is read (PREVIEW_BYTES), so a 4 GB video previews as fast as a
README. JSON small enough to read whole is pretty-printed; text gets a lexer picked from its
name; anything else is a hex dump. PEM private keys are masked: the screen may be shared or
recorded, and the explorer is for looking, not for copying keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

PREVIEW_BYTES = 64 * 1024
JSON_WHOLE_LIMIT = 2 * 1024 * 1024  # JSON up to this size is read whole and pretty-printed
HEX_BYTES = 2048
MAX_LINES = 2000

PreviewKind = Literal["text", "binary", "empty", "error"]

_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL
)
_PEM_KEY_ESCAPED = re.compile(  # the same key inside a JSON string, newlines escaped
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=])*?-----END \1PRIVATE KEY-----"
)
_KEY_MASK = "«private key hidden»"


@dataclass(frozen=True)
class Preview:
    kind: PreviewKind
    text: str
    lexer: str | None = None
    truncated: bool = False  # only the first part is shown
    masked: bool = False  # private keys were hidden


def wants_whole(name: str, size: int) -> bool:
    """Whether the caller should read the entry whole (small JSON) rather than its head."""
    return name.lower().endswith(".json") and size <= JSON_WHOLE_LIMIT


def make_preview(name: str, data: bytes, size: int) -> Preview:
    """A preview of entry `name` (`size` bytes in all) from `data`, its first bytes."""
    if size == 0:
        return Preview("empty", "(empty file)")
    truncated = len(data) < size
    if looks_binary(data):
        return Preview(
            "binary", hexdump(data[:HEX_BYTES]), truncated=truncated or len(data) > HEX_BYTES
        )
    text = data.decode("utf-8", errors="replace")
    lexer = lexer_for(name)
    if not truncated and (lexer == "json" or text.lstrip()[:1] in ("{", "[")):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            lexer = "json"
        except ValueError:
            pass
    text, masked = mask_private_keys(text)
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        text, truncated = "\n".join(lines[:MAX_LINES]), True
    return Preview("text", text, lexer, truncated, masked)


def looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is still text.
        if err.start < len(head) - 3:
            return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(head) // 20


def hexdump(data: bytes, offset: int = 0) -> str:
    lines = []
    for pos in range(0, len(data), 16):
        chunk = data[pos : pos + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset + pos:08x}  {hexes:<47}  {text}")
    return "\n".join(lines)


def mask_private_keys(text: str) -> tuple[str, bool]:
    masked, n1 = _PEM_KEY.subn(_KEY_MASK, text)
    masked, n2 = _PEM_KEY_ESCAPED.subn(_KEY_MASK, masked)
    return masked, bool(n1 or n2)


def lexer_for(name: str) -> str | None:
    """A Pygments lexer alias for a file name, or None for plain text."""
    base = name.rsplit("/", 1)[-1].lower()
    special = {"dockerfile": "docker", "makefile": "make", "sha256sums": None, "readme.txt": None}
    if base in special:
        return special[base]
    try:
        from pygments.lexers import get_lexer_for_filename
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments comes with rich
        return None
    try:
        lexer = get_lexer_for_filename(base)
    except ClassNotFound:
        return None
    return lexer.aliases[0] if lexer.aliases else None
