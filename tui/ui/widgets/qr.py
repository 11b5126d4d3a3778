"""A QR code drawn with half blocks: two modules per character cell, so a 29-module code takes
31 columns and 16 lines (quiet zone included) and fits an 80x24 terminal.

The colours are explicit (black on white), not the theme's: a phone's camera needs dark
modules on a light background whatever the terminal's colours are.
"""

from __future__ import annotations

import segno
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from textual.widgets import Static

DARK, LIGHT = "black", "white"
QUIET = 1  # modules of border: enough for phone scanners, and it saves screen lines


def qr_rows(text: str) -> list[list[bool]]:
    """The code's modules (True = dark), quiet zone included. The smallest version that
    holds `text` with error correction L; age secret keys are upper case, so they use the
    compact alphanumeric mode."""
    code = segno.make(text, error="l", boost_error=False, micro=False)
    return [[bool(m) for m in row] for row in code.matrix_iter(scale=1, border=QUIET)]


class QRCode:
    """A Rich renderable: each character holds two rows of modules (upper half block)."""

    def __init__(self, text: str) -> None:
        self.rows = qr_rows(text)

    @property
    def size(self) -> tuple[int, int]:
        """(columns, lines) on screen."""
        return len(self.rows[0]), (len(self.rows) + 1) // 2

    def lines(self) -> list[list[Segment]]:
        rows = self.rows + ([[False] * len(self.rows[0])] if len(self.rows) % 2 else [])
        out = []
        for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
            out.append(
                [
                    Segment("▀", Style(color=DARK if t else LIGHT, bgcolor=DARK if b else LIGHT))
                    for t, b in zip(top, bottom, strict=True)
                ]
            )
        return out

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.size[0], self.size[0])  # exactly its width, never stretched

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines():
            yield from line
            yield Segment.line()


class QRWidget(Static):
    """The QR code of `text`, sized to it."""

    DEFAULT_CSS = """
    QRWidget {
        width: auto;
        height: auto;
    }
    """

    def __init__(self, text: str, **kwargs: object) -> None:
        self.code = QRCode(text)
        super().__init__(self.code, **kwargs)  # type: ignore[arg-type]  # Static's own kwargs
