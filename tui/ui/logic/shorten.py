"""Fitting labels into a width by cutting their middle: paths and names differ at their end
(`…/app_data/x/user_data_1` vs `…/user_data_2`), so the end always stays."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

ELLIPSIS = "…"


def _cut(text: str, width: int) -> tuple[int, int] | None:
    """Where to cut `text` so `head…tail` fits `width` cells: (end of head, start of tail),
    or None when it fits already. The tail gets two thirds: that is where names differ."""
    if cell_len(text) <= width:
        return None
    room = max(0, width - 1)
    head_room = room // 3
    tail_room = room - head_room
    head = used = 0
    while head < len(text) and used + cell_len(text[head]) <= head_room:
        used += cell_len(text[head])
        head += 1
    tail = len(text)
    used = 0
    while tail > head and used + cell_len(text[tail - 1]) <= tail_room:
        used += cell_len(text[tail - 1])
        tail -= 1
    return head, tail


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells (at least the ellipsis), cut in the middle."""
    cut = _cut(text, width)
    if cut is None:
        return text
    head, tail = cut
    return text[:head] + ELLIPSIS + text[tail:]


def shorten_middle_text(text: Text, width: int, keep: int = 0) -> Text:
    """The same for styled text; the first `keep` characters (a checkbox) are never cut."""
    fixed, rest = text[:keep], text[keep:]
    cut = _cut(rest.plain, width - fixed.cell_len)
    if cut is None:
        return text.copy()
    head, tail = cut
    return Text.assemble(fixed, rest[:head], ELLIPSIS, rest[tail:])
