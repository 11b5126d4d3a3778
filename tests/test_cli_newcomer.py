"""The command line as a newcomer meets it (issue 11, items 1, 2, 4, 9 and 10): no TUI without
a terminal, a passphrase prompt like age's, readable `list` output and IDs, a clear word for
what an unprivileged user cannot read, and the restore and `-o` defaults."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import portal_fixture as pf
import pytest
from clirun import COMMAND, json_lines, run
from test_age_interop import _run_in_pty

from tui.cli.commands import ID_WIDTH_CAP
from tui.core.inventory import match_item_ids

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}
PASSPHRASE = "a newcomer's passphrase"
NEEDS_TERMINAL = "portal-backup: needs a terminal: use ssh -t, or a subcommand such as `create`\n"


def _backup(env: dict[str, str], out: Path, *args: str) -> Path:
    proc = run("create", *args, "-o", str(out), "--progress", "none", env=env, check=True)
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def plain_env(portal_root: Path) -> dict[str, str]:
    return {"PORTAL_ROOT": str(portal_root), **NO_DOCKER}


# --------------------------------------------------------------------------- 1: a terminal


@pytest.mark.parametrize("argv", [[], ["explore", "backup.zip"]], ids=["tui", "explore"])
def test_the_terminal_ui_refuses_to_start_without_a_terminal(
    argv: list[str], plain_env: dict[str, str], tmp_path: Path
) -> None:
    """Before: the TUI ran on a pipe at 80% CPU, printing escape codes until killed."""
    env = {**os.environ, **plain_env}
    # Neither stdin nor stdout a terminal (`ssh host portal-backup`, a pipe into `tail`).
    proc = _with_stdin(subprocess.DEVNULL, *argv, env=env)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, NEEDS_TERMINAL, "")
    # A terminal on stdin is not enough when stdout goes to a pipe.
    controller, terminal = pty.openpty()
    try:
        proc = _with_stdin(terminal, *argv, env=env)
    finally:
        os.close(terminal)
        os.close(controller)
    assert (proc.returncode, proc.stderr) == (2, NEEDS_TERMINAL)


def _with_stdin(
    stdin: int, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command with this stdin (clirun.run inherits the test's); quick or a failure."""
    return subprocess.run(
        [*COMMAND, *args], stdin=stdin, capture_output=True, text=True, env=env, timeout=120
    )


# --------------------------------------------------------------------------- 2: passphrase


