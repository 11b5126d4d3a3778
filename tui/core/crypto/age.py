"""age v1 encryption (the C2SP age spec, https://age-encryption.org/v1), written from the spec.

Supported: passphrase (``scrypt``) and X25519 (``age1...`` / ``AGE-SECRET-KEY-1...``)
recipients, reading ASCII-armored files, and a seekable decrypting reader so an encrypted zip can
be explored without ever writing its plaintext to disk. Other stanza types (post-quantum hybrid,
plugins, grease) are parsed and skipped, as the spec requires.

File layout, for reference::

    age-encryption.org/v1
    -> X25519 <base64 ephemeral share>
    <base64 wrapped file key, 64 columns per line, last line shorter (possibly empty)>
    --- <base64 HMAC-SHA256 of everything above up to and including "---">
    <16-byte nonce><STREAM chunks: 64 KiB plaintext + 16-byte tag each; the last one flagged>

Base64 in the header is canonical and unpadded; the armor uses padded base64.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tui.core.errors import PortalBackupError

__all__ = [
    "CHUNK_SIZE",
    "AgeArmorError",
    "AgeError",
    "AgeHeaderError",
    "AgeMACError",
    "AgeNoMatchError",
    "AgePayloadError",
    "AgeReader",
    "AgeTruncatedError",
    "AgeWriter",
    "Identity",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "decrypt_stream",
    "encrypt_stream",
    "is_age_file",
    "load_identities",
    "load_recipients_file",
]

INTRO: Final = b"age-encryption.org/v1\n"
ARMOR_BEGIN: Final = b"-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END: Final = b"-----END AGE ENCRYPTED FILE-----"
CHUNK_SIZE: Final = 64 * 1024
TAG_SIZE: Final = 16
ENC_CHUNK_SIZE: Final = CHUNK_SIZE + TAG_SIZE
STREAM_NONCE_SIZE: Final = 16
FILE_KEY_SIZE: Final = 16
# Bounds for hostile input: a real header is a few hundred bytes per recipient.
MAX_HEADER_SIZE: Final = 4 * 1024 * 1024
ARMOR_MAX_WHITESPACE: Final = 1024
ARMOR_COLUMNS: Final = 64
SCRYPT_LABEL: Final = b"age-encryption.org/v1/scrypt"
X25519_LABEL: Final = b"age-encryption.org/v1/X25519"
DEFAULT_SCRYPT_WORK_FACTOR: Final = 18
DEFAULT_MAX_SCRYPT_WORK_FACTOR: Final = 22
_ZERO_NONCE: Final = bytes(12)
_READ_BLOCK: Final = 16 * 1024


# --------------------------------------------------------------------------- errors


class AgeError(PortalBackupError):
    """Anything that goes wrong reading or writing an age file."""


class AgeHeaderError(AgeError):
    """The header is malformed (or is not an age header at all)."""


class AgeMACError(AgeError):
    """The header parsed and a key matched, but the header MAC is wrong: it was modified."""


class AgeNoMatchError(AgeError):
    """None of the given identities (keys, passphrases) opens any recipient stanza."""


class AgePayloadError(AgeError):
    """The payload failed authentication, is truncated or has trailing data."""


class AgeTruncatedError(AgePayloadError):
    """The payload ends before its final chunk."""


class AgeArmorError(AgeError):
    """The ASCII armor around the file is malformed."""


def _header_error(reason: str) -> AgeHeaderError:
    return AgeHeaderError(f"the encrypted file's header is invalid ({reason})")


# --------------------------------------------------------------------------- base64


_B64_ALPHABET = re.compile(rb"[A-Za-z0-9+/]*")


def _b64encode(data: bytes) -> bytes:
    """Canonical unpadded base64, as the header uses."""
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes, what: str) -> bytes:
    """Strict unpadded base64: the re-encoding must match, which rejects non-zero spare bits."""
    if not _B64_ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise _header_error(f"{what} is not valid base64")
    data = base64.b64decode(text + b"=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise _header_error(f"{what} is not canonical base64")
    return data


# --------------------------------------------------------------------------- bech32 (BIP 173)

_BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Sequence[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ value
        for i, gen in enumerate(_BECH32_GEN):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        raise ValueError("invalid padding")
    return out


def _bech32_encode(hrp: str, data: bytes) -> str:
    """Lowercase Bech32 (not Bech32m); age lifts the 90-character limit, which we never reach."""
    values = _convert_bits(data, 8, 5, pad=True)
    poly = _bech32_polymod([*_bech32_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(poly >> (5 * (5 - i))) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[v] for v in values + checksum)


def _bech32_decode(text: str) -> tuple[str, bytes]:
    """Return (lowercase hrp, data); raises ValueError on any defect."""
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise ValueError("invalid character")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise ValueError("separator misplaced")
    hrp, rest = text[:sep], text[sep + 1 :]
    try:
        values = [_BECH32_CHARSET.index(c) for c in rest]
    except ValueError:
        raise ValueError("invalid data character") from None
    if _bech32_polymod([*_bech32_hrp_expand(hrp), *values]) != 1:
        raise ValueError("bad checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))


# --------------------------------------------------------------------------- stanzas and keys


@dataclass(frozen=True)
class Stanza:
    """One recipient stanza: ``-> type arg...`` and its body."""

    type: str
    args: tuple[str, ...]
    body: bytes = field(repr=False)

    def encode(self) -> bytes:
        for word in (self.type, *self.args):
            if not word or any(not 0x21 <= ord(c) <= 0x7E for c in word):
                raise AgeError(f"an age stanza argument is invalid: {word!r}")
        out = bytearray(b"-> " + " ".join((self.type, *self.args)).encode("ascii") + b"\n")
        text = _b64encode(self.body)
        for i in range(0, len(text), ARMOR_COLUMNS):
            out += text[i : i + ARMOR_COLUMNS] + b"\n"
        if len(text) % ARMOR_COLUMNS == 0:
            out += b"\n"  # the body always ends with a short (here empty) line
        return bytes(out)


@runtime_checkable
class Recipient(Protocol):
    """Something that wraps a file key into stanzas."""

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


@runtime_checkable
class Identity(Protocol):
    """Something that may unwrap a file key. Returns None when no stanza is for it; raises
    AgeHeaderError when a stanza of its type is malformed (the spec makes that fatal)."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def _hkdf(ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


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


