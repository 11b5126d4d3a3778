"""Manifest signatures made with the Portal's identity key.

The Portal's identity is an unencrypted PKCS#8 PEM private key (RSA-4096 on real Portals;
Ed25519 works too). ``portal-backup.json.sig`` holds the raw signature of the exact bytes of
``portal-backup.json``:

- RSA: RSASSA-PSS, SHA-512, MGF1 with SHA-512, salt length 64 bytes (the digest length);
- Ed25519: the plain 64-byte Ed25519 signature.

Anyone can check one with OpenSSL alone. The public key is in the manifest under
``portal.public_key``, or derive it from the private key: ``openssl pkey -in key.pem -pubout
-out portal_public.pem``. Then, for RSA::

    openssl dgst -sha512 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:64 \\
        -sigopt rsa_mgf1_md:sha512 -verify portal_public.pem \\
        -signature portal-backup.json.sig portal-backup.json

and for Ed25519 (OpenSSL 3)::

    openssl pkeyutl -verify -pubin -inkey portal_public.pem -rawin \\
        -in portal-backup.json -sigfile portal-backup.json.sig

Both print ``Verified OK`` / ``Signature Verified Successfully`` and exit 0 on success.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from tui.core.errors import PortalBackupError

__all__ = [
    "PSS_SALT_LENGTH",
    "load_public_key",
    "public_key_pem",
    "sign_manifest",
    "verify_manifest_signature",
]

# Fixed rather than "maximum" so the openssl command above (rsa_pss_saltlen:64) verifies it.
PSS_SALT_LENGTH: Final = 64


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=PSS_SALT_LENGTH)


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii", "replace") if isinstance(pem, str) else pem


def _load_private_key(
    private_key_pem: str | bytes,
) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_as_bytes(private_key_pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise PortalBackupError(
            "the Portal identity key is not a readable, unencrypted PEM private key"
        ) from err
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise PortalBackupError(
            "the Portal identity key is neither an RSA nor an Ed25519 key, so it cannot sign"
        )
    return key


def load_public_key(public_key_pem: str | bytes) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    """The public key in a PEM public key, or of a PEM private key."""
    data = _as_bytes(public_key_pem)
    try:
        if b"PRIVATE KEY-----" in data:  # a private key also names its public key: accept it
            key: object = _load_private_key(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise PortalBackupError("the public key is not a readable PEM public key") from err
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise PortalBackupError("the public key is neither an RSA nor an Ed25519 key")
    return key


def sign_manifest(manifest: bytes, private_key_pem: str | bytes) -> bytes:
    """The raw signature of ``manifest`` (RSA-PSS/SHA-512 or Ed25519, see the module doc)."""
    key = _load_private_key(private_key_pem)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(manifest, _pss(), hashes.SHA512())
    return key.sign(manifest)


def public_key_pem(private_key_pem: str | bytes) -> str:
    """The SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``) of a private key."""
    public = _load_private_key(private_key_pem).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def verify_manifest_signature(
    manifest: bytes, signature: bytes, public_key_pem: str | bytes
) -> bool:
    """True when ``signature`` signs ``manifest`` under the key. A bad signature gives False;
    only an unreadable key raises (PortalBackupError)."""
    key = load_public_key(public_key_pem)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, manifest, _pss(), hashes.SHA512())
        else:
            key.verify(signature, manifest)
    except (InvalidSignature, ValueError):
        return False
    return True
