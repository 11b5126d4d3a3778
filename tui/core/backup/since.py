"""`create --since BASE`: finding the base a differential is made against, and its name.

BASE is a local archive file, or `DEST:NAME` at a destination. Only the base's manifest and
the SHA-256 of its file are needed. For a destination they come from the manifest cache this
host fills at every upload (state_dir()/manifests/, keyed by destination label and name);
without a cached copy the archive is downloaded to a temporary file, hashed on the way, its
manifest read, and the file removed.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from tui.core.archive.manifest_model import Manifest, parse_manifest, read_manifest
from tui.core.archive.zipreader import ZipFormatError, ZipReader
from tui.core.backup import changes
from tui.core.backup.change_scan import full_size
from tui.core.backup.changes import BackupKind, BaseState, choose_kind
from tui.core.dest.names import ARCHIVE_NAME
from tui.core.errors import PortalBackupError, UsageError, error_sentence
from tui.core.state import state_dir, write_json_atomic

__all__ = [
    "AutoChoice",
    "cache_manifest",
    "choose_automatic",
    "differential_name",
    "file_sha256",
    "load_base",
]

_CHUNK = 1 << 20
CACHE_DIR = "manifests"
Opener = Callable[[str], BinaryIO]  # opens an archive file, decrypting a .zip.age


def differential_name(full_name: str, base: BaseState) -> str:
    """portal-backup-x-<now>.zip[.age] -> portal-backup-x-<now>-since-<base time>.zip[.age]."""
    m = ARCHIVE_NAME.match(base.name)
    if m is not None and not m["base"]:
        stamp = m["time"] + (m["n"] or "")
    else:  # a renamed base: its creation time says when it was made
        try:
            made = datetime.strptime(base.created or "", "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise PortalBackupError(
                f"the base {base.name} has no creation time in its manifest; rename it to its "
                "original portal-backup-... name"
            ) from None
        stamp = made.strftime("%Y%m%d-%H%M%S")
    for ext in (".zip.age", ".zip"):
        if full_name.endswith(ext):
            return f"{full_name[: -len(ext)]}-since-{stamp}{ext}"
    return f"{full_name}-since-{stamp}"


def file_sha256(path: Path) -> str:
    """The SHA-256 of the base's file as stored (encrypted bytes for a .zip.age)."""
    digest = changes.file_sha256(str(path))
    if digest is None:
        raise PortalBackupError(f"cannot read {path}")
    return digest


def split_remote(spec: str) -> tuple[str, str] | None:
    """("DEST", "NAME") when `spec` ends in ":" + an archive name, else None."""
    dest, sep, name = spec.rpartition(":")
    if not sep or not dest or ARCHIVE_NAME.match(name) is None:
        return None
    return dest, name


def load_base(spec: str, open_archive: Opener, *, rclone_config: Path | None = None) -> BaseState:
    """The base named by `--since`: a local file, or DEST:NAME. UsageError when it names
    nothing usable; the base must be a full backup (a differential is always made against a
    full, so restoring needs two files, never a longer chain)."""
    path = Path(spec).expanduser()
    if path.is_file():
        base = _local_base(path, open_archive)
    elif (remote := split_remote(spec)) is not None:
        base = _remote_base(remote[0], remote[1], open_archive, rclone_config)
    else:
        raise UsageError(
            f"--since {spec}: no such archive file here, and not DEST:NAME (a destination "
            "and an archive name at it, see `portal-backup backups DEST`)"
        )
    if base.manifest.differential is not None:
        raise UsageError(
            f"--since {base.name}: that archive is itself a differential; name the full backup "
            f"it was made from ({base.manifest.differential.base})"
        )
    return base


def _local_base(path: Path, open_archive: Opener) -> BaseState:
    manifest = _read_archive_manifest(str(path), open_archive)
    return BaseState(path.name, manifest.created, file_sha256(path), manifest)


def _read_archive_manifest(path: str, open_archive: Opener) -> Manifest:
    with open_archive(path) as f:
        try:
            reader = ZipReader(f, name=path)
        except ZipFormatError as exc:
            raise PortalBackupError(f"the base {path} is not a readable zip: {exc}") from exc
        return read_manifest(reader)


# --------------------------------------------------------------------------- destinations


def _cache_paths(label: str, name: str) -> tuple[Path, Path]:
    key = hashlib.sha256(f"{label}\0{name}".encode()).hexdigest()[:32]
    folder = state_dir() / CACHE_DIR
    return folder / f"{key}.json", folder / f"{key}.manifest.gz"


def cache_manifest(label: str, name: str, sha256: str, manifest: bytes) -> None:
    """Keep an uploaded archive's manifest, so a later `--since DEST:NAME` reads nothing
    from the destination. OSError is the caller's to report (the backup itself is fine)."""
    info, data = _cache_paths(label, name)
    info.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = data.with_name(f".{data.name}.{os.getpid()}")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        gz.write(manifest)
    os.replace(tmp, data)
    # The record last: a record always has its manifest beside it.
    write_json_atomic(info, {"dest": label, "name": name, "sha256": sha256})


