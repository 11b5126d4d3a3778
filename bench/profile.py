"""Profile `portal-backup create` on the benchmark data; writes a text summary.

    python bench/profile.py --data /tmp/pbdata [--out bench/profile.txt] [--py-spy PATH]

Runs the same `create` as bench/run.py (the items `create` accepts on a host without Docker)
four ways, after a read pass that warms the page cache:

1. plain, for the wall time without a profiler;
2. under py-spy with --native --threads --idle: every thread's stack, C frames included,
   whether it runs or waits; each sample is classed as running, waiting for the GIL
   (pthread_cond_timedwait outside a Python lock: CPython's take_gil) or idle on a lock/queue;
3. under py-spy with --gil: only the thread holding the GIL, so its share of the samples is how
   busy the GIL is and its functions are what serializes the run;
4. under cProfile (main thread only: the reader/walker), top functions by cumulative time.

py-spy is found on PATH or given with --py-spy (install it in any venv: `pip install py-spy`);
without it only the cProfile part runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import (  # noqa: E402 - bench/ is not a package
    MB,
    backup_items,
    portal_backup,
    read_pass,
    say,
    tree_stats,
    uptime,
)

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<where>[^()]*)\)$")
TOP = 15


def frame_key(frame: str) -> str:
    """'func (file:line)' -> 'func (file)'; unresolved native addresses -> '[lib]'."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    func, where = m.group("func"), m.group("where")
    if func.startswith("0x"):
        return f"[{where}]"
    file = where.rsplit(":", 1)[0] if ":" in where else where
    for prefix in ("tui/", "concurrent/", "threading.py", "queue.py"):
        i = file.find(prefix)
        if i > 0:
            file = file[i:]
    return f"{func} ({file})"


def parse_raw(path: Path) -> tuple[list[tuple[str, list[str], int]], Counter[str]]:
    """py-spy raw (collapsed) output -> ((thread, frames root first, count), threads per name).

    Pool workers share one name ('zip-deflate_N'); a thread py-spy had not named yet gets the
    name it has elsewhere in the file.
    """
    rows: list[tuple[str, str | None, list[str], int]] = []
    names: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        m = re.match(r"thread \((?P<tid>\w+)\)(?:: (?P<name>.*))?$", parts[0])
        tid = m.group("tid") if m else parts[0]
        name = m.group("name") if m else None
        if name:
            name = re.sub(r"_\d+$", "_N", name)
            names[tid] = name
        rows.append((tid, name, parts[1:], int(count)))
    out = [(name or names.get(tid, f"thread {tid}"), frames, c) for tid, name, frames, c in rows]
    per_name: Counter[str] = Counter()
    for tid in {tid for tid, _n, _f, _c in rows}:
        per_name[names.get(tid, f"thread {tid}")] += 1
    return out, per_name