def test_an_encrypted_archive_asks_for_its_passphrase_in_a_terminal(
    plain_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `verify x.zip.age` in a terminal said "give --identity FILE ..." and exited 2."""
    out = tmp_path / "out"
    out.mkdir()
    archive = _backup(
        {**plain_env, "PB_PASS": PASSPHRASE}, out, "core/config", "--passphrase-env", "PB_PASS"
    )
    assert archive.name.endswith(".zip.age")
    for key, value in plain_env.items():
        monkeypatch.setenv(key, value)
    typed = [(b"Enter passphrase for", PASSPHRASE.encode() + b"\n")]

    shown = _run_in_pty([*COMMAND, "verify", str(archive)], typed)
    assert b"OK: the archive is intact" in shown
    assert PASSPHRASE.encode() not in shown  # typed without echo
    shown = _run_in_pty([*COMMAND, "restore", str(archive)], typed)
    assert b"core/config" in shown and b"to restore: portal-backup restore ARCHIVE ID" in shown

    # Scripts (no terminal) still get the sentence naming the options, and an identity file
    # given on the command line is used without asking.
    proc = _with_stdin(subprocess.DEVNULL, "verify", str(archive))
    assert proc.returncode == 2
    assert "is encrypted: give --identity FILE or --passphrase-file FILE" in proc.stderr
    key_file = tmp_path / "key.txt"
    made = subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = made.stderr.decode().split("Public key: ")[1].strip()
    to_key = _backup(plain_env, out, "core/config", "--recipient", public)
    shown = _run_in_pty([*COMMAND, "verify", str(to_key), "-i", str(key_file)], [])
    assert b"OK: the archive is intact" in shown and b"Enter passphrase" not in shown


# --------------------------------------------------------------------------- 4: list


@pytest.fixture
def outside_bind_app(
    portal_host: pf.PortalHost, docker_client: docker.DockerClient, test_image: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """An app whose container binds a host directory outside the Portal root (long path)."""
    outside = tmp_path / "a-rather-long-directory-name-outside-the-portal" / "app-data"
    outside.mkdir(parents=True)
    (outside / "note.txt").write_text("outside\n")
    app = f"ext-{portal_host.token}"
    container = docker_client.containers.create(
        test_image,
        command=pf.RUN_COMMAND,
        name=f"{app}-web-1",
        labels={
            "com.docker.compose.project": app,
            "com.docker.compose.service": "web",
            pf.TEST_LABEL: portal_host.token,
        },
        network_mode="none",
        mounts=[docker.types.Mount("/data", str(outside), type="bind")],
    )
    try:
        yield app, outside
    finally:
        container.remove(force=True)


def test_list_ids_have_no_double_slash_and_columns_fit_their_content(
    portal_host: pf.PortalHost, outside_bind_app: tuple[str, Path], tmp_path: Path
) -> None:
    """Before: `app/x//abs/path`, `mixed: paused, running` overflowing its column, "1 files",
    and a gap as wide as the longest ID between every name and its size."""
    app, outside = outside_bind_app
    env = {"PORTAL_ROOT": str(portal_host.root), "COLUMNS": "200"}
    rows = {r["id"]: r for r in json_lines(run("list", "--json", env=env, check=True).stdout)}
    mount_id = f"app/{app}/{str(outside).lstrip('/')}"
    assert mount_id in rows and rows[mount_id]["label"] == f"bind {outside}"
    assert not [i for i in rows if "//" in i]

    lines = run("list", env=env, check=True).stdout.splitlines()
    header = lines[0]
    assert header.split() == ["ID", "SIZE", "FILES", "STATE", "WHAT"]
    state_at, what_at = header.index("STATE"), header.index("WHAT")
    assert not any(re.search(r"\b1 files\b", line) for line in lines)
    assert any(re.search(r"\s1 file\s", line) for line in lines)
    photos = next(line for line in lines if line.startswith(f"app/{portal_host.apps[1]} "))
    assert photos[state_at:what_at].rstrip() == "mixed: paused, running"
    assert photos[what_at:].startswith(portal_host.apps[1])
    # The long ID sits on a line of its own; the sizes of every row start right after the
    # widest of the other IDs, whatever the terminal's width.
    assert len(mount_id) > ID_WIDTH_CAP and mount_id in lines
    # (Other tests' containers may come and go on this engine: read the IDs from this output.)
    table = [line for line in lines[1:] if " " in line.strip()]  # not an ID on its own line
    widest = max(len(line.split()[0]) for line in table if not line.startswith(" "))
    assert widest <= ID_WIDTH_CAP
    assert header.index("SIZE") <= widest + 2 + len("999.9 MB")

    # create takes the new ID, and the form older versions printed.
    out = tmp_path / "out"
    out.mkdir()
    for typed in (mount_id, f"app/{app}/{outside}"):
        archive = _backup({"PORTAL_ROOT": str(portal_host.root)}, out, typed)
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read("portal-backup.json"))
            assert zf.read(f"binds/{str(outside).lstrip('/')}/note.txt") == b"outside\n"
        assert [i["id"] for i in manifest["items"]] == [mount_id]
        archive.unlink()


def test_old_and_new_mount_ids_name_the_same_item() -> None:
    known = ["app/x", "app/x/srv/data", "app/y//opt/old", "shared"]
    typed = ["app/x//srv/data", "app/y/opt/old", "app/x/srv/data", "app/*", "nope", "shared"]
    assert match_item_ids(typed, known) == [
        "app/x/srv/data",
        "app/y//opt/old",
        "app/x/srv/data",
        "app/*",
        "nope",
        "shared",
    ]


# --------------------------------------------------------------------------- 9: not root


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], list[str]]]:
    """A Portal root that user nobody can reach (pytest's tmp dirs are root's alone), with
    one root-only directory in the documents; its own state directory and output directory."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    top = Path(tempfile.mkdtemp(prefix="pb-nobody-", dir="/tmp"))
    try:
        top.chmod(0o755)
        root = pf.build_portal_root(top / "portal", pf.new_token())
        private = root / pf.SHARED / "private"
        private.mkdir(mode=0o700)
        (private / "secret.txt").write_text("root only\n")
        for own in ("state", "out"):
            (top / own).mkdir(mode=0o700)
            os.chown(top / own, 65534, 65534)
        env = {
            **os.environ,
            **NO_DOCKER,
            "PORTAL_ROOT": str(root),
            "PORTAL_BACKUP_STATE_DIR": str(top / "state"),
            "PORTAL_BACKUP_LOCK_FILE": str(top / "state" / "run.lock"),
        }
        as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        yield top, env, [*as_nobody, *COMMAND]
    finally:
        shutil.rmtree(top)


def test_an_unprivileged_user_is_told_what_it_cannot_read_before_anything_starts(
    unprivileged: tuple[Path, dict[str, str], list[str]],
) -> None:
    """Before: `list` showed sizes with no hint, `create shared` failed half-way with
    "unexpected error: PermissionError ..."."""
    top, env, command = unprivileged
    private = f"{top}/portal/{pf.SHARED}/private (owned by root, mode 0700)"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, cwd="/", timeout=300
        )

    listed = cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json_lines(listed.stdout)}
    assert rows["core/config"]["readable"] is True
    assert rows["shared"]["readable"] is False and private in rows["shared"]["why"]
    assert rows["core/db"]["readable"] is False  # the database is root's, mode 0600

    listed = cli("list")
    shared_row = next(line for line in listed.stdout.splitlines() if line.startswith("shared "))
    assert shared_row.endswith("[unreadable]")
    assert "user nobody cannot read all of core/db" in listed.stderr
    assert "run as root, or leave them out" in listed.stderr and private in listed.stderr

    refused = cli("create", "shared", "core/config", "-o", str(top / "out"))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "portal-backup: nothing was backed up: user nobody cannot read all of shared: run as "
        f"root, or leave it out with --exclude (shared: cannot read 2 entries, e.g. {private})"
    )
    assert "unexpected" not in refused.stderr and os.listdir(top / "out") == []

    made = cli("create", "core/config", "-o", str(top / "out"), "--progress", "none")
    assert made.returncode == 0, made.stderr
    assert Path(made.stdout.strip().splitlines()[-1]).parent == top / "out"


