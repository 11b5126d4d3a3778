"""Encrypted archives end to end: our `create` and `verify` against the stock `age` tool."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import run

AGE = "/usr/bin/age"


def keypair(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(
        line.split(": ", 1)[1]
        for line in key.read_text().splitlines()
        if line.startswith("# public key: ")
    )
    return key, public


@pytest.fixture
def plain_portal(portal_root: Path) -> dict[str, str]:
    return {"PORTAL_ROOT": str(portal_root)}


def test_recipient_encrypted_archive_decrypts_with_stock_age(
    plain_portal: dict[str, str], tmp_path: Path
) -> None:
    key, public = keypair(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    proc = run(
        "create",
        "core/*",
        "shared",
        "-o",
        str(out),
        "--recipient",
        public,
        "--progress",
        "none",
        env=plain_portal,
    )
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert archive.name.endswith(".zip.age")
    assert archive.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert b"PRIVATE KEY" not in archive.read_bytes()
    plain = tmp_path / "plain.zip"
    subprocess.run([AGE, "-d", "-i", str(key), "-o", str(plain), str(archive)], check=True)
    subprocess.run(["unzip", "-tq", str(plain)], check=True, capture_output=True)
    with zipfile.ZipFile(plain) as zf:
        assert zf.read(pf.DB) == (Path(plain_portal["PORTAL_ROOT"]) / pf.DB).read_bytes()

    # Our verify reads it in place (no plaintext on disk) with the identity file.
    ok = run("verify", str(archive), "-i", str(key))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "signed by Portal" in ok.stdout
    # Without a key: a clear usage error, not a traceback.
    nokey = run("verify", str(archive))
    assert nokey.returncode == 2 and "encrypted" in nokey.stderr
    # With the wrong key: refused.
    (tmp_path / "o").mkdir()
    other, _ = keypair(tmp_path / "o")
    wrong = run("verify", str(archive), "-i", str(other))
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr


def test_passphrase_archive_verifies_and_tampering_is_refused(
    plain_portal: dict[str, str], tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    out = tmp_path / "out"
    out.mkdir()
    proc = run(
        "create",
        "shared",
        "-o",
        str(out),
        "--passphrase-file",
        str(pw),
        "--progress",
        "none",
        env=plain_portal,
    )
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert run("verify", str(archive), "--passphrase-file", str(pw)).returncode == 0
    env = {"PB_PW": "correct horse battery staple"}
    assert run("verify", str(archive), "--passphrase-env", "PB_PW", env=env).returncode == 0
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    wrong = run("verify", str(archive), "--passphrase-file", str(bad))
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr

    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.zip.age"
    tampered.write_bytes(bytes(data))
    res = run("verify", str(tampered), "--passphrase-file", str(pw))
    assert res.returncode == 1 and "modified" in res.stderr + res.stdout

    truncated = tmp_path / "truncated.zip.age"
    truncated.write_bytes(archive.read_bytes()[:-70_000])
    res = run("verify", str(truncated), "--passphrase-file", str(pw))
    assert res.returncode == 1 and "truncated" in (res.stderr + res.stdout)


def test_stock_age_encrypted_archive_opens_in_verify(
    plain_portal: dict[str, str], tmp_path: Path
) -> None:
    key, public = keypair(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    proc = run(
        "create", "core/config", "shared", "-o", str(out), "--progress", "none", env=plain_portal
    )
    archive = Path(proc.stdout.strip().splitlines()[-1])
    enc = tmp_path / "stock.zip.age"
    subprocess.run([AGE, "-r", public, "-o", str(enc), str(archive)], check=True)
    res = run("verify", str(enc), "-i", str(key))
    assert res.returncode == 0, res.stdout + res.stderr


def test_passphrase_and_recipient_together_is_a_usage_error(
    plain_portal: dict[str, str], tmp_path: Path
) -> None:
    _key, public = keypair(tmp_path)
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    res = run(
        "create",
        "shared",
        "-o",
        str(tmp_path),
        "--passphrase-file",
        str(pw),
        "--recipient",
        public,
        env=plain_portal,
    )
    assert res.returncode == 2 and "passphrase" in res.stderr
