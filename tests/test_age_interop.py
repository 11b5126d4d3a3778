"""Our age implementation against the stock ``age`` tool, plus the reader's and writer's contracts.

These tests need ``age`` and ``age-keygen`` (Debian package ``age``). They are skipped when the
tools are missing on a developer machine, and fail when they are missing in CI (``CI=true``).
The stock tool reads passphrases only from a terminal, so those tests drive it through a pty.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import pty
import select
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tui.core.crypto.age import (
    CHUNK_SIZE,
    AgeError,
    AgeHeaderError,
    AgeMACError,
    AgeNoMatchError,
    AgePayloadError,
    AgeReader,
    AgeTruncatedError,
    AgeWriter,
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    _bech32_encode,
    decrypt_stream,
    encrypt_stream,
    is_age_file,
    load_identities,
    load_recipients_file,
)

ENC_CHUNK = CHUNK_SIZE + 16
TEST_WORK_FACTOR = 10  # fast scrypt for tests; one test uses the stock tool's default (18)
PASSPHRASE = "correct horse battery staple ünïcode"
Sample = tuple[bytes, bytes, list[Identity], int]
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 100]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"the stock {name} tool is not installed (Debian package 'age')"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}; CI must install it so the interop tests run")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def age_bin() -> str:
    return _tool("age")


@pytest.fixture(scope="module")
def keygen_bin() -> str:
    return _tool("age-keygen")


@pytest.fixture
def keyfile(tmp_path: Path, keygen_bin: str) -> tuple[Path, str]:
    """An identity file made by age-keygen, and its recipient as age-keygen -y prints it."""
    path = tmp_path / "key.txt"
    subprocess.run([keygen_bin, "-o", str(path)], check=True, capture_output=True, timeout=30)
    recipient = subprocess.run(
        [keygen_bin, "-y", str(path)], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return path, recipient


def _payload(size: int, seed: int = 1) -> bytes:
    """Deterministic, incompressible-looking bytes (fast even for megabytes)."""
    out = bytearray()
    block = hashlib.sha512(seed.to_bytes(8, "big")).digest()
    while len(out) < size:
        block = hashlib.sha512(block).digest()
        out += block * 64
    return bytes(out[:size])


def _encrypt_ours(plain: bytes, recipients: Sequence[Recipient], write_size: int = 10_000) -> bytes:
    sink = io.BytesIO()
    with AgeWriter(sink, recipients) as writer:
        view = memoryview(plain)
        for start in range(0, len(plain), write_size):
            writer.write(view[start : start + write_size])
    return sink.getvalue()


def _age(age_bin: str, *args: str, data: bytes = b"") -> bytes:
    result = subprocess.run(
        [age_bin, *args], input=data, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"age {' '.join(args)} failed: {result.stderr.decode()}"
    return result.stdout


def _run_in_pty(argv: list[str], answers: list[tuple[bytes, bytes]], timeout: float = 120) -> bytes:
    """Run ``argv`` with a pty as its controlling terminal; each time the next expected prompt
    appears in its output, type the answer. Synchronised on output, never on sleeps."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the program (pty.fork made the pty our terminal)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = bytearray()
    pending = list(answers)
    scanned = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, 9)
                pytest.fail(f"{argv[0]} did not finish; output so far: {bytes(output)!r}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed its side of the terminal
                break
            if not data:
                break
            output += data
            while pending and pending[0][0] in output[scanned:]:
                scanned = output.index(pending[0][0], scanned) + len(pending[0][0])
                os.write(fd, pending.pop(0)[1])
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, f"{' '.join(argv)} exited with {code}: {bytes(output)!r}"
    assert not pending, f"prompts never seen: {pending!r}; output: {bytes(output)!r}"
    return bytes(output)


def _read_all_ways(ciphertext: bytes, identities: Sequence[Identity]) -> bytes:
    """Decrypt with both readers and insist they agree."""
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), sink, identities)
    with AgeReader(io.BytesIO(ciphertext), identities) as reader:
        plain = reader.read()
        assert reader.size == len(plain)
    assert sink.getvalue() == plain
    return plain


# --------------------------------------------------------------------------- X25519 interop


@pytest.mark.parametrize("size", SIZES)
def test_our_x25519_file_decrypts_with_stock_age(
    tmp_path: Path, age_bin: str, keyfile: tuple[Path, str], size: int
) -> None:
    key, recipient = keyfile
    plain = _payload(size)
    encrypted = tmp_path / "data.age"
    encrypted.write_bytes(_encrypt_ours(plain, [X25519Recipient.parse(recipient)]))
    assert _age(age_bin, "-d", "-i", str(key), str(encrypted)) == plain


