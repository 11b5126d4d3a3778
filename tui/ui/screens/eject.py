""" "Run elsewhere": one app of the open archive as a Docker Compose folder, and the commands
that copy it to another machine and start it there. The explorer asks for the folder and runs
`eject_app` in a worker; the result is shown in a message dialog."""

from __future__ import annotations

import os

from tui.core.archive.manifest_model import Manifest
from tui.core.archive.zipreader import ZipReader
from tui.core.eject.describe import describe_plan
from tui.core.eject.plan import app_ids, plan_eject
from tui.core.eject.readme import move_commands
from tui.core.eject.run import check_archive, write_app
from tui.core.humanfmt import human_bytes

__all__ = ["app_at", "eject_app"]


def app_at(manifest: Manifest | None, name: str | None) -> str | None:
    """The app an archive path belongs to (its state folder or one of its volumes); the only
    app when there is one."""
    if manifest is None:
        return None
    apps = app_ids(manifest)
    for app_id in apps if name else ():
        item = manifest.item(app_id)
        if item is not None and any(name and name.startswith(p) for p in item.paths):
            return app_id
    return apps[0] if len(apps) == 1 else None


def eject_app(reader: ZipReader, manifest: Manifest, app_id: str, out_dir: str, source: str) -> str:
    """Writes the app's folder; the words the dialog shows (PortalBackupError if it fails)."""
    plan = plan_eject(manifest, [app_id])[0]
    check_archive(reader)
    result = write_app(reader, manifest, plan, out_dir, source)
    lines = [
        f"Wrote {result.folder}/ ({result.files} files, {human_bytes(result.bytes)}).",
        "",
        "Start it here:",
        f"  cd {result.folder} && sudo docker compose up -d",
        "",
        "Or copy it to another machine and start it there:",
        *(f"  {c}" for c in move_commands(plan.app, os.path.dirname(result.folder))),
        "",
        *describe_plan(plan, os.path.dirname(result.folder))[1:],
        *result.warnings,
        "",
        "Its README.md says which port to open and what changed from the Portal.",
    ]
    return "\n".join(lines)
