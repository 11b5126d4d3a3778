"""The side-by-side benchmark: `portal-backup create` beside tar, Info-ZIP zip and 7-Zip.

    python bench/make_dataset.py --out /tmp/pbdata
    python bench/run.py --data /tmp/pbdata            # or: --scale 0.05 to generate one here

In one run, on the same tree: times every tool (wall seconds, fsync of its output, MB/s, output
size, peak RSS, CPU seconds, other load on the machine meanwhile), checks our archive with
`unzip -tq`, `7z t` and `portal-backup verify`, times `portal-backup list --json` beside
`du -sb`, and times `ZipReader.open` on our archive and on a synthetic 1,000,000-entry zip.
Prints a Markdown report and writes it to bench/results.md (see docs/benchmark.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MB = 1_000_000
MIB = 1 << 20
VENV_BIN = Path(sys.executable).parent
METADATA_NAMES = {"README.txt", "portal-backup.json", "portal-backup.json.sig", "SHA256SUMS"}
ALL_TOOLS = ("tar", "portal-backup", "zip", "zip-1", "7z", "restic", "borg")
# Debian's restic and borg, installed for the benchmark only (never a dependency): rows when
# they are on PATH. Their repositories are created before the timing, unencrypted where the
# tool allows it; restic insists on a password, this fixed one protects nothing.
REPO_TOOLS = ("restic", "borg")
BENCH_ENV = {
    "RESTIC_PASSWORD": "bench-only",
    "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
    "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
}
# issue 15's targets per profile: throughput vs tar, or time vs zip -1 (tiny files)
TARGET_VS_TAR = {"media": 0.55, "text": 0.4}
TARGET_TINY_VS_ZIP1 = 1.5


# --------------------------------------------------------------------------- process timing


@dataclass
class Run:
    name: str
    cmd: list[str]
    wall: float
    fsync: float
    cpu: float
    maxrss_kib: int
    rc: int
    out_bytes: int
    other_cpu: float  # CPU seconds used by everything else on the machine meanwhile
    stderr_tail: str = ""

    @property
    def total(self) -> float:
        return self.wall + self.fsync


def _busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def timed(
    name: str, cmd: list[str], *, cwd: str | None = None, output: Path | None = None, log_dir: Path
) -> Run:
    """Run cmd, wait with wait4 for its rusage, then fsync its output (if any)."""
    tick = os.sysconf("SC_CLK_TCK")
    out_f = open(log_dir / f"{name}.stdout", "wb")  # noqa: SIM115 - closed below
    err_path = log_dir / f"{name}.stderr"
    err_f = open(err_path, "wb")  # noqa: SIM115
    busy0 = _busy_jiffies()
    t0 = time.perf_counter()
    env = {**os.environ, **BENCH_ENV}
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=env
    )
    _pid, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    busy1 = _busy_jiffies()
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    out_f.close()
    err_f.close()
    fsync = 0.0
    size = 0
    if output is not None and output.exists():
        t1 = time.perf_counter()
        size = fsync_all(output)
        fsync = time.perf_counter() - t1
    cpu = ru.ru_utime + ru.ru_stime
    other = max(0.0, (busy1 - busy0) / tick - cpu)
    tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
    return Run(name, cmd, wall, fsync, cpu, ru.ru_maxrss, rc, size, other, " / ".join(tail))


def fsync_all(output: Path) -> int:
    """fsync a tool's output, a file or a repository directory; returns its bytes."""
    paths = [output]
    if output.is_dir():
        paths = [Path(d, n) for d, _ds, ns in os.walk(output) for n in ns]
    size = 0
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            size += os.fstat(fd).st_size
        finally:
            os.close(fd)
    return size


def prepare_repo(tool: str, out: Path, work: Path) -> None:
    """Creates an empty restic or borg repository at `out` (untimed)."""
    env = {**os.environ, **BENCH_ENV}
    if tool == "restic":
        cmd = ["restic", "-r", str(out), "--cache-dir", str(work / "restic-cache"), "init"]
    else:
        env["BORG_BASE_DIR"] = str(work / "borg-base")
        cmd = ["borg", "init", "--encryption=none", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, env=env)


