"""A few lines about a backup from its manifest, for the explorer's header. No Textual here."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from tui.core.model import MANIFEST_NAME


def manifest_summary(doc: dict[str, Any] | None, problem: str | None = None) -> Text:
    if doc is None:
        reason = problem or f"no {MANIFEST_NAME}"
        return Text(
            f"Not a portal-backup archive ({reason}): showing its contents only.", style="dim"
        )
    portal = doc.get("portal") if isinstance(doc.get("portal"), dict) else None
    who = (
        f"Portal {portal.get('name')} (id {str(portal.get('id'))[:16]}…)"
        if portal and portal.get("id")
        else "a Docker host without a Portal"
    )
    created = str(doc.get("created", "?"))
    if len(created) == 20 and created.endswith("Z"):  # 2026-03-01T12:00:00Z
        created = f"{created[:10]} {created[11:16]} UTC"
    quiesce = {"stop": "apps stopped", "pause": "apps paused", "none": "apps live"}.get(
        str(doc.get("quiesce")), f"quiesce {doc.get('quiesce', '?')}"
    )
    line1 = Text.assemble(
        ("Backup of ", "bold"), who, f" · made {created} on {doc.get('host', '?')} · {quiesce}"
    )
    if doc.get("identity_included"):
        line1.append(" · holds the private key", style="bold yellow")
    elif doc.get("db_private_keys_removed"):
        line1.append(" · private keys removed")
    apps = []
    for item in doc.get("items") or []:
        if not isinstance(item, dict) or item.get("kind") != "app":
            continue
        conts = []
        for c in item.get("containers") or []:
            if not isinstance(c, dict):
                continue
            how = c.get("quiesced")
            after = f"→{how}" if how in ("stopped", "paused") else ""
            conts.append(f"{c.get('name')} {c.get('state_before')}{after}")
        apps.append(
            f"{item.get('label')} ({', '.join(conts)})" if conts else str(item.get("label"))
        )
    line2 = Text.assemble(("Apps: ", "bold"), "; ".join(apps) if apps else "none")
    return Text("\n").join([line1, line2])