# --------------------------------------------------------------------------- input plumbing


class _Source:
    """A binary stream with a push-back buffer and a byte count, for parsing line by line."""

    def __init__(self, raw: IO[bytes], prefix: bytes = b"") -> None:
        self._raw = raw
        self._buf = bytearray(prefix)
        self.consumed = 0

    def _fill(self) -> bool:
        data = self._raw.read(_READ_BLOCK)
        if not data:
            return False
        self._buf += data
        return True

    def readline(self, limit: int) -> bytes:
        """Up to and including the next LF (or the rest at EOF); raises ValueError past limit."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                if end >= limit:
                    raise ValueError("line too long")
                return self._take(end + 1)
            if len(self._buf) > limit:
                raise ValueError("line too long")
            start = len(self._buf)
            if not self._fill():
                return self._take(len(self._buf))

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes unless EOF comes first."""
        if not self._buf:  # the hot path for payload chunks: no extra copy
            data = self._raw.read(size)
            if not data or len(data) == size:
                self.consumed += len(data)
                return data
            self._buf += data
        while len(self._buf) < size:
            data = self._raw.read(size - len(self._buf))
            if not data:
                break
            self._buf += data
        return self._take(min(size, len(self._buf)))

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.consumed += n
        return out


def _looks_armored(head: bytes) -> bool:
    """Loose on purpose: anything armor-like goes to the armor parser, whose errors say what is
    wrong with the armor, rather than to the binary parser ("not an age file")."""
    return head.lstrip(b" \t\r\n\v\f").startswith(b"-----") or b"BEGIN AGE ENCRYPTED" in head


