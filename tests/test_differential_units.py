"""Change detection on real files, the automatic job's choice of kind, and BASE at a
destination (`--since DEST:NAME`: the manifest cached at upload, or a download when not)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import portal_fixture as pf
import pytest
from clirun import json_lines, run

from tui.core.archive.manifest_model import Manifest, ManifestEntry, ToolRecord
from tui.core.backup.changes import (
    BaseState,
    ChangeDetector,
    choose_kind,
    compare,
    file_sha256,
    observed_from_stat,
)
from tui.core.dest.backups import BackupInfo


def _entry(path: Path, name: str) -> ManifestEntry:
    st = os.lstat(path)
    now = observed_from_stat(st, "file")
    return ManifestEntry(
        name, "file", now.size, now.mode, now.uid, now.gid, now.mtime_ns,
        sha256=file_sha256(str(path)), ino=st.st_ino, ctime_ns=st.st_ctime_ns,
    )  # fmt: skip


def _detector(*entries: ManifestEntry) -> ChangeDetector:
    manifest = Manifest(ToolRecord(), None, None, None, None, False, False, (), entries=entries)
    return ChangeDetector(BaseState("base.zip", None, "0" * 64, manifest))


def test_a_rewrite_with_size_and_mtime_put_back_is_found_by_its_ctime(tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(b"A" * 10_000)
    base = _entry(f, "data.bin")
    same = observed_from_stat(os.lstat(f), "file")
    assert compare(base, same) == "same"
    detector = _detector(base)
    assert detector.unchanged("data.bin", same, str(f)) is not None
    assert detector.hashed == 0  # stat alone decided

    st = os.lstat(f)
    f.write_bytes(b"B" * 10_000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = observed_from_stat(os.lstat(f), "file")
    assert (now.size, now.mtime_ns) == (base.size, base.mtime_ns)
    assert compare(base, now) == "ambiguous"
    assert _detector(base).unchanged("data.bin", now, str(f)) is None  # the hash differs

    # Same bytes again, only the ctime moved: read once, found unchanged, kept from the base.
    f.write_bytes(b"A" * 10_000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    detector = _detector(base)
    kept = detector.unchanged("data.bin", observed_from_stat(os.lstat(f), "file"), str(f))
    assert kept is not None and kept.in_base and detector.hashed == 1
    assert kept.ctime_ns == os.lstat(f).st_ctime_ns  # the next differential compares with now


def test_metadata_changes_and_deletions(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    base = _entry(f, "a.txt")
    gone = ManifestEntry("gone.txt", "file", 1, 0o644, 0, 0, 0, sha256="0" * 64)
    os.chmod(f, 0o600)
    assert compare(base, observed_from_stat(os.lstat(f), "file")) == "changed"
    os.chmod(f, base.mode)
    os.chown(f, 4321, 4321)
    assert compare(base, observed_from_stat(os.lstat(f), "file")) == "changed"
    detector = _detector(base, gone)
    detector.unchanged("a.txt", observed_from_stat(os.lstat(f), "file"), str(f))
    assert detector.deleted() == ("gone.txt",)
    link = tmp_path / "l"
    link.symlink_to("a.txt")
    assert compare(base, observed_from_stat(os.lstat(link), "symlink", "a.txt")) == "changed"


def _info(days_ago: float, now: datetime) -> BackupInfo:
    when = now - timedelta(days=days_ago)
    return BackupInfo("portal-backup-x-20261201-030000.zip", when, 100, False, "x", True)


@pytest.mark.parametrize(
    ("last_days", "diff_bytes", "expected"),
    [
        (None, 10, "full"),  # no full yet
        (7.0, 10, "full"),  # full_every reached
        (1.0, 10, "differential"),
        (1.0, 60, "full"),  # more than half a full
        (1.0, None, "differential"),  # unknown size: age decides
    ],
)
def test_choose_kind(last_days: float | None, diff_bytes: int | None, expected: str) -> None:
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    last = None if last_days is None else _info(last_days, now)
    assert choose_kind(last, now, 7 * 86400, diff_bytes, 100, 0.5) == expected


ITEMS = ("core/config", "shared")


def test_since_a_destination_reads_the_cached_manifest_or_downloads_it(
    portal_root: Path, tmp_path: Path, isolated_state_dir: Path
) -> None:
    dest = tmp_path / "usb"
    dest.mkdir()
    env = {"PORTAL_ROOT": str(portal_root)}
    full = run("create", *ITEMS, "--to", str(dest), "--progress", "none", env=env, check=True)
    base = Path(full.stdout.strip().splitlines()[-1])
    assert base.parent == dest
    cached = list((isolated_state_dir / "manifests").glob("*.manifest.gz"))
    assert len(cached) == 1

    (portal_root / pf.SHARED / "neu.txt").write_text("new\n")
    spec = f"{dest}:{base.name}"
    proc = run(
        "create", *ITEMS, "--to", str(dest), "--since", spec, "--progress", "json", env=env,
        check=True,
    )  # fmt: skip
    assert "downloaded" not in proc.stderr  # the cache answered
    logs = [e["message"] for e in json_lines(proc.stdout) if e.get("type") == "log"]
    assert any("differential since" in m and "1 deleted" not in m for m in logs), logs
    diff = Path(proc.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(diff) as z:
        stored = {n for n in z.namelist() if n.startswith("user_data/")}
        doc = json.loads(z.read("portal-backup.json"))
    assert stored == {f"{pf.SHARED}/", f"{pf.SHARED}/neu.txt"}
    assert doc["differential"]["base"] == base.name

    # Without the cache: downloaded to a temporary file (said so), same result.
    shutil.rmtree(isolated_state_dir / "manifests")
    (portal_root / pf.SHARED / "neu2.txt").write_text("newer\n")
    proc = run("create", *ITEMS, "-o", str(tmp_path), "--since", spec, env=env, check=True)
    assert "was downloaded from" in proc.stderr and "temporary file" in proc.stderr
    second = Path(proc.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(second) as z:
        stored = {n for n in z.namelist() if n.startswith("user_data/")}
    assert stored == {f"{pf.SHARED}/", f"{pf.SHARED}/neu.txt", f"{pf.SHARED}/neu2.txt"}

    # The differential at the destination restores with its base beside it there.
    fresh = tmp_path / "fresh"
    proc = run("restore", str(diff), "shared", "--yes", env={"PORTAL_ROOT": str(fresh)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (fresh / pf.SHARED / "neu.txt").read_text() == "new\n"
    assert (fresh / pf.TEXT_FILE).read_bytes() == (portal_root / pf.TEXT_FILE).read_bytes()


def test_since_refuses_a_differential_and_a_missing_base(portal_root: Path, tmp_path: Path) -> None:
    env = {"PORTAL_ROOT": str(portal_root)}
    proc = run(
        "create", *ITEMS, "-o", str(tmp_path), "--since", str(tmp_path / "nope.zip"), env=env
    )
    assert proc.returncode == 2 and "no such archive file here" in proc.stderr
    full = run("create", *ITEMS, "-o", str(tmp_path), "--progress", "none", env=env, check=True)
    base = full.stdout.strip().splitlines()[-1]
    diff = run("create", *ITEMS, "-o", str(tmp_path), "--since", base, env=env, check=True)
    name = diff.stdout.strip().splitlines()[-1]
    proc = run("create", *ITEMS, "-o", str(tmp_path), "--since", name, env=env)
    assert proc.returncode == 2
    assert f"itself a differential; name the full backup it was made from ({Path(base).name})" in (
        proc.stderr
    )


def test_an_encrypted_chain_restores_with_its_identity(portal_root: Path, tmp_path: Path) -> None:
    key = tmp_path / "key.txt"  # an X25519 identity: no scrypt per open, unlike a passphrase
    made = subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = made.stderr.decode().strip().rsplit(" ", 1)[-1]
    env = {"PORTAL_ROOT": str(portal_root)}
    args = ("create", *ITEMS, "-o", str(tmp_path), "-r", recipient)
    base = Path(run(*args, env=env, check=True).stdout.strip().splitlines()[-1])
    (portal_root / pf.SHARED / "neu.txt").write_text("new\n")
    proc = run(*args, "--since", str(base), "--identity", str(key), env=env, check=True)
    diff = Path(proc.stdout.strip().splitlines()[-1])
    assert base.name.endswith(".zip.age") and diff.name.endswith(".zip.age")
    assert "-since-" in diff.name

    verify = run("verify", str(diff), "--identity", str(key))
    assert verify.returncode == 0 and f"its base {base.name} is beside it" in verify.stdout
    fresh = tmp_path / "fresh"
    proc = run(
        "restore", str(diff), "shared", "--yes", "--identity", str(key),
        env={"PORTAL_ROOT": str(fresh)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (fresh / pf.SHARED / "neu.txt").read_text() == "new\n"
    assert (fresh / pf.TEXT_FILE).read_bytes() == (portal_root / pf.TEXT_FILE).read_bytes()


def test_a_chain_whose_base_lacks_an_entry_is_refused(portal_root: Path, tmp_path: Path) -> None:
    from tui.core.archive.chain import open_state
    from tui.core.errors import PortalBackupError

    env = {"PORTAL_ROOT": str(portal_root)}
    args = ("create", *ITEMS, "-o", str(tmp_path), "--progress", "none")
    base = run(*args, env=env, check=True).stdout.strip().splitlines()[-1]
    diff = Path(run(*args, "--since", base, env=env, check=True).stdout.strip().splitlines()[-1])
    # A forged state: one more path said to be held by the base.
    forged = tmp_path / "forged" / diff.name
    forged.parent.mkdir()
    shutil.copy(base, forged.parent)
    with zipfile.ZipFile(diff) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "portal-backup.json":
                doc = json.loads(data)
                ghost = dict(doc["entries"][-1], path=f"{pf.SHARED}/ghost.txt", in_base=True)
                doc["entries"].append(ghost)
                data = json.dumps(doc).encode()
            dst.writestr(info, data)
    with open(forged, "rb") as f, pytest.raises(PortalBackupError) as err:
        open_state(f, str(forged), lambda p: open(p, "rb"))  # noqa: SIM115 - the chain closes it
    assert f"lists {pf.SHARED}/ghost.txt in its state, but its base" in str(err.value)
    assert "the chain is incomplete" in str(err.value)


# --- The stat scan given the base's start (issue 14, point 4): GNU find names the entries
# whose ctime moved; the result must equal the Python walk's over every entry.


def _clock_after(where: Path) -> int:
    """A file time later than every change made so far, and the file clock already past it:
    what the base's start is to the changes made after this returns."""
    probe = where / "clock-probe"

    def tick() -> int:
        probe.touch()
        return os.lstat(probe).st_ctime_ns

    first, deadline = tick(), time.monotonic() + 10
    while tick() <= first:  # the kernel's coarse clock moves every few milliseconds
        assert time.monotonic() < deadline, "the file clock did not move"
    return first


