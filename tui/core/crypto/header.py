"""The age header: canonical base64, recipient stanzas, ASCII armor, header parsing and the
header MAC (see ``age.py`` for the file layout)."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import tempfile
from dataclasses import dataclass, field
from typing import IO, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tui.core.crypto.errors import AgeArmorError, AgeError, AgeHeaderError, _header_error

INTRO: Final = b"age-encryption.org/v1\n"
ARMOR_BEGIN: Final = b"-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END: Final = b"-----END AGE ENCRYPTED FILE-----"
TAG_SIZE: Final = 16
FILE_KEY_SIZE: Final = 16
# Bounds for hostile input: a real header is a few hundred bytes per recipient.
MAX_HEADER_SIZE: Final = 4 * 1024 * 1024
ARMOR_MAX_WHITESPACE: Final = 1024
ARMOR_COLUMNS: Final = 64
_READ_BLOCK: Final = 16 * 1024


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


# --------------------------------------------------------------------------- stanzas


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


def _hkdf(ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


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


def _open_source(source: IO[bytes]) -> tuple[_Source, IO[bytes] | None]:
    """Wrap ``source`` for header parsing, de-armoring it first if needed. Returns the source and
    the temporary file holding de-armored ciphertext (the caller closes it), if any."""
    head = source.read(ARMOR_MAX_WHITESPACE + len(ARMOR_BEGIN) + 2) or b""
    src = _Source(source, head)
    if head.startswith(INTRO[:4]) or not _looks_armored(head):
        return src, None
    decoded = _dearmor(src)
    return _Source(decoded), decoded