@pytest.mark.parametrize("size", SIZES)
def test_stock_age_x25519_file_decrypts_with_ours(
    age_bin: str, keyfile: tuple[Path, str], size: int
) -> None:
    key, recipient = keyfile
    plain = _payload(size, seed=size)
    ciphertext = _age(age_bin, "-r", recipient, data=plain)
    assert is_age_file(io.BytesIO(ciphertext))
    assert _read_all_ways(ciphertext, load_identities(key)) == plain


def test_stock_age_armored_and_recipients_file(tmp_path: Path, age_bin: str) -> None:
    identities = [X25519Identity.generate(), X25519Identity.generate()]
    recipients = tmp_path / "recipients.txt"
    recipients.write_text("# backup keys\n\n" + "".join(f"{i.recipient()}\n" for i in identities))
    assert load_recipients_file(recipients) == [i.recipient() for i in identities]
    plain = _payload(200_000)
    armored = _age(age_bin, "-a", "-R", str(recipients), data=plain)
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert is_age_file(io.BytesIO(armored))
    for identity in identities:
        assert _read_all_ways(armored, [identity]) == plain
    given = io.BytesIO(armored)
    with AgeReader(given, identities[:1], close_source=True) as reader:
        reader.seek(100_000)
        assert reader.read(10) == plain[100_000:100_010]
    assert given.closed, "close_source closes the caller's file, not only the decoded copy"


def test_identity_file_from_age_keygen(keyfile: tuple[Path, str]) -> None:
    key, recipient = keyfile
    (identity,) = load_identities(key)
    secret_line = next(line for line in key.read_text().splitlines() if line.startswith("AGE-"))
    assert str(identity) == secret_line
    assert str(identity.recipient()) == recipient
    assert "AGE-SECRET-KEY" not in repr(identity), "reprs must not leak the secret"


def test_generated_identity_works_with_stock_age(tmp_path: Path, age_bin: str) -> None:
    identity = X25519Identity.generate()
    key = tmp_path / "ours.txt"
    key.write_text(f"# made by portal-backup\n{identity}\n")
    assert X25519Identity.parse(str(identity)).recipient() == identity.recipient()
    plain = _payload(70_000)
    ciphertext = _age(age_bin, "-r", str(identity.recipient()), data=plain)
    assert _age(age_bin, "-d", "-i", str(key), data=ciphertext) == plain
    assert _read_all_ways(ciphertext, load_identities(key)) == plain


