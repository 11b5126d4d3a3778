"""Labels cut in the middle (issue 11 item 4): the distinctive end of a path stays."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from tui.ui.logic.shorten import shorten_middle, shorten_middle_text

SIBLINGS = (
    "bind /srv/portal/user_data/app_data/nextcloud/user_data_1",
    "bind /srv/portal/user_data/app_data/nextcloud/user_data_2",
)


def test_sibling_paths_stay_different_and_keep_their_end() -> None:
    short = [shorten_middle(p, 30) for p in SIBLINGS]
    assert short[0] != short[1]
    assert short[0].startswith("bind /srv") and short[0].endswith("cloud/user_data_1")
    assert "…" in short[0] and cell_len(short[0]) == 30


def test_what_fits_is_left_alone() -> None:
    assert shorten_middle("bind config", 30) == "bind config"
    assert shorten_middle("", 0) == ""


def test_wide_characters_count_as_two_cells() -> None:
    short = shorten_middle("写真/アルバム/二〇二三年/夏休み", 12)
    assert cell_len(short) <= 12 and short.endswith("休み")


def test_styled_text_keeps_its_checkbox_and_styles() -> None:
    label = Text.assemble("[x] ", (SIBLINGS[0], "bold"))
    short = shorten_middle_text(label, 24, keep=4)
    assert short.plain.startswith("[x] bind") and short.plain.endswith("user_data_1")
    assert short.cell_len == 24
    assert any(span.style == "bold" for span in short.spans)


@given(st.text(max_size=80), st.integers(min_value=1, max_value=100))
def test_never_wider_than_asked_and_never_changed_when_it_fits(text: str, width: int) -> None:
    short = shorten_middle(text, width)
    if cell_len(text) <= width:
        assert short == text
    else:
        assert cell_len(short) <= width and "…" in short
        head, _, tail = short.partition("…")
        assert text.startswith(head) and text.endswith(tail)
        assert cell_len(tail) >= cell_len(head) - 1  # the end is what tells names apart
