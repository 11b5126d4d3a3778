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

import hmac
import io
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import IO, Any, BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

# The implementation is split by responsibility; everything stays importable from here.
from tui.core.crypto.bech32 import _bech32_decode as _bech32_decode
from tui.core.crypto.bech32 import _bech32_encode as _bech32_encode
from tui.core.crypto.errors import (
    AgeArmorError,
    AgeError,
    AgeHeaderError,
    AgeMACError,
    AgeNoMatchError,
    AgePayloadError,
    AgeTruncatedError,
    _header_error,
)
from tui.core.crypto.header import ARMOR_BEGIN as ARMOR_BEGIN
from tui.core.crypto.header import ARMOR_COLUMNS as ARMOR_COLUMNS
from tui.core.crypto.header import ARMOR_END as ARMOR_END
from tui.core.crypto.header import ARMOR_MAX_WHITESPACE as ARMOR_MAX_WHITESPACE
from tui.core.crypto.header import FILE_KEY_SIZE as FILE_KEY_SIZE
from tui.core.crypto.header import INTRO as INTRO
from tui.core.crypto.header import MAX_HEADER_SIZE as MAX_HEADER_SIZE
from tui.core.crypto.header import TAG_SIZE as TAG_SIZE
from tui.core.crypto.header import (
    Stanza,
    _b64encode,
    _Header,
    _header_mac,
    _hkdf,
    _open_source,
    _parse_header,
)
from tui.core.crypto.recipients import (
    DEFAULT_MAX_SCRYPT_WORK_FACTOR as DEFAULT_MAX_SCRYPT_WORK_FACTOR,
)
from tui.core.crypto.recipients import DEFAULT_SCRYPT_WORK_FACTOR as DEFAULT_SCRYPT_WORK_FACTOR
from tui.core.crypto.recipients import SCRYPT_LABEL as SCRYPT_LABEL
from tui.core.crypto.recipients import X25519_LABEL as X25519_LABEL
from tui.core.crypto.recipients import (
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    load_identities,
    load_recipients_file,
)

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

CHUNK_SIZE: Final = 64 * 1024
ENC_CHUNK_SIZE: Final = CHUNK_SIZE + TAG_SIZE
STREAM_NONCE_SIZE: Final = 16


# --------------------------------------------------------------------------- header


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
