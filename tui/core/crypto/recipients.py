"""age recipients and identities: passphrase (``scrypt``) and X25519, and key-file loading."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tui.core.crypto.bech32 import _bech32_decode, _bech32_encode
from tui.core.crypto.errors import AgeError, AgeHeaderError, _header_error
from tui.core.crypto.header import (
    ARMOR_BEGIN,
    FILE_KEY_SIZE,
    TAG_SIZE,
    Stanza,
    _b64decode,
    _b64encode,
    _hkdf,
)

SCRYPT_LABEL: Final = b"age-encryption.org/v1/scrypt"
X25519_LABEL: Final = b"age-encryption.org/v1/X25519"
DEFAULT_SCRYPT_WORK_FACTOR: Final = 18
DEFAULT_MAX_SCRYPT_WORK_FACTOR: Final = 22
_ZERO_NONCE: Final = bytes(12)


@runtime_checkable
class Recipient(Protocol):
    """Something that wraps a file key into stanzas."""

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


@runtime_checkable
class Identity(Protocol):
    """Something that may unwrap a file key. Returns None when no stanza is for it; raises
    AgeHeaderError when a stanza of its type is malformed (the spec makes that fatal)."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def _aead_unwrap(key: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def _scrypt_key(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


class ScryptRecipient:
    """Encrypt to a passphrase. age allows it only as the sole recipient of a file."""

    def __init__(self, passphrase: str, work_factor: int = DEFAULT_SCRYPT_WORK_FACTOR) -> None:
        if not passphrase:
            raise AgeError("the passphrase is empty")
        if not 1 <= work_factor <= 30:
            raise AgeError(f"the scrypt work factor must be between 1 and 30, not {work_factor}")
        self._passphrase = passphrase
        self.work_factor = work_factor

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(16)
        key = _scrypt_key(self._passphrase, salt, self.work_factor)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza("scrypt", (_b64encode(salt).decode(), str(self.work_factor)), body)]


class ScryptIdentity:
    """Decrypt with a passphrase. Work factors above ``max_work_factor`` are refused, because a
    hostile file could otherwise ask for minutes of CPU and gigabytes of memory."""

    def __init__(
        self, passphrase: str, max_work_factor: int = DEFAULT_MAX_SCRYPT_WORK_FACTOR
    ) -> None:
        self._passphrase = passphrase
        self.max_work_factor = max_work_factor

    def __repr__(self) -> str:
        return f"ScryptIdentity(max_work_factor={self.max_work_factor})"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "scrypt":
                continue
            if len(stanzas) != 1:
                raise _header_error("a passphrase stanza must be the only stanza")
            if len(stanza.args) != 2:
                raise _header_error("a passphrase stanza must have two arguments")
            salt = _b64decode(stanza.args[0].encode(), "the scrypt salt")
            if len(salt) != 16:
                raise _header_error("the scrypt salt is not 16 bytes")
            text = stanza.args[1]
            # Decimal without sign or leading zeros (so "010", "+1", "0x10" are all refused).
            if not re.fullmatch(r"[1-9][0-9]*", text, flags=re.ASCII):
                raise _header_error("the scrypt work factor is not a plain positive number")
            if len(text) > 2 or int(text) > self.max_work_factor:
                shown = f"2^{text}" if len(text) <= 3 else "huge"
                raise AgeHeaderError(
                    f"the file's passphrase work factor ({shown}) is above the allowed maximum "
                    f"(2^{self.max_work_factor})"
                )
            if len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
                raise _header_error("the passphrase stanza body has the wrong length")
            key = _scrypt_key(self._passphrase, salt, int(text))
            file_key = _aead_unwrap(key, stanza.body)
            if file_key is not None:
                return file_key
        return None


class X25519Recipient:
    """An ``age1...`` public key."""

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise AgeError("an X25519 public key is 32 bytes")
        self._public = public_key
        self._key = X25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        text = text.strip()
        try:
            hrp, data = _bech32_decode(text)
        except ValueError:
            raise AgeError(f"{_shorten(text)!r} is not a valid age recipient") from None
        if hrp != "age":
            raise AgeError(
                f"{_shorten(text)!r} is an age recipient type this tool does not support "
                "(only X25519 age1... keys are)"
            )
        if len(data) != 32:
            raise AgeError(f"{_shorten(text)!r} is not a valid X25519 age recipient")
        return cls(data)

    @property
    def public_bytes(self) -> bytes:
        return self._public

    def __str__(self) -> str:
        return _bech32_encode("age", self._public)

    def __repr__(self) -> str:
        return f"X25519Recipient({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(self._key)
        wrap_key = _hkdf(shared, share + self._public, X25519_LABEL)
        body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza("X25519", (_b64encode(share).decode(),), body)]


