"""Upload throughput and local disk use of `create --to` against a loopback S3 server.

Side by side in one run, on the same data:
  1. `portal-backup create --all --to S3` (read, deflate, encrypt, stream into `rclone rcat`);
  2. `rclone copy` of the very archive that run produced, to another prefix of the same server
     (the transport alone, reading a finished file).
While (1) runs, the bytes used on the file systems that hold TMPDIR and the state directory are
sampled every 50 ms (a tmpfs of their own): the peak shows that no full local copy is made.

    python bench/upload.py --data /tmp/pbdata        # a dataset from bench/make_dataset.py
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def used_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a Portal root or any directory")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pb-upload-bench")
    args = p.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "served" / "bucket").mkdir(parents=True)
    # TMPDIR and the state directory on a file system of their own (root: a tmpfs), so what
    # they hold is measured apart from the server's copy.
    local = work / "local"
    local.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(local)], check=True)
    (local / "tmp").mkdir()
    (local / "state").mkdir(mode=0o700)
    rclone = shutil.which("rclone", path=str(BIN)) or "rclone"
    key, secret = "bench", secrets.token_urlsafe(12)
    port = free_port()
    conf = work / "rclone.conf"
    conf.write_text(
        "[s3]\ntype = s3\nprovider = Rclone\n"
        f"endpoint = http://127.0.0.1:{port}\naccess_key_id = {key}\n"
        f"secret_access_key = {secret}\nforce_path_style = true\n"
    )
    conf.chmod(0o600)
    server = subprocess.Popen(
        [
            rclone,
            "serve",
            "s3",
            str(work / "served"),
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{key},{secret}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ident = work / "age.key"
        subprocess.run(["age-keygen", "-o", str(ident)], check=True, capture_output=True)
        public = next(
            line.split(": ", 1)[1]
            for line in ident.read_text().splitlines()
            if line.startswith("# public key: ")
        )
        env = {
            **os.environ,
            "PORTAL_ROOT": str(args.data),
            "TMPDIR": str(local / "tmp"),  # measured below
            "PORTAL_BACKUP_STATE_DIR": str(local / "state"),
            "PORTAL_BACKUP_LOCK_FILE": str(local / "state" / "run.lock"),
            "RCLONE_CACHE_DIR": str(local / "tmp" / "rclone"),
            "DOCKER_HOST": "unix:///nonexistent",  # the Portal's files only
        }
        base = used_bytes(local)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, used_bytes(local) - base)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                str(BIN / "portal-backup"),
                "create",
                "--all",
                "--recipient",
                public,
                "--to",
                "s3:bucket/ours",
                "--rclone-config",
                str(conf),
                "--progress",
                "none",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        ours = time.monotonic() - t0
        done.set()
        sampler.join()
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        (archive,) = (work / "served" / "bucket" / "ours").iterdir()
        size = archive.stat().st_size
        data = sum(f.stat().st_size for f in args.data.rglob("*") if f.is_file())
        t0 = time.monotonic()
        subprocess.run(
            [rclone, "copy", str(archive), "s3:bucket/copy", "--config", str(conf)], check=True
        )
        copy = time.monotonic() - t0
        # The same backup into a local file: what reading, deflating and encrypting cost alone.
        t0 = time.monotonic()
        subprocess.run(
            [
                str(BIN / "portal-backup"),
                "create",
                "--all",
                "--recipient",
                public,
                "-o",
                str(work / "local-copy.zip.age"),
                "--progress",
                "none",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        local_file = time.monotonic() - t0
        mb = 1e6
        print(f"data {data / mb:.0f} MB, archive {size / mb:.0f} MB (age-encrypted zip)")
        print(
            f"portal-backup create --to s3: {ours:.1f} s, {data / ours / mb:.0f} MB/s read, "
            f"{size / ours / mb:.0f} MB/s uploaded"
        )
        print(f"rclone copy of that archive:  {copy:.1f} s, {size / copy / mb:.0f} MB/s uploaded")
        print(f"portal-backup create -o FILE:   {local_file:.1f} s (no upload: the local bound)")
        print(f"ratio (ours / rclone copy, upload MB/s): {copy / ours:.2f}")
        print(f"peak local disk used (TMPDIR + state directory): {peak / mb:.1f} MB")
    finally:
        server.kill()
        server.wait()
        subprocess.run(["umount", "-l", str(local)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
