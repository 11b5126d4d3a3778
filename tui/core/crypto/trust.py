"""Whose signature an archive carries, and whether this host trusts it.

An archive is untrusted input: anyone can write a manifest, and anyone can sign one with a key
of their own and put that key in the manifest (``portal.public_key``). So the manifest's key
proves nothing by itself. An archive is trusted only when its ``portal-backup.json.sig`` verifies
over the exact manifest bytes under

- this Portal's identity: the default identity's key in ``core/portal_core_db.json``, or
- a key the user names with ``--trust-key FILE`` (a PEM public or private key).

Trust decides what a restore may do beyond plain data inside the Portal root: recreating
containers, restoring bind mounts outside the Portal root and the Portal's own core files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tui.core import portaldb
from tui.core.errors import PortalBackupError
from tui.core.model import DB_REL

__all__ = ["Trust", "TrustState", "assess_trust", "key_fingerprint", "read_trust_keys"]

TrustState = Literal["portal", "key", "unsigned", "untrusted", "invalid"]
_KEY_LIMIT = 1 << 20  # a PEM key file is a few KiB; refuse anything absurd before reading it


@dataclass(frozen=True)
class Trust:
    state: TrustState
    fingerprint: str | None = None  # SHA-256 of the signer's public key (DER), when known

    @property
    def trusted(self) -> bool:
        return self.state in ("portal", "key")

    def describe(self) -> str:
        """One line for the dry run and the TUI: whose signature it is."""
        fp = self.fingerprint or "?"
        return {
            "portal": "signed by this Portal",
            "key": f"signed by a trusted key {fp}",
            "unsigned": "unsigned: containers, bind mounts outside the Portal root and core "
            "files will not be restored",
            "untrusted": f"signed by a key this host does not trust ({fp}): containers, bind "
            "mounts outside the Portal root and core files will not be restored",
            "invalid": "its signature does not match its manifest: containers, bind mounts "
            "outside the Portal root and core files will not be restored",
        }[self.state]

    def short(self) -> str:
        """A few words for the TUI's archive line."""
        fp = (self.fingerprint or "?")[:16]
        return {
            "portal": "signed by this Portal",
            "key": f"signed by a trusted key {fp}",
            "unsigned": "unsigned: containers and core files will not be restored",
            "untrusted": f"signed by an untrusted key {fp}: containers and core files will "
            "not be restored",
            "invalid": "bad signature: containers and core files will not be restored",
        }[self.state]

    def why_untrusted(self) -> str:
        """The end of a refusal sentence: why, and how to trust the archive if it is yours."""
        if self.state == "unsigned":
            return "the archive is unsigned"
        if self.state == "invalid":
            return "the archive's signature does not match its manifest"
        return (
            f"the archive is signed by a key this host does not trust ({self.fingerprint});"
            " if it is your old Portal's, pass --trust-key FILE with that Portal's public "
            "key (portal.public_key in the manifest; compare its fingerprint with "
            "`openssl pkey -pubin -in FILE -outform DER | sha256sum`)"
        )


def key_fingerprint(pem: str | bytes) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo: what `openssl pkey -pubin -outform DER |
    sha256sum` prints for the public key (a private key gives its public key's)."""
    from cryptography.hazmat.primitives import serialization

    from tui.core.crypto.signing import load_public_key

    der = load_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def read_trust_keys(paths: list[str]) -> list[bytes]:
    """The PEM keys of --trust-key FILE ...; an unreadable file or key is a sentence."""
    keys: list[bytes] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(_KEY_LIMIT + 1)
        except OSError as exc:
            raise PortalBackupError(
                f"cannot read the trusted key {path}: {exc.strerror or exc}"
            ) from exc
        if len(data) > _KEY_LIMIT or b"-----BEGIN" not in data:
            raise PortalBackupError(
                f"{path} is not a PEM key (--trust-key takes the PEM public "
                "or private key of the Portal that signed the archive)"
            )
        try:
            key_fingerprint(data)
        except PortalBackupError as exc:
            raise PortalBackupError(f"{path}: {exc}") from exc
        keys.append(data)
    return keys


def portal_identity(portal_root: str) -> dict[str, Any] | None:
    """This Portal's default identity record, or None (no readable Portal database)."""
    try:
        doc = portaldb.load(portaldb.read_consistent(Path(portal_root) / DB_REL))
    except (OSError, PortalBackupError):
        return None
    return portaldb.default_identity(doc)


def this_portal_key(portal_root: str) -> str | None:
    """The private key of this Portal's default identity, or None."""
    ident = portal_identity(portal_root)
    key = ident.get("private_key") if ident else None
    return key if isinstance(key, str) and key else None


def assess_trust(
    manifest: bytes,
    signature: bytes | None,
    claimed: str | None,
    portal_root: str,
    trust_keys: list[bytes],
) -> Trust:
    """Whose signature ``signature`` is over the exact manifest bytes, and whether it counts.
    ``claimed``: the key the manifest itself names (portal.public_key)."""
    if signature is None:
        return Trust("unsigned")
    from tui.core.crypto.signing import verify_manifest_signature

    def signs(key: str | bytes) -> bool:
        try:
            return verify_manifest_signature(manifest, signature, key)
        except PortalBackupError:  # an unreadable key signs nothing
            return False

    own = this_portal_key(portal_root)
    if own is not None and signs(own):
        return Trust("portal", key_fingerprint(own))
    for key in trust_keys:
        if signs(key):
            return Trust("key", key_fingerprint(key))
    if claimed is not None and signs(claimed):
        return Trust("untrusted", key_fingerprint(claimed))
    return Trust("invalid")
