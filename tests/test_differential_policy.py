"""Issue 14, points 3 and 4: `auto run` chooses between a full and a differential backup
(full_every, differential_max), the history records which, and the stat-only change scan
that gives the policy its estimate.

The job runs in-process against a Portal root (no Docker: only the Portal's own items) and a
local directory; tests/test_differential_dest.py runs it against the loopback S3 server.
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_auto_status import write_config

from tui.core.archive.manifest_model import ManifestEntry, parse_manifest
from tui.core.auto.config import ConfigError, JobConfig, load_config
from tui.core.auto.history import RunRecord, read_runs
from tui.core.auto.job import run_job
from tui.core.backup.change_scan import Root, base_index, scan
from tui.core.backup.sources import walk_path
from tui.core.dest.names import parse_archive_name

SHARED = "user_data/shared"
NO_DOCKER = "unix:///nonexistent/portal-backup-test.sock"
ITEMS = 'items = ["core/db", "core/config", "core/apps", "shared"]'


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Portal's items only: faster, and what matters here is the policy."""
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)


def job_config(tmp_path: Path, target: str, extra: str = "") -> JobConfig:
    path = write_config(
        tmp_path,
        f'{extra}quiesce = "none"\n{ITEMS}\n'
        f'[[destinations]]\nname = "usb"\ntarget = "{target}"\nkeep = {{ last = 20 }}\n',
    )
    return load_config(path)


def one_run(config: JobConfig, root: Path, now: datetime | None = None) -> RunRecord:
    """Runs the job; its history record (it must have succeeded)."""
    before = len(read_runs())
    result = run_job(config, lambda _event: None, portal_root=str(root), now=now)
    runs = read_runs()
    assert len(runs) == before + 1
    assert result.ok, runs[-1].error
    return runs[-1]


def after_second_of(archive: str | None) -> None:
    """Waits (polling the clock, with a deadline) until the second in `archive`'s name has
    passed, so the next full backup cannot take the same name."""
    parsed = parse_archive_name(archive or "")
    assert parsed is not None
    deadline = time.monotonic() + 5
    while datetime.now(UTC) < parsed[1] + timedelta(seconds=1):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def data_entries(archive: Path) -> set[str]:
    """The tree entries a zip holds (the manifest, sums, README and signature left out)."""
    with zipfile.ZipFile(archive) as z:
        return {n for n in z.namelist() if n.startswith(("core/", "user_data/"))}


