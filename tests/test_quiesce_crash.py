"""Quiescing survives kill -9 at every step, slow stops, forged journals and concurrent runs.

Crashes are placed with tui/core/checkpoint.py: a run is killed at a named step boundary, then
`portal-backup list` (which repairs) runs and the containers' states are checked. The slow
container's stop handler takes a few seconds: that is the app's behaviour under test, never a
test's way of waiting.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import portal_fixture as pf
import pytest
from clirun import COMMAND, run
from hypothesis import given, settings
from hypothesis import strategies as st
from test_backup_docker import wait_for

from tui.core.errors import PortalBackupError
from tui.core.quiesce_journal import load_journal
from tui.core.runlock import LOCK_ENV, RunLock, lock_path
from tui.core.state import clean_leftovers, write_json_atomic

SLOW_STOP = 3  # seconds the slow container's SIGTERM handler takes before it exits
SLOW_COMMAND = ["sh", "-c", f'trap "sleep {SLOW_STOP}; exit 0" TERM; sleep 100000 & wait']
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}


@dataclass
class App:
    """One compose app on the real engine, its data under a minimal Portal root."""

    name: str
    root: Path
    ids: dict[str, str]  # service -> container id
    client: docker.DockerClient

    def states(self) -> dict[str, str]:
        return {
            s: self.client.api.inspect_container(i)["State"]["Status"] for s, i in self.ids.items()
        }

    def started_at(self, service: str) -> str:
        return self.client.api.inspect_container(self.ids[service])["State"]["StartedAt"]

    def env(self, **extra: str) -> dict[str, str]:
        return {"PORTAL_ROOT": str(self.root), **extra}


def make_app(
    client: docker.DockerClient,
    image: str,
    root: Path,
    name: str,
    services: dict[str, tuple[list[str], str]],
    made: list[str],
) -> App:
    """services: name -> (command, state to leave it in: running, paused or exited)."""
    data = root / pf.APP_DATA / name / "data"
    data.mkdir(parents=True)
    (data / "notes.txt").write_text("kept across the crash\n")
    ids = {}
    for service, (command, state) in services.items():
        c = client.containers.create(
            image,
            command=command,
            name=f"{name}-{service}-1",
            network_mode="none",
            labels={
                "com.docker.compose.project": name,
                "com.docker.compose.service": service,
                pf.TEST_LABEL: name,
            },
            mounts=[docker.types.Mount("/data", str(data), type="bind")],
            detach=True,
        )
        made.append(c.id)
        if state != "created":
            c.start()
        if state == "paused":
            c.pause()
        elif state == "exited":
            c.stop(timeout=10)
        ids[service] = c.id
    return App(name, root, ids, client)


@pytest.fixture
def apps(
    docker_client: docker.DockerClient, test_image: str, tmp_path: Path
) -> Iterator[Callable[[dict[str, tuple[list[str], str]]], App]]:
    made: list[str] = []

    def factory(services: dict[str, tuple[list[str], str]]) -> App:
        return make_app(
            docker_client,
            test_image,
            tmp_path / "portal",
            f"qc{len(made)}-{pf.new_token()}",
            services,
            made,
        )

    yield factory
    for cid in made:
        try:
            c = docker_client.containers.get(cid)
            if c.status == "paused":
                c.unpause()
            c.remove(force=True)
        except docker.errors.NotFound:
            pass


def killed_at(step: str, args: list[str], env: dict[str, str]) -> None:
    """Runs portal-backup and asserts it killed itself at `step`."""
    proc = run(*args, env={**env, "PORTAL_BACKUP_TEST_KILL_AT": step})
    assert proc.returncode == -9, f"not killed at {step}: {proc.returncode} {proc.stderr}"


def steps_of(args: list[str], env: dict[str, str], tmp_path: Path) -> list[str]:
    """The quiesce step boundaries one normal run goes through, as NAME#N."""
    steps_file = tmp_path / "steps"
    steps_file.unlink(missing_ok=True)
    run(*args, env={**env, "PORTAL_BACKUP_TEST_STEPS": str(steps_file)}, check=True)
    seen: dict[str, int] = {}
    out = []
    for name in steps_file.read_text().split():
        seen[name] = seen.get(name, 0) + 1
        if name.startswith("quiesce."):
            out.append(f"{name}#{seen[name]}")
    return out


