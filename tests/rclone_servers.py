"""Loopback destinations for the tests: rclone itself serves S3, WebDAV and SFTP on 127.0.0.1
over a temporary directory, with real credentials, started and stopped by the fixtures.

Each server object has `target` (a `name:path` DEST using `config`, a 0600 rclone config the
fixture wrote with the secret in it, obscured where rclone wants that), `root` (the directory
the destination's files land in on disk), `stop()`, `start()` and `connection_string()` (a
`:backend,key=value:path` DEST that needs no config file).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KINDS = ("s3", "webdav", "sftp")
START_DEADLINE = 20.0  # seconds for a server to answer


def rclone_binary() -> str:
    beside = Path(sys.executable).parent / "rclone"
    return str(beside) if beside.exists() else "rclone"


def obscure(secret: str) -> str:
    """rclone's reversible obscuring of a password, with the secret on stdin, not argv."""
    out = subprocess.run(
        [rclone_binary(), "obscure", "-"], input=secret, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RcloneServer:
    kind: str
    served: Path  # what `rclone serve` serves
    config: Path
    remote: str  # the section name in `config`
    port: int = field(default_factory=free_port)
    user: str = "backup"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def bucket(self) -> str:
        return "bucket" if self.kind == "s3" else ""

    @property
    def root(self) -> Path:
        """The destination's directory on disk (for S3: inside the bucket)."""
        return self.served / "bucket" / "bk" if self.kind == "s3" else self.served / "bk"

    @property
    def path(self) -> str:
        return "bucket/bk" if self.kind == "s3" else "bk"

    @property
    def target(self) -> str:
        return f"{self.remote}:{self.path}"

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def options(self) -> dict[str, str]:
        """The remote's options, the secret obscured where rclone expects it so."""
        if self.kind == "s3":
            return {
                "type": "s3",
                "provider": "Rclone",
                "endpoint": self.url(),
                "access_key_id": self.user,
                "secret_access_key": self.password,
                "force_path_style": "true",
            }
        if self.kind == "webdav":
            return {
                "type": "webdav",
                "url": self.url(),
                "vendor": "other",
                "user": self.user,
                "pass": obscure(self.password),
            }
        return {
            "type": "sftp",
            "host": "127.0.0.1",
            "port": str(self.port),
            "user": self.user,
            "pass": obscure(self.password),
            "shell_type": "none",
            "disable_hashcheck": "true",
        }

    def write_config(self) -> None:
        lines = [f"[{self.remote}]"] + [f"{k} = {v}" for k, v in self.options().items()]
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def connection_string(self) -> str:
        """`:backend,key='value',...:path`: the secrets travel in it (never print it)."""
        opts = self.options()
        backend = opts.pop("type")
        params = ",".join(f"{k}='{v}'" for k, v in opts.items())
        return f":{backend},{params}:{self.path}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        auth = (
            ["--auth-key", f"{self.user},{self.password}"]
            if self.kind == "s3"
            else ["--user", self.user, "--pass", self.password]  # test server only
        )
        self.log = self.config.with_suffix(f".{self.kind}.log")
        env = {**os.environ, "RCLONE_CONFIG": str(self.config.with_suffix(".serve.conf"))}
        env["RCLONE_CACHE_DIR"] = str(self.config.parent / "cache")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    rclone_binary(),
                    "serve",
                    self.kind,
                    str(self.served),
                    "--addr",
                    f"127.0.0.1:{self.port}",
                    *auth,
                    "--dir-cache-time=0s",  # the tests change the served files behind its back
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + START_DEADLINE
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"rclone serve {self.kind} did not start: {self.log.read_text()[-2000:]}"
                )
            time.sleep(0.05)  # polling a condition with a deadline

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_server(kind: str, base: Path, served: Path | None = None) -> RcloneServer:
    """A started server of `kind`, its files in `served` (default base/served)."""
    base.mkdir(parents=True, exist_ok=True)
    served = served or base / "served"
    served.mkdir(parents=True, exist_ok=True)
    server = RcloneServer(kind, served, base / "rclone.conf", remote=f"loop{kind}")
    server.write_config()
    server.start()
    return server


ServerFactory = Callable[..., RcloneServer]


@pytest.fixture
def rclone_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """start(kind, served=None) -> a running RcloneServer; all stopped at teardown."""
    started: list[RcloneServer] = []

    def start(kind: str, served: Path | None = None) -> RcloneServer:
        server = start_server(kind, tmp_path_factory.mktemp(f"rclone-{kind}"), served)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def s3_server(rclone_server_factory: ServerFactory) -> RcloneServer:
    return rclone_server_factory("s3")


@pytest.fixture
def webdav_server(rclone_server_factory: ServerFactory) -> RcloneServer:
    return rclone_server_factory("webdav")


@pytest.fixture
def sftp_server(rclone_server_factory: ServerFactory) -> RcloneServer:
    return rclone_server_factory("sftp")


@pytest.fixture(params=KINDS)
def rclone_dest(
    request: pytest.FixtureRequest, rclone_server_factory: ServerFactory
) -> RcloneServer:
    """One running server per kind (the test runs three times)."""
    return rclone_server_factory(request.param)
