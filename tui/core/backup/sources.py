"""Reading the trees of a plan: host paths by walking, named volumes by path or Docker API.

Every reader yields `Node`s in a stable order (directories before their contents, names
sorted); the backup engine turns them into zip entries. Symlinks are never followed.
"""

from __future__ import annotations

import contextlib
import errno
import operator
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from tui.core.errors import PortalBackupError
from tui.core.model import MAX_PATH_DEPTH

_NAME = operator.attrgetter("name")
PATH_MAX = 4096  # Linux: the longest path, in bytes with its NUL, a system call resolves

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
    ino: int | None = None  # stat identity, for differentials (issue 14); None from a tar stream
    ctime_ns: int | None = None


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def _node_from_stat(name: str, path: str, st: os.stat_result) -> Node:
    node = _node_kind(name, path, st)
    node.ino, node.ctime_ns = st.st_ino, st.st_ctime_ns
    return node


def _node_kind(name: str, path: str, st: os.stat_result) -> Node:
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
    """A host file or tree. `prune` holds host paths stored by another step.

    Iterative (a stack of directory listings, not recursion), so a tree of any depth a
    container can create costs no Python stack; trees deeper than an archive may hold, or
    whose paths the kernel cannot resolve, are refused with one sentence naming the path.
    Names that are not UTF-8 come through as os.fsdecode makes them (surrogate-escaped).
    """
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
    # Each frame: the sorted entries of one directory still to visit, their archive prefix
    # and its depth in path components.
    stack: list[tuple[Iterator[os.DirEntry[str]], str, int]] = [
        (_list_dir(root, root, _depth(prefix)), prefix, _depth(prefix))
    ]
    while stack:
        entries, dir_prefix, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if entry.path in prune:
            continue
        name = dir_prefix + entry.name
        _check_reachable(root, entry.path, depth + 1)
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                yield _node_from_stat(name + "/", entry.path, st)
                stack.append((_list_dir(root, entry.path, depth + 1), name + "/", depth + 1))
            else:
                yield _node_from_stat(name, entry.path, st)
        except FileNotFoundError:
            continue  # vanished while we looked


def _depth(archive_name: str) -> int:
    """Path components of an archive name ("a/b/" has 2)."""
    return archive_name.rstrip("/").count("/") + 1


def _list_dir(source: str, top: str, depth: int) -> Iterator[os.DirEntry[str]]:
    """The entries of `top`, sorted by their name bytes."""
    try:
        with os.scandir(top) as it:
            entries = list(it)
        if all(e.name.isascii() for e in entries):
            entries.sort(key=_NAME)  # ASCII: the str order is the byte order
        else:
            entries.sort(key=lambda e: os.fsencode(e.name))
    except PermissionError as exc:
        raise PortalBackupError(f"permission denied reading {top}") from exc
    except FileNotFoundError:
        return iter(())
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _too_deep(source, top, depth) from exc
        raise PortalBackupError(f"cannot read {shorten_path(top)}: {exc.strerror}") from exc
    return iter(entries)


def _check_reachable(source: str, path: str, depth: int) -> None:
    """Refuse a path deeper than an archive may hold or longer than the kernel resolves
    (every later stat, readlink and open of it would fail)."""
    # A character is at most 4 bytes: most paths need no encoding to be known short enough.
    if depth > MAX_PATH_DEPTH or (len(path) * 4 >= PATH_MAX and len(os.fsencode(path)) >= PATH_MAX):
        raise _too_deep(source, path, depth)


def _too_deep(source: str, path: str, depth: int) -> PortalBackupError:
    rel = path[len(source) :].lstrip("/") if path.startswith(source + "/") else path
    return PortalBackupError(
        f"{source} holds a directory tree too deep to back up: {shorten_path(rel)} is "
        f"{depth} levels down (an archive holds at most {MAX_PATH_DEPTH} levels and a path "
        f"at most {PATH_MAX} bytes); remove or move that tree, or leave this item out"
    )


def shorten_path(path: str, keep: int = 60) -> str:
    """A path fit for a one-line message: control characters escaped, the middle cut."""
    shown = path if path.isprintable() else repr(path)[1:-1]
    return shown if len(shown) <= 2 * keep else f"{shown[:keep]}...{shown[-keep:]}"


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


def walk_volume_via_docker(
    client: Any, volume: str, archive_path: str, containers: list[Any], helper_image: str | None
) -> Iterator[Node]:
    """A named volume read through the Docker API's archive endpoint.

    Used when the volume's mountpoint is not readable by this process (not root). The endpoint
    works on stopped containers, so we read through a container that mounts the volume, or a
    created-but-never-started helper container when none does.
    """
    cid: str | None = None
    path = ""  # where the volume is mounted in container cid
    temp = False
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
                "image is available to mount it; run as root"
            )
        created = client.api.create_container(
            helper_image,
            command=["true"],
            network_disabled=True,
            host_config=client.api.create_host_config(binds={volume: {"bind": "/v", "mode": "ro"}}),
            labels={"org.portal-backup.helper": "1"},
        )
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
    with tarfile.open(fileobj=raw, mode="r|") as tar:  # type: ignore[call-overload]  # a stream, not a file object
        for member in tar:
            rel = member.name
            rel = rel[2:] if rel.startswith("./") else rel
            rel = "" if rel == "." else rel.strip("/")
            if rel and (rel.startswith("/") or ".." in rel.split("/")):
                continue
            mtime_ns = int(member.mtime) * 1_000_000_000
            common = (member.mode & 0o7777, member.uid, member.gid, mtime_ns)
            name = prefix + rel
            if _depth(name) > MAX_PATH_DEPTH:
                raise _too_deep(f"the volume at {archive_path}", name, _depth(name))
            if member.isdir():
                yield Node(name if name.endswith("/") else name + "/", "dir", *common, 0)
            elif member.issym():
                yield Node(
                    name,
                    "symlink",
                    *common,
                    len(os.fsencode(member.linkname)),
                    target=member.linkname,
                )
            elif member.isreg():
                yield Node(name, "file", *common, member.size, stream=tar.extractfile(member))
            elif member.islnk():
                yield Node(name, "special", *common, 0, special="hardlink")
            else:
                kind = "fifo" if member.isfifo() else "device"
                yield Node(name, "special", *common, 0, special=kind)