def repair(app: App) -> subprocess.CompletedProcess[str]:
    proc = run("list", "--no-sizes", env=app.env())
    assert proc.returncode == 0, proc.stderr
    return proc


def state_leftovers(state: Path) -> list[str]:
    return sorted(
        n
        for n in os.listdir(state)
        if n not in ("run.lock", "last-backup.json", "recent-archives.json")
    )


# ----------------------------------------------------------------------------- slow stops


def test_create_killed_while_a_slow_stop_is_in_flight(
    apps, isolated_state_dir: Path, tmp_path: Path
) -> None:
    """Defect 5: killed while Docker is still stopping the container, which still looks
    running; the next command must wait for it to exit and start it again."""
    app = apps({"web": (SLOW_COMMAND, "running")})
    before = app.started_at("web")
    killed_at(
        "quiesce.stop-in-flight",
        ["create", f"app/{app.name}", "-o", str(tmp_path), "--progress", "none"],
        app.env(),
    )
    repair(app)
    assert app.states() == {"web": "running"}
    assert app.started_at("web") != before  # it did stop, and was started again
    assert state_leftovers(isolated_state_dir) == []


def test_restore_killed_while_stopping_a_paused_app(
    apps, isolated_state_dir: Path, tmp_path: Path
) -> None:
    """The restore's stopper: a paused container is unpaused and stopped; killed while the
    stop is in flight, it must end up paused again, not stopped for good."""
    app = apps({"web": (SLOW_COMMAND, "running"), "db": (SLOW_COMMAND, "running")})
    made = run(
        "create",
        f"app/{app.name}",
        "-o",
        str(tmp_path),
        "--quiesce",
        "none",
        "--progress",
        "none",
        env=app.env(),
        check=True,
    )
    archive = made.stdout.strip().splitlines()[-1]
    app.client.api.pause(app.ids["db"])
    before = app.started_at("db")
    killed_at(
        "quiesce.stop-in-flight",
        ["restore", archive, f"app/{app.name}", "--yes", "--progress", "none"],
        app.env(),
    )
    repair(app)
    assert app.states() == {"web": "running", "db": "paused"}
    assert app.started_at("db") != before
    assert not (isolated_state_dir / "journal.json").exists()


# ----------------------------------------------------------------------------- every step


@pytest.mark.parametrize("mode", ["stop", "pause"])
def test_kill_at_every_quiesce_step_of_a_create(
    apps, mode: str, isolated_state_dir: Path, tmp_path: Path
) -> None:
    """Every boundary of a normal run; afterwards every container is as it was before."""
    services = {"web": (pf.RUN_COMMAND, "running"), "old": (pf.RUN_COMMAND, "exited")}
    if mode == "stop":
        services["worker"] = (pf.RUN_COMMAND, "running")
        services["cache"] = (pf.RUN_COMMAND, "paused")
    app = apps(services)
    before = app.states()
    args = [
        "create",
        f"app/{app.name}",
        "-o",
        str(tmp_path),
        "--quiesce",
        mode,
        "--progress",
        "none",
    ]
    steps = steps_of(args, app.env(), tmp_path)
    expected = 11 if mode == "stop" else 6  # journal, call, resume: per container, per app
    assert len(steps) == expected, steps
    for step in steps:
        killed_at(step, args, app.env())
        repair(app)
        assert app.states() == before, step
        assert state_leftovers(isolated_state_dir) == [], step


# ----------------------------------------------------------------------------- journal


