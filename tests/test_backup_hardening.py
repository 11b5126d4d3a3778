"""The backup side of issue 9: deep trees, names that never overwrite, no leftovers, exact names.

Every test runs the real `portal-backup create` in a subprocess on a real Portal root; races and
crashes are made deterministic with the hold hook and with kill points (tui/core/checkpoint.py),
never with sleeps.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sqlite3
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import portal_fixture as pf
import pytest
from clirun import COMMAND, run

from tui.core.backup.sources import PATH_MAX, _ChunkStream, _nodes_from_tar
from tui.core.errors import PortalBackupError
from tui.core.model import MAX_PATH_DEPTH

SQLITE_MAGIC = b"SQLite format 3\x00"
DEADLINE = 60.0


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {"PORTAL_ROOT": str(root), **extra}


def _create(
    root: Path, out: Path | str, *items: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return run(
        "create",
        *(items or ("shared",)),
        "-o",
        str(out),
        "--progress",
        "none",
        env=_env(root, **env),
    )


def _archive(proc: subprocess.CompletedProcess[str]) -> Path:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def _one_sentence(proc: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed run: exit 1, one line on stderr, no traceback."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "warning:" not in line]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr
    return errors[0]


def _wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)  # polling a condition, not waiting for time to pass
    raise AssertionError(f"timed out waiting for {what}")


def _partials(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ".partial-" in p.name)


@contextmanager
def _held_create(
    root: Path, output: Path, tmp_path: Path, item: str = "shared", *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """A create of `item` that waits (hold hook, after it created its partial file and before
    it reads the item) until the hold file is removed: yields (process, hold file, its partial
    file)."""
    hold = tmp_path / f"hold-{time.monotonic_ns()}"
    hold.touch()
    watch = output if output.is_dir() else output.parent
    before = set(_partials(watch))
    proc = subprocess.Popen(
        [*COMMAND, "create", item, "-o", str(output), "--progress", "none", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
        env={
            **os.environ,
            **_env(root, **env),
            "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
            "PORTAL_BACKUP_TEST_HOLD_ITEM": item,
        },
    )
    try:

        def partial() -> Path | None:
            assert proc.poll() is None, proc.communicate()
            new = set(_partials(watch)) - before
            return new.pop() if new else None

        yield proc, hold, _wait_for(partial, "the held run's partial file")  # type: ignore[misc]  # waited: not None
    finally:
        hold.unlink(missing_ok=True)
        if proc.poll() is None:
            proc.communicate(timeout=120)


def _finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _make_deep(top: Path, levels: int) -> Path:
    """`levels` nested one-letter directories under `top` (built through directory fds, so
    deeper than a path can name), a file at the bottom; returns the first directory."""
    top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"the bottom\n")
        os.close(leaf)
    finally:
        os.close(fd)
    return top / "d"


def _remove_deep(top: Path) -> None:
    """rm -rf of a tree deeper than PATH_MAX (shutil.rmtree would recurse past its limit)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(top)], check=True)


# ----------------------------------------------------------------------- deep trees


def test_tree_deeper_than_python_recursion_limit_backs_up(
    portal_root: Path, tmp_path: Path
) -> None:
    levels = 1_100  # beyond sys.getrecursionlimit() (1,000): the old walk recursed per level
    deep = portal_root / pf.SHARED / "deep"
    _make_deep(deep, levels)
    out = tmp_path / "out"
    out.mkdir()
    try:
        archive = _archive(_create(portal_root, out))
    finally:
        _remove_deep(deep)  # pytest's own cleanup (shutil.rmtree) recurses per level

    listing = subprocess.run(["unzip", "-Z1", str(archive)], capture_output=True, check=True)
    deepest = b"user_data/shared/deep/" + b"d/" * levels + b"bottom.txt"
    assert deepest in listing.stdout.splitlines()
    test = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0, test.stdout + test.stderr
    assert run("verify", str(archive)).returncode == 0


