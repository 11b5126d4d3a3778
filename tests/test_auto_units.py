"""Scheduling the job: systemd units that systemd itself accepts, the cron fallback, the login
reminder, and `auto install` / `auto remove` on the command line (all into temporary roots)."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from clirun import COMMAND, run

from tui.core.auto.config import load_config
from tui.core.auto.reminder import REMINDER_PATH, install_reminder
from tui.core.auto.units import CRON_FILE, UNIT_DIR, install, remove
from tui.core.errors import UsageError

AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
UNITS = (
    "portal-backup.service",
    "portal-backup.timer",
    "portal-backup-overdue.service",
    "portal-backup-overdue.timer",
)


def job_file(tmp_path: Path, schedule: str = "*-*-* 03:00:00", extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"# the job\nschedule = {schedule!r}\n{extra}\n"
        '[[destinations]]\nname = "usb"\ntarget = "/mnt"\nkeep = { daily = 7 }\n'
    )
    path.chmod(0o600)
    return path


def fake_exe(directory: Path, body: str = 'echo "ran: $*"') -> str:
    """A stand-in `portal-backup` (the units must name a binary that exists)."""
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "portal-backup"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(0o755)
    return str(exe)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True
    )


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    root = tmp_path / "root"
    exe = fake_exe(tmp_path / "opt" / "bin")
    secret = ":s3,provider=Minio,secret_access_key=TOPSECRET:bucket"
    config = load_config(
        job_file(
            tmp_path,
            extra=f'recipients = ["{AGE_KEY}"]\nidentity_saved_off_host = true\n'
            f'[[destinations]]\nname = "cloud"\ntarget = "{secret}"\n',
        )
    )
    result = install(
        config,
        root=root,
        executable=exe,
        portal_root="/home/my portal",
        init="systemd",
    )
    unit_paths = [root / UNIT_DIR / name for name in UNITS]
    assert result.written == [*unit_paths, root / REMINDER_PATH]
    assert result.next_run is not None and result.next_run.hour == 3  # the tests run in UTC
    done = verify(unit_paths)
    assert done.returncode == 0, done.stderr
    service = unit_paths[0].read_text()
    for line in (
        "Type=oneshot",
        f"ExecStart={exe} auto run",
        "Nice=10",
        "IOSchedulingClass=idle",
        f"Environment=PORTAL_BACKUP_CONFIG={config.path}",
        'Environment="PORTAL_ROOT=/home/my portal"',
    ):
        assert line in service.splitlines()
    timer = unit_paths[1].read_text().splitlines()
    for line in ("OnCalendar=*-*-* 03:00:00", "RandomizedDelaySec=3600", "Persistent=true"):
        assert line in timer
    assert "WantedBy=timers.target" in timer
    overdue = unit_paths[2].read_text()
    assert f"ExecStart={exe} status --notify-overdue" in overdue.splitlines()
    for path in unit_paths:
        assert "TOPSECRET" not in path.read_text() and AGE_KEY not in path.read_text()
    # The check above can fail: systemd refuses a unit whose binary does not exist.
    os.unlink(exe)
    assert verify(unit_paths[:1]).returncode != 0


@pytest.mark.parametrize(
    ("schedule", "fields"),
    [
        ("*-*-* 03:00:00", "0 3 * * *"),
        ("Sun *-*-* 04:30:00", "30 4 * * 0"),
        ("*-*-* 0/6:00:00", "0 0-23/6 * * *"),
    ],
)
def test_without_systemd_the_cron_file_has_the_schedules_line(
    tmp_path: Path, schedule: str, fields: str
) -> None:
    root = tmp_path / "root"
    exe = fake_exe(tmp_path / "bin")
    result = install(
        load_config(job_file(tmp_path, schedule)), root=root, executable=exe, init="cron"
    )
    assert result.init == "cron" and (root / CRON_FILE) in result.written
    assert any("scheduled with cron instead" in note for note in result.notes)
    lines = (root / CRON_FILE).read_text().splitlines()
    assert f"{fields} root nice -n 10 ionice -c 3 {exe} auto run >/dev/null" in lines
    assert f"0 9 * * * root {exe} status --notify-overdue >/dev/null" in lines
    assert f"PORTAL_BACKUP_CONFIG={tmp_path / 'config.toml'}" in lines
    assert files_under(root) == ["etc/cron.d/portal-backup", "etc/profile.d/portal-backup.sh"]


def test_a_schedule_cron_cannot_express_is_refused_in_one_sentence(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = load_config(job_file(tmp_path, "*-*-* 03:00:30"))
    with pytest.raises(UsageError, match="systemd is not running on this host, and the sched"):
        install(config, root=root, executable=fake_exe(tmp_path / "bin"), init="cron")
    assert not root.exists() or files_under(root) == []


def test_nothing_is_scheduled_before_the_identity_is_confirmed_saved(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = load_config(job_file(tmp_path, extra=f'recipients = ["{AGE_KEY}"]\n'))
    with pytest.raises(UsageError, match="identity_saved_off_host"):
        install(config, root=root, executable=fake_exe(tmp_path / "bin"), init="cron")
    assert not root.exists()


def test_remove_undoes_everything_and_twice_is_harmless(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "cron.d").mkdir(parents=True)
    (root / "etc" / "cron.d" / "e2scrub_all").write_text("# not ours\n")
    config = load_config(job_file(tmp_path))
    exe = fake_exe(tmp_path / "bin")
    install(config, root=root, executable=exe, init="cron")
    install(config, root=root, executable=exe, init="systemd")  # replaces the cron file
    assert not (root / CRON_FILE).exists()
    removed = remove(root=root)
    assert sorted(str(p.relative_to(root)) for p in removed) == sorted(
        [str(UNIT_DIR / name) for name in UNITS] + [str(REMINDER_PATH)]
    )
    assert files_under(root) == ["etc/cron.d/e2scrub_all"]
    assert remove(root=root) == []


# --- the login reminder -------------------------------------------------------------------


def reminder_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "dumb"}


@pytest.mark.parametrize("shell", [["bash", "--norc", "--noprofile"], ["dash"]])
def test_the_reminder_shows_the_banner_in_interactive_root_shells(
    tmp_path: Path, shell: list[str]
) -> None:
    exe = fake_exe(tmp_path / "bin", 'echo "$*" > "$0.args"; echo "portal-backup: overdue"')
    script = install_reminder(exe, root=tmp_path / "root")
    done = subprocess.run(
        [*shell, "-i", "-c", f". {script}; echo after"],
        capture_output=True,
        text=True,
        env=reminder_env(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert done.stdout == "portal-backup: overdue\nafter\n"
    assert Path(exe + ".args").read_text() == "status --banner\n"


def test_the_reminder_says_nothing_in_scripts(tmp_path: Path) -> None:
    exe = fake_exe(tmp_path / "bin", 'touch "$0.ran"; echo "portal-backup: overdue"')
    script = install_reminder(exe, root=tmp_path / "root")
    done = subprocess.run(
        ["bash", "-c", f". {script}; echo after"],
        capture_output=True,
        text=True,
        env=reminder_env(tmp_path),
        timeout=30,
    )
    assert (done.stdout, done.stderr) == ("after\n", "")
    assert not Path(exe + ".ran").exists()


@pytest.mark.parametrize(
    "body", ['echo "Traceback: boom" >&2; exit 1', "exec sleep 600"], ids=["fails", "hangs"]
)
def test_a_failing_or_hanging_status_never_blocks_a_login(tmp_path: Path, body: str) -> None:
    exe = fake_exe(tmp_path / "bin", body)
    script = install_reminder(exe, root=tmp_path / "root")
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-i", "-c", f". {script}; echo after"],
        capture_output=True,
        text=True,
        env=reminder_env(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=60,  # the reminder's own timeout is 3 s
    )
    assert done.stdout == "after\n"
    assert "boom" not in done.stderr and done.returncode == 0


# --- `auto install` / `auto remove` on the command line -----------------------------------


def test_install_without_a_config_says_how_to_make_one(tmp_path: Path) -> None:
    done = run(
        "auto",
        "install",
        "--yes",
        "--root",
        str(tmp_path / "root"),
        env={"PORTAL_BACKUP_CONFIG": str(tmp_path / "none.toml")},
    )
    assert done.returncode == 2
    assert "there is no automatic backup config at" in done.stderr
    assert "Automatic backups screen" in done.stderr and "docs/automatic-backups.md" in done.stderr
    assert not (tmp_path / "root").exists()


def test_install_asks_for_the_identity_then_schedules_and_remove_undoes_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = job_file(tmp_path, extra=f'recipients = ["{AGE_KEY}"]   # my key\n')
    env = {"PORTAL_BACKUP_CONFIG": str(config)}
    refused = run("auto", "install", "--root", str(root), env=env)  # stdin is not a terminal
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert not root.exists() and "identity_saved" not in config.read_text()

    answered_no = _in_terminal(["auto", "install", "--root", str(root)], "no\n", env)
    assert "Type yes to confirm" in answered_no and "nothing was scheduled" in answered_no
    assert not root.exists()

    answered = _in_terminal(["auto", "install", "--root", str(root)], "yes\n", env)
    assert "next run: " in answered
    assert "identity_saved_off_host = true" in config.read_text()
    assert f'recipients = ["{AGE_KEY}"]   # my key' in config.read_text()  # comment kept
    systemd = Path("/run/systemd/system").is_dir()
    expected = (root / UNIT_DIR / UNITS[1]) if systemd else (root / CRON_FILE)
    assert f"wrote {expected}" in answered
    assert f"wrote {root / REMINDER_PATH}" in answered

    again = run("auto", "install", "--root", str(root), env=env, check=True)  # confirmed once
    assert f"wrote {expected}" in again.stdout
    removed = run("auto", "remove", "--root", str(root), env=env, check=True)
    assert f"removed {expected}" in removed.stdout
    assert files_under(root) == []
    twice = run("auto", "remove", "--root", str(root), env=env, check=True)
    assert "nothing to remove" in twice.stdout


def _in_terminal(args: list[str], answer: str, env: dict[str, str]) -> str:
    """Runs the command with a pseudo-terminal as stdin/stdout, types ANSWER, returns all it
    showed."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*COMMAND, *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **env},
        cwd=Path(__file__).parent.parent,
        close_fds=True,
    )
    os.close(secondary)
    shown = b""
    typed = False
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not typed and b"Type yes to confirm" in shown:
            os.write(primary, answer.encode())
            typed = True
    os.close(primary)
    proc.wait(timeout=60)
    return shown.decode(errors="replace").replace("\r\n", "\n")


def test_install_and_remove_help_teach(tmp_path: Path) -> None:
    text = run("auto", "install", "--help", check=True).stdout
    for words in ("systemd", "cron.d", "--yes", "age identity", "examples:", "profile.d"):
        assert words in text
    assert "portal-backup auto remove" in run("auto", "remove", "--help", check=True).stdout