class X25519Identity:
    """An ``AGE-SECRET-KEY-1...`` secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise AgeError("an X25519 secret key is 32 bytes")
        self._secret = secret
        self._key = X25519PrivateKey.from_private_bytes(secret)
        self._public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        text = text.strip()
        try:
            hrp, data = _bech32_decode(text)
        except ValueError:
            raise AgeError("the text is not a valid age secret key") from None
        if hrp != "age-secret-key-":
            kind = "post-quantum " if hrp == "age-secret-key-pq-" else ""
            raise AgeError(f"this {kind}age identity type is not supported (only X25519 keys are)")
        if len(data) != 32:
            raise AgeError("the text is not a valid X25519 age secret key")
        return cls(data)

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(os.urandom(32))

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._public)

    def __str__(self) -> str:
        return _bech32_encode("age-secret-key-", self._secret).upper()

    def __repr__(self) -> str:
        # Never the secret: reprs end up in logs and tracebacks.
        return f"X25519Identity(recipient={self.recipient()})"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            if len(stanza.args) != 1:
                raise _header_error("an X25519 stanza must have one argument")
            share = _b64decode(stanza.args[0].encode(), "an X25519 share")
            if len(share) != 32:
                raise _header_error("an X25519 share is not 32 bytes")
            if len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
                raise _header_error("an X25519 stanza body has the wrong length")
            try:
                shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:  # OpenSSL refuses the all-zero result of a low-order point
                shared = bytes(32)
            if shared == bytes(32):
                raise _header_error("an X25519 share is a low-order point")
            wrap_key = _hkdf(shared, share + self._public, X25519_LABEL)
            file_key = _aead_unwrap(wrap_key, stanza.body)
            if file_key is not None:
                return file_key
        return None


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _key_file_lines(path: str | os.PathLike[str], what: str) -> list[tuple[int, str]]:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise AgeError(f"cannot read the {what} file {path}: {err.strerror or err}") from err
    except UnicodeDecodeError:
        raise AgeError(f"the {what} file {path} is not a text file") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append((number, line))
    return lines


def load_identities(path: str | os.PathLike[str]) -> list[X25519Identity]:
    """Read an age identity file (as written by ``age-keygen``): one ``AGE-SECRET-KEY-1...`` per
    line, ``#`` comments and blank lines ignored."""
    identities = []
    for number, line in _key_file_lines(path, "identity"):
        if line.startswith("age-encryption.org/") or line.startswith(ARMOR_BEGIN.decode()):
            raise AgeError(
                f"the identity file {path} is itself encrypted; decrypt it first with age -d"
            )
        if not line.upper().startswith("AGE-SECRET-KEY-1"):
            if line.startswith("AGE-SECRET-KEY-PQ-"):
                kind = "a post-quantum age identity"
            elif line.startswith("AGE-PLUGIN-"):
                kind = "an age plugin identity"
            elif line.startswith("-----BEGIN"):
                kind = "an SSH or PEM key"
            else:
                kind = "not an age identity"
            raise AgeError(
                f"line {number} of {path} is {kind}; only X25519 AGE-SECRET-KEY-1... keys work"
            )
        try:
            identities.append(X25519Identity.parse(line))
        except AgeError:
            raise AgeError(f"line {number} of {path} is not a valid age secret key") from None
    if not identities:
        raise AgeError(f"the identity file {path} holds no age secret key")
    return identities


def load_recipients_file(path: str | os.PathLike[str]) -> list[X25519Recipient]:
    """Read an age recipients file (``age -R``): one ``age1...`` per line, ``#`` comments and
    blank lines ignored."""
    recipients = []
    for number, line in _key_file_lines(path, "recipients"):
        if line.startswith("ssh-"):
            raise AgeError(f"line {number} of {path} is an SSH key; only age1... keys work")
        try:
            recipients.append(X25519Recipient.parse(line))
        except AgeError as err:
            raise AgeError(f"line {number} of {path}: {err}") from None
    if not recipients:
        raise AgeError(f"the recipients file {path} holds no recipient")
    return recipients