def test_tree_too_deep_for_a_path_is_refused_with_a_sentence(
    portal_root: Path, tmp_path: Path
) -> None:
    deep = portal_root / pf.SHARED / "abyss"
    levels = PATH_MAX // 2 + 50  # its paths are longer than the kernel resolves
    _make_deep(deep, levels)
    out = tmp_path / "out"
    out.mkdir()
    try:
        proc = _create(portal_root, out)
    finally:
        _remove_deep(deep)
    sentence = _one_sentence(proc)
    assert "too deep to back up" in sentence
    assert str(portal_root / pf.SHARED) in sentence  # names the tree...
    assert "abyss/d/d/d/" in sentence  # ...and the path where it goes too deep
    assert list(out.iterdir()) == []  # no archive, no partial file


def test_volume_stream_deeper_than_the_archive_allows_is_refused() -> None:
    """Volumes read through Docker arrive as a tar stream, where no PATH_MAX applies: there the
    component limit (the same one verify and restore apply) is what refuses."""

    def tar_of(depth: int) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("./" + "/".join(["d"] * depth))
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        return buf.getvalue()

    ok = list(_nodes_from_tar(_ChunkStream(iter([tar_of(MAX_PATH_DEPTH - 2)])), "volumes/v/"))
    assert ok[-1].name.count("/") == MAX_PATH_DEPTH
    with pytest.raises(PortalBackupError, match="too deep to back up"):
        list(_nodes_from_tar(_ChunkStream(iter([tar_of(MAX_PATH_DEPTH)])), "volumes/v/"))


# ----------------------------------------------------------------------- never overwrite