def test_auto_run_full_then_differential_then_full_by_age_and_by_size(
    portal_root: Path, tmp_path: Path, no_docker: None
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    config = job_config(tmp_path, str(usb))
    assert config.full_every == 7 * 86400 and config.differential_max == 0.5  # the defaults

    first = one_run(config, portal_root)
    assert first.kind == "full" and first.verified
    assert first.archive and "-since-" not in first.archive

    # A small change: one file rewritten in place.
    changed = portal_root / SHARED / "documents" / "policy-note.txt"
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text("a few bytes that changed\n")
    second = one_run(config, portal_root)
    assert second.kind == "differential" and second.verified
    parsed = parse_archive_name(second.archive or "")
    assert parsed is not None and parsed[2] == first.archive  # its base is the full
    assert second.bytes_out < first.bytes_out
    held = data_entries(usb / (second.archive or ""))
    assert f"{SHARED}/documents/policy-note.txt" in held
    assert not any(n.startswith("core/") for n in held)  # nothing unchanged is stored again
    with zipfile.ZipFile(usb / (second.archive or "")) as z:
        manifest = parse_manifest(z.read("portal-backup.json"))
    assert manifest.differential is not None and manifest.differential.base == first.archive

    # Eight days later by the policy's clock: full_every (7 days) has passed.
    after_second_of(first.archive)
    later = datetime.now(UTC) + timedelta(days=8)
    third = one_run(config, portal_root, now=later)
    assert third.kind == "full" and third.verified
    assert "-since-" not in (third.archive or "")

    # A change larger than half of the last full's bytes: a full again, the same day.
    whole = sum(e.size for e in manifest.entries if e.type == "file")
    (portal_root / SHARED / "big.bin").write_bytes(os.urandom(whole // 2 + 4096))
    after_second_of(third.archive)
    fourth = one_run(config, portal_root)
    assert fourth.kind == "full" and "-since-" not in (fourth.archive or "")

    # And a small change after it: a differential of the newest full.
    changed.write_text("changed once more\n")
    fifth = one_run(config, portal_root)
    assert fifth.kind == "differential"
    parsed = parse_archive_name(fifth.archive or "")
    assert parsed is not None and parsed[2] == fourth.archive
    assert [r.kind for r in read_runs()] == [
        "full",
        "differential",
        "full",
        "full",
        "differential",
    ]


def test_full_every_zero_makes_every_run_a_full(
    portal_root: Path, tmp_path: Path, no_docker: None
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    config = job_config(tmp_path, str(usb), 'full_every = "0"\n')
    first = one_run(config, portal_root)
    after_second_of(first.archive)
    second = one_run(config, portal_root)
    assert (first.kind, second.kind) == ("full", "full")
    assert "-since-" not in (second.archive or "")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('full_every = "weekly"', 'line 1: full_every: "weekly" is not a duration'),
        ("full_every = true", "line 1: full_every must be a duration"),
        ("differential_max = 1.5", "line 1: differential_max must be a number above 0"),
        ("differential_max = 0", "line 1: differential_max must be a number above 0"),
        ('differential_max = "half"', 'not "half"'),
    ],
)
def test_policy_keys_are_checked_with_one_sentence(tmp_path: Path, line: str, message: str) -> None:
    path = write_config(tmp_path, f'{line}\n[[destinations]]\nname = "u"\ntarget = "/tmp"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(caught.value).count(". ") == 0  # one sentence


def test_policy_keys_as_written(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        'full_every = "30d"\ndifferential_max = 0.25\n'
        '[[destinations]]\nname = "u"\ntarget = "/tmp"\n',
    )
    config = load_config(path)
    assert (config.full_every, config.differential_max) == (30 * 86400, 0.25)


# --------------------------------------------------------------------------- the stat scan


def recorded(root: Path, prefix: str, prune: frozenset[str] = frozenset()) -> list[ManifestEntry]:
    """The entries a full backup of `root` records (the backup's own walk)."""
    out = []
    for n in walk_path(str(root), prefix, prune):
        sha = "0" * 64 if n.kind == "file" else None
        meta = (n.size, n.mode, n.uid, n.gid, n.mtime_ns)
        out.append(
            ManifestEntry(n.name, n.kind, *meta, sha, n.target, ino=n.ino, ctime_ns=n.ctime_ns)
        )
    return out


def test_the_stat_scan_counts_what_changed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(20):
        (tree / "sub" / f"f{i}").write_bytes(b"x" * i)
    (tree / "keep").write_bytes(b"k" * 100)
    (tree / "gone").write_bytes(b"g" * 7)
    (tree / "olddir").mkdir()
    (tree / "olddir" / "a").write_bytes(b"a" * 11)
    (tree / "olddir" / "b").write_bytes(b"b" * 13)
    os.symlink("keep", tree / "link")
    entries = recorded(tree, "t/")
    index = base_index(entries)
    roots = [Root(str(tree), "t/")]

    same = scan(roots, index)
    assert (same.scanned, same.changed, same.added, same.deleted, same.bytes) == (
        len(entries),
        0,
        0,
        0,
        0,
    )

    # Rewritten with its size and mtime put back: only the ctime (and inode) shows it.
    target = tree / "sub" / "f5"
    st = target.stat()
    target.unlink()
    target.write_bytes(b"y" * 5)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (tree / "new").write_bytes(b"n" * 1000)
    (tree / "gone").unlink()
    shutil.rmtree(tree / "olddir")  # a whole directory: it and its two files are gone
    os.chmod(tree / "keep", 0o600)
    (tree / "sub" / "f3").write_bytes(b"z" * 3000)  # grown
    result = scan(roots, index)
    # changed: f5, keep, f3, and the two directories whose listing changed (t/, t/sub/)
    assert result.changed == 5
    assert result.changed_bytes == 5 + 100 + 3000
    assert (result.added, result.added_bytes) == (1, 1000)
    assert (result.deleted, result.deleted_bytes) == (4, 7 + 11 + 13)
    assert result.bytes == 5 + 100 + 3000 + 1000


def test_the_stat_scan_honours_pruned_subtrees_and_file_roots(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    inner = tree / "inner"  # stored by another step, under its own archive path
    inner.mkdir(parents=True)
    (inner / "a").write_bytes(b"a")
    (tree / "top").write_bytes(b"t")
    single = tmp_path / "single.txt"
    single.write_bytes(b"s" * 10)
    pruned = frozenset({str(inner)})
    roots = [Root(str(tree), "t/", pruned), Root(str(inner), "in/"), Root(str(single), "one.txt")]
    entries = [
        *(recorded(tree, "t/", pruned)),
        *recorded(inner, "in/"),
        *recorded(single, "one.txt"),
    ]
    index = base_index(entries)
    result = scan(roots, index)
    assert (result.scanned, result.changed, result.added, result.deleted) == (5, 0, 0, 0)
    single.write_bytes(b"s" * 11)
    (inner / "a").unlink()
    result = scan(roots, index)
    assert (result.changed_bytes, result.deleted, result.deleted_bytes) == (11, 1, 1)
    # in/ changed (its listing), and one.txt; t/ did not (inner/ itself is untouched)
    assert result.changed == 2