# --------------------------------------------------------------------------- 10: defaults


def test_restore_keeps_the_replaced_data_unless_told_to_delete_it(
    plain_env: dict[str, str], portal_root: Path, tmp_path: Path
) -> None:
    """Before: the CLI deleted it unless --keep-old, while the TUI kept it."""
    out = tmp_path / "out"
    out.mkdir()
    archive = _backup(plain_env, out, "shared")
    held = run("restore", str(archive), env=plain_env)
    assert held.returncode == 0, held.stderr  # "what it holds" is an answer, not an error
    assert "shared" in held.stdout and "to restore:" in held.stdout

    shopping = portal_root / pf.SHARED / "Einkaufsliste.txt"
    shopping.write_text("changed\n")
    kept = run("restore", str(archive), "shared", "--yes", env=plain_env)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    where = re.search(r"previous data kept at (\S+)", kept.stdout)
    assert where is not None, kept.stdout
    assert (Path(where.group(1)) / "Einkaufsliste.txt").read_text() == "changed\n"
    assert shopping.read_text() != "changed\n"

    shopping.write_text("changed again\n")
    gone = run("restore", str(archive), "shared", "--yes", "--delete-old", env=plain_env)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "previous data kept" not in gone.stdout
    assert shopping.read_text() != "changed again\n"
    again = run("restore", str(archive), "shared", "--yes", "--keep-old", env=plain_env)
    assert again.returncode == 0 and "previous data kept at" in again.stdout  # old flag: a no-op

    assert "--delete-old" in run("restore", "--help").stdout


def test_output_names_and_compression_options_are_checked_first(
    plain_env: dict[str, str], tmp_path: Path
) -> None:
    """Before: `-o /path/that/does/not/exist` wrote a file named `exist`, --level 99 passed."""
    out = tmp_path / "out"
    out.mkdir()
    missing = run("create", "core/config", "-o", str(out / "not" / "there"), env=plain_env)
    assert missing.returncode == 2
    assert (
        missing.stderr
        == f"portal-backup: -o {out}/not/there: the directory {out}/not does not exist\n"
    )

    made = _backup(plain_env, out / "nightly", "core/config")
    assert made == out / "nightly.zip" and zipfile.is_zipfile(made)
    sealed = _backup(
        {**plain_env, "PB_PASS": PASSPHRASE},
        out / "sealed.zip",
        "core/config",
        "--passphrase-env",
        "PB_PASS",
    )
    assert sealed == out / "sealed.zip.age" and sealed.read_bytes().startswith(b"age-encryption")
    assert ".zip.age when encrypting" in " ".join(run("create", "--help").stdout.split())

    for option, value, said in (
        ("--level", "99", "use a number from 0 to"),
        ("--level", "-1", "use a number from 0 to"),
        ("--threads", "0", "use a number of 1 or more"),
    ):
        proc = run("create", "core/config", option, value, "-o", str(out), env=plain_env)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["nightly.zip", "sealed.zip.age"]