def remove_output(out: Path) -> None:
    if out.is_dir():
        shutil.rmtree(out)
    else:
        out.unlink(missing_ok=True)


def drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


def regular_files(root: Path, rels: Sequence[str]) -> Iterator[tuple[str, int]]:
    """(path, size) of every regular file under root/rel for each rel (lstat, no links)."""
    for rel in rels:
        top = root / rel
        if top.is_file() and not top.is_symlink():
            yield str(top), top.lstat().st_size
            continue
        for dirpath, _dnames, names in os.walk(top):
            for n in names:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode):
                    yield p, st.st_size


def read_pass(root: Path, rels: Sequence[str]) -> tuple[int, int, float]:
    """Read every regular file once (warms the page cache); files, bytes, seconds."""
    t0 = time.perf_counter()
    files = total = 0
    buf = bytearray(4 * MIB)
    for p, _size in regular_files(root, rels):
        with open(p, "rb", buffering=0) as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                total += k
        files += 1
    return files, total, time.perf_counter() - t0


def tree_stats(root: Path, rels: Sequence[str]) -> tuple[int, int]:
    """Regular files and their bytes."""
    files = total = 0
    for _p, size in regular_files(root, rels):
        files += 1
        total += size
    return files, total


# --------------------------------------------------------------------------- the tools


def portal_backup() -> str:
    exe = VENV_BIN / "portal-backup"
    return str(exe) if exe.exists() else (shutil.which("portal-backup") or "portal-backup")


def backup_items(data: Path) -> tuple[list[str], list[str], list[str]]:
    """The items `create` accepts here, the paths they cover, and the items left out.

    Without Docker, `create` refuses `app/<name>` items (and anything that needs Docker), so
    those are left out; every other tool then reads exactly the paths our items cover.
    """
    res = subprocess.run(
        [portal_backup(), "--portal-root", str(data), "list", "--json", "--no-sizes"],
        capture_output=True,
        text=True,
        check=True,
    )
    docker_ok = "listing the Portal's own items only" not in res.stderr
    items = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    chosen: list[str] = []
    left_out: list[str] = []
    paths: list[str] = []
    for i in items:
        if i.get("kind") == "mount":
            continue
        if i.get("needs_docker") or (not docker_ok and i.get("kind") == "app"):
            left_out.append(i["id"])
            continue
        chosen.append(i["id"])
        for p in i.get("paths") or []:
            rel = p.rstrip("/")
            if (data / rel).exists() and rel not in paths:
                paths.append(rel)
    return chosen, paths, left_out


def tool_command(
    tool: str,
    data: Path,
    out: Path,
    items: list[str],
    paths: list[str],
    nproc: int,
    variants: dict[str, list[str]],
) -> tuple[list[str], str | None]:
    """(argv, cwd) for one tool writing `out` from `data`."""
    if tool == "portal-backup" or tool in variants:
        cmd = [
            portal_backup(),
            "--portal-root",
            str(data),
            "create",
            *items,
            "-o",
            str(out),
            "--progress",
            "none",
            *variants.get(tool, []),
        ]
        return cmd, None
    if tool == "tar":
        return ["tar", "-cf", str(out), "-C", str(data), *paths], None
    if tool == "zip":
        return ["zip", "-r", "-q", str(out), *paths], str(data)
    if tool == "zip-1":
        return ["zip", "-r", "-q", "-1", str(out), *paths], str(data)
    if tool == "restic":
        cache = str(out.parent.parent / "restic-cache")
        return ["restic", "-r", str(out), "--cache-dir", cache, "backup", "-q", *paths], str(data)
    if tool == "borg":
        base = out.parent.parent / "borg-base"
        return [
            "env",
            f"BORG_BASE_DIR={base}",
            "borg",
            "create",
            "--compression",
            "lz4",
            f"{out}::bench",
            *paths,
        ], str(data)
    if tool == "7z":
        return [
            "7z",
            "a",
            "-tzip",
            "-mx=1",
            f"-mmt={nproc}",
            "-bso0",
            "-bsp0",
            str(out),
            *paths,
        ], str(data)
    raise ValueError(tool)