def _dearmor(src: _Source) -> IO[bytes]:
    """Decode a whole armored file into a spooled temporary file (ciphertext only, so spilling to
    disk leaks nothing). Rules: padded canonical base64, 64 columns except a shorter last line,
    LF or CRLF line ends, whitespace allowed only around the armor."""
    limit = 4 * ARMOR_COLUMNS

    def line() -> bytes | None:
        try:
            raw = src.readline(limit)
        except ValueError:
            raise AgeArmorError("the armored file has an overlong line") from None
        if not raw:
            return None
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        return raw

    whitespace = 0
    while True:
        first = line()
        if first is None:
            raise AgeArmorError("the armored file has no BEGIN line")
        if first.strip() == b"":
            whitespace += len(first) + 1
            if whitespace > ARMOR_MAX_WHITESPACE:
                raise AgeArmorError("the armored file starts with too much whitespace")
            continue
        if first != ARMOR_BEGIN:
            raise AgeArmorError("the armored file does not start with the age BEGIN line")
        break

    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 (returned)
    try:
        text = line()
        while text != ARMOR_END:
            if text is None:
                raise AgeArmorError("the armored file has no END line")
            if not text or len(text) > ARMOR_COLUMNS:
                raise AgeArmorError("the armored file has a line of the wrong length")
            try:
                data = base64.b64decode(text, validate=True)
            except binascii.Error:
                raise AgeArmorError("the armored file holds invalid base64") from None
            if base64.b64encode(data) != text:
                raise AgeArmorError("the armored file holds non-canonical base64")
            out.write(data)
            text = line()
            if len(data) < ARMOR_COLUMNS // 4 * 3 and text != ARMOR_END:
                raise AgeArmorError("the armored file has a short line before its end")
        tail = src.read(ARMOR_MAX_WHITESPACE + 1)
        if tail.strip():
            raise AgeArmorError("the armored file has data after its END line")
        if len(tail) > ARMOR_MAX_WHITESPACE:
            raise AgeArmorError("the armored file ends with too much whitespace")
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class _Header:
    stanzas: tuple[Stanza, ...]
    mac: bytes
    mac_input: bytes  # the header bytes the MAC covers: up to and including "---"
    size: int  # bytes from the start of the file through the MAC line's LF


def _parse_header(src: _Source) -> _Header:
    start = src.consumed

    def line() -> bytes:
        try:
            text = src.readline(MAX_HEADER_SIZE)
        except ValueError:
            raise _header_error("it is too large") from None
        if src.consumed - start > MAX_HEADER_SIZE:
            raise _header_error("it is too large")
        if not text.endswith(b"\n"):
            raise AgeHeaderError("the encrypted file is truncated inside its header")
        return text

    try:
        intro = src.readline(256)
    except ValueError:
        raise AgeHeaderError("the file is not an age encrypted file") from None
    if intro != INTRO:
        if not intro:
            raise AgeHeaderError("the file is empty or not an age encrypted file")
        if intro.startswith(b"age-encryption.org/") and intro.rstrip(b"\n") != INTRO[:-1]:
            raise AgeHeaderError("the file uses an age format version this tool does not support")
        raise AgeHeaderError("the file is not an age encrypted file")
    mac_input = bytearray(intro)
    stanzas: list[Stanza] = []
    while True:
        text = line()
        if text.startswith(b"-> "):
            mac_input += text
            words = text[3:-1].split(b" ")
            for word in words:
                if not word or any(not 0x21 <= c <= 0x7E for c in word):
                    raise _header_error("a stanza has an empty or invalid argument")
            pieces = []
            while True:
                body_line = line()
                mac_input += body_line
                piece = body_line[:-1]
                if len(piece) > ARMOR_COLUMNS:
                    raise _header_error("a stanza body line is longer than 64 columns")
                pieces.append(piece)
                if len(piece) < ARMOR_COLUMNS:
                    break  # a short line (possibly empty) ends every body
            body = _b64decode(b"".join(pieces), "a stanza body")
            kind, *args = (w.decode("ascii") for w in words)
            stanzas.append(Stanza(kind, tuple(args), body))
        elif text.startswith(b"---"):
            if not text.startswith(b"--- "):
                raise _header_error("the MAC line is malformed")
            mac_input += b"---"
            mac = _b64decode(text[4:-1], "the header MAC")
            if len(mac) != 32:
                raise _header_error("the header MAC has the wrong length")
            break
        else:
            raise _header_error("a line is neither a stanza nor the MAC line")
    if not stanzas:
        raise _header_error("it has no recipients")
    if len(stanzas) > 1 and any(s.type == "scrypt" for s in stanzas):
        raise _header_error("a passphrase stanza must be the only stanza")
    return _Header(tuple(stanzas), mac, bytes(mac_input), src.consumed - start)


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.digest(_hkdf(file_key, None, b"header"), mac_input, "sha256")


def _open_header(header: _Header, identities: Sequence[Identity]) -> bytes:
    """Find the file key with the identities, then authenticate the header with it."""
    for identity in identities:
        file_key = identity.unwrap(header.stanzas)
        if file_key is not None:
            break
    else:
        raise _no_match(header, identities)
    if len(file_key) != FILE_KEY_SIZE:
        raise _header_error("the file key has the wrong length")
    if not hmac.compare_digest(_header_mac(file_key, header.mac_input), header.mac):
        raise AgeMACError("the encrypted file's header was modified (its MAC does not match)")
    return file_key