def _put(path: Path | bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _weird_tree(tree: Path) -> None:
    for d, n in (("a", 10), ("b", 5), ("b/deep", 3)):
        (tree / d).mkdir(parents=True)
        for i in range(n):
            (tree / d / f"f{i}").write_bytes(b"x" * i)
    for i in range(20):  # enough directories for the walk to be shared between processes
        (tree / "many" / f"s{i:02d}").mkdir(parents=True)
        (tree / "many" / f"s{i:02d}" / "f").write_bytes(b"m")
    (tree / "keep").write_bytes(b"k" * 100)
    (tree / "weird\nname").write_bytes(b"abcd")
    _put(bytes(tree) + b"/bad\xff", b"zz\xfe")
    (tree / "olddir").mkdir()
    (tree / "olddir" / "x").write_bytes(b"x" * 11)
    (tree / "olddir" / "y").write_bytes(b"y" * 13)
    (tree / "todir").mkdir()
    (tree / "todir" / "z").write_bytes(b"z" * 5)
    os.symlink("keep", tree / "link")


def _change_weird_tree(tree: Path, outside: Path) -> None:
    for f in (tree / "a" / "f5", tree / "weird\nname"):  # same size, mtime put back
        st = f.stat()
        f.unlink() if f.name == "f5" else None
        f.write_bytes(b"y" * st.st_size)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.chmod(tree / "keep", 0o600)
    (tree / "b" / "f1").rename(tree / "b" / "f1-renamed")
    (tree / "a" / "f3").unlink()
    shutil.rmtree(tree / "olddir")
    shutil.rmtree(tree / "todir")  # a directory replaced by a symlink
    os.symlink("keep", tree / "todir")
    (tree / "new\nline").write_bytes(b"n" * 7)
    (tree / "newdir").mkdir()
    (tree / "newdir" / "n1").write_bytes(b"n" * 2)
    (tree / "newdir" / "n2").write_bytes(b"n" * 3)
    _put(bytes(tree) + b"/bad\xff", b"zz\xfe\xfd")
    (tree / "many" / "s07" / "f").write_bytes(b"mm")
    # A directory made before the base moved in: its files keep their old ctimes.
    outside.rename(tree / "a" / "moved")


@pytest.mark.parametrize("processes", [1, 2])
def test_the_ctime_scan_finds_what_the_full_walk_finds(tmp_path: Path, processes: int) -> None:
    from test_differential_policy import recorded

    from tui.core.backup.change_scan import Root, base_index, scan
    from tui.core.backup.find_newer import find_tool

    assert find_tool() is not None  # GNU find: the fast path is what this test proves
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    _weird_tree(tree)
    outside.mkdir()
    (outside / "o1").write_bytes(b"o" * 6)
    (outside / "o2").write_bytes(b"o" * 7)
    entries = recorded(tree, "t/")
    index, roots = base_index(entries), [Root(str(tree), "t/")]
    since = _clock_after(tmp_path)
    assert scan(roots, index, since, processes=processes) == scan(roots, index)
    assert scan(roots, index, since, processes=processes).scanned == len(entries)

    _change_weird_tree(tree, outside)
    full, fast = scan(roots, index), scan(roots, index, since, processes=processes)
    assert fast == full
    assert scan(roots, index, 0, processes=processes) == full  # every entry named by find
    # changed: f5, weird\nname (their ctimes), keep (chmod), bad\xff, s07/f, and the
    # directories whose names changed: t/, t/a/, t/b/
    assert (fast.changed, fast.changed_bytes) == (8, 5 + 4 + 100 + 4 + 2)
    # added: f1-renamed, the todir symlink, new\nline, newdir/ with n1 and n2, moved/ with
    # o1 and o2
    assert (fast.added, fast.added_bytes) == (9, 1 + 7 + 2 + 3 + 6 + 7)
    # deleted: f1 (renamed), f3, olddir/ with x and y, todir/ with z
    assert (fast.deleted, fast.deleted_bytes) == (7, 1 + 3 + 11 + 13 + 5)
    assert fast.scanned == len(entries) - 7 + 9


@pytest.mark.parametrize("processes", [1, 2])
def test_the_ctime_scan_prunes_and_scans_file_roots(tmp_path: Path, processes: int) -> None:
    from test_differential_policy import recorded

    from tui.core.backup.change_scan import Root, base_index, scan

    tree = tmp_path / "tree"
    inner = tree / "deep" / "in[1]*"  # stored by another step; glob characters in its name
    inner.mkdir(parents=True)
    (inner / "a").write_bytes(b"a")
    (tree / "top").write_bytes(b"t")
    single = tmp_path / "single.txt"
    single.write_bytes(b"s" * 10)
    pruned = frozenset({str(inner)})
    roots = [Root(str(tree), "t/", pruned), Root(str(inner), "in/"), Root(str(single), "one.txt")]
    entries = [*recorded(tree, "t/", pruned), *recorded(inner, "in/"), *recorded(single, "one.txt")]
    index = base_index(entries)
    since = _clock_after(tmp_path)
    single.write_bytes(b"s" * 11)
    (inner / "a").unlink()
    (inner / "b").write_bytes(b"bb")
    fast = scan(roots, index, since, processes=processes)
    assert fast == scan(roots, index)
    # in/ (its names), one.txt; t/deep/ did not change (in[1]* itself is the same inode)
    assert (fast.changed, fast.changed_bytes) == (2, 11)
    assert (fast.added, fast.deleted, fast.deleted_bytes) == (1, 1, 1)


def test_the_ctime_scan_trusts_ctimes_and_counts_a_vanished_tree(tmp_path: Path) -> None:
    from test_differential_policy import recorded

    from tui.core.backup.change_scan import Root, base_index, scan

    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f").write_bytes(b"f" * 4)
    entries = recorded(tree, "t/")
    index, roots = base_index(entries), [Root(str(tree), "t/")]
    (tree / "d" / "f").write_bytes(b"g" * 9)
    # Nothing whose ctime is not after `since` is looked at: a base "made" in the future
    # sees no change (since_of never gives such a time; this shows the walk is find's).
    later = time.time_ns() + 3600 * 10**9
    assert scan(roots, index, later, processes=1).changed == 0
    assert scan(roots, index).changed == 1
    shutil.rmtree(tree)  # the whole tree gone: every entry of the base deleted
    gone = scan(roots, index, 0)
    assert gone == scan(roots, index)
    assert (gone.deleted, gone.deleted_bytes, gone.scanned) == (3, 4, 0)


def test_when_most_entries_changed_the_scan_walks_them_all_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_differential_policy import recorded

    from tui.core.backup import change_scan
    from tui.core.backup.change_scan import Root, base_index, scan

    tree, outside = tmp_path / "tree", tmp_path / "outside"
    _weird_tree(tree)
    outside.mkdir()
    index, roots = base_index(recorded(tree, "t/")), [Root(str(tree), "t/")]
    _change_weird_tree(tree, outside)
    full = scan(roots, index)
    # find is stopped once it named more than an eighth of the base's entries
    monkeypatch.setattr(change_scan, "_MOST_NAMED_MIN", 1)
    assert scan(roots, index, 0, processes=2) == full
    assert full.changed > 0 and full.added > 0 and full.deleted > 0


def test_without_gnu_find_the_scan_walks_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_differential_policy import recorded

    from tui.core.backup.change_scan import Root, base_index, scan
    from tui.core.backup.find_newer import find_tool

    bin_dir = tmp_path / "bin"  # busybox's find: no -newerct, no -printf
    bin_dir.mkdir()
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    os.symlink(busybox, bin_dir / "find")
    monkeypatch.setenv("PATH", str(bin_dir))
    find_tool.cache_clear()
    try:
        assert find_tool() is None
        tree = tmp_path / "tree"
        tree.mkdir()
        (tree / "f").write_bytes(b"f")
        index, roots = base_index(recorded(tree, "t/")), [Root(str(tree), "t/")]
        (tree / "f").write_bytes(b"ff")
        later = time.time_ns() + 3600 * 10**9  # ignored: every entry is looked at
        assert scan(roots, index, later).changed == 1
    finally:
        monkeypatch.undo()
        find_tool.cache_clear()


def test_since_of_trusts_only_this_hosts_past(tmp_path: Path) -> None:
    import socket
    from dataclasses import replace

    from tui.core.backup.change_scan import SINCE_MARGIN_NS, since_of

    here = socket.gethostname()
    base = Manifest(ToolRecord(), "2026-12-01T03:00:00Z", here, None, None, False, False, ())
    start = int(datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp()) * 10**9
    assert since_of(base) == start - SINCE_MARGIN_NS
    assert since_of(replace(base, host="elsewhere")) is None
    assert since_of(replace(base, created=None)) is None
    assert since_of(replace(base, created="yesterday")) is None
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert since_of(replace(base, created=future)) is None  # the clock was set back