def tool_label(tool: str, nproc: int, variants: dict[str, list[str]] | None = None) -> str:
    if variants and tool in variants:
        return f"portal-backup create {' '.join(variants[tool])}"
    return {
        "portal-backup": "portal-backup create (ours)",
        "tar": "tar -cf",
        "zip": "zip -r (Info-ZIP, level 6)",
        "zip-1": "zip -r -1",
        "7z": f"7z a -tzip -mx=1 -mmt={nproc}",
        "restic": "restic backup (repo v2, auto compression)",
        "borg": "borg create --compression lz4",
    }[tool]


def out_name(tool: str) -> str:
    if tool in REPO_TOOLS:
        return f"{tool}-repo"
    return f"{tool}.tar" if tool == "tar" else f"{tool}.zip"


# --------------------------------------------------------------------------- checks


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str


def run_check(name: str, cmd: list[str]) -> Check:
    t0 = time.perf_counter()
    res = subprocess.run(
        cmd, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL
    )
    secs = time.perf_counter() - t0
    lines = [x.strip() for x in (res.stdout + "\n" + res.stderr).splitlines() if x.strip()]
    if res.returncode == 0:
        keys = ("No errors", "Everything is Ok", "OK")
        detail = next((x for x in lines if x.startswith(keys)), lines[-1] if lines else "")
    else:
        problems = [x for x in lines if x.lower().startswith(("problem", "error", "fail"))]
        shown = problems[:6] or lines[-3:]
        more = f" (+{len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        detail = f"exit {res.returncode}: " + " / ".join(shown) + more
    return Check(name, res.returncode == 0, secs, detail[:1200])


def coverage(archive: Path, data: Path, paths: Sequence[str]) -> Check:
    """Does the archive hold every regular file of the input, with the same sizes?"""
    sys.path.insert(0, str(REPO))
    from tui.core.archive.zipreader import ZipReader

    t0 = time.perf_counter()
    want = {os.path.relpath(p, data): size for p, size in regular_files(data, paths)}
    with ZipReader.open(archive) as z:
        have = {e.name: e.size for e in z.entries if e.is_file}
    missing = [n for n in want if n not in have]
    differ = [n for n in want if n in have and have[n] != want[n]]
    extra = sorted(n for n in have if n not in want and n not in METADATA_NAMES)
    ok = not missing and not differ
    detail = (
        f"{len(want) - len(missing):,} of {len(want):,} input files present, "
        f"{len(differ)} with another size; also in the archive: "
        f"{', '.join(extra) or 'nothing else'} (+ the metadata files)"
    )
    if missing:
        detail += f"; missing e.g. {missing[0]}"
    return Check("archive holds every input file", ok, time.perf_counter() - t0, detail)


# --------------------------------------------------------------------------- explorer open


def write_million_zip(path: Path, n: int) -> float:
    """A valid ZIP64 archive of `n` stored empty files with Unix extras, like ours; seconds."""
    t0 = time.perf_counter()
    local_hdr = struct.Struct("<IHHHHHIIIHH")
    central_hdr = struct.Struct("<IHHHHHHIIIHHHHHII")
    dos_time, dos_date = (2 << 11) | (0 << 5), ((2023 - 1980) << 9) | (4 << 5) | 12
    mtime = 1681264800
    ut_local = struct.pack("<HHBI", 0x5455, 5, 1, mtime)
    ux = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000)
    extra = ut_local + ux  # the central UT also holds just the mtime
    attr = 0o100644 << 16
    central = bytearray()
    offset = 0
    with open(path, "wb") as f:
        chunk = bytearray()
        for i in range(n):
            name = f"user_data/shared/d{i // 1000:04d}/s{i // 50 % 20:02d}/file-{i:07d}.txt"
            nb = name.encode()
            rec = (
                local_hdr.pack(
                    0x04034B50, 20, 0x800, 0, dos_time, dos_date, 0, 0, 0, len(nb), len(extra)
                )
                + nb
                + extra
            )
            central += (
                central_hdr.pack(
                    0x02014B50,
                    (3 << 8) | 63,
                    20,
                    0x800,
                    0,
                    dos_time,
                    dos_date,
                    0,
                    0,
                    0,
                    len(nb),
                    len(extra),
                    0,
                    0,
                    0,
                    attr,
                    offset,
                )
                + nb
                + extra
            )
            chunk += rec
            offset += len(rec)
            if len(chunk) > 8 * MIB:
                f.write(chunk)
                chunk.clear()
        f.write(chunk)
        cd_offset = offset
        f.write(central)
        cd_size = len(central)
        z64_offset = cd_offset + cd_size
        f.write(
            struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 63, 45, 0, 0, n, n, cd_size, cd_offset
            )
        )
        f.write(struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1))
        f.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                0xFFFF,
                0xFFFF,
                min(cd_size, 0xFFFFFFFF),
                min(cd_offset, 0xFFFFFFFF),
                0,
            )
        )
    return time.perf_counter() - t0