def test_the_journal_keeps_a_container_until_it_is_back(apps, isolated_state_dir: Path) -> None:
    """A container that cannot start stays journalled (retried by every command); one that
    was removed is reported once and dropped (nothing can bring it back)."""
    app = apps({"web": (pf.RUN_COMMAND, "exited"), "gone": (pf.RUN_COMMAND, "exited")})
    data = app.root / pf.APP_DATA / app.name / "data"
    data.rename(data.with_name("away"))  # its bind source is missing: it cannot start
    app.client.api.remove_container(app.ids["gone"])
    journal = isolated_state_dir / "journal.json"
    changes = [
        {"id": app.ids[s], "name": f"{app.name}-{s}-1", "action": "stopped"}
        for s in ("web", "gone")
    ]
    journal.write_text(json.dumps({"pid": 1, "written": 0, "changes": changes}))

    proc = repair(app)
    assert f"could not restart {app.name}-web-1" in proc.stderr
    assert f"container {app.name}-gone-1 is gone" in proc.stderr
    kept = load_journal(journal)
    assert kept is not None and [c.id for c in kept.changes] == [app.ids["web"]]

    data.with_name("away").rename(data)
    proc = repair(app)
    assert f"started {app.name}-web-1" in proc.stderr
    assert app.client.api.inspect_container(app.ids["web"])["State"]["Status"] == "running"
    assert not journal.exists()


FORGED = {
    "bad action": {"changes": [{"id": "a" * 64, "name": "web", "action": "rm -rf"}]},
    "path as id": {"changes": [{"id": "../../etc/passwd", "name": "web", "action": "stopped"}]},
    "newline in name": {"changes": [{"id": "a" * 64, "name": "web\nok", "action": "stopped"}]},
    "extra key": {"changes": [{"id": "a" * 64, "name": "w", "action": "paused", "path": "/"}]},
    "not a list": {"changes": {"id": "a" * 64}},
    "string pid": {"pid": "1; reboot", "changes": []},
}


@pytest.mark.parametrize("shape", sorted(FORGED))
def test_a_forged_journal_is_refused_and_left(
    shape: str, isolated_state_dir: Path, tmp_path: Path
) -> None:
    journal = isolated_state_dir / "journal.json"
    journal.write_text(json.dumps(FORGED[shape]))
    original = journal.read_bytes()
    proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(tmp_path / "none"), **NO_DOCKER})
    assert f"the journal {journal} is not valid" in proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
    assert journal.read_bytes() == original


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
    | st.fixed_dictionaries(
        {
            "changes": st.lists(
                st.fixed_dictionaries({"id": st.text(), "name": st.text(), "action": st.text()})
            )
        }
    )
)
def test_any_journal_is_read_or_refused_with_a_sentence(data: object) -> None:
    path = Path(os.environ["PORTAL_BACKUP_STATE_DIR"]) / "generated.json"
    path.write_text(json.dumps(data))
    try:
        journal = load_journal(path)
    except PortalBackupError as exc:
        assert str(exc).startswith(f"the journal {path} is not valid")
        return
    assert journal is not None
    assert all(c.action in ("stopped", "paused", "stopped-paused") for c in journal.changes)


def test_a_journal_an_earlier_item_could_not_undo_is_kept(isolated_state_dir: Path) -> None:
    """A new run's journal never overwrites changes that still wait to be undone."""
    from tui.core.quiesce_journal import Change, Journal

    path = isolated_state_dir / "journal.json"
    old = Change("a" * 64, "old-web", "stopped")
    path.write_text(json.dumps({"pid": 1, "changes": [old.__dict__]}))
    journal = Journal(path)
    journal.changes.append(Change("b" * 64, "new-web", "paused"))
    journal.save()
    saved = load_journal(path)
    assert saved is not None and [c.name for c in saved.changes] == ["old-web", "new-web"]


# ----------------------------------------------------------------------------- state directory


def test_a_state_directory_writable_by_others_is_refused(
    isolated_state_dir: Path, tmp_path: Path
) -> None:
    os.chmod(isolated_state_dir, 0o777)
    try:
        proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(tmp_path), **NO_DOCKER})
    finally:
        os.chmod(isolated_state_dir, 0o700)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"portal-backup: the state directory {isolated_state_dir} is writable by others; fix "
        f"its permissions with chmod 700 {isolated_state_dir}"
    )


def test_a_state_directory_of_another_user_is_refused(
    isolated_state_dir: Path, tmp_path: Path
) -> None:
    os.chown(isolated_state_dir, 1234, 1234)
    try:
        proc = run("list", "--no-sizes", env={"PORTAL_ROOT": str(tmp_path), **NO_DOCKER})
    finally:
        os.chown(isolated_state_dir, os.geteuid(), os.getegid())
    assert proc.returncode == 1
    assert f"the state directory {isolated_state_dir} belongs to uid 1234" in proc.stderr


