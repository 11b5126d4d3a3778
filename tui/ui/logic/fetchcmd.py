"""The command a user runs on their own computer to fetch an archive from this server."""

from __future__ import annotations

import getpass
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FetchCommands:
    scp: str
    rsync: str
    guessed: bool  # True when not logged in over SSH: the host name is a guess


def fetch_commands(
    path: str, environ: Mapping[str, str], user: str | None = None, hostname: str | None = None
) -> FetchCommands:
    """scp and rsync commands built from SSH_CONNECTION ("client port server port")."""
    user = user or environ.get("USER") or _user()
    parts = environ.get("SSH_CONNECTION", "").split()
    if len(parts) == 4:
        host, port, guessed = parts[2], parts[3], False
    else:
        host, port, guessed = hostname or socket.gethostname(), "22", True
    if ":" in host:  # IPv6: scp and rsync need brackets around the address
        host = f"[{host}]"
    remote = shlex.quote(f"{user}@{host}:{path}")
    scp_port = f"-P {port} " if port != "22" else ""
    rsync_ssh = f"-e 'ssh -p {port}' " if port != "22" else ""
    return FetchCommands(
        scp=f"scp {scp_port}{remote} .", rsync=f"rsync -P {rsync_ssh}{remote} .", guessed=guessed
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"