def probe_open(path: str, kind: str, repeat: int) -> dict[str, float | int]:
    """Runs in a child process: time opening `path` (ours or zipfile), report RSS too."""
    sys.path.insert(0, str(REPO))
    times: list[float] = []
    entries = 0
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "ours":
        from tui.core.archive.zipreader import ZipReader

        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = ZipReader.open(path)
            entries = len(r.entries)
            times.append(time.perf_counter() - t0)
            r.close()
            del r
    else:
        import zipfile

        for _ in range(repeat):
            t0 = time.perf_counter()
            with zipfile.ZipFile(path) as zf:
                entries = len(zf.infolist())
                times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "first": times[0],
        "best": min(times),
        "entries": entries,
        "rss_delta_mib": (peak - base) / 1024,
    }


def open_cost(path: Path, kind: str, repeat: int = 3) -> dict[str, float | int]:
    res = subprocess.run(
        [
            sys.executable,
            __file__,
            "--probe-open",
            str(path),
            "--probe-kind",
            kind,
            "--repeat",
            str(repeat),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    started: str
    data: Path
    files: int
    input_bytes: int
    tree_files: int
    tree_bytes: int
    items: list[str]
    paths: list[str]
    cache: str
    repeat: int
    nproc: int
    load_before: str
    load_after: str = ""
    warm: tuple[int, int, float] | None = None
    runs: dict[str, list[Run]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    sizes: list[tuple[str, float, str]] = field(default_factory=list)
    opens: list[tuple[str, dict[str, float | int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    variants: dict[str, list[str]] = field(default_factory=dict)
    profile: str = "media"

    def best(self, tool: str) -> Run | None:
        ok = [r for r in self.runs.get(tool, []) if r.rc == 0]
        return min(ok, key=lambda r: r.total) if ok else None


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def tool_versions() -> list[str]:
    out = []
    cmds = [["zip", "-v"], ["7z"], ["tar", "--version"], ["unzip", "-v"]]
    cmds += [
        [t, "version" if t == "restic" else "--version"] for t in REPO_TOOLS if shutil.which(t)
    ]
    for cmd in cmds:
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        except OSError:
            continue
        lines = [x.strip() for x in res.stdout.splitlines() if x.strip()]
        pick = next(
            (
                x
                for x in lines
                if any(k in x for k in ("7-Zip", "Zip ", "UnZip ", "tar", "restic", "borg"))
            ),
            lines[0] if lines else "",
        )
        out.append(pick[:80])
    return out


def deflate_backend() -> str:
    sys.path.insert(0, str(REPO))
    from tui.core.archive import deflate

    extra = ""
    if deflate.BACKEND == "isal":
        with contextlib.suppress(Exception):
            import isal

            extra = f" {isal.__version__}"
    return f"{deflate.BACKEND}{extra} (default level {deflate.DEFAULT_LEVEL})"


def render(rep: Report) -> str:
    mb_in = rep.input_bytes / MB
    tar = rep.best("tar")
    zipd = rep.best("zip")
    lines = [
        "# portal-backup benchmark results",
        "",
        f"- date: {rep.started}",
        f"- machine: {rep.nproc} cores, {cpu_model()}, "
        f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / (1 << 30):.0f} GiB RAM, "
        f"Linux {platform.release()}",
        f"- Python {platform.python_version()}; deflate backend: {deflate_backend()}",
        f"- tools: {'; '.join(tool_versions())}",
        f"- load (uptime) before: {rep.load_before}",
        f"- load (uptime) after: {rep.load_after}",
        f"- data: `{rep.data}` (profile {rep.profile}): {rep.tree_files:,} files, "
        f"{rep.tree_bytes:,} bytes",
        f"- items backed up: {' '.join(rep.items)}",
        f"- input, the same for every tool: {', '.join(rep.paths)}: {rep.files:,} files, "
        f"{rep.input_bytes:,} bytes ({mb_in:,.1f} MB, "
        f"{100 * rep.input_bytes / max(1, rep.tree_bytes):.1f} % of the tree)",
        f"- cache: {rep.cache}",
        f"- each tool run {rep.repeat} time(s), best kept; rounds interleave the tools",
        "",
        "| tool | wall s | fsync s | MB/s | output MB | in/out | size vs zip -r | "
        "peak RSS MiB | CPU s | other load | throughput vs tar |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tool, runs in rep.runs.items():
        label = tool_label(tool, rep.nproc, rep.variants)
        r = rep.best(tool)
        if r is None:
            bad = runs[-1] if runs else None
            why = f"failed (exit {bad.rc}: {bad.stderr_tail})" if bad else "not run"
            lines.append(f"| {label} | {why} | | | | | | | | | |")
            continue
        mbs = mb_in / r.total
        ratio = rep.input_bytes / r.out_bytes if r.out_bytes else 0.0
        vs_zip = f"{r.out_bytes / zipd.out_bytes:.3f}" if zipd else "-"
        vs_tar = f"{tar.total / r.total:.2f}" if tar else "-"
        rss = max(x.maxrss_kib for x in runs if x.rc == 0)
        other = f"{100 * r.other_cpu / (r.wall * rep.nproc):.0f} %"
        lines.append(
            f"| {label} | {r.wall:.2f} | {r.fsync:.2f} | {mbs:,.1f} | {r.out_bytes / MB:,.1f} "
            f"| {ratio:.3f} | {vs_zip} | {rss / 1024:,.1f} | {r.cpu:.1f} | {other} "
            f"| {vs_tar} |"
        )
    lines += [
        "",
        "Times, CPU and other load are those of each tool's fastest run; peak RSS is the "
        "largest of its runs. MB/s = input bytes / (wall + fsync); throughput vs tar = tar's "
        '(wall + fsync) / this tool\'s. "other load" = CPU time used by everything else on '
        "the machine during the run, as a share of all cores.",
    ]
    if rep.warm:
        f, b, s = rep.warm
        lines.append(
            f"Warm-up read pass: {f:,} files, {b / MB:,.1f} MB in {s:.2f} s "
            f"({b / MB / s:,.0f} MB/s)."
        )
    lines += [
        "",
        "## Checks of our archive",
        "",
        "| check | result | seconds | detail |",
        "| --- | --- | ---: | --- |",
    ]
    for c in rep.checks:
        detail = c.detail.replace("|", "\\|")
        lines.append(f"| {c.name} | {'pass' if c.ok else 'FAIL'} | {c.seconds:.2f} | {detail} |")
    lines += [
        "",
        "## Cheap sizes",
        "",
        "| command | seconds (best) | total |",
        "| --- | ---: | --- |",
    ]
    for name, secs, total in rep.sizes:
        lines.append(f"| `{name}` | {secs:.3f} | {total} |")
    lines += [
        "",
        "## Explorer open cost (`ZipReader.open`)",
        "",
        "| archive | entries | first open s | best open s | RSS growth MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, o in rep.opens:
        lines.append(
            f"| {name} | {int(o['entries']):,} | {o['first']:.3f} | {o['best']:.3f} | "
            f"{o['rss_delta_mib']:.1f} |"
        )
    lines += ["", "## Targets (issues 6 and 15)", ""]
    lines += targets(rep)
    if rep.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rep.notes]
    return "\n".join(lines) + "\n"


def targets(rep: Report) -> list[str]:
    ours = rep.best("portal-backup")
    tar = rep.best("tar")
    zipd = rep.best("zip")
    out: list[str] = []

    def line(ok: bool | None, text: str) -> None:
        mark = "n/a" if ok is None else ("met" if ok else "NOT met")
        out.append(f"- {text}: **{mark}**")

    want = TARGET_VS_TAR.get(rep.profile)
    if ours and tar and want is not None:
        frac = tar.total / ours.total
        line(frac >= want, f"{rep.profile} profile: throughput >= {want} x tar's: {frac:.2f} x")
    zip1 = rep.best("zip-1")
    if ours and zip1 and rep.profile == "tiny":
        rel = ours.total / zip1.total
        line(
            rel <= TARGET_TINY_VS_ZIP1,
            f"tiny files: time <= {TARGET_TINY_VS_ZIP1} x zip -1's: {rel:.2f} x "
            f"({ours.total:.2f} s against {zip1.total:.2f} s)",
        )
    if ours and zipd:
        rel = ours.out_bytes / zipd.out_bytes
        line(
            rel <= 1.05 or rep.profile == "tiny",  # tiny files: headers outweigh the data
            f"archive <= 1.05 x Info-ZIP default's size: {rel:.3f} x",
        )
    if ours:
        rss = max(x.maxrss_kib for x in rep.runs["portal-backup"] if x.rc == 0) / 1024
        line(rss < 200, f"peak RSS < 200 MiB: {rss:.0f} MiB (largest of its runs)")
    checks = [c for c in rep.checks if c.name != "archive holds every input file"]
    if checks:
        line(
            all(c.ok for c in checks),
            "passes unzip -t, 7z t and verify: "
            + ", ".join(f"{c.name} {'ok' if c.ok else 'failed'}" for c in checks),
        )
    secs = {name: t for name, t, _total in rep.sizes}
    full = secs.get("portal-backup list --json")
    bare = secs.get("portal-backup list --json --no-sizes")
    du = secs.get("du -sb")
    if full is not None and bare is not None and du is not None:
        scan = max(0.0, full - bare)
        line(
            scan <= du,
            f"sizes cost no more than du: the size scan adds {scan:.3f} s to "
            f"`list` (with minus without sizes; the whole command takes {full:.3f} s with "
            f"Python's start-up), `du -sb` takes {du:.3f} s",
        )
    million = next((o for n, o in rep.opens if n.startswith("synthetic")), None)
    if million:
        line(
            float(million["best"]) < 3.0 and float(million["first"]) < 3.0,
            f"opens a {int(million['entries']):,}-entry archive in < 3 s: "
            f"first {million['first']:.2f} s, best {million['best']:.2f} s",
        )
    return out


# --------------------------------------------------------------------------- main


DOCS_START = "<!-- results:start (bench/run.py --update-docs rewrites this part) -->"
DOCS_END = "<!-- results:end -->"


def update_docs(path: Path, results: str) -> None:
    """Put `results` (headings one level down) between the markers of docs/benchmark.md."""
    doc = path.read_text()
    if DOCS_START not in doc or DOCS_END not in doc:
        say(f"{path} has no results markers; not updated")
        return
    body = "\n".join(
        "#" + line if line.startswith("#") else line for line in results.strip().splitlines()
    )
    head, _, rest = doc.partition(DOCS_START)
    _, _, tail = rest.partition(DOCS_END)
    path.write_text(f"{head}{DOCS_START}\n{body}\n{DOCS_END}{tail}")
    say(f"updated {path}")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return open("/proc/loadavg").read().strip()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark portal-backup create beside tar, zip, 7z.")
    p.add_argument("--data", type=Path, help="a dataset made by make_dataset.py (reused as is)")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="without --data: generate a dataset of this scale (1.0 = ~1.18 GB)",
    )
    p.add_argument(
        "--profile",
        choices=("media", "text", "tiny"),
        default="media",
        help="the dataset's profile (make_dataset.py --profile): generated without --data, "
        "and it picks the targets of the report (default: media)",
    )
    p.add_argument(
        "--work",
        type=Path,
        help="where outputs go (default: a new temporary "
        "directory; same file system as the data is best)",
    )
    p.add_argument("--keep", action="store_true", help="keep the outputs (and generated data)")
    p.add_argument(
        "--tools",
        default=",".join(t for t in ALL_TOOLS if t not in REPO_TOOLS or shutil.which(t)),
        help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: those installed)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="also time `portal-backup create` with extra arguments, e.g. "
        "--variant 'level2=--level 2' or --variant 't1=--threads 1'",
    )
    p.add_argument(
        "--cache",
        choices=("warm", "cold"),
        default="warm",
        help="warm: read the tree once before timing (default); cold: drop the "
        "page cache before every timed command (needs root)",
    )
    p.add_argument("--repeat", type=int, default=1, help="rounds of every tool; best is kept")
    p.add_argument(
        "--million",
        type=int,
        default=1_000_000,
        help="entries in the synthetic archive for the open test (0 skips it)",
    )
    p.add_argument("--results", type=Path, default=BENCH / "results.md")
    p.add_argument(
        "--update-docs",
        action="store_true",
        help="also copy the results into docs/benchmark.md (between its markers)",
    )
    p.add_argument("--probe-open", help=argparse.SUPPRESS)
    p.add_argument("--probe-kind", default="ours", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.probe_open:
        print(json.dumps(probe_open(args.probe_open, args.probe_kind, args.repeat)))
        return 0
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in ALL_TOOLS]
    if unknown:
        say(f"run.py: unknown tools: {', '.join(unknown)}")
        return 2
    variants: dict[str, list[str]] = {}
    for v in args.variant:
        name, sep, extra = v.partition("=")
        if not sep or not name.strip():
            say(f"run.py: --variant wants NAME=ARGS, not {v!r}")
            return 2
        variants[f"ours-{name.strip()}"] = shlex.split(extra)
    tools += [t for t in variants if t not in tools]
    if variants and "portal-backup" not in tools:
        tools.insert(0, "portal-backup")  # the checks and targets are about the default run
    nproc = os.cpu_count() or 1
    work = args.work or Path(tempfile.mkdtemp(prefix="pbbench-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    outdir = work / "out"
    outdir.mkdir(exist_ok=True)

    generated = False
    if args.data:
        data = args.data.resolve()
        if not (data / "core").is_dir():
            say(f"run.py: {data} does not look like a dataset (no core/)")
            return 2
    else:
        sys.path.insert(0, str(BENCH))
        from make_dataset import generate

        data = work / "data"
        say(f"generating a dataset at scale {args.scale} in {data}")
        generate(data, args.scale, log=say, profile=args.profile)
        generated = True

    items, paths, left_out = backup_items(data)
    files, total = tree_stats(data, paths)
    tree_files, tree_bytes = tree_stats(data, ["."])
    rep = Report(
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        data=data,
        files=files,
        input_bytes=total,
        tree_files=tree_files,
        tree_bytes=tree_bytes,
        items=items,
        paths=paths,
        cache=args.cache,
        repeat=args.repeat,
        nproc=nproc,
        load_before=uptime(),
        variants=variants,
        profile=args.profile,
    )
    if left_out:
        rep.notes.append(
            f"Left out because `create` needs Docker for them and this host has "
            f"none: {' '.join(left_out)}; every tool reads only the paths of the "
            f"items above."
        )
    if tree_bytes > total:
        rep.notes.append(
            f"{tree_bytes - total:,} bytes of the tree are outside those paths "
            "(generate with the default `--layout docker-free` to include the "
            "apps' data)."
        )
    cold = args.cache == "cold"
    if cold and not drop_caches():
        say("cannot drop the page cache (not root?); falling back to --cache warm")
        cold = False
        rep.cache = "warm"
    if cold:
        rep.cache = (
            "cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before every timed "
            "command (tools read from disk)"
        )
    else:
        rep.cache = (
            "warm: every file read once before the timings, and RAM holds the tree, "
            "so every tool reads from the page cache"
        )
        say("warm-up read pass ...")
        rep.warm = read_pass(data, paths)
    say(f"data: {files:,} files, {total / MB:,.1f} MB; items: {' '.join(items)}")

    # ---- timed runs, interleaved rounds
    for rnd in range(args.repeat):
        for tool in tools:
            out = outdir / out_name(tool)
            remove_output(out)
            if tool in REPO_TOOLS:
                prepare_repo(tool, out, work)
            cmd, cwd = tool_command(tool, data, out, items, paths, nproc, variants)
            if cold:
                drop_caches()
            else:  # again: borg drops what it read from the cache, and so may others
                read_pass(data, paths)
            say(f"round {rnd + 1}: {tool_label(tool, nproc, variants)} ...")
            r = timed(tool, cmd, cwd=cwd, output=out, log_dir=logs)
            rep.runs.setdefault(tool, []).append(r)
            say(
                f"  {r.wall:.2f} s + fsync {r.fsync:.2f} s, {r.out_bytes / MB:,.1f} MB, "
                f"rss {r.maxrss_kib / 1024:.0f} MiB, cpu {r.cpu:.1f} s, exit {r.rc}"
            )
            if tool != "portal-backup" and not args.keep:
                remove_output(out)

    # ---- checks of our archive
    ours = outdir / out_name("portal-backup")
    if "portal-backup" in tools and ours.exists():
        say("checking our archive ...")
        rep.checks.append(run_check("unzip -tq", ["unzip", "-tq", str(ours)]))
        rep.checks.append(run_check("7z t", ["7z", "t", str(ours)]))
        rep.checks.append(run_check("portal-backup verify", [portal_backup(), "verify", str(ours)]))
        rep.checks.append(coverage(ours, data, paths))
        for c in rep.checks:
            say(f"  {c.name}: {'pass' if c.ok else 'FAIL'} ({c.seconds:.1f} s) {c.detail}")

    # ---- cheap sizes
    say("cheap sizes ...")
    size_cmds = [
        (
            "portal-backup list --json",
            [portal_backup(), "--portal-root", str(data), "list", "--json"],
        ),
        (
            "portal-backup list --json --no-sizes",
            [portal_backup(), "--portal-root", str(data), "list", "--json", "--no-sizes"],
        ),
        ("du -sb", ["du", "-sb", str(data)]),
    ]
    for name, cmd in size_cmds:
        best: Run | None = None
        for _ in range(3):
            if cold:
                drop_caches()
            r = timed("sizes", cmd, log_dir=logs)
            if best is None or r.wall < best.wall:
                best = r
        assert best is not None
        out_text = (logs / "sizes.stdout").read_text()
        if name.endswith("--no-sizes"):
            total_txt = "no sizes: Python start-up, imports and the inventory only"
        elif name.startswith("du"):
            total_txt = f"{int(out_text.split()[0]):,} bytes (files and directories)"
        else:
            seen: set[str] = set()
            b = n = 0
            for line in out_text.splitlines():
                item = json.loads(line)
                key = ",".join(item.get("paths") or [])
                if item.get("kind") == "mount" or key in seen or item["id"] == "core/identity":
                    continue
                seen.add(key)
                b += item.get("bytes") or 0
                n += item.get("files") or 0
            total_txt = f"{b:,} bytes in {n:,} files (items summed, each path once)"
        rep.sizes.append((name, best.wall, total_txt))
        say(f"  {name}: {best.wall:.3f} s")

    # ---- explorer open cost
    if ours.exists():
        say("open cost ...")
        rep.opens.append(
            (f"our archive ({ours.stat().st_size / MB:,.0f} MB)", open_cost(ours, "ours"))
        )
    if args.million:
        mzip = work / "million.zip"
        say(f"writing a synthetic {args.million:,}-entry zip ...")
        secs = write_million_zip(mzip, args.million)
        rep.opens.append(
            (
                f"synthetic {args.million:,} empty entries ({mzip.stat().st_size / MB:,.0f} MB)",
                open_cost(mzip, "ours"),
            )
        )
        rep.opens.append(
            ("same, Python zipfile.ZipFile (reference)", open_cost(mzip, "zipfile", 1))
        )
        rep.notes.append(
            f"The synthetic archive is written by bench/run.py's own minimal "
            f"writer ({secs:.1f} s): stored empty files with the same UT and ux "
            f"extra fields as ours, ZIP64 end records."
        )
        if not args.keep:
            mzip.unlink()
    rep.load_after = uptime()
    text = render(rep)
    print(text)
    args.results.write_text(text)
    say(f"wrote {args.results}")
    if args.update_docs:
        update_docs(REPO / "docs" / "benchmark.md", text)
    if not args.keep:
        shutil.rmtree(outdir, ignore_errors=True)
        if generated:
            shutil.rmtree(data, ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"kept outputs in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
