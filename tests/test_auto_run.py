"""`portal-backup auto run` (issue 13, point 2): the lock, and the job end to end against a
loopback S3 server and a local directory, checked with the stock `age` and `unzip`."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import portal_fixture as pf
from clirun import json_lines, run
from notify_server import notify_server
from rclone_servers import RcloneServer
from test_auto_status import write_config
from test_encrypted_backup import keypair

from tui.core.auto.history import read_runs
from tui.core.runlock import RunLock


def test_second_run_while_the_lock_is_held_names_the_holder(
    tmp_path: Path, isolated_state_dir: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    config = write_config(
        tmp_path,
        f'[[destinations]]\nname = "usb"\ntarget = "{usb}"\nkeep = {{ last = 3 }}\n',
    )
    with RunLock():  # what a running `auto run` (or any backup) holds
        done = run("auto", "run", env={"PORTAL_BACKUP_CONFIG": str(config)})
    assert done.returncode == 1
    assert f"another portal-backup run (pid {os.getpid()}, since " in done.stderr
    assert "UTC)" in done.stderr and "Traceback" not in done.stderr
    assert read_runs() == []  # nothing ran, so nothing is recorded
    assert list(usb.iterdir()) == []


def _decrypts_to_a_zip(archive: Path, key: Path, out: Path) -> zipfile.ZipFile:
    subprocess.run(["age", "-d", "-i", str(key), "-o", str(out), str(archive)], check=True)
    subprocess.run(["unzip", "-tq", str(out)], check=True, capture_output=True)
    return zipfile.ZipFile(out)


def test_auto_run_two_destinations_then_one_failing(
    portal_host: pf.PortalHost,
    s3_server: RcloneServer,
    tmp_path: Path,
) -> None:
    key, public = keypair(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    with notify_server() as hook:
        config = write_config(
            tmp_path,
            f'recipients = ["{public}"]\n'
            "identity_saved_off_host = true\n"
            'full_every = "0"\n'  # fulls only: `keep = { last = 1 }` then keeps one file
            f'rclone_config = "{s3_server.config}"\n'
            "[[destinations]]\n"
            f'name = "offsite"\ntarget = "{s3_server.target}"\nkeep = {{ last = 1 }}\n'
            "[[destinations]]\n"
            f'name = "usb"\ntarget = "{usb}"\nkeep = {{ last = 1 }}\n'
            f'[notify]\nurls = ["{hook.url}"]\non = ["failure", "success"]\n',
        )
        env = {"PORTAL_BACKUP_CONFIG": str(config), "PORTAL_ROOT": str(portal_host.root)}

        first = run("auto", "run", "--progress", "none", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        runs = read_runs()
        assert [(r.destination, r.result, r.verified) for r in runs] == [
            ("offsite", "ok", True),
            ("usb", "ok", True),
        ]
        assert runs[0].run == runs[1].run and runs[0].bytes_out > 0
        offsite_files = [p for p in s3_server.root.iterdir() if not p.name.startswith(".")]
        usb_files = list(usb.iterdir())
        assert [p.name for p in offsite_files] == [runs[0].archive]
        assert [p.name for p in usb_files] == [runs[1].archive]
        assert runs[0].bytes_out == offsite_files[0].stat().st_size
        assert runs[1].bytes_out == usb_files[0].stat().st_size
        for archive in (offsite_files[0], usb_files[0]):
            assert archive.name.endswith(".zip.age")
            with _decrypts_to_a_zip(archive, key, tmp_path / f"{archive.name}.zip") as z:
                names = z.namelist()
            assert "portal-backup.json" in names
            assert any(n.startswith(f"user_data/app_data/{portal_host.apps[0]}") for n in names)
        success = hook.wait_for_post()
        assert success["type"] == "success" and "backup done" in success["title"]
        assert runs[1].archive in success["message"]

        # An older archive of this Portal at both destinations: `keep = { last = 1 }` removes
        # it, but only where the next upload was verified.
        who = (runs[0].archive or "").split("-")[2]
        old = f"portal-backup-{who}-20200101-000000.zip.age"
        for directory in (s3_server.root, usb):
            (directory / old).write_bytes(b"an old archive")

        s3_server.stop()  # the offsite store is down for the second run
        second = run("auto", "run", "--progress", "none", env=env)
        assert second.returncode == 1
        assert "offsite: FAILED" in second.stdout and "usb: ok" in second.stdout
        latest = read_runs()[2:]
        assert [(r.destination, r.result) for r in latest] == [
            ("offsite", "failed"),
            ("usb", "ok"),
        ]
        failed = latest[0]
        assert failed.error and failed.archive is None and failed.pruned == []
        assert (s3_server.root / old).exists()  # no prune after a failed upload
        assert offsite_files[0].exists()  # nor was the good backup touched
        assert old in latest[1].pruned and not (usb / old).exists()
        assert [p.name for p in usb.iterdir()] == [latest[1].archive]  # keep last = 1

        alarm = hook.wait_for_post(2)
        assert alarm["type"] == "failure"
        assert "backup to offsite failed" in alarm["title"]
        assert failed.error in alarm["message"]
        assert "log lines:" in alarm["message"]
        assert s3_server.password not in json.dumps(alarm)

    status = json.loads(run("status", "--json", env=env, check=True).stdout)
    offsite = status["destinations"][0]
    assert offsite["error"] == failed.error and offsite["last_good"]["archive"] == runs[0].archive


def test_undeliverable_notification_never_fails_the_run(portal_root: Path, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    with notify_server() as hook:
        closed = f"json://127.0.0.1:{hook.port}/t0ken-in-url"
    config = write_config(
        tmp_path,
        'items = ["core/*", "shared"]\n'
        f'[[destinations]]\nname = "usb"\ntarget = "{usb}"\nkeep = {{ last = 3 }}\n'
        f'[notify]\nurls = ["{closed}"]\non = ["failure", "success"]\n',
    )
    env = {"PORTAL_BACKUP_CONFIG": str(config), "PORTAL_ROOT": str(portal_root)}
    done = run("auto", "run", "--progress", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert "the success notification could not be delivered" in done.stdout + done.stderr
    assert "t0ken-in-url" not in done.stdout + done.stderr
    results = [e for e in json_lines(done.stdout) if e["type"] == "destination"]
    assert [(r["name"], r["ok"]) for r in results] == [("usb", True)]
    assert [p.name for p in usb.iterdir()] == [results[0]["archive"]]
    assert [(r.result, r.verified) for r in read_runs()] == [("ok", True)]
