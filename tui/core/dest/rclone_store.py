"""A destination behind rclone (S3, B2, SFTP, WebDAV...): `rcat` streams an upload to a temp
name, `lsjson --stat` checks its size, `cat` reads it back, `moveto` gives it its final name."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from tui.core.dest.rclone import Rclone
from tui.core.dest.stored import (
    PROBE_SIZE,
    ProbeResult,
    StoredFile,
    check_final_name,
    committed,
    final_name_taken,
    is_abandoned,
    temp_name,
)
from tui.core.dest.target import Dest
from tui.core.errors import PortalBackupError

# rclone's exit statuses for "directory not found" and "file not found".
_NOT_FOUND = (3, 4)
_CHUNK = 1 << 20
_KILL_WAIT = 10  # seconds to wait for a killed rclone
# An abort after a failure must not hang on a dead server; a temp it leaves is cleaned later.
_ABORT_DELETE = 15


class RcloneStore:
    def __init__(self, dest: Dest, rclone_config: Path | None = None) -> None:
        self.dest = dest
        self.rclone = Rclone(dest, rclone_config)

    def _fail(self, proc: subprocess.CompletedProcess[bytes], action: str) -> PortalBackupError:
        return PortalBackupError(self.rclone.sentence(proc.stderr, action))

    def _lsjson(self, *args: str, action: str) -> list[dict[str, Any]] | None:
        proc = self.rclone.run("lsjson", "--no-mimetype", *args)
        if proc.returncode in _NOT_FOUND:
            return None
        if proc.returncode != 0:
            raise self._fail(proc, action)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise PortalBackupError(
                f"rclone listed {self.dest.label} in a form it could not read"
            ) from None
        return data if isinstance(data, list) else [data]

    def _all_files(self) -> list[StoredFile]:
        items = self._lsjson("--files-only", self.rclone.path(), action="list the files") or []
        return [_stored(i) for i in items if isinstance(i, dict) and not i.get("IsDir")]

    def list(self) -> list[StoredFile]:
        return sorted(
            (f for f in self._all_files() if not f.name.startswith(".")), key=lambda f: f.name
        )

    def stat(self, name: str) -> StoredFile | None:
        items = self._lsjson("--stat", self.rclone.path(name), action=f"look at {name}")
        if not items or items[0].get("IsDir"):
            return None
        return _stored(items[0])

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as err:
            proc = self.rclone.popen(["cat", self.rclone.path(name)], stderr=err)
            assert proc.stdout is not None
            stream = _ReadStream(proc, err, self, name)
            try:
                yield stream  # type: ignore[misc]  # duck-typed: read(n) and close()
            finally:
                stream.close()

    def delete(self, name: str) -> None:
        check_final_name(name)  # as LocalStore: one plain name at the top, nothing below it
        proc = self.rclone.run("deletefile", self.rclone.path(name))
        if proc.returncode not in (0, *_NOT_FOUND):
            raise self._fail(proc, f"delete {name}")

    def begin_upload(self, final_name: str) -> RcloneUpload:
        check_final_name(final_name)
        return RcloneUpload(self, final_name)

    def clean_abandoned(self) -> builtins.list[str]:
        now = time.time()
        removed: builtins.list[str] = []
        for f in self._all_files():
            if is_abandoned(f.name, f.mtime, now):
                proc = self.rclone.run("deletefile", self.rclone.path(f.name))
                if proc.returncode == 0:
                    removed.append(f.name)
        return removed

    def probe(self) -> ProbeResult:
        data = secrets.token_bytes(PROBE_SIZE)
        up = RcloneUpload(self, f"portal-backup-probe-{secrets.token_hex(4)}")
        try:
            started = time.monotonic()
            up.write(data)
            up.finish(len(data))
            speed = len(data) / max(time.monotonic() - started, 1e-6)
            if self.read_sha256(up.temp_name) != hashlib.sha256(data).hexdigest():
                return ProbeResult(
                    False,
                    0.0,
                    f"the destination {self.dest.label} returned other bytes than were written",
                )
            return ProbeResult(True, speed, None)
        except PortalBackupError as exc:
            return ProbeResult(False, 0.0, str(exc))
        finally:
            up.abort()

    def read_sha256(self, name: str) -> str:
        h = hashlib.sha256()
        with self.open_read(name) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()


class _ReadStream:
    """rclone cat's stdout; the end of the stream raises when rclone failed."""

    def __init__(
        self, proc: subprocess.Popen[bytes], err: IO[bytes], store: RcloneStore, name: str
    ) -> None:
        self.proc = proc
        self.err = err
        self.store = store
        self.name = name
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(n)
        if not data and n != 0:
            self._check()
        return data

    def _check(self) -> None:
        rc = self.proc.wait()
        if rc != 0:
            self.err.seek(0)
            stderr = self.err.read()
            if rc in _NOT_FOUND:
                raise PortalBackupError(
                    f"there is no {self.name} at the destination {self.store.dest.label}"
                )
            raise PortalBackupError(self.store.rclone.sentence(stderr, f"read {self.name}"))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(_KILL_WAIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class RcloneUpload:
    def __init__(self, store: RcloneStore, final_name: str) -> None:
        self.store = store
        self.final_name = final_name
        self.temp_name = temp_name(final_name)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by commit/abort)
        # rclone's stderr: small, read on failure
        self._proc: subprocess.Popen[bytes] | None = store.rclone.popen(
            ["rcat", store.rclone.path(self.temp_name)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )
        self._written = 0
        self._done = False

    def _rclone_error(self, action: str) -> PortalBackupError:
        self._err.seek(0)
        return PortalBackupError(self.store.rclone.sentence(self._err.read(), action))

    def write(self, data: bytes | bytearray | memoryview) -> int:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            raise PortalBackupError("the upload was already ended")
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, ValueError, OSError):
            self._kill()
            raise self._rclone_error(f"upload {self.final_name}") from None
        n = len(memoryview(data).cast("B"))
        self._written += n
        return n

    def finish(self, size: int) -> None:
        """End the stream, wait for rclone, check the size the remote lists for the temp."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        with contextlib.suppress(OSError):  # a dead rclone: its status tells below
            proc.stdin.close()
        rc = proc.wait()
        if rc != 0:
            raise self._rclone_error(f"upload {self.final_name}")
        if self._written != size:
            raise PortalBackupError(
                f"{self._written} bytes were sent to {self.store.dest.label}, not {size}"
            )
        listed = self.store.stat(self.temp_name)
        if listed is None or listed.size != size:
            got = "nothing" if listed is None else f"{listed.size} bytes"
            raise PortalBackupError(
                f"the upload to {self.store.dest.label} holds {got}, not the {size} bytes sent"
            )

    def commit(self, *, size: int, sha256: str, verify: bool) -> StoredFile:
        store = self.store
        try:
            self.finish(size)
            # Read back before the rename: the final name never shows an unchecked upload.
            if verify and store.read_sha256(self.temp_name) != sha256:
                raise PortalBackupError(
                    f"the upload to {store.dest.label} reads back with another SHA-256 than the "
                    "bytes sent; it was discarded"
                )
            if store.stat(self.final_name) is not None:
                raise final_name_taken(self.final_name, store.dest.label)
            proc = store.rclone.run(
                "moveto", store.rclone.path(self.temp_name), store.rclone.path(self.final_name)
            )
            if proc.returncode != 0:
                raise store._fail(proc, f"rename the upload to {self.final_name}")
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._err.close()
        return committed(
            store.dest.label, self.final_name, size=size, sha256=sha256, verified=verify
        )

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(_KILL_WAIT)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._kill()
        with contextlib.suppress(Exception):
            self.store.rclone.run(
                "deletefile", self.store.rclone.path(self.temp_name), timeout=_ABORT_DELETE
            )
        with contextlib.suppress(Exception):
            self._err.close()


def _stored(item: dict[str, Any]) -> StoredFile:
    mtime: float | None = None
    text = item.get("ModTime")
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            mtime = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return StoredFile(str(item.get("Name", "")), int(item.get("Size", 0)), mtime)
