"""A few lines about a backup from its manifest, for the explorer's header. No Textual here."""

from __future__ import annotations

from rich.text import Text

from tui.core.archive.manifest_model import Manifest
from tui.core.model import MANIFEST_NAME


def manifest_summary(doc: Manifest | None, problem: str | None = None) -> Text:
    if doc is None:
        reason = problem or f"no {MANIFEST_NAME}"
        return Text(
            f"Not a portal-backup archive ({reason}): showing its contents only.", style="dim"
        )
    portal = doc.portal
    who = (
        f"Portal {portal.name} (id {portal.id[:16]}…)"
        if portal is not None and portal.id
        else "a Docker host without a Portal"
    )
    created = doc.created or "?"
    if len(created) == 20 and created.endswith("Z"):  # 2026-03-01T12:00:00Z
        created = f"{created[:10]} {created[11:16]} UTC"
    quiesce = {"stop": "apps stopped", "pause": "apps paused", "none": "apps live"}.get(
        str(doc.quiesce), f"quiesce {doc.quiesce or '?'}"
    )
    line1 = Text.assemble(
        ("Backup of ", "bold"), who, f" · made {created} on {doc.host or '?'} · {quiesce}"
    )
    if doc.identity_included:
        line1.append(" · holds the private key", style="bold yellow")
    elif doc.db_private_keys_removed:
        line1.append(" · private keys removed")
    apps = []
    for item in doc.items:
        if item.kind != "app":
            continue
        conts = []
        for c in item.containers or ():
            after = f"→{c.quiesced}" if c.quiesced in ("stopped", "paused") else ""
            conts.append(f"{c.name} {c.state_before}{after}")
        apps.append(f"{item.label} ({', '.join(conts)})" if conts else item.label)
    line2 = Text.assemble(("Apps: ", "bold"), "; ".join(apps) if apps else "none")
    return Text("\n").join([line1, line2])
