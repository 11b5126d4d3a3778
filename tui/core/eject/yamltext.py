"""Writing YAML by hand: quoted scalars both Docker Compose versions read back exactly.

The compose file is written line by line (so it can carry comments saying what was removed and
why); every scalar goes through `scalar`, which writes a double-quoted YAML string. JSON's
escapes are a subset of YAML's, so JSON text is a valid double-quoted scalar once the
characters YAML refuses raw (DEL, C1 controls, lone surrogates, U+FFFE/U+FFFF) are escaped too.
Compose substitutes `$VAR` in every value, so a literal `$` is written `$$`.
"""

from __future__ import annotations

import json

__all__ = ["comment", "scalar"]


def _printable(ch: str) -> bool:
    """Written raw: what YAML reads as itself (neither refused nor a line break)."""
    code = ord(ch)
    return (
        ch in "\t\n\r"
        or 0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))  # YAML 1.1 line breaks
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def scalar(value: str | int | bool, *, interpolate: bool = True) -> str:
    """`value` as a double-quoted YAML scalar; `$` doubled when Compose would interpolate it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = value.replace("$", "$$") if interpolate else value
    out = json.dumps(text, ensure_ascii=False)
    if all(_printable(ch) for ch in out):
        return out
    return "".join(ch if _printable(ch) else f"\\u{ord(ch):04x}" for ch in out)


def comment(text: str, indent: int = 0) -> list[str]:
    """`text` as YAML comment lines (a newline in it cannot end the comment early)."""
    pad = " " * indent
    clean = "".join(ch if _printable(ch) else "?" for ch in text)
    return [f"{pad}# {line}".rstrip() for line in clean.splitlines() or [""]]