def test_leftover_temporary_files_of_killed_writers_are_cleaned(isolated_state_dir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {
        f".journal.json.tmp-{dead.pid}": False,
        f".last-backup.json.tmp-{dead.pid}-0a1b": False,
        f".journal.json.tmp-{os.getpid()}-ffff": True,  # a live writer's: kept
        "journal.json": True,
        "notes.tmp-1": True,  # not ours to judge
    }
    for name in names:
        (isolated_state_dir / name).write_text("{}")
    removed = clean_leftovers(isolated_state_dir)
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(os.listdir(isolated_state_dir)) == sorted(n for n, k in names.items() if k)


def test_concurrent_writers_never_share_a_temporary_file(isolated_state_dir: Path) -> None:
    target = isolated_state_dir / "record.json"
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                write_json_atomic(target, {"writer": n, "i": i, "pad": "x" * 4096})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert json.loads(target.read_text())["i"] == 199
    assert os.listdir(isolated_state_dir) == ["record.json"]


@pytest.fixture
def full_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path / "full-state"
    state.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=700", "tmpfs", str(state)], check=True
    )
    try:
        fd = os.open(state / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill it up
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        monkeypatch.setenv("PORTAL_BACKUP_STATE_DIR", str(state))
        monkeypatch.setenv(LOCK_ENV, str(tmp_path / "run.lock"))
        yield state
    finally:
        subprocess.run(["umount", str(state)], check=True)


def test_a_full_state_directory_is_named_not_the_output_disk(
    apps, full_state_dir: Path, tmp_path: Path
) -> None:
    app = apps({"web": (pf.RUN_COMMAND, "running")})
    out = tmp_path / "out"
    out.mkdir()
    proc = run("create", f"app/{app.name}", "-o", str(out), "--progress", "none", env=app.env())
    assert proc.returncode == 1
    assert f"the state directory {full_state_dir} is full" in proc.stderr, proc.stderr
    assert str(out) not in proc.stderr
    assert app.states() == {"web": "running"}
    assert os.listdir(out) == []


# ----------------------------------------------------------------------------- host-wide lock


def test_the_lock_is_host_wide_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOCK_ENV)
    monkeypatch.setenv("PORTAL_BACKUP_STATE_DIR", "/elsewhere")
    expected = "/run/portal-backup.lock" if os.geteuid() == 0 else None
    path = lock_path()
    assert str(path) == expected if expected else path.name == f"portal-backup-{os.geteuid()}.lock"


def test_a_second_run_with_another_state_directory_is_refused(apps, tmp_path: Path) -> None:
    app = apps({"web": (pf.RUN_COMMAND, "running")})
    hold = tmp_path / "hold"
    hold.write_text("hold")
    out = tmp_path / "out"
    out.mkdir()
    other_state = tmp_path / "other-state"
    other_state.mkdir(mode=0o700)
    first = subprocess.Popen(
        [*COMMAND, "create", f"app/{app.name}", "-o", str(out), "--progress", "none"],
        env={
            **os.environ,
            **app.env(),
            "PORTAL_BACKUP_TEST_HOLD_FILE": str(hold),
            "PORTAL_BACKUP_TEST_HOLD_ITEM": f"app/{app.name}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: app.states()["web"] == "exited", what="the first run to stop the app")
        second = run(
            "create",
            f"app/{app.name}",
            "-o",
            str(out),
            "--progress",
            "none",
            env=app.env(PORTAL_BACKUP_STATE_DIR=str(other_state)),
        )
        assert second.returncode == 1
        assert f"another portal-backup run (pid {first.pid}, since " in second.stderr
        assert ") is in progress on this host" in second.stderr, second.stderr
        assert app.states()["web"] == "exited"  # the second run did not touch it
    finally:
        hold.unlink()
        first.communicate(timeout=120)
    assert first.returncode == 0
    assert app.states() == {"web": "running"}


def test_a_planted_lock_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep me\n")
    link = tmp_path / "planted.lock"
    link.symlink_to(target)
    with pytest.raises(PortalBackupError, match="cannot open the lock file"):
        RunLock(link).acquire()
    assert target.read_text() == "keep me\n"
    assert stat.S_ISLNK(os.lstat(link).st_mode)
