"""The demo Portal's automatic backups, for pictures: a job config with two destinations (a USB
disk that is fine, an S3 remote whose uploads failed the last two nights, so it is overdue), a
history of nightly runs, the job's age identity and a tool rclone config with three remotes.

Everything is fixed and made up: the times are counted back from the demo's NOW, the age key
comes from a fixed seed (it encrypts nothing real), the remotes hold no secrets. `write_demo_job`
writes the files where the tool reads them; the caller points PORTAL_BACKUP_CONFIG,
PORTAL_BACKUP_STATE_DIR and RCLONE_CONFIG at them (`demo_environ`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.crypto.recipients import X25519Identity
from tui.ui.demo.portal import NOW, PORTAL_ID

if TYPE_CHECKING:
    from tui.ui.logic.automatic import NewIdentity

HOUR = 3600.0
DAY = 24 * HOUR
WHO = PORTAL_ID[:6]

# The job's age identity: a fixed seed, so its QR code never changes.
IDENTITY = X25519Identity(bytes(range(100, 132)))
RECIPIENT = str(IDENTITY.recipient())
IDENTITY_CREATED = "2026-02-10T09:30:00Z"


@dataclass(frozen=True)
class DemoDestination:
    name: str
    target: str  # a Dest spec (the remotes below: no secrets in it)
    keep: dict[str, int]
    size: int  # bytes of each nightly archive there
    failed_nights: int  # the newest nights whose upload failed


USB = DemoDestination("usb", "/mnt/backup-disk", {"daily": 7, "weekly": 4}, 48_213_504, 0)
OFFSITE = DemoDestination(
    "offsite", "wasabi:annas-portal", {"daily": 7, "weekly": 4, "monthly": 12}, 48_239_616, 2
)
DESTINATIONS = (USB, OFFSITE)
NIGHTS = 8  # runs per destination in the history
OFFSITE_ERROR = "wasabi:annas-portal did not answer: i/o timeout"
SCHEDULE = "*-*-* 03:00:00"
NEXT_RUN = NOW + 15 * HOUR  # NOW is 12:00 UTC: the next 03:00
LAST_NIGHT = NOW - 9 * HOUR  # 03:00 UTC on the demo's day

# The tool's rclone config: the remotes the destination dialog lists (`rclone listremotes`).
RCLONE_CONF = """\
[b2-archive]
type = b2
account = 0000demo0000

[storagebox]
type = sftp
host = u123456.your-storagebox.de
user = u123456
port = 23

[wasabi]
type = s3
provider = Wasabi
endpoint = s3.eu-central-2.wasabisys.com
access_key_id = DEMOACCESSKEY00000000
"""

CONFIG = f"""\
# portal-backup's automatic backups (the demo Portal's job).
items = ["all"]
exclude = ["app/jellyfin"]            # films are on the NAS already
quiesce = "stop"
recipients = ["{RECIPIENT}"]
schedule = "{SCHEDULE}"
randomized_delay = "1h"
overdue_after = "36h"
identity_saved_off_host = true

[[destinations]]
name = "{USB.name}"
target = "{USB.target}"
keep = {{ daily = 7, weekly = 4 }}

[[destinations]]
name = "{OFFSITE.name}"
target = "{OFFSITE.target}"
keep = {{ daily = 7, weekly = 4, monthly = 12 }}

[notify]
urls = []
on = ["failure", "overdue"]
"""


def archive_name(started: float) -> str:
    from datetime import UTC, datetime

    return f"portal-backup-{WHO}-{datetime.fromtimestamp(started, UTC):%Y%m%d-%H%M%S}.zip.age"


def demo_runs() -> list[dict[str, object]]:
    """The history, oldest first: each night one run to both destinations (USB first)."""
    runs: list[dict[str, object]] = []
    for night in range(NIGHTS - 1, -1, -1):
        started = LAST_NIGHT - night * DAY + 38 * 60 + 13 * night  # the timer's random delay
        for n, dest in enumerate(DESTINATIONS):
            begin = started + n * 140
            failed = night < dest.failed_nights
            took = 31.0 if failed else 96.0 + 2 * n + night % 3
            runs.append(
                {
                    "started": begin,
                    "ended": begin + took,
                    "result": "failed" if failed else "ok",
                    "destination": dest.name,
                    "target": dest.target,
                    "kind": "full",
                    "archive": None if failed else archive_name(started),
                    "items": ["all"],
                    "bytes_in": 0 if failed else 61_865_984,
                    "bytes_out": 0 if failed else dest.size + 4096 * (night % 5),
                    "duration": took,
                    "downtime": {} if failed else {"immich": 41.5, "nextcloud": 12.0},
                    "error": OFFSITE_ERROR if failed else None,
                    "verified": not failed,
                    "run": f"demo-{night}",
                }
            )
    return runs


def identity_file_text() -> str:
    """As age-keygen (and the Automatic backups screen) writes it."""
    return f"# created: {IDENTITY_CREATED}\n# public key: {RECIPIENT}\n{IDENTITY}\n"


def write_demo_job(config_dir: Path, state_dir: Path) -> None:
    """The config (0600), its identity file and rclone config beside it, and the history."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in (
        ("config.toml", CONFIG),
        ("age-identity.txt", identity_file_text()),
        ("rclone.conf", RCLONE_CONF),
    ):
        path = config_dir / name
        path.write_text(text)
        path.chmod(0o600)
    lines = "".join(json.dumps(run, sort_keys=True) + "\n" for run in demo_runs())
    (state_dir / "history.jsonl").write_text(lines)


def demo_environ(config_dir: Path, state_dir: Path) -> dict[str, str]:
    """Where the tool then finds the demo job."""
    return {
        "PORTAL_BACKUP_CONFIG": str(config_dir / "config.toml"),
        "PORTAL_BACKUP_STATE_DIR": str(state_dir),
        "RCLONE_CONFIG": str(config_dir / "rclone.conf"),
    }


def demo_identity() -> NewIdentity:
    """The job's identity as the Automatic backups screen shows it, where root's job keeps it."""
    from tui.ui.logic.automatic import NewIdentity

    return NewIdentity(Path("/etc/portal-backup/age-identity.txt"), str(IDENTITY), RECIPIENT)
