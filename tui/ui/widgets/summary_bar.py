"""The home screen's summary: what is selected, what it costs, where it goes, how."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.core.humanfmt import count, duration, human_bytes
from tui.ui.logic.encryption import Encryption
from tui.ui.logic.selection import Totals
from tui.ui.logic.shorten import shorten_middle

QUIESCE_WORDS = {
    "stop": "stop apps while copying",
    "pause": "pause apps while copying",
    "none": "copy live (apps keep running)",
}


class SummaryBar(Static):
    """Four short lines: what, where and how, encryption, and the identity (a warning when the
    private key goes into an unencrypted archive)."""

    def show_totals(
        self,
        totals: Totals,
        destination: str,
        quiesce: str,
        identity: bool,
        db_without_keys: bool,
        encryption: Encryption | None = None,
    ) -> None:
        encryption = encryption or Encryption()
        size = f"{human_bytes(totals.bytes)} in {count(totals.files)} files"
        if totals.pending_sources:
            size += " (counting…)"
        line1 = Text.assemble(("Selected ", "bold"), f"{totals.items} items, {size}")
        if totals.apps_quiesced and quiesce != "none":
            verb = "stopped" if quiesce == "stop" else "paused"
            line1.append(
                f" · {totals.apps_quiesced} apps {verb}, "
                f"~{duration(totals.downtime_estimate)} in all"
            )
        line2 = Text.assemble(
            ("To ", "bold"),
            shorten_middle(destination, 40),
            "  ",
            ("Mode ", "bold"),
            QUIESCE_WORDS.get(quiesce, quiesce),
        )
        # Reads as a sentence: "Archive encrypted to 2 age keys", "Archive not encrypted".
        line3 = Text.assemble(("Archive ", "bold"), encryption.summary())
        if encryption.encrypted:
            line3.append(" → NAME.zip.age · e: change")
        else:
            line3.append(" · e: encrypt it")
        lines = [line1, line2, line3]
        if identity and not encryption.encrypted:
            lines.append(
                Text(
                    "⚠ Holds the Portal's private key: keep the archive private · i: leave it out",
                    style="bold",
                )
            )
            self.set_class(True, "-identity")
        elif identity:
            lines.append(Text("Holds the Portal's private key, encrypted · i: leave it out"))
            self.set_class(False, "-identity")
        else:
            note = (
                "Identity left out: the database is stored without private keys."
                if db_without_keys
                else "Identity left out."
            )
            lines.append(Text(note + " i: include it"))
            self.set_class(False, "-identity")
        self.update(Text("\n").join(lines))
