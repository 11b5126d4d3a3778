"""`create -o -`: the archive on stdout and nothing else there, checked with the stock tools.

Each test runs the real command with stdout on a pipe or a file, as `ssh root@portal
portal-backup create --all -o - > portal.zip` does on a laptop.
"""

from __future__ import annotations

import os
import pty
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run
from test_encrypted_backup import keypair

REPO = Path(__file__).parent.parent
COMMAND = [sys.executable, "-m", "tui"]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PORTAL_ROOT": str(root), "PYTHONPATH": str(REPO)}


def test_stdout_to_a_file_is_a_standard_zip_and_nothing_else(
    portal_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "portal.zip"
    with out.open("wb") as f:
        proc = subprocess.run(
            [*COMMAND, "create", "core/*", "shared", "-o", "-", "--progress", "json"],
            stdout=f,
            stderr=subprocess.PIPE,
            text=False,
            env=_env(portal_root),
            cwd=tmp_path,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    # Progress went to stderr as JSON lines, ending with the finished event.
    events = [line for line in proc.stderr.decode().splitlines() if line.startswith("{")]
    assert '"type": "finished"' in events[-1]
    assert '"path": "stdout"' in events[-1]
    assert not (tmp_path / "-").exists()  # the old bug: a file named "-" in the cwd
    data = out.read_bytes()
    assert data.startswith(b"PK\x03\x04")
    subprocess.run(["unzip", "-tq", str(out)], check=True, capture_output=True)
    subprocess.run(["7z", "t", str(out)], check=True, capture_output=True)
    verify = run("verify", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with zipfile.ZipFile(out) as zf:
        assert zf.read(pf.DB) == (portal_root / pf.DB).read_bytes()


def test_piped_through_cat_into_unzip(portal_host: pf.PortalHost, tmp_path: Path) -> None:
    out = tmp_path / "piped.zip"
    cmd = " ".join(shlex.quote(c) for c in [*COMMAND, "create", "--all", "-o", "-"])
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{cmd} | cat > {shlex.quote(str(out))}"],
        capture_output=True,
        text=True,
        env=_env(portal_host.root),
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "done:" in proc.stderr  # the text summary is on stderr, stdout held only the zip
    subprocess.run(["unzip", "-tq", str(out)], check=True, capture_output=True)
    with zipfile.ZipFile(out) as zf:
        assert "portal-backup.json" in zf.namelist()
    assert portal_host.container_states() == portal_host.expected_states()


def test_encrypted_stream_decrypts_with_stock_age(portal_root: Path, tmp_path: Path) -> None:
    key, public = keypair(tmp_path)
    plain = tmp_path / "plain.zip"
    cmd = " ".join(
        shlex.quote(c) for c in [*COMMAND, "create", "core/*", "-o", "-", "--recipient", public]
    )
    age = f"age -d -i {shlex.quote(str(key))}"
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{cmd} | {age} > {shlex.quote(str(plain))}"],
        capture_output=True,
        text=True,
        env=_env(portal_root),
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    subprocess.run(["unzip", "-tq", str(plain)], check=True, capture_output=True)
    with zipfile.ZipFile(plain) as zf:
        assert zf.read(pf.DB) == (portal_root / pf.DB).read_bytes()


def test_a_terminal_on_stdout_is_refused_before_anything_runs(
    portal_root: Path, tmp_path: Path
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [*COMMAND, "create", "--all", "-o", "-"],
            stdout=slave,
            stderr=subprocess.PIPE,
            env=_env(portal_root),
            cwd=cwd,
            timeout=120,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "stdout, which is a terminal" in err
    assert err.count("\n") == 1, err  # one sentence
    assert list(cwd.iterdir()) == []


def test_a_reader_that_stops_early_fails_the_run_and_restarts_apps(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    cmd = " ".join(shlex.quote(c) for c in [*COMMAND, "create", "--all", "-o", "-"])
    proc = subprocess.run(
        ["bash", "-c", f"{cmd} | head -c 4096 > /dev/null; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        env={**_env(portal_host.root)},
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "stopped before the end" in proc.stderr
    assert portal_host.container_states() == portal_host.expected_states()


@pytest.mark.parametrize("bad", ["--verify-upload"])
def test_verify_upload_needs_a_destination(portal_root: Path, bad: str) -> None:
    proc = run("create", "--all", "-o", str(portal_root.parent), bad, env={"PORTAL_ROOT": ""})
    assert proc.returncode == 2
    assert "--verify-upload goes with --to DEST" in proc.stderr
