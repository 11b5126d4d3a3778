#!/usr/bin/env python3
"""Restore throughput for one ~1 GB app, beside a plain `unzip` of the same entries.

    DOCKER_HOST=... python bench/restore_bench.py [--size-mb 1024] [--runs 3] [--keep]

Builds a throwaway Portal root whose one app holds a mix like a real app's state (media that
does not compress, logs that do, and many small files), backs it up with the real
`portal-backup create`, then times, each `--runs` times (median reported):

  restore           portal-backup restore ARCHIVE app/<name> --yes --delete-old (verify, stage,
                    swap, delete the replaced tree), with the phases read from its JSON events
  restore-keep-old  the same keeping the replaced tree aside (the default since --delete-old)
  unzip             unzip -q of the app's entries into an empty directory
  unzip -X          the same, restoring owners as the restore does
  unzip -X + sync   the same, then sync (the restore makes its data durable before the swap)

Both sides read the same archive from the page cache. Needs Docker (the app is a Docker
item) but no containers: the timing is about data, not stop/start.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "tui"]


def make_app(root: Path, app: str, size_mb: int) -> tuple[int, int]:
    """The app's data directory: about size_mb MB; returns (bytes, files)."""
    rng = random.Random(1975)
    base = root / "user_data" / "app_data" / app
    total = files = 0
    budget = size_mb * 1_000_000

    def write(rel: str, data: bytes) -> None:
        nonlocal total, files
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(1_681_264_877_000_000_000 + files, 1_681_264_877_000_000_000 + files))
        total += len(data)
        files += 1

    # 40 %: media, incompressible (2-6 MB each).
    i = 0
    while total < budget * 0.40:
        write(f"media/{i // 50:03d}/IMG_{i:05d}.jpg", rng.randbytes(rng.randint(2, 6) << 20))
        i += 1
    # 25 %: logs and exports, compressible text (1-8 MB each).
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(500)]
    i = 0
    while total < budget * 0.65:
        n = rng.randint(1, 8) << 20
        line_words = (" ".join(rng.choices(words, k=12)) + "\n" for _ in range(n // 100 + 1))
        write(f"logs/{i:04d}.log", "".join(line_words).encode()[:n])
        i += 1
    # 35 %: many small files (1-40 KB): thumbnails, JSON, configs.
    i = 0
    while total < budget:
        size = rng.randint(1, 40) << 10
        data = (
            rng.randbytes(size)
            if i % 2
            else json.dumps({"id": i, "tags": rng.choices(words, k=size // 40)}).encode()
        )
        write(f"small/{i // 500:04d}/{i:07d}.{'bin' if i % 2 else 'json'}", data)
        i += 1
    return total, files


def run(cmd: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=REPO, text=True, capture_output=True, check=True, **kw)  # type: ignore[call-overload]


def timed_restore(
    archive: Path, item: str, env: dict[str, str], extra: list[str]
) -> tuple[float, dict[str, float]]:
    """Wall time of one restore, and when each phase started (seconds from launch)."""
    os.sync()  # every run starts without someone else's dirty pages to write back
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "restore", str(archive), item, "--yes", "--progress", "json", *extra],
        env=env,
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    phases: dict[str, float] = {}
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("type") == "item":
            phase = event.get("detail") if event["state"] == "copying" else event["state"]
            phases.setdefault(str(phase), time.perf_counter() - start)
    rc = proc.wait()
    took = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(f"restore failed: {proc.stderr.read() if proc.stderr else ''}")
    return took, phases


def timed_unzip(archive: Path, pattern: str, dest: Path, owners: bool, sync: bool = False) -> float:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir()
    os.sync()
    cmd = ["unzip", "-q", *(["-X"] if owners else []), str(archive), pattern, "-d", str(dest)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    if sync:
        os.sync()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="work directory (default: a temporary one on /tmp's disk)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    work = Path(args.dir or tempfile.mkdtemp(prefix="pb-restore-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "portal"
    (root / "core").mkdir(parents=True, exist_ok=True)
    app = f"bench-{os.getpid()}"
    env = {**os.environ, "PORTAL_ROOT": str(root), "PORTAL_BACKUP_STATE_DIR": str(work / "st")}
    try:
        t0 = time.perf_counter()
        size, files = make_app(root, app, args.size_mb)
        print(
            f"dataset: {size / 1e6:.0f} MB in {files} files "
            f"({time.perf_counter() - t0:.1f}s to generate)"
        )
        t0 = time.perf_counter()
        out = run([*CLI, "create", f"app/{app}", "-o", str(work), "--progress", "none"], env)
        archive = Path(out.stdout.strip().splitlines()[-1])
        print(
            f"archive: {archive.stat().st_size / 1e6:.0f} MB "
            f"({time.perf_counter() - t0:.1f}s to create)"
        )
        subprocess.run(["cat", str(archive)], stdout=subprocess.DEVNULL, check=True)  # warm

        pattern = f"user_data/app_data/{app}/*"
        results: dict[str, list[float]] = {
            "restore": [],
            "restore-keep-old": [],
            "unzip": [],
            "unzip -X": [],
            "unzip -X + sync": [],
        }
        phase_runs: list[dict[str, float]] = []
        for _ in range(args.runs):
            took, phases = timed_restore(archive, f"app/{app}", env, ["--delete-old"])
            results["restore"].append(took)
            phase_runs.append(phases)
            took, _ = timed_restore(archive, f"app/{app}", env, [])
            results["restore-keep-old"].append(took)
            shutil.rmtree(root / ".pre-restore", ignore_errors=True)
            results["unzip"].append(timed_unzip(archive, pattern, work / "unz", False))
            results["unzip -X"].append(timed_unzip(archive, pattern, work / "unz", True))
            results["unzip -X + sync"].append(
                timed_unzip(archive, pattern, work / "unz", True, sync=True)
            )

        print(f"\n{'method':<18} {'median s':>9} {'MB/s':>8}   runs")
        for name, times in results.items():
            med = statistics.median(times)
            print(
                f"{name:<18} {med:>9.2f} {size / 1e6 / med:>8.0f}   "
                + " ".join(f"{t:.2f}" for t in times)
            )
        mid = sorted(phase_runs, key=lambda p: p.get("done", 0))[len(phase_runs) // 2]
        print(
            "\nrestore phases (seconds from launch, median run): "
            + ", ".join(f"{k} {v:.2f}" for k, v in mid.items())
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
