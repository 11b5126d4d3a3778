"""Change detection on 1,000,000 files (issue 14, point 4) beside `find DIR -newer REF`.

    python bench/changes.py                  # 1,000,000 empty files in a fresh tmpfs (root)
    python bench/changes.py --files 200000 --dir /tmp/tree   # smaller, on a disk directory

Builds a nested tree of empty files (1,000 per directory, 10 directories per level), records
it as a full backup's manifest would (every entry with its inode and ctime), then changes 1%
of the files (rewritten, mtime moved) and times, with a warm cache, best of --repeat runs
(find and the scan alternating):

- `find DIR -newer REF`: the stat-only baseline the issue names;
- the stat scan (tui.core.backup.change_scan.scan) given the base's start: GNU find, one
  process per core (at most 2), names the entries whose ctime is later, Python compares only
  those with the base's index; what `auto run` uses to choose between a full and a
  differential; this is the issue's figure;
- the same scan without the base's start (or without GNU find): every entry looked at in
  Python (listdir + fstatat), the fallback;
- the backup's own walk (tui.core.backup.sources.walk_path) with the ChangeDetector deciding
  each entry, exactly as `create --since` does (no file is read), and the walk alone (what
  any backup pays), to separate the walk from the deciding;
- loading the base's manifest (parse_manifest of the 1,000,000-entry JSON), which `--since`
  and the policy pay once, reported apart.

Prints the figures and the ratio. Nothing here is a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.archive.manifest import build_manifest
from tui.core.archive.manifest_model import (
    Manifest,
    ManifestEntry,
    ToolRecord,
    parse_manifest,
)
from tui.core.backup.change_scan import Root, base_index, scan
from tui.core.backup.changes import BaseState, ChangeDetector
from tui.core.backup.sources import walk_path

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
T = TypeVar("T")
PER_DIR = 1000
FANOUT = 10


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="pb-changes-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes=0", "tmpfs", str(where)],
        check=True,
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def leaf_dirs(root: Path, files: int) -> list[Path]:
    """Directories of PER_DIR files each, nested FANOUT wide: d0/d3/d7/..."""
    out = []
    for n in range((files + PER_DIR - 1) // PER_DIR):
        parts, k = [], n
        while True:
            parts.append(f"d{k % FANOUT}")
            k //= FANOUT
            if k == 0:
                break
        out.append(root.joinpath(*reversed(parts), f"leaf{n}"))
    return out


def make_tree(root: Path, files: int) -> list[Path]:
    made: list[Path] = []
    for d in leaf_dirs(root, files):
        d.mkdir(parents=True, exist_ok=True)
        for i in range(min(PER_DIR, files - len(made))):
            p = d / f"f{i:04d}"
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
            made.append(p)
    return made


def base_manifest(root: Path) -> Manifest:
    """What a full backup of the tree records (with inode and ctime)."""
    entries = [
        ManifestEntry(
            n.name,
            n.kind,
            n.size,
            n.mode,
            n.uid,
            n.gid,
            n.mtime_ns,
            sha256=EMPTY_SHA256 if n.kind == "file" else None,
            ino=n.ino,
            ctime_ns=n.ctime_ns,
        )
        for n in walk_path(str(root), "tree/")
    ]
    return Manifest(ToolRecord(), None, None, None, None, False, False, (), entries=tuple(entries))


def detect(root: Path, base: BaseState) -> tuple[int, int]:
    """(entries examined, entries changed), as `create --since` decides them."""
    detector = ChangeDetector(base)
    seen = changed = 0
    for node in walk_path(str(root), "tree/"):
        seen += 1
        if detector.unchanged(node.name, node, node.host_path) is None:
            changed += 1
    return seen, changed


def stat_only(root: Path) -> int:
    """listdir + fstatat over the tree, nothing compared: the floor of any Python stat walk."""
    n, stack = 0, [str(root)]
    while stack:
        path = stack.pop()
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in os.listdir(fd):
                n += 1
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    stack.append(f"{path}/{name}")
        finally:
            os.close(fd)
    return n


def run_find(root: Path, ref: Path) -> bytes:
    return subprocess.run(
        ["find", str(root), "-newer", str(ref)], capture_output=True, check=True
    ).stdout


def best(runs: int, fn: Callable[[], T]) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, help="build the tree here instead of a fresh tmpfs")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        top = args.dir or stack.enter_context(tmpfs("4g"))
        root = top / "tree"
        root.mkdir(parents=True, exist_ok=False)
        t0 = time.perf_counter()
        files = make_tree(root, args.files)
        print(f"tree: {len(files):,} empty files in {time.perf_counter() - t0:.1f}s at {top}")

        t0 = time.perf_counter()
        manifest = base_manifest(root)
        raw = build_manifest(manifest)
        print(
            f"base manifest: {len(manifest.entries):,} entries, {len(raw) / 1e6:.0f} MB JSON, "
            f"recorded in {time.perf_counter() - t0:.1f}s"
        )
        load_s, parsed = best(1, lambda: parse_manifest(raw))
        base = BaseState("base.zip", None, "0" * 64, parsed)

        time.sleep(0.01)  # mtimes after the reference file's
        ref = top / "REF"
        ref.touch()
        time.sleep(0.01)
        step = 100  # 1% of the files rewritten
        for p in files[::step]:
            p.write_bytes(b"x")
        expected = len(files[::step])

        index = base_index(parsed.entries)
        roots, since = [Root(str(root), "tree/")], ref.stat().st_ctime_ns
        # find and the scan alternate, so that both meet the same load (the cores are shared)
        pairs = [
            (
                best(1, lambda: run_find(root, ref)),
                best(1, lambda: scan(roots, index, since)),
            )
            for _ in range(args.repeat)
        ]
        (find_s, out), (scan_s, estimate) = min(p[0] for p in pairs), min(p[1] for p in pairs)
        found = out.count(b"\n")
        python_s, walked = best(args.repeat, lambda: scan(roots, index))
        assert walked == estimate, (walked, estimate)
        floor_s, _ = best(args.repeat, lambda: stat_only(root))
        walk_s, _ = best(args.repeat, lambda: sum(1 for _ in walk_path(str(root), "tree/")))
        ours_s, counts = best(args.repeat, lambda: detect(root, base))
        seen, changed = counts
        print(f"changed: {expected:,} files (1%); find -newer lists {found:,} paths")
        print(f"find DIR -newer REF:   {find_s:6.2f}s")
        print(
            f"stat scan:             {scan_s:6.2f}s  ({estimate.scanned:,} entries, "
            f"{estimate.changed:,} changed)"
        )
        print(f"ratio scan / find:     {scan_s / find_s:6.2f}")
        print(
            "  each run, find / scan: " + ", ".join(f"{f:.2f}/{c:.2f}" for (f, _), (c, _) in pairs)
        )
        print(f"stat scan in Python:   {python_s:6.2f}s  (no GNU find, or no base start)")
        print(f"listdir + fstatat alone: {floor_s:6.2f}s  (Python's floor: nothing compared)")
        print(f"create --since's walk: {ours_s:6.2f}s  ({seen:,} entries, {changed:,} changed)")
        print(f"the walk alone:        {walk_s:6.2f}s  (a full backup walks the same)")
        print(f"ratio walk / find:     {ours_s / find_s:6.2f}")
        print(f"loading the base manifest (once per --since): {load_s:.2f}s")
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average: {load}, {os.cpu_count()} cores")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