def test_multi_megabyte_round_trip(tmp_path: Path, age_bin: str, keyfile: tuple[Path, str]) -> None:
    key, recipient = keyfile
    plain = _payload(8 * 1024 * 1024 + 12_345, seed=7)
    ours = tmp_path / "ours.age"
    with ours.open("wb") as sink:
        assert encrypt_stream(io.BytesIO(plain), sink, [X25519Recipient.parse(recipient)]) == len(
            plain
        )
    chunks = -(-len(plain) // CHUNK_SIZE)
    header_len = ours.read_bytes().index(b"\n---") + len("\n--- ") + 43 + 1
    assert ours.stat().st_size == header_len + 16 + len(plain) + 16 * chunks
    assert _age(age_bin, "-d", "-i", str(key), str(ours)) == plain
    theirs = _age(age_bin, "-r", recipient, data=plain)
    assert _read_all_ways(theirs, load_identities(key)) == plain


def test_decrypt_stream_from_a_pipe(age_bin: str, keyfile: tuple[Path, str]) -> None:
    key, recipient = keyfile
    plain = _payload(300_000, seed=3)
    proc = subprocess.Popen(
        [age_bin, "-r", recipient], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:  # from a thread: age writes while it reads, so pipes would deadlock
        with stdin:
            stdin.write(plain)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    sink = io.BytesIO()
    try:
        assert decrypt_stream(proc.stdout, sink, load_identities(key)) == len(plain)
    finally:
        feeder.join(timeout=60)
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
    assert sink.getvalue() == plain


# --------------------------------------------------------------------------- passphrases


def test_our_passphrase_file_decrypts_with_stock_age(tmp_path: Path, age_bin: str) -> None:
    plain = _payload(150_000, seed=11)
    encrypted = tmp_path / "secret.age"
    encrypted.write_bytes(_encrypt_ours(plain, [ScryptRecipient(PASSPHRASE, TEST_WORK_FACTOR)]))
    out = tmp_path / "secret.out"
    _run_in_pty(
        [age_bin, "-d", "-o", str(out), str(encrypted)],
        [(b"Enter passphrase", PASSPHRASE.encode() + b"\n")],
    )
    assert out.read_bytes() == plain


def test_stock_age_passphrase_file_decrypts_with_ours(tmp_path: Path, age_bin: str) -> None:
    """The stock tool's default work factor (2^18), unlike the other, faster tests."""
    plain = _payload(100_000, seed=12)
    source = tmp_path / "plain.bin"
    source.write_bytes(plain)
    encrypted = tmp_path / "plain.bin.age"
    answer = PASSPHRASE.encode() + b"\n"
    _run_in_pty(
        [age_bin, "-p", "-o", str(encrypted), str(source)],
        [(b"Enter passphrase", answer), (b"Confirm passphrase", answer)],
    )
    ciphertext = encrypted.read_bytes()
    assert b"\n-> scrypt " in ciphertext[:100]
    assert _read_all_ways(ciphertext, [ScryptIdentity(PASSPHRASE)]) == plain
    with pytest.raises(AgeNoMatchError, match=r"^wrong passphrase or not encrypted for this key$"):
        AgeReader(io.BytesIO(ciphertext), [ScryptIdentity("not it")])


def test_scrypt_work_factor_limit_and_exclusivity() -> None:
    ciphertext = _encrypt_ours(b"x", [ScryptRecipient(PASSPHRASE, work_factor=12)])
    assert b" 12\n" in ciphertext[:120]
    with pytest.raises(AgeHeaderError, match="work factor"):
        AgeReader(io.BytesIO(ciphertext), [ScryptIdentity(PASSPHRASE, max_work_factor=11)])
    assert _read_all_ways(ciphertext, [ScryptIdentity(PASSPHRASE)]) == b"x"
    with pytest.raises(AgeError, match="passphrase cannot be combined"):
        AgeWriter(
            io.BytesIO(),
            [ScryptRecipient(PASSPHRASE, TEST_WORK_FACTOR), X25519Identity.generate().recipient()],
        )
    with pytest.raises(AgeNoMatchError, match="encrypted with a passphrase, but none was given"):
        decrypt_stream(io.BytesIO(ciphertext), io.BytesIO(), [X25519Identity.generate()])


# --------------------------------------------------------------------------- random access


def test_random_access_at_chunk_boundaries(age_bin: str, keyfile: tuple[Path, str]) -> None:
    key, recipient = keyfile
    plain = _payload(3 * CHUNK_SIZE + 1000, seed=5)
    ciphertext = _age(age_bin, "-r", recipient, data=plain)
    with AgeReader(io.BytesIO(ciphertext), load_identities(key)) as reader:
        assert reader.seekable() and reader.readable()
        assert reader.size == len(plain)
        end = len(plain)
        for offset in (0, 65535, 65536, 65537, end - 1, 2 * CHUNK_SIZE - 3, 5):
            for length in (1, 2, 100, CHUNK_SIZE + 7, 10 * CHUNK_SIZE):
                assert reader.seek(offset) == offset
                assert reader.read(length) == plain[offset : offset + length], (offset, length)
                assert reader.tell() == min(end, offset + length)
            buffer = bytearray(3000)
            reader.seek(offset)
            got = reader.readinto(buffer)
            assert bytes(buffer[:got]) == plain[offset : offset + 3000]
        assert reader.seek(-10, io.SEEK_END) == end - 10
        assert reader.read() == plain[-10:]
        assert reader.read(5) == b""
        reader.seek(end + 100)
        assert reader.read(1) == b""
        reader.seek(CHUNK_SIZE)
        reader.seek(-2, io.SEEK_CUR)
        assert reader.read(4) == plain[CHUNK_SIZE - 2 : CHUNK_SIZE + 2]


def test_zipfile_reads_straight_from_an_encrypted_zip() -> None:
    """The use case: explore an encrypted archive without decrypting it to disk."""
    identity = X25519Identity.generate()
    members = {f"dir/file{i}.bin": _payload(i * 40_000 + 3, seed=i) for i in range(6)}
    sink = io.BytesIO()
    with (
        AgeWriter(sink, [identity.recipient()]) as writer,
        zipfile.ZipFile(writer, "w", zipfile.ZIP_STORED) as archive,
    ):
        for name, data in members.items():
            archive.writestr(name, data)
    with (
        AgeReader(io.BytesIO(sink.getvalue()), [identity]) as reader,
        zipfile.ZipFile(reader) as archive,
    ):
        assert archive.testzip() is None
        for name in reversed(list(members)):
            assert archive.read(name) == members[name]


# --------------------------------------------------------------------------- tampering


@pytest.fixture
def sample(age_bin: str, keyfile: tuple[Path, str]) -> Sample:
    """(plaintext, stock-age ciphertext of 4 chunks, identities, payload offset)."""
    key, recipient = keyfile
    plain = _payload(3 * CHUNK_SIZE + 500, seed=9)
    ciphertext = _age(age_bin, "-r", recipient, data=plain)
    payload_start = ciphertext.index(b"\n---") + len("\n--- ") + 43 + 1 + 16
    assert len(ciphertext) == payload_start + len(plain) + 4 * 16
    identities: list[Identity] = [*load_identities(key)]
    return plain, ciphertext, identities, payload_start


def _chunk_at(start: int, index: int) -> int:
    return start + index * ENC_CHUNK


def _both_fail(
    ciphertext: bytes, identities: Sequence[Identity], error: type[AgeError], message: str
) -> None:
    """Both readers refuse; AgeReader may only fail once the bad chunk is read."""
    with pytest.raises(error) as info:
        decrypt_stream(io.BytesIO(ciphertext), io.BytesIO(), identities)
    assert str(info.value) == message
    with pytest.raises(error) as info, AgeReader(io.BytesIO(ciphertext), identities) as reader:
        reader.read()
    assert str(info.value) == message


def test_truncated_at_chunk_boundary(sample: Sample) -> None:
    _, ciphertext, identities, start = sample
    cut = ciphertext[: _chunk_at(start, 3)]  # the final chunk is gone: chunk 2 is now last
    _both_fail(cut, identities, AgeTruncatedError, "the encrypted file is truncated")
    # Truncation is found when the reader opens, before any plaintext is handed out.
    with pytest.raises(AgeTruncatedError):
        AgeReader(io.BytesIO(cut), identities)


def test_truncated_inside_a_chunk(sample: Sample) -> None:
    _, ciphertext, identities, start = sample
    cut = ciphertext[: _chunk_at(start, 2) + 1000]
    message = (
        "the encrypted file is truncated or was modified (its last chunk, 2, failed authentication)"
    )
    _both_fail(cut, identities, AgePayloadError, message)
    with pytest.raises(AgePayloadError):
        AgeReader(io.BytesIO(cut), identities)
    with pytest.raises(AgeTruncatedError, match=r"^the encrypted file is truncated$"):
        AgeReader(io.BytesIO(ciphertext[:start]), identities)  # the nonce, then nothing
    with pytest.raises(AgeHeaderError, match="truncated right after its header"):
        AgeReader(io.BytesIO(ciphertext[: start - 5]), identities)  # a cut nonce
    with pytest.raises(AgeHeaderError, match="truncated inside its header"):
        AgeReader(io.BytesIO(ciphertext[:40]), identities)


def test_one_bit_flipped(sample: Sample) -> None:
    plain, ciphertext, identities, start = sample
    flipped = bytearray(ciphertext)
    flipped[_chunk_at(start, 1) + 12345] ^= 0x04
    message = "the encrypted file was modified (chunk 1 failed authentication)"
    _both_fail(bytes(flipped), identities, AgePayloadError, message)
    with AgeReader(io.BytesIO(bytes(flipped)), identities) as reader:
        assert reader.read(CHUNK_SIZE) == plain[:CHUNK_SIZE]  # untouched chunks stay readable
        reader.seek(2 * CHUNK_SIZE)
        assert reader.read() == plain[2 * CHUNK_SIZE :]
        reader.seek(CHUNK_SIZE + 5)
        with pytest.raises(AgePayloadError, match="chunk 1 failed"):
            reader.read(1)
    flipped = bytearray(ciphertext)
    flipped[-1] ^= 0x80
    message = (
        "the encrypted file is truncated or was modified (its last chunk, 3, failed authentication)"
    )
    _both_fail(bytes(flipped), identities, AgePayloadError, message)


def test_header_modified(sample: Sample) -> None:
    _, ciphertext, identities, _ = sample
    mac_at = ciphertext.index(b"\n--- ") + 10
    modified = bytearray(ciphertext)
    modified[mac_at] = ord("A") if modified[mac_at] != ord("A") else ord("B")
    message = "the encrypted file's header was modified (its MAC does not match)"
    _both_fail(bytes(modified), identities, AgeMACError, message)
    grease = ciphertext.replace(b"\n---", b"\n-> grease x\n\n---", 1)  # an added stanza
    _both_fail(grease, identities, AgeMACError, message)


def test_chunks_swapped(sample: Sample) -> None:
    _, ciphertext, identities, start = sample
    first = ciphertext[_chunk_at(start, 0) : _chunk_at(start, 1)]
    second = ciphertext[_chunk_at(start, 1) : _chunk_at(start, 2)]
    swapped = ciphertext[:start] + second + first + ciphertext[_chunk_at(start, 2) :]
    message = "the encrypted file was modified (chunk 0 failed authentication)"
    _both_fail(swapped, identities, AgePayloadError, message)


def test_wrong_key(sample: Sample) -> None:
    _, ciphertext, _, _ = sample
    message = "wrong passphrase or not encrypted for this key"
    _both_fail(ciphertext, [X25519Identity.generate()], AgeNoMatchError, message)
    _both_fail(
        ciphertext, [ScryptIdentity("guess"), X25519Identity.generate()], AgeNoMatchError, message
    )


# --------------------------------------------------------------------------- writer contract


def test_writer_chunking_is_independent_of_write_sizes(
    tmp_path: Path, age_bin: str, keyfile: tuple[Path, str]
) -> None:
    key, recipient = keyfile
    plain = _payload(2 * CHUNK_SIZE, seed=4)  # ends exactly on a chunk: the last chunk is full
    target = [X25519Recipient.parse(recipient)]
    for write_size in (1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 10 * CHUNK_SIZE):
        if write_size == 1:
            data = _encrypt_ours(plain[:3000], target, write_size)
            assert _read_all_ways(data, load_identities(key)) == plain[:3000]
            continue
        data = _encrypt_ours(plain, target, write_size)
        assert len(data) - data.index(b"\n---") > 2 * ENC_CHUNK
        path = tmp_path / f"w{write_size}.age"
        path.write_bytes(data)
        assert _age(age_bin, "-d", "-i", str(key), str(path)) == plain


def _forget(make: Callable[[], object]) -> None:
    make()
    gc.collect()


def test_writer_without_close_leaves_a_truncated_file() -> None:
    identity = X25519Identity.generate()
    plain = _payload(CHUNK_SIZE + 10)
    aborted = io.BytesIO()
    with pytest.raises(RuntimeError), AgeWriter(aborted, [identity.recipient()]) as writer:
        writer.write(plain)
        raise RuntimeError("the backup failed half-way")
    with pytest.raises(AgePayloadError):
        decrypt_stream(io.BytesIO(aborted.getvalue()), io.BytesIO(), [identity])
    dropped = io.BytesIO()
    _forget(lambda: AgeWriter(dropped, [identity.recipient()]).write(plain))
    with pytest.raises(AgePayloadError):
        AgeReader(io.BytesIO(dropped.getvalue()), [identity])
    closed = io.BytesIO()
    writer = AgeWriter(closed, [identity.recipient()], close_sink=False)
    writer.write(plain)
    writer.close()
    assert not closed.closed
    assert writer.tell() == len(plain)
    with pytest.raises(ValueError):
        writer.write(b"more")
    assert _read_all_ways(closed.getvalue(), [identity]) == plain


def test_is_age_file(tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    encrypted = tmp_path / "a.zip.age"
    encrypted.write_bytes(_encrypt_ours(b"hello", [identity.recipient()]))
    plain_zip = tmp_path / "a.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("x", "y")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert is_age_file(encrypted) and is_age_file(str(encrypted))
    assert not is_age_file(plain_zip) and not is_age_file(empty)
    assert not is_age_file(tmp_path)
    handle = io.BytesIO(b"junk" + encrypted.read_bytes())
    handle.seek(4)
    assert is_age_file(handle) and handle.tell() == 4


def test_key_parsing_errors(tmp_path: Path) -> None:
    with pytest.raises(AgeError, match="not a valid age recipient"):
        X25519Recipient.parse("age1notakey")
    with pytest.raises(AgeError, match="does not support"):
        X25519Recipient.parse(_bech32_encode("age1pq", bytes(100)))  # a post-quantum recipient
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\nssh-ed25519 AAAA me@host\n")
    with pytest.raises(AgeError, match=r"line 2 .* SSH key"):
        load_recipients_file(bad)
    bad.write_text("AGE-SECRET-KEY-PQ-1XYZ\n")
    with pytest.raises(AgeError, match="post-quantum"):
        load_identities(bad)
    bad.write_text("# nothing\n")
    with pytest.raises(AgeError, match="holds no age secret key"):
        load_identities(bad)
    with pytest.raises(AgeError, match="cannot read"):
        load_identities(tmp_path / "missing.txt")
    with pytest.raises(AgeError, match="not a valid age secret key"):
        X25519Identity.parse("AGE-SECRET-KEY-1QQQQ")
