"""Manifest signatures, checked by OpenSSL itself with the commands documented in signing.py.

Keys are RSA-2048 here for speed; real Portals use RSA-4096, which changes nothing but the size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tui.core.crypto.signing import public_key_pem, sign_manifest, verify_manifest_signature
from tui.core.errors import PortalBackupError

MANIFEST = b'{"format": 1, "portal": {"id": "f00ba4", "public_key": "..."}, "entries": []}\n'


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ed25519_pem() -> str:
    return _pem(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("openssl is not installed; CI must install it")
        pytest.skip("openssl is not installed")
    return path


def _files(tmp_path: Path, private_pem: str, manifest: bytes) -> tuple[Path, Path, Path]:
    manifest_path = tmp_path / "portal-backup.json"
    manifest_path.write_bytes(manifest)
    signature_path = tmp_path / "portal-backup.json.sig"
    signature_path.write_bytes(sign_manifest(manifest, private_pem))
    public_path = tmp_path / "portal_public.pem"
    public_path.write_text(public_key_pem(private_pem))
    return manifest_path, signature_path, public_path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_openssl_verifies_rsa_pss_signature(tmp_path: Path, rsa_pem: str, openssl: str) -> None:
    manifest, signature, public = _files(tmp_path, rsa_pem, MANIFEST)
    assert len(signature.read_bytes()) == 256
    base = [
        openssl,
        "dgst",
        "-sha512",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:64",
    ]
    for extra in ([], ["-sigopt", "rsa_mgf1_md:sha512"]):  # MGF1 defaults to the digest
        result = _run(
            *base, *extra, "-verify", str(public), "-signature", str(signature), str(manifest)
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Verified OK" in result.stdout
    manifest.write_bytes(MANIFEST.replace(b"f00ba4", b"f00ba5"))
    result = _run(*base, "-verify", str(public), "-signature", str(signature), str(manifest))
    assert result.returncode != 0


def test_openssl_verifies_ed25519_signature(tmp_path: Path, ed25519_pem: str, openssl: str) -> None:
    manifest, signature, public = _files(tmp_path, ed25519_pem, MANIFEST)
    assert len(signature.read_bytes()) == 64
    argv = [
        openssl,
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(public),
        "-rawin",
        "-in",
        str(manifest),
        "-sigfile",
        str(signature),
    ]
    result = _run(*argv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    manifest.write_bytes(MANIFEST + b" ")
    assert _run(*argv).returncode != 0


def test_public_key_matches_openssl(tmp_path: Path, rsa_pem: str, openssl: str) -> None:
    key = tmp_path / "key.pem"
    key.write_text(rsa_pem)
    result = _run(openssl, "pkey", "-in", str(key), "-pubout")
    assert result.returncode == 0, result.stderr
    assert result.stdout == public_key_pem(rsa_pem)
    assert public_key_pem(rsa_pem.encode()).startswith("-----BEGIN PUBLIC KEY-----\n")


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_verify_in_python(kind: str, rsa_pem: str, ed25519_pem: str) -> None:
    private = rsa_pem if kind == "rsa" else ed25519_pem
    public = public_key_pem(private)
    signature = sign_manifest(MANIFEST, private)
    assert verify_manifest_signature(MANIFEST, signature, public)
    assert verify_manifest_signature(MANIFEST, signature, public.encode())
    assert verify_manifest_signature(MANIFEST, signature, private)  # a private key names its own
    # tampered manifest, tampered or truncated signature: False, never an exception
    assert not verify_manifest_signature(MANIFEST + b"\n", signature, public)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_manifest_signature(MANIFEST, flipped, public)
    assert not verify_manifest_signature(MANIFEST, signature[:-1], public)
    assert not verify_manifest_signature(MANIFEST, b"", public)
    # another key of the same kind, and a key of the other kind
    other = (
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        if kind == "rsa"
        else _pem(ed25519.Ed25519PrivateKey.generate())
    )
    assert not verify_manifest_signature(MANIFEST, signature, public_key_pem(other))
    cross = ed25519_pem if kind == "rsa" else rsa_pem
    assert not verify_manifest_signature(MANIFEST, signature, public_key_pem(cross))


def test_rsa_signatures_are_randomised_but_all_verify(rsa_pem: str) -> None:
    first, second = sign_manifest(MANIFEST, rsa_pem), sign_manifest(MANIFEST, rsa_pem)
    assert first != second  # PSS salts each signature
    public = public_key_pem(rsa_pem)
    assert verify_manifest_signature(MANIFEST, first, public)
    assert verify_manifest_signature(MANIFEST, second, public)


def test_unreadable_keys_raise(rsa_pem: str) -> None:
    signature = sign_manifest(MANIFEST, rsa_pem)
    with pytest.raises(PortalBackupError, match="not a readable PEM public key"):
        verify_manifest_signature(MANIFEST, signature, "-----BEGIN PUBLIC KEY-----\nAAAA\n")
    with pytest.raises(PortalBackupError, match="not a readable PEM public key"):
        verify_manifest_signature(MANIFEST, signature, b"garbage")
    with pytest.raises(PortalBackupError, match="unencrypted PEM private key"):
        sign_manifest(MANIFEST, "not a key")
    encrypted = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(PortalBackupError, match="unencrypted PEM private key"):
        sign_manifest(MANIFEST, encrypted)
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(PortalBackupError, match="neither an RSA nor an Ed25519"):
        sign_manifest(MANIFEST, ec_pem)
    with pytest.raises(PortalBackupError, match="neither an RSA nor an Ed25519"):
        verify_manifest_signature(MANIFEST, signature, public_key_pem_of(ec_pem))


def public_key_pem_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
