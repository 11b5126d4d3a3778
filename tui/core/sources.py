"""Reading the trees of a plan: host paths by walking, named volumes by path or Docker API.

Every reader yields `Node`s in a stable order (directories before their contents, names
sorted); the backup engine turns them into zip entries. Symlinks are never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from .errors import PortalBackupError

NodeKind = Literal["file", "dir", "symlink", "special"]


@dataclass(slots=True)
class Node:
    name: str  # archive name (directories end with "/")
    kind: NodeKind
    mode: int  # permission bits
    uid: int
    gid: int
    mtime_ns: int
    size: int
    host_path: str | None = None  # regular files read from disk
    stream: BinaryIO | None = None  # regular files read from a tar stream
    target: str | None = None  # symlinks
    special: str | None = None  # "fifo", "socket", "device" for skipped entries


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def _node_from_stat(name: str, path: str, st: os.stat_result) -> Node:
    mode = st.st_mode
    common = (stat.S_IMODE(mode), st.st_uid, st.st_gid, st.st_mtime_ns)
    if stat.S_ISDIR(mode):
        return Node(name, "dir", *common, 0)
    if stat.S_ISLNK(mode):
        target = os.readlink(path)
        return Node(name, "symlink", *common, len(os.fsencode(target)), target=target)
    if stat.S_ISREG(mode):
        return Node(name, "file", *common, st.st_size, host_path=path)
    return Node(name, "special", *common, 0, host_path=path, special=_special_kind(mode))


def walk_path(root: str, archive_path: str, prune: frozenset[str] = frozenset()) -> Iterator[Node]:
    """A host file or tree. `prune` holds host paths stored by another step."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return
    except PermissionError as exc:
        raise PortalBackupError(f"permission denied reading {root}") from exc
    if not stat.S_ISDIR(st.st_mode):
        yield _node_from_stat(archive_path.rstrip("/"), root, st)
        return
    prefix = archive_path if archive_path.endswith("/") else archive_path + "/"
    yield _node_from_stat(prefix, root, st)
    yield from _walk_dir(root, prefix, prune)


def _walk_dir(top: str, prefix: str, prune: frozenset[str]) -> Iterator[Node]:
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError as exc:
        raise PortalBackupError(f"permission denied reading {top}") from exc
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.path in prune:
            continue
        try:
            name = entry.name
            name.encode("utf-8")
        except UnicodeEncodeError:
            yield Node(prefix + os.fsencode(entry.name).decode("utf-8", "replace"), "special",
                       0, 0, 0, 0, 0, host_path=entry.path, special="bad-name")
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished while we looked
        if stat.S_ISDIR(st.st_mode):
            yield _node_from_stat(prefix + name + "/", entry.path, st)
            yield from _walk_dir(entry.path, prefix + name + "/", prune)
        else:
            try:
                yield _node_from_stat(prefix + name, entry.path, st)
            except FileNotFoundError:
                continue


# --------------------------------------------------------------------------- volumes


def volume_readable(mountpoint: str) -> bool:
    return bool(mountpoint) and os.access(mountpoint, os.R_OK | os.X_OK)


class _ChunkStream:
    """A file-like view of the iterator of byte chunks the Docker SDK returns."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def walk_volume_via_docker(client: Any, volume: str, archive_path: str,
                           containers: list[Any], helper_image: str | None) -> Iterator[Node]:
    """A named volume read through the Docker API's archive endpoint.

    Used when the volume's mountpoint is not readable by this process (not root). The endpoint
    works on stopped containers, so we read through a container that mounts the volume, or a
    created-but-never-started helper container when none does.
    """
    cid, path, temp = None, None, False
    for c in containers:
        for m in c.mounts:
            if m.type == "volume" and m.source == volume:
                cid, path = c.id, m.destination
                break
        if cid:
            break
    if cid is None:
        if not helper_image:
            raise PortalBackupError(
                f"cannot read volume {volume}: its files are not readable here and no local "
                "image is available to mount it; run as root")
        created = client.api.create_container(
            helper_image, command=["true"], network_disabled=True,
            host_config=client.api.create_host_config(binds={volume: {"bind": "/v",
                                                                       "mode": "ro"}}),
            labels={"org.portal-backup.helper": "1"})
        cid, path, temp = created["Id"], "/v", True
    try:
        stream, _stat = client.api.get_archive(cid, path.rstrip("/") + "/.")
        yield from _nodes_from_tar(_ChunkStream(iter(stream)), archive_path)
    finally:
        if temp:
            with contextlib.suppress(Exception):
                client.api.remove_container(cid, force=True)


def _nodes_from_tar(raw: _ChunkStream, archive_path: str) -> Iterator[Node]:
    prefix = archive_path if archive_path.endswith("/") else archive_path + "/"
    with tarfile.open(fileobj=raw, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            rel = member.name
            rel = rel[2:] if rel.startswith("./") else rel
            rel = "" if rel == "." else rel.strip("/")
            if rel and (rel.startswith("/") or ".." in rel.split("/")):
                continue
            mtime_ns = int(member.mtime) * 1_000_000_000
            common = (member.mode & 0o7777, member.uid, member.gid, mtime_ns)
            name = prefix + rel
            if member.isdir():
                yield Node(name if name.endswith("/") else name + "/", "dir", *common, 0)
            elif member.issym():
                yield Node(name, "symlink", *common, len(member.linkname.encode()),
                           target=member.linkname)
            elif member.isreg():
                yield Node(name, "file", *common, member.size, stream=tar.extractfile(member))
            elif member.islnk():
                yield Node(name, "special", *common, 0, special="hardlink")
            else:
                kind = "fifo" if member.isfifo() else "device"
                yield Node(name, "special", *common, 0, special=kind)