def _no_match(header: _Header, identities: Sequence[Identity]) -> AgeNoMatchError:
    types = {s.type for s in header.stanzas}
    if not types & {"X25519", "scrypt"}:
        found = ", ".join(sorted(types))
        return AgeNoMatchError(
            f"no identity matched: the file is encrypted only for recipient types this tool "
            f"does not support ({found})"
        )
    if not identities:
        return AgeNoMatchError("no key or passphrase was given to decrypt the file")
    if "scrypt" in types and not any(isinstance(i, ScryptIdentity) for i in identities):
        return AgeNoMatchError("the file is encrypted with a passphrase, but none was given")
    return AgeNoMatchError("wrong passphrase or not encrypted for this key")


def _payload_aead(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))


def _chunk_nonce(index: int, last: bool) -> bytes:
    # 11-byte big-endian counter, then the last-chunk flag.
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _open_source(source: IO[bytes]) -> tuple[_Source, IO[bytes] | None]:
    """Wrap ``source`` for header parsing, de-armoring it first if needed. Returns the source and
    the temporary file holding de-armored ciphertext (the caller closes it), if any."""
    head = source.read(ARMOR_MAX_WHITESPACE + len(ARMOR_BEGIN) + 2) or b""
    src = _Source(source, head)
    if head.startswith(INTRO[:4]) or not _looks_armored(head):
        return src, None
    decoded = _dearmor(src)
    return _Source(decoded), decoded


# --------------------------------------------------------------------------- writing