def cached_manifest(label: str, name: str) -> tuple[str, bytes] | None:
    """(SHA-256 of the archive, manifest bytes) cached at upload, or None."""
    info, data = _cache_paths(label, name)
    try:
        rec: Any = json.loads(info.read_text())
        with gzip.open(data, "rb") as gz:
            manifest = gz.read()
    except (OSError, ValueError, EOFError):
        return None
    if not (isinstance(rec, dict) and rec.get("dest") == label and rec.get("name") == name):
        return None
    sha = rec.get("sha256")
    return (sha, manifest) if isinstance(sha, str) else None


def _remote_base(
    dest_spec: str, name: str, open_archive: Opener, rclone_config: Path | None
) -> BaseState:
    from tui.core.dest.records import find_upload
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest

    dest = parse_dest(dest_spec)
    cached = cached_manifest(dest.label, name)
    if cached is not None:
        manifest = parse_manifest(cached[1])
        return BaseState(name, manifest.created, cached[0], manifest)
    store = open_store(dest, rclone_config=rclone_config)
    if store.stat(name) is None:
        raise UsageError(f"--since: {dest.label} holds no archive {name}")
    with tempfile.TemporaryDirectory(prefix="portal-backup-base-") as tmp:
        local = Path(tmp) / name
        sha = _download(store, name, local)
        record = find_upload(dest.label, name)
        if record is not None and record.get("sha256") != sha:
            raise PortalBackupError(
                f"{name} at {dest.label} is not the archive this host uploaded (its SHA-256 "
                "differs); it cannot serve as a base"
            )
        manifest = _read_archive_manifest(str(local), open_archive)
    with contextlib.suppress(OSError):
        cache_manifest(dest.label, name, sha, _manifest_raw(manifest))
    return BaseState(
        name,
        manifest.created,
        sha,
        manifest,
        note=(
            f"{name} was not in this host's manifest cache: it was downloaded from "
            f"{dest.label} to a temporary file to read its manifest, then removed"
        ),
    )


def _manifest_raw(manifest: Manifest) -> bytes:
    from tui.core.archive.manifest import build_manifest

    return build_manifest(manifest)


def _download(store: Any, name: str, out: Path) -> str:
    digest = hashlib.sha256()
    with store.open_read(name) as src, open(out, "xb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- automatic backups


@dataclass(frozen=True)
class AutoChoice:
    """What `auto run` makes at one destination, and why (one sentence for the log)."""

    kind: BackupKind
    base: BaseState | None  # the last full, for a differential
    reason: str


def choose_automatic(
    store: Any,
    who: str,
    now: datetime,
    *,
    full_every_s: float,
    threshold: float,
    estimate: Callable[[Manifest], int],
) -> AutoChoice:
    """A full or a differential at `store` (issue 14, point 3). The base is the newest full
    backup of `who` there; its manifest comes from this host's cache (filled at upload), never
    from a download: a full of 100 GB is not fetched to save uploading a differential, so a
    base this host did not upload (or whose cache is gone) means a new full. `estimate` gives
    the bytes a differential against that manifest would store (change_scan: stat only)."""
    from tui.core.dest.backups import list_backups
    from tui.core.humanfmt import human_bytes

    if full_every_s <= 0:
        return AutoChoice("full", None, "full_every is 0: every run is a full backup")
    fulls = [b for b in list_backups(store) if b.portal_id == who and b.base is None]
    last = fulls[-1] if fulls else None
    if last is None:
        return AutoChoice("full", None, "there is no full backup of this Portal there yet")
    if choose_kind(last, now, full_every_s, None, None, threshold) == "full":
        return AutoChoice("full", None, f"the last full backup {last.name} is full_every old")
    cached = cached_manifest(store.dest.label, last.name)
    if cached is None:
        return AutoChoice(
            "full", None, f"the manifest of the last full backup {last.name} is not cached here"
        )
    try:
        manifest = parse_manifest(cached[1])
    except PortalBackupError as exc:
        reason = f"the cached manifest of {last.name} is unusable ({error_sentence(exc)})"
        return AutoChoice("full", None, reason)
    if manifest.differential is not None:  # a renamed differential: never a base
        return AutoChoice("full", None, f"{last.name} is not a full backup")
    base = BaseState(last.name, manifest.created, cached[0], manifest)
    changed, whole = estimate(manifest), full_size(manifest.entries)
    share = f"about {human_bytes(changed)} changed of {human_bytes(whole)}"
    if choose_kind(last, now, full_every_s, changed, whole, threshold) == "full":
        return AutoChoice("full", None, f"{share}, more than differential_max ({threshold:g})")
    return AutoChoice("differential", base, f"{share} since {last.name}")
