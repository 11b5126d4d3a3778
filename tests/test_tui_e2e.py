"""The real `portal-backup` command in a real terminal: tmux (send-keys, capture-pane), and
through `ssh -t` to an sshd on loopback. Backups complete; a dropped terminal (SIGHUP) stops a
running one cleanly."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import portal_fixture as pf
import pytest
from tuihelp import held_run

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def poll(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Wait for a condition to hold (checked every 0.1 s), not for a fixed time."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        tick.wait(0.1)


class Tmux:
    """One tmux server of our own (-L), one window running `command`."""

    def __init__(
        self, command: list[str], cwd: Path, env: dict[str, str], size: tuple[int, int] = (100, 40)
    ) -> None:
        self.socket = f"pb-e2e-{os.getpid()}-{pf.new_token()}"
        self.env = env
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            "-c",
            str(cwd),
            " ".join(_quote(c) for c in command),
        )
        self.pid = int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._tmux("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_text(self, text: str, timeout: float = 60) -> None:
        try:
            poll(lambda: text in self.screen(), timeout, f"{text!r} on screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen shows:\n{self.screen()}") from None

    def wait_gone(self, text: str, timeout: float = 60) -> None:
        poll(lambda: text not in self.screen(), timeout, f"{text!r} to leave the screen")

    def alive(self) -> bool:
        return Path(f"/proc/{self.pid}").exists()

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True
        )


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def app_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color"}, **(extra or {}))
    return env


@pytest.fixture
def terminals() -> Iterator[list[Tmux]]:
    made: list[Tmux] = []
    yield made
    for t in made:
        t.kill()


def select_and_start(t: Tmux, token: str) -> None:
    """This test's items only (other tests' apps share the engine), then start the backup."""
    t.wait_text("Last backup:")
    t.keys("a")
    t.wait_text("Selected 0 items")
    t.keys("/")
    t.wait_gone("b Back up")  # the footer shrinks: the filter box has the keys now
    t.keys(token, literal=True)
    t.wait_gone("Documents and media")  # filtered
    t.keys("Enter")
    t.wait_text("b Back up")  # the list has the keys again
    t.keys("a")
    t.wait_text("Selected 4 items")  # 3 apps (notes, photos, wiki) and the orphan volume
    t.keys("/")
    t.wait_gone("b Back up")
    t.keys("C-u")
    t.wait_text("Documents and media")
    t.keys("Enter")
    t.wait_text("b Back up")
    t.keys("Home")
    t.keys("Space")
    t.wait_text("Selected 9 items")
    t.keys("b")
    t.wait_text("The private key, unencrypted")  # the identity is in, not encrypted
    t.keys("a")  # back up anyway


def test_backup_in_tmux_then_quit(
    portal_host: pf.PortalHost, tmp_path: Path, terminals: list[Tmux]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = portal_host.container_states()
    t = Tmux([sys.executable, "-m", "tui", "--portal-root", str(portal_host.root)], out, app_env())
    terminals.append(t)
    select_and_start(t, portal_host.token)
    t.wait_text("Backup complete", timeout=300)
    archives = os.listdir(out)
    assert len(archives) == 1 and archives[0].endswith(".zip")
    subprocess.run(["unzip", "-tq", str(out / archives[0])], check=True, capture_output=True)
    assert portal_host.container_states() == before
    t.keys("q")
    poll(lambda: not t.alive(), 30, "the app to exit")


def test_sighup_in_tmux_stops_the_backup_cleanly(
    portal_host: pf.PortalHost, tmp_path: Path, terminals: list[Tmux]
) -> None:
    held = held_run(portal_host, tmp_path)
    t = Tmux(
        [sys.executable, "-m", "tui", "--portal-root", str(portal_host.root)],
        held.out,
        app_env(held.env),
    )
    terminals.append(t)
    select_and_start(t, portal_host.token)
    poll(held.stopped, 120, "notes to be stopped")
    t.kill()  # the terminal goes away: tmux sends SIGHUP to the app
    poll(lambda: not t.alive(), 120, "the app to finish cleaning up and exit")
    assert portal_host.container_states() == held.before
    assert os.listdir(held.out) == []  # no archive, no partial file
    journal = Path(os.environ["PORTAL_BACKUP_STATE_DIR"]) / "journal.json"
    assert not journal.exists()


# ---------------------------------------------------------------------------- over SSH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd_bin).exists() or os.geteuid() != 0:
        pytest.skip("needs sshd and root")
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")], check=True
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client")], check=True
    )
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"StrictModes no\nPidFile {d / 'sshd.pid'}\nAcceptEnv LANG LC_*\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.DEVNULL
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        poll(listening, 30, "sshd to listen")
        yield port, d / "client"
    finally:
        proc.terminate()
        proc.wait(10)


def test_backup_over_ssh(
    portal_host: pf.PortalHost, tmp_path: Path, sshd: tuple[int, Path], terminals: list[Tmux]
) -> None:
    port, key = sshd
    out = tmp_path / "out"
    out.mkdir()
    before = portal_host.container_states()
    remote_env = " ".join(
        f"{k}={_quote(v)}"
        for k, v in {
            "DOCKER_HOST": os.environ.get("DOCKER_HOST", ""),
            "PORTAL_BACKUP_STATE_DIR": os.environ["PORTAL_BACKUP_STATE_DIR"],
            "PYTHONPATH": str(REPO),
        }.items()
    )
    remote = (
        f"cd {_quote(str(out))} && env {remote_env} {_quote(sys.executable)} -m tui "
        f"--portal-root {_quote(str(portal_host.root))}"
    )
    t = Tmux(
        [
            "ssh",
            "-t",
            "-p",
            str(port),
            "-i",
            str(key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "root@127.0.0.1",
            remote,
        ],
        out,
        app_env(),
    )
    terminals.append(t)
    select_and_start(t, portal_host.token)
    t.wait_text("Backup complete", timeout=300)
    archive = out / os.listdir(out)[0]
    # The fetch command was built from SSH_CONNECTION: this loopback server and its port. It
    # stays on one line (scrolling sideways when wider than the terminal), so compare its start.
    shown = "".join(t.screen().split())
    assert f"scp-P{port}root@127.0.0.1:{str(archive)[:40]}" in shown
    subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)
    assert portal_host.container_states() == before
    t.keys("q")
    poll(lambda: not t.alive(), 30, "ssh to end")