def test_racing_creates_to_one_file_name_never_replace_each_other(
    portal_root: Path, tmp_path: Path
) -> None:
    """Run B checks that out/same.zip is free and is held; run A then writes out/same.zip
    completely; B must not replace it. Different lock files stand for two hosts (or two
    containers) sharing one output directory, which no host lock can serialise."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / "same.zip"
    with _held_create(
        portal_root, target, tmp_path, PORTAL_BACKUP_LOCK_FILE=str(tmp_path / "lock-b")
    ) as (b, hold, _):
        a = _create(portal_root, target, PORTAL_BACKUP_LOCK_FILE=str(tmp_path / "lock-a"))
        assert _archive(a) == target
        a_bytes = target.read_bytes()
        hold.unlink()
        b_done = _finish(b)
    sentence = _one_sentence(b_done)
    assert str(target) in sentence and "another run" in sentence
    assert target.read_bytes() == a_bytes  # A's archive is intact...
    assert sorted(p.name for p in out.iterdir()) == ["same.zip"]  # ...and B left nothing


def test_default_names_within_one_second_stay_distinct(portal_root: Path, tmp_path: Path) -> None:
    """Another run takes the default name (one-second resolution) while this one runs: this
    one gets NAME-2 instead of replacing it."""
    out = tmp_path / "out"
    out.mkdir()
    with _held_create(portal_root, out, tmp_path) as (proc, hold, partial):
        name = partial.name[1 : partial.name.rindex(".partial-")]
        assert name.startswith("portal-backup-") and name.endswith(".zip")
        taken = out / name
        taken.write_bytes(b"PK\x05\x06" + bytes(18))  # the other run's (empty) archive
        hold.unlink()
        done = _finish(proc)
    archive = _archive(done)
    assert archive == out / name.replace(".zip", "-2.zip")
    assert taken.read_bytes() == b"PK\x05\x06" + bytes(18)
    assert zipfile.ZipFile(archive).testzip() is None
    # A third run in a later second simply gets its own default name.
    third = _archive(_create(portal_root, out))
    assert len({taken, archive, third}) == 3


def test_existing_explicit_output_is_refused(portal_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "mine.zip"
    target.write_bytes(b"precious")
    sentence = _one_sentence(_create(portal_root, target))
    assert str(target) in sentence and "already exists" in sentence
    assert target.read_bytes() == b"precious"
    assert _partials(tmp_path) == []


# ----------------------------------------------------------------------- leftovers


def _create_steps(root: Path, out: Path, steps: Path, *items: str) -> list[str]:
    _archive(_create(root, out, *items, PORTAL_BACKUP_TEST_STEPS=str(steps)))
    return list(dict.fromkeys(steps.read_text().split()))


def test_kill_at_every_create_step_leaves_nothing_the_next_run_does_not_clean(
    portal_root: Path, run_token: str, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    items = ("shared", f"app/{pf.AppNames.for_token(run_token).notes}")
    out = tmp_path / "out"
    out.mkdir()
    steps = [
        s
        for s in _create_steps(portal_root, out, tmp_path / "steps", *items)
        if s.startswith("backup.")
    ]
    assert {
        "backup.partial-created",
        "backup.sqlite-snapshot",
        "backup.before-rename",
        "backup.renamed",
    } <= set(steps), steps
    complete = set(out.iterdir())
    for step in steps:
        killed = _create(portal_root, out, *items, PORTAL_BACKUP_TEST_KILL_AT=step)
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr)
        if step != "backup.renamed":
            assert len(_partials(out)) == 1, step  # what a kill -9 leaves...
        nxt = _archive(_create(portal_root, out, *items))
        assert _partials(out) == [], step  # ...the next create into that directory removes
        for archive in set(out.iterdir()) - complete:
            test = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True)
            assert test.returncode == 0, (step, archive)  # anything under a final name is whole
        complete = set(out.iterdir())
        assert nxt in complete


def test_partial_files_of_others_are_kept(portal_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    ours_dead = out / f".old.zip.partial-{dead.pid}"
    ours_dead.write_bytes(b"PK\x03\x04 a killed run's archive")
    live = out / f".live.zip.partial-{os.getpid()}"  # this test process is alive
    live.write_bytes(b"PK\x03\x04 a running run's archive")
    not_ours = out / f".notes.txt.partial-{dead.pid}"
    not_ours.write_text("a user's own file that happens to look like ours")
    _archive(_create(portal_root, out))
    assert not ours_dead.exists()
    assert live.exists() and not_ours.exists()


def _files_with_sqlite_data(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath, name)
                if path.is_symlink() or not path.is_file():
                    continue
                with path.open("rb") as f:
                    if f.read(16) == SQLITE_MAGIC:
                        found.append(path)
    return found


def test_sqlite_snapshot_is_never_on_disk(
    portal_root: Path,
    run_token: str,
    tmp_path: Path,
    isolated_state_dir: Path,
    docker_client: docker.DockerClient,
) -> None:
    notes = pf.AppNames.for_token(run_token).notes
    originals = set(_files_with_sqlite_data(portal_root))
    assert originals, "the fixture has a SQLite database"
    out = tmp_path / "out"
    out.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # Killed while it holds the snapshot: no copy of the database exists anywhere on disk.
    killed = _create(
        portal_root,
        out,
        f"app/{notes}",
        TMPDIR=str(scratch),
        PORTAL_BACKUP_TEST_KILL_AT="backup.sqlite-snapshot",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    places = (portal_root, out, scratch, isolated_state_dir)
    assert set(_files_with_sqlite_data(*places)) == originals
    assert not [p for root in places for p in root.rglob(".pb-sqlite-*")]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        path = tmp_path / name
        path.mkdir(mode=0o700)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True
        )
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> None:
    """Fill the filesystem holding `directory` to the last block."""
    with (directory / "filler").open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def test_full_state_directory_is_not_blamed_on_the_output_disk(
    portal_root: Path,
    run_token: str,
    tmp_path: Path,
    tmpfs: Callable[[str, str], Path],
    docker_client: docker.DockerClient,
) -> None:
    """The state directory's disk fills up while a backup runs. The SQLite copy used to be
    written there and its ENOSPC reported as the output disk being full; now the backup's
    data never goes there. Only the quiesce journal may still need room there, and then the
    sentence names the state directory."""
    notes = f"app/{pf.AppNames.for_token(run_token).notes}"
    state = tmpfs("state", "1m")
    out = tmp_path / "out"
    out.mkdir()
    with _held_create(
        portal_root,
        out,
        tmp_path,
        notes,
        PORTAL_BACKUP_STATE_DIR=str(state),
        PORTAL_BACKUP_LOCK_FILE=str(tmp_path / "run.lock"),
    ) as (proc, hold, _):
        _fill(state)
        hold.unlink()
        done = _finish(proc)
    assert str(out) not in done.stderr
    if done.returncode != 0:
        assert f"the state directory {state} is full" in _one_sentence(done)
        assert _partials(out) == []
        return
    archive = _archive(done)
    with zipfile.ZipFile(archive) as z:
        db = tmp_path / "restored.sqlite"
        db.write_bytes(z.read(f"{pf.APP_DATA}/{notes[4:]}/data/notes.sqlite"))
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert con.execute("select count(*) from notes").fetchone() == (200,)
    con.close()


def test_full_output_disk_is_named(
    portal_root: Path, tmp_path: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    out = tmpfs("out", "64m")
    with _held_create(portal_root, out, tmp_path) as (proc, hold, _):
        _fill(out)  # the disk fills up while the backup runs
        hold.unlink()
        done = _finish(proc)
    sentence = _one_sentence(done)
    assert f"the disk holding {out} (mounted at {out}) is full" in sentence
    assert [p.name for p in out.iterdir()] == ["filler"]


# ----------------------------------------------------------------------- exact names


def test_name_that_is_not_utf8_round_trips_exactly(portal_root: Path, tmp_path: Path) -> None:
    shared = os.fsencode(portal_root / pf.SHARED)
    raw_dir, raw_file = b"R\xe9sum\xe9s", b"caf\xe9 \xe0 la carte.txt"  # Latin-1 names
    os.mkdir(shared + b"/" + raw_dir)
    with open(shared + b"/" + raw_dir + b"/" + raw_file, "wb") as f:
        f.write(b"exact bytes\n")
    out = tmp_path / "out"
    out.mkdir()
    archive = _archive(_create(portal_root, out))

    stored = b"user_data/shared/" + raw_dir + b"/" + raw_file
    listing = subprocess.run(["unzip", "-Z1", str(archive)], capture_output=True, check=True)
    assert stored in listing.stdout.splitlines()  # the raw bytes, as Info-ZIP stores them
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("portal-backup.json"))
    rec = next(
        e
        for e in manifest["entries"]
        if e.get("path_raw") and base64.b64decode(e["path_raw"]) == stored
    )
    assert os.fsencode(rec["path"]) == stored and rec["type"] == "file"
    assert run("verify", str(archive)).returncode == 0

    unzipped = tmp_path / "unzipped"
    subprocess.run(["unzip", "-q", str(archive), "-d", str(unzipped)], check=True)
    assert (os.fsencode(unzipped) + b"/" + stored) in [
        os.fsencode(os.path.join(d, n))
        for d, _, names in os.walk(os.fsencode(unzipped))
        for n in names
    ]

    subprocess.run(["rm", "-rf", "--", os.fsencode(shared + b"/" + raw_dir)], check=True)
    proc = run("restore", str(archive), "shared", "--yes", env=_env(portal_root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(shared + b"/" + raw_dir + b"/" + raw_file, "rb") as f:
        assert f.read() == b"exact bytes\n"


def test_control_characters_in_names_pass_sha256sum(portal_root: Path, tmp_path: Path) -> None:
    shared = portal_root / pf.SHARED
    names = ["two\nlines.txt", "carriage\rreturn.txt", "back\\slash.txt", "tab\there.txt"]
    for i, name in enumerate(names):
        (shared / name).write_text(f"file {i}\n")
    out = tmp_path / "out"
    out.mkdir()
    archive = _archive(_create(portal_root, out))
    unzipped = tmp_path / "unzipped"
    # -^: Info-ZIP drops control characters from names unless told to keep them (README.txt
    # inside the archive says so).
    subprocess.run(["unzip", "-q", "-^", str(archive), "-d", str(unzipped)], check=True)
    for name in names:
        assert (unzipped / pf.SHARED / name).is_file(), name
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=unzipped, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "unzip -X -^" in (unzipped / "README.txt").read_text()
    assert run("verify", str(archive)).returncode == 0