def classify(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "PyThread_acquire_lock_timed" in joined or "select (" in joined or "poll (" in joined:
        return "idle (lock, queue, future)"
    if "pthread_cond_timedwait" in joined or "take_gil" in joined:
        return "waiting for the GIL"
    return "running"


def table(counter: Counter[str], total: int, title: str, n: int = TOP) -> list[str]:
    lines = [title, f"  {'samples':>8} {'share':>6}  function"]
    for key, c in counter.most_common(n):
        lines.append(f"  {c:>8} {100 * c / max(1, total):5.1f}%  {key}")
    return lines


def summarize_threads(
    samples: list[tuple[str, list[str], int]], per_name: Counter[str], rate: int, secs: float
) -> list[str]:
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for thread, frames, c in samples:
        states[thread][classify(frames)] += c
    lines = [
        f"Thread states (py-spy --native --threads --idle at {rate} Hz over {secs:.1f} s "
        "under the profiler). 'alive' = samples / (rate x seconds x threads): below 100% "
        "when a thread starts late (imports and the inventory come first). The next "
        "columns split its samples: running (on a CPU or in a system call such as read), "
        "waiting for the GIL, or waiting on a lock, queue or future (no work for it). "
        "zip-deflate_N sums the pool's workers.",
        f"  {'thread':<16} {'threads':>7} {'samples':>8} {'alive':>8} {'running':>8} "
        f"{'GIL wait':>9} {'lock wait':>9}",
    ]
    for thread, cnt in sorted(states.items(), key=lambda kv: -sum(kv[1].values())):
        tot = sum(cnt.values())
        n = max(1, per_name.get(thread, 1))

        def pct(key: str, cnt: Counter[str] = cnt, tot: int = tot) -> str:
            return f"{100 * cnt[key] / max(1, tot):.0f}%"

        sampled = f"{100 * tot / (rate * secs * n):.0f}%"
        lines.append(
            f"  {thread:<16} {n:>7} {tot:>8} {sampled:>8} {pct('running'):>8} "
            f"{pct('waiting for the GIL'):>9} {pct('idle (lock, queue, future)'):>9}"
        )
    return lines


def hot_functions(
    samples: list[tuple[str, list[str], int]], *, only_running: bool
) -> tuple[Counter[str], Counter[str], int]:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for _thread, frames, c in samples:
        if only_running and classify(frames) != "running":
            continue
        if not frames:
            continue
        total += c
        keys = [frame_key(f) for f in frames]
        # The innermost frame that is not an unresolved libc address says more.
        leaf = next((k for k in reversed(keys) if not k.startswith("[libc")), keys[-1])
        self_c[leaf] += c
        for k in set(keys):
            incl[k] += c
    return self_c, incl, total


def timed_create(cmd: list[str], out: Path) -> float:
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Profile portal-backup create on the bench data.")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, default=BENCH / "profile.txt")
    p.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy executable")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = p.parse_args(argv)

    data = args.data.resolve()
    items, paths, _left = backup_items(data)
    files, total = tree_stats(data, paths)
    work = Path(tempfile.mkdtemp(prefix="pbprof-"))
    archive = work / "p.zip"
    create = [
        portal_backup(),
        "--portal-root",
        str(data),
        "create",
        *items,
        "-o",
        str(archive),
        "--progress",
        "none",
    ]
    report = [
        "portal-backup create: profile",
        f"load before: {uptime()}",
        f"data: {data}: {files:,} files, {total / MB:,.1f} MB (items: {' '.join(items)})",
        f"command: portal-backup --portal-root DATA create {' '.join(items)} -o OUT "
        "--progress none",
    ]
    say("warm-up read pass ...")
    read_pass(data, paths)
    wall = timed_create(create, archive)
    report.append(f"wall time without a profiler: {wall:.2f} s ({total / MB / wall:,.0f} MB/s)")

    if args.py_spy:
        for mode in ("native", "gil"):
            raw = work / f"{mode}.txt"
            flags = (
                ["--native", "--threads", "--idle"] if mode == "native" else ["--gil", "--threads"]
            )
            with contextlib.suppress(FileNotFoundError):
                archive.unlink()
            say(f"py-spy --{mode} ...")
            t0 = time.perf_counter()
            subprocess.run(
                [
                    args.py_spy,
                    "record",
                    *flags,
                    "--rate",
                    str(args.rate),
                    "--format",
                    "raw",
                    "-o",
                    str(raw),
                    "--",
                    *create,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            secs = time.perf_counter() - t0
            samples, per_name = parse_raw(raw)
            report += ["", "=" * 100]
            if mode == "native":
                report.append(
                    f"py-spy record --native --threads --idle --rate {args.rate}: "
                    f"{secs:.1f} s under the profiler"
                )
                report.append("")
                report += summarize_threads(samples, per_name, args.rate, secs)
                self_c, incl, tot = hot_functions(samples, only_running=True)
                report.append("")
                report += table(
                    self_c,
                    tot,
                    f"Top {TOP} functions by self time, running "
                    "samples of all threads (C frames included):",
                )
                report.append("")
                ours = Counter({k: c for k, c in incl.items() if "tui/" in k})
                report += table(
                    ours,
                    tot,
                    f"Top {TOP} of our functions by inclusive time, "
                    "running samples of all threads:",
                )
            else:
                tot_samples = sum(c for _t, _f, c in samples)
                expected = args.rate * secs
                report.append(
                    f"py-spy record --gil --threads --rate {args.rate}: {secs:.1f} s "
                    f"under the profiler; the GIL was held in {tot_samples} samples of "
                    f"about {expected:.0f} ({100 * tot_samples / expected:.0f}% of the "
                    "wall time)"
                )
                by_thread: Counter[str] = Counter()
                for t, _f, c in samples:
                    by_thread[t] += c
                shares = [
                    f"{t} {100 * c / max(1, tot_samples):.0f}%" for t, c in by_thread.most_common()
                ]
                report.append("GIL holder by thread: " + ", ".join(shares))
                self_c, incl, tot = hot_functions(samples, only_running=False)
                report.append("")
                report += table(self_c, tot, f"Top {TOP} functions holding the GIL (self):")
                report.append("")
                ours = Counter({k: c for k, c in incl.items() if "tui/" in k})
                report += table(
                    ours, tot, f"Top {TOP} of our functions holding the GIL (inclusive):"
                )
    else:
        report += ["", "py-spy not found (pip install py-spy; --py-spy PATH): thread view skipped"]

    say("cProfile ...")
    prof = work / "create.pstats"
    with contextlib.suppress(FileNotFoundError):
        archive.unlink()
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "tui", *create[1:]],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(BENCH.parent),
    )
    secs = time.perf_counter() - t0
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf)
    stats.strip_dirs().sort_stats("cumulative").print_stats(TOP)
    stats.sort_stats("tottime").print_stats(TOP)
    text = "\n".join(
        line.rstrip()
        for line in buf.getvalue().splitlines()
        if line.strip() and str(prof) not in line
    )
    report += [
        "",
        "=" * 100,
        f"cProfile (main thread only: walking, stat, reading, queueing; the writer and "
        f"deflate threads are not seen), {secs:.1f} s under the profiler, top {TOP} by "
        "cumulative then by own time:",
        "",
        text,
    ]
    report += ["", f"load after: {uptime()}"]
    args.out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    shutil.rmtree(work, ignore_errors=True)
    say(f"wrote {args.out}")
    return 0 if os.path.exists(args.out) else 1


if __name__ == "__main__":
    raise SystemExit(main())