def _write_all(sink: IO[bytes], data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = sink.write(view)
        if written is None or written >= len(view):
            return
        view = view[written:]


class AgeWriter(io.RawIOBase):
    """A write-only file object that encrypts to ``recipients`` into ``sink``.

    The header goes out at once; plaintext is cut into 64 KiB chunks. A full chunk is held back
    until more data arrives, because only ``close()`` knows which chunk is last. If the writer is
    dropped without ``close()`` (or a ``with`` block exits with an exception) the final chunk is
    NOT written, so readers report the file as truncated instead of accepting a partial stream.
    """

    def __init__(
        self, sink: IO[bytes], recipients: Sequence[Recipient], *, close_sink: bool = False
    ) -> None:
        super().__init__()
        # Set first: __del__ and close() rely on them even if the constructor fails.
        self._sink = sink
        self._close_sink = close_sink
        self._aborted = True
        if not recipients:
            raise AgeError("no recipient was given to encrypt to")
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
        if len(stanzas) > 1 and any(s.type == "scrypt" for s in stanzas):
            raise AgeError("a passphrase cannot be combined with other recipients")
        header = INTRO + b"".join(s.encode() for s in stanzas) + b"---"
        mac = _header_mac(file_key, header)
        nonce = os.urandom(STREAM_NONCE_SIZE)
        self._aead = _payload_aead(file_key, nonce)
        self._buf = bytearray()
        self._counter = 0
        self._written = 0
        _write_all(sink, header + b" " + _b64encode(mac) + b"\n" + nonce)
        self._aborted = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._written

    def _emit(self, data: bytes | bytearray | memoryview, last: bool) -> None:
        _write_all(self._sink, self._aead.encrypt(_chunk_nonce(self._counter, last), data, None))
        self._counter += 1

    def write(self, b: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed AgeWriter")
        view = memoryview(b).cast("B")
        n = len(view)
        buf = self._buf
        room = CHUNK_SIZE - len(buf)
        if n <= room:
            buf += view
        else:
            # More arrives than fits, so the buffered chunk is not the last one.
            if buf:
                buf += view[:room]
                view = view[room:]
                self._emit(buf, last=False)
                buf.clear()
            # Encrypt straight from the caller's memory; keep the tail (even a full chunk).
            while len(view) > CHUNK_SIZE:
                self._emit(view[:CHUNK_SIZE], last=False)
                view = view[CHUNK_SIZE:]
            buf += view
        self._written += n
        return n

    def abort(self) -> None:
        """Close without the final chunk: the output is then detectably incomplete."""
        self._aborted = True
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._aborted:
                self._emit(self._buf, last=True)
                self._buf = bytearray()
                self._sink.flush()
        finally:
            try:
                if self._close_sink:
                    self._sink.close()
            finally:
                super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # IOBase.__del__ would call close() and finalise a stream nobody finished writing.
        if not self.closed:
            self._aborted = True
        super().__del__()


def encrypt_stream(
    source: IO[bytes], sink: IO[bytes], recipients: Sequence[Recipient], bufsize: int = 1 << 20
) -> int:
    """Encrypt all of ``source`` into ``sink``; returns the plaintext length."""
    with AgeWriter(sink, recipients) as writer:
        while data := source.read(bufsize):
            writer.write(data)
        return writer.tell()


# --------------------------------------------------------------------------- reading


def decrypt_stream(source: IO[bytes], sink: IO[bytes], identities: Sequence[Identity]) -> int:
    """Decrypt ``source`` (any readable binary stream, armored or not) into ``sink``, chunk by
    chunk; returns the plaintext length. Only authenticated chunks reach ``sink``, but when an
    error is raised part of the plaintext may already have been written."""
    src, temp = _open_source(source)
    try:
        header = _parse_header(src)
        file_key = _open_header(header, identities)
        nonce = src.read(STREAM_NONCE_SIZE)
        if len(nonce) != STREAM_NONCE_SIZE:
            raise AgeHeaderError("the encrypted file is truncated right after its header")
        aead = _payload_aead(file_key, nonce)
        index = total = 0
        chunk = src.read(ENC_CHUNK_SIZE)
        if not chunk:
            raise AgeTruncatedError("the encrypted file is truncated")
        while True:
            # Reading the next chunk first tells whether this one must be the last.
            following = src.read(ENC_CHUNK_SIZE) if len(chunk) == ENC_CHUNK_SIZE else b""
            if following:
                try:
                    plain = aead.decrypt(_chunk_nonce(index, False), chunk, None)
                except InvalidTag:
                    try:
                        plain = aead.decrypt(_chunk_nonce(index, True), chunk, None)
                    except InvalidTag:
                        raise _modified(index) from None
                    _write_all(sink, plain)
                    raise AgePayloadError(
                        "the encrypted file has unexpected data after its end"
                    ) from None
                _write_all(sink, plain)
                total += len(plain)
                index += 1
                chunk = following
                continue
            if len(chunk) == TAG_SIZE and index > 0:
                raise AgePayloadError("the encrypted file is invalid (its last chunk is empty)")
            try:
                plain = aead.decrypt(_chunk_nonce(index, True), chunk, None)
            except InvalidTag:
                cut_short = _try_not_last(aead, index, chunk)
                if cut_short is None:
                    raise _modified_last(index) from None
                _write_all(sink, cut_short)
                raise AgeTruncatedError("the encrypted file is truncated") from None
            _write_all(sink, plain)
            return total + len(plain)
    finally:
        if temp is not None:
            temp.close()


def _try_not_last(aead: ChaCha20Poly1305, index: int, data: bytes) -> bytes | None:
    """A full chunk that only authenticates as non-final means the rest of the file is gone."""
    if len(data) != ENC_CHUNK_SIZE:
        return None
    try:
        return aead.decrypt(_chunk_nonce(index, False), data, None)
    except InvalidTag:
        return None


def _modified(index: int) -> AgePayloadError:
    return AgePayloadError(f"the encrypted file was modified (chunk {index} failed authentication)")


def _modified_last(index: int) -> AgePayloadError:
    # A cut inside the last chunk looks exactly like a modification of it.
    return AgePayloadError(
        f"the encrypted file is truncated or was modified (its last chunk, {index}, "
        "failed authentication)"
    )


class AgeReader(io.RawIOBase):
    """A seekable, read-only view of the plaintext of an age file.

    The header is parsed and authenticated on construction, and the last chunk is decrypted
    right away, so truncation is detected up front and ``size`` (the plaintext length, computed
    from the ciphertext length) can be trusted. Reads decrypt only the chunks they touch and keep
    a few recent ones; nothing is ever written to disk. Not thread-safe: give each thread its own
    reader over its own file handle.
    """

    def __init__(
        self,
        source: IO[bytes],
        identities: Sequence[Identity],
        *,
        close_source: bool = False,
        cache_chunks: int = 4,
    ) -> None:
        super().__init__()
        # Set first: close() (also run by __del__) relies on them even if the constructor fails.
        self._given = source
        self._close_source = close_source
        self._owned: IO[bytes] | None = None
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_chunks = max(2, cache_chunks)
        self._pos = 0
        self._source = source
        try:
            if not source.seekable():
                raise AgeError(
                    "an encrypted archive must be a regular, seekable file to be explored"
                )
            start = source.tell()
            src, self._owned = _open_source(source)
            if self._owned is not None:
                source, start = self._owned, 0
                self._source = source
            header = _parse_header(src)
            file_key = _open_header(header, identities)
            self._setup(file_key, start + header.size)
        except BaseException:
            self._release()
            raise

    def _setup(self, file_key: bytes, nonce_offset: int) -> None:
        source = self._source
        source.seek(nonce_offset)
        nonce = source.read(STREAM_NONCE_SIZE)
        if len(nonce) != STREAM_NONCE_SIZE:
            raise AgeHeaderError("the encrypted file is truncated right after its header")
        self._aead = _payload_aead(file_key, nonce)
        self._payload_start = nonce_offset + STREAM_NONCE_SIZE
        payload_len = source.seek(0, io.SEEK_END) - self._payload_start
        if payload_len <= 0:
            raise AgeTruncatedError("the encrypted file is truncated")
        full, rest = divmod(payload_len, ENC_CHUNK_SIZE)
        self._chunks = full + (1 if rest else 0)
        self._last_len = rest or ENC_CHUNK_SIZE
        last = self._chunks - 1
        if self._last_len == TAG_SIZE and last > 0:
            raise AgePayloadError("the encrypted file is invalid (its last chunk is empty)")
        if self._last_len < TAG_SIZE:
            raise _modified_last(last)
        self.size = last * CHUNK_SIZE + self._last_len - TAG_SIZE
        data = self._read_chunk(last)
        try:
            plain = self._aead.decrypt(_chunk_nonce(last, True), data, None)
        except InvalidTag:
            if _try_not_last(self._aead, last, data) is not None:
                raise AgeTruncatedError("the encrypted file is truncated") from None
            raise _modified_last(last) from None
        self._cache[last] = plain

    def _read_chunk(self, index: int) -> bytes:
        length = self._last_len if index == self._chunks - 1 else ENC_CHUNK_SIZE
        self._source.seek(self._payload_start + index * ENC_CHUNK_SIZE)
        data = self._source.read(length)
        if len(data) != length:
            raise AgeTruncatedError("the encrypted file is truncated (it shrank while open)")
        return data

    def _chunk(self, index: int) -> bytes:
        plain = self._cache.get(index)
        if plain is not None:
            self._cache.move_to_end(index)
            return plain
        last = index == self._chunks - 1
        try:
            plain = self._aead.decrypt(_chunk_nonce(index, last), self._read_chunk(index), None)
        except InvalidTag:
            raise (_modified_last(index) if last else _modified(index)) from None
        self._cache[index] = plain
        if len(self._cache) > self._cache_chunks:
            self._cache.popitem(last=False)
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` as far as the plaintext goes (never a short read before EOF)."""
        self._check_open()
        out = memoryview(buffer).cast("B")
        done = 0
        want = min(len(out), max(0, self.size - self._pos))
        while done < want:
            index, offset = divmod(self._pos, CHUNK_SIZE)
            plain = self._chunk(index)
            n = min(want - done, len(plain) - offset)
            out[done : done + n] = plain[offset : offset + n]
            done += n
            self._pos += n
        return done

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        remaining = max(0, self.size - self._pos)
        n = remaining if size is None or size < 0 else min(size, remaining)
        if n == 0:
            return b""
        pieces = []
        end = self._pos + n
        while self._pos < end:
            index, offset = divmod(self._pos, CHUNK_SIZE)
            # Slicing a whole chunk returns it uncopied, so a large read costs one join.
            piece = self._chunk(index)[offset : offset + end - self._pos]
            pieces.append(piece)
            self._pos += len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readall(self) -> bytes:
        return self.read(-1)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed AgeReader")

    def _release(self) -> None:
        self._cache.clear()
        if self._owned is not None:
            self._owned.close()
            self._owned = None
        if self._close_source:
            self._given.close()

    def close(self) -> None:
        if not self.closed:
            try:
                self._release()
            finally:
                super().close()


def is_age_file(file: str | os.PathLike[str] | BinaryIO) -> bool:
    """Whether ``file`` starts like an age file (binary intro line or ASCII armor). A file object
    is read from its current position and put back there."""
    size = ARMOR_MAX_WHITESPACE + len(ARMOR_BEGIN)
    if isinstance(file, (str, os.PathLike)):
        try:
            with open(file, "rb") as handle:
                head = handle.read(size)
        except IsADirectoryError:
            return False
    else:
        pos = file.tell()
        try:
            head = file.read(size) or b""
        finally:
            file.seek(pos)
    if head.startswith(INTRO):
        return True
    stripped = head.lstrip(b" \t\r\n\v\f")
    return len(head) - len(stripped) <= ARMOR_MAX_WHITESPACE and stripped.startswith(ARMOR_BEGIN)
