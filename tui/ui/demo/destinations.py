"""The destination dialog's demo: the remote chosen, its Test's answer, and what the add-a-remote
form is filled with. Made up; the remotes are those of tui/ui/demo/automatic.py RCLONE_CONF."""

from __future__ import annotations

from tui.core.humanfmt import human_bytes
from tui.ui.logic.destinations import ProbeOutcome

REMOTE = "wasabi"
FOLDER = "annas-portal"
SPEC = f"{REMOTE}:{FOLDER}"
PROBE_RATE = 11_796_480.0  # bytes/s up: a home line's upload, not a LAN
# What Test answers for SPEC (the words of tui.ui.logic.destinations.probe_destination).
PROBE = ProbeOutcome(
    True,
    f"{SPEC} works: wrote, read back and deleted a test file ({human_bytes(PROBE_RATE)}/s up).",
)
# The add-a-remote form's S3 tab, as a person types it (the secret shows as dots).
S3_FORM = {
    "endpoint": "https://s3.eu-central-2.wasabisys.com",
    "bucket": "annas-portal/backups",
    "access_key": "DEMOACCESSKEY00000000",
    "secret": "not-a-real-secret-key",
}
