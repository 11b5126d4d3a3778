"""Writing ejected apps: each one's folder is built beside its final name and renamed in.

The state comes out through the one safe extractor (directory descriptors, O_NOFOLLOW,
O_EXCL, symlinks created last and never followed, SHA-256 checked while writing), so nothing
is written outside DIR whatever the archive holds. An existing DIR/<app> is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.core.anchored import rename_noreplace
from tui.core.archive.chain import state_structure_problems
from tui.core.archive.extract import (
    Extractor,
    UnsafeArchive,
    check_names,
    join_records,
    relative,
    remove_tree_at,
)
from tui.core.archive.manifest_model import Manifest
from tui.core.archive.zipreader import ZipReader
from tui.core.eject.compose_file import compose_text
from tui.core.eject.plan import AppPlan
from tui.core.eject.readme import readme_text
from tui.core.errors import PortalBackupError

__all__ = ["EjectResult", "check_archive", "write_app"]

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class EjectResult:
    app: str
    folder: str
    files: int = 0
    bytes: int = 0
    owners_kept: bool = True
    warnings: list[str] = field(default_factory=list)


def check_archive(reader: ZipReader) -> None:
    """Refuses an archive whose layout could alias or escape, before anything is written."""
    problems = state_structure_problems(reader)  # a differential: both files of its chain
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsafeArchive(f"the archive is refused: {problems[0].rstrip('.')}{more}")


def write_app(
    reader: ZipReader,
    manifest: Manifest,
    plan: AppPlan,
    out_dir: str,
    source: str,
    on_bytes: Callable[[int], None] = lambda _n: None,
) -> EjectResult:
    """DIR/<app>/ with compose.yaml, README.md and the app's state; PortalBackupError if not."""
    os.makedirs(out_dir, mode=0o755, exist_ok=True)
    dir_fd = os.open(out_dir, _O_DIR & ~os.O_NOFOLLOW)  # the user chose DIR itself
    staging = f".{plan.app}.pb-eject-{os.getpid()}-{secrets.token_hex(3)}"
    result = EjectResult(plan.app, os.path.join(os.path.realpath(out_dir), plan.app))
    try:
        if _exists(dir_fd, plan.app):
            raise PortalBackupError(
                f"{result.folder} already exists; an eject never replaces a folder: "
                "remove it or choose another -o DIR"
            )
        os.mkdir(staging, 0o700, dir_fd=dir_fd)
        try:
            root_fd = os.open(staging, _O_DIR, dir_fd=dir_fd)
            try:
                _fill(reader, manifest, plan, root_fd, source, on_bytes, result)
            finally:
                os.close(root_fd)
            os.chmod(staging, 0o755, dir_fd=dir_fd)
            rename_noreplace(dir_fd, staging, dir_fd, plan.app)
        except BaseException:
            with contextlib.suppress(OSError, PortalBackupError):
                remove_tree_at(dir_fd, staging)
            raise
    except FileExistsError as exc:
        raise PortalBackupError(f"{result.folder} appeared meanwhile; nothing replaced") from exc
    finally:
        os.close(dir_fd)
    return result


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _fill(
    reader: ZipReader,
    manifest: Manifest,
    plan: AppPlan,
    root_fd: int,
    source: str,
    on_bytes: Callable[[int], None],
    result: EjectResult,
) -> None:
    extractor = Extractor(reader, on_bytes, chown=os.geteuid() == 0)
    entries = {e.path: e for e in manifest.entries}
    for prefix, local in plan.trees:
        names = [n for n in entries if relative(n, prefix) is not None]
        if not names:
            continue
        records = join_records(reader, (entries[n].to_json() for n in names), names)
        check_names(records, prefix)
        *parents, leaf = local.split("/")
        parent_fd = _makedirs(root_fd, parents)
        try:
            if prefix.endswith("/"):
                extractor.extract_tree(parent_fd, leaf, records, prefix)
            else:
                if len(records) != 1 or records[0].type == "dir":
                    raise UnsafeArchive(f"{prefix}: expected one file in the archive")
                extractor.extract_leaf(parent_fd, leaf, records[0])
        finally:
            if parent_fd != root_fd:
                os.close(parent_fd)
    for local in plan.empty_dirs:
        fd = _makedirs(root_fd, local.split("/"))
        if fd != root_fd:
            os.close(fd)
    result.files, result.bytes = extractor.stats.files, extractor.stats.bytes
    if extractor.stats.owners_skipped or os.geteuid() != 0:
        result.owners_kept = False
        result.warnings.append(
            "not run as root: files belong to you, not to the users the app's containers run "
            "as; run the eject with sudo, or chown the folders, if the app cannot write them"
        )
    _new_file(root_fd, "compose.yaml", compose_text(plan, source), 0o600)  # app passwords
    _new_file(root_fd, "README.md", readme_text(plan, source, manifest.created), 0o644)


def _makedirs(root_fd: int, parts: list[str]) -> int:
    """A descriptor of root/parts, made as needed, every component opened with O_NOFOLLOW."""
    if any(part in ("", ".", "..") for part in parts):  # the plan never asks; never obey
        raise UnsafeArchive(f"{'/'.join(parts)}: not a plain path inside the app's folder")
    fd = root_fd
    for part in parts:
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o755, dir_fd=fd)
        try:
            child = os.open(part, _O_DIR, dir_fd=fd)
        except OSError as exc:
            raise UnsafeArchive(
                f"{'/'.join(parts)}: a component is a link or a file in the archive; "
                "refusing to write through it"
            ) from exc
        finally:
            if fd != root_fd:
                os.close(fd)
        fd = child
    return fd


def _new_file(dir_fd: int, name: str, text: str, mode: int) -> None:
    fd = os.open(name, _O_NEW, mode, dir_fd=dir_fd)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
