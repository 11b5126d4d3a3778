"""Differential backups against full ones and against `restic backup` (issue 14, "Done when").

    python bench/differential.py                 # generates the benchmark tree (scale 1.0)
    python bench/differential.py --scale 0.3     # a smaller tree (~360 MB)
    python bench/differential.py --data /tmp/pbdata --keep   # an existing tree: it is CHANGED

On the benchmark tree (make_dataset.py, default layout: every byte backed up without Docker),
warm cache (every input file read again before each timed command, as bench/run.py does):

1. `restic backup` into a fresh local repository, and `portal-backup create --all` (full #1);
2. 1 % of the regular files (--share) changed, seeded and reproducible: half modified in
   place (a region of up to 4 KiB rewritten, a third of them also grown, a SQLite database
   written through SQLite), a quarter added (new bytes shaped like an existing file of the
   tree: its lines shuffled when it is text, random bytes otherwise), a quarter deleted;
3. `create --all --since FULL1` (the differential), `create --all` again (full #2: what a
   nightly full would cost), and `restic backup` again (its repository's growth).

Docker is pointed nowhere (DOCKER_HOST at a missing socket), so only the Portal root is read,
and the state directory is a temporary one. The differential is checked with `unzip -tq`,
`portal-backup verify` (its base beside it), and against the change itself: the files it
holds are exactly those modified and added, its deleted list exactly those deleted.
Prints a Markdown report and writes it to bench/results-differential.md; --update-docs also
copies it into docs/benchmark.md between its differential markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_dataset import BASE_MTIME, DEFAULT_SEED, generate
from run import (
    BENCH_ENV,
    METADATA_NAMES,
    Check,
    Run,
    backup_items,
    cpu_model,
    portal_backup,
    read_pass,
    regular_files,
    run_check,
    say,
    timed,
    uptime,
)

BENCH = Path(__file__).resolve().parent
DOCS = BENCH.parent / "docs" / "benchmark.md"
MB = 1_000_000
KIB = 1024
SQLITE_MAGIC = b"SQLite format 3\x00"
DOCS_START = "<!-- differential:start (bench/differential.py --update-docs rewrites this part) -->"
DOCS_END = "<!-- differential:end -->"
# Changed files get an mtime one day after the generated tree's newest (reproducible).
CHANGED_MTIME_NS = (BASE_MTIME + 86_400) * 1_000_000_000


# --------------------------------------------------------------------------- the change


@dataclass
class Change:
    files_before: int
    bytes_before: int
    modified: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified_bytes: int = 0  # size after the change of the files modified
    added_bytes: int = 0
    deleted_bytes: int = 0
    rewritten_bytes: int = 0  # bytes actually new in the modified files


def _is_text(sample: bytes) -> bool:
    """Compressible like text (deflate level 1 saves a fifth or more)?"""
    return bool(sample) and len(zlib.compress(sample, 1)) < 0.8 * len(sample)


def _fresh_like(rng: random.Random, template: bytes) -> bytes:
    """New bytes shaped like `template`: its lines shuffled (text), or random bytes."""
    if _is_text(template[: 64 * KIB]):
        lines = template.split(b"\n")
        rng.shuffle(lines)
        return b"\n".join(lines)
    return rng.randbytes(len(template))


def _write_sqlite(path: Path, rng: random.Random) -> None:
    """A database written as an app writes it: through SQLite, in a transaction."""
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute("CREATE TABLE IF NOT EXISTS bench_change (id INTEGER PRIMARY KEY, t TEXT)")
            con.executemany(
                "INSERT INTO bench_change (t) VALUES (?)",
                [(rng.randbytes(200).hex(),) for _ in range(50)],
            )
    finally:
        con.close()


def _modify(path: Path, rng: random.Random) -> int:
    """Rewrite a region of up to 4 KiB in place (a third also grow); the new bytes."""
    with open(path, "r+b") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        before = path.stat().st_size
        _write_sqlite(path, rng)
        return max(4096, path.stat().st_size - before)
    size = path.stat().st_size
    written = 0
    with open(path, "r+b") as f:
        if size:
            length = min(size, 4 * KIB)
            offset = rng.randrange(size - length + 1)
            f.seek(offset)
            old = f.read(length)
            new = rng.randbytes(length)
            if new == old:  # the change must be real, even for a 1-byte file
                new = bytes(b ^ 0xFF for b in old)
            f.seek(offset)
            f.write(new)
            written += length
        if not size or rng.random() < 1 / 3:
            f.seek(0, os.SEEK_END)
            grow = rng.randbytes(rng.randint(100, 10_000))
            f.write(grow)
            written += len(grow)
    return written


def change_tree(data: Path, rels: list[str], share: float, seed: int) -> Change:
    """Change `share` of the regular files under rels: seeded, reproducible."""
    rng = random.Random(f"{seed}/differential")
    files = sorted(os.path.relpath(p, data) for p, _size in regular_files(data, rels))
    sizes = {rel: (data / rel).stat().st_size for rel in files}
    change = Change(files_before=len(files), bytes_before=sum(sizes.values()))
    count = max(4, round(len(files) * share))
    n_add = n_del = count // 4
    n_mod = count - n_add - n_del
    picked = rng.sample(files, n_mod + n_del)
    change.modified = sorted(picked[:n_mod])
    change.deleted = sorted(picked[n_mod:])
    chosen = set(picked)
    templates = rng.sample([f for f in files if f not in chosen], n_add)
    for i, rel in enumerate(change.modified):
        path = data / rel
        change.rewritten_bytes += _modify(path, rng)
        os.utime(path, ns=(CHANGED_MTIME_NS + i, CHANGED_MTIME_NS + i))
        change.modified_bytes += path.stat().st_size
    for i, tpl in enumerate(templates):
        src = data / tpl
        new = src.with_name(f"{src.stem}-new{i}{src.suffix}")
        new.write_bytes(_fresh_like(rng, src.read_bytes()))
        os.utime(new, ns=(CHANGED_MTIME_NS, CHANGED_MTIME_NS))
        change.added.append(str(new.relative_to(data)))
        change.added_bytes += new.stat().st_size
    change.added.sort()
    for rel in change.deleted:
        change.deleted_bytes += sizes[rel]
        (data / rel).unlink()
    return change


# --------------------------------------------------------------------------- the runs


@dataclass
class Row:
    label: str
    run: Run
    size: int  # bytes written: the archive, or the repository's growth
    full: Row | None = None  # the same tool's full run, for the ratios


@dataclass
class Report:
    started: str
    scale: float
    seed: int
    data: Path
    paths: list[str]
    load_before: str
    change: Change | None = None
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    load_after: str = ""
    notes: list[str] = field(default_factory=list)


def create_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        portal_backup(),
        "--portal-root",
        str(data),
        "create",
        "--all",
        "-o",
        str(out),
        "--progress",
        "none",
        *extra,
    ]


def restic_cmd(repo: Path, cache: Path, paths: list[str]) -> list[str]:
    return ["restic", "-r", str(repo), "--cache-dir", str(cache), "backup", "-q", *paths]


def only_archive(out: Path) -> Path:
    """The one archive `create -o DIR` wrote into DIR."""
    found = sorted(out.glob("portal-backup-*.zip"))
    if len(found) != 1:
        raise SystemExit(f"differential.py: expected one archive in {out}, found {len(found)}")
    return found[0]


def timed_step(rep: Report, name: str, cmd: list[str], output: Path, logs: Path, **kw: str) -> Run:
    read_pass(rep.data, rep.paths)  # warm again: every command reads from the page cache
    say(f"{name} ...")
    r = timed(name.replace(" ", "-"), cmd, output=output, log_dir=logs, **kw)
    say(f"  {r.wall:.2f} s + fsync {r.fsync:.2f} s, {r.out_bytes / MB:,.1f} MB, exit {r.rc}")
    if r.rc != 0:
        raise SystemExit(f"differential.py: {name} failed (exit {r.rc}): {r.stderr_tail}")
    return r


def content_check(diff: Path, change: Change) -> Check:
    """The differential holds exactly the modified and added files and lists the deleted."""
    with zipfile.ZipFile(diff) as z:
        held = {n for n in z.namelist() if not n.endswith("/") and n not in METADATA_NAMES}
        manifest = json.loads(z.read("portal-backup.json"))
    deleted = {p for p in manifest["differential"]["deleted"] if not p.endswith("/")}
    want_held = set(change.modified) | set(change.added)
    problems = []
    if held != want_held:
        problems.append(
            f"{len(held - want_held)} files held that did not change, "
            f"{len(want_held - held)} changed files missing"
        )
    if deleted != set(change.deleted):
        problems.append(f"deleted list: {len(deleted)} files, {len(change.deleted)} deleted")
    detail = "; ".join(problems) or (
        f"{len(held):,} files held = {len(change.modified)} modified + {len(change.added)} "
        f"added; {len(deleted)} deleted listed"
    )
    return Check("holds exactly the change", not problems, 0.0, detail)


def composition(archive: Path) -> str:
    """What the archive's bytes are: changed entries, and the metadata files."""
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
    meta = {i.filename: i.compress_size for i in infos if i.filename in METADATA_NAMES}
    data = sum(i.compress_size for i in infos if i.filename not in METADATA_NAMES)
    rest = archive.stat().st_size - data - sum(meta.values())
    parts = ", ".join(f"{name} {size / MB:,.3f} MB" for name, size in sorted(meta.items()))
    return (
        f"The differential's {archive.stat().st_size / MB:,.3f} MB: changed entries "
        f"{data / MB:,.3f} MB (compressed); {parts}; headers and central directory "
        f"{rest / MB:,.3f} MB."
    )


# --------------------------------------------------------------------------- the report


def render(rep: Report) -> str:
    ch = rep.change
    assert ch is not None
    changed = len(ch.modified) + len(ch.added) + len(ch.deleted)
    lines = [
        "## Differential backups: benchmark results",
        "",
        f"- date: {rep.started}",
        f"- machine: {os.cpu_count()} cores, {cpu_model()}",
        f"- load (uptime) before: {rep.load_before}",
        f"- load (uptime) after: {rep.load_after}",
        f"- data: make_dataset.py --scale {rep.scale} --seed {rep.seed} (profile media, "
        f"layout docker-free): {ch.files_before:,} files under user_data/, "
        f"{ch.bytes_before:,} bytes; `create --all` (Docker unreachable: the Portal root only)",
        f"- change: {changed:,} files ({changed / ch.files_before:.1%}): "
        f"{len(ch.modified)} modified in place ({ch.modified_bytes / MB:,.1f} MB, "
        f"{ch.rewritten_bytes / MB:,.2f} MB of it new bytes), {len(ch.added)} added "
        f"({ch.added_bytes / MB:,.1f} MB), {len(ch.deleted)} deleted "
        f"({ch.deleted_bytes / MB:,.1f} MB)",
        "- cache: warm (every input file read again before each timed command); one run each",
        "",
        "| run | wall s | fsync s | CPU s | written MB | time vs its full | size vs its full "
        "| other load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    cores = os.cpu_count() or 1
    for row in rep.rows:
        r = row.run
        if row.full is None:
            t_ratio = s_ratio = "1.00"
        else:
            t_ratio = f"{r.total / row.full.run.total:.3f}"
            s_ratio = f"{row.size / row.full.size:.4f}"
        lines.append(
            f"| {row.label} | {r.wall:.2f} | {r.fsync:.2f} | {r.cpu:.1f} | "
            f"{row.size / MB:,.2f} | {t_ratio} | {s_ratio} | "
            f"{r.other_cpu / (r.wall * cores):.0%} |"
        )
    lines += [
        "",
        "written MB: the archive's size; for restic, its repository's size (the first "
        "backup) or its growth (the second). Ratios: time (wall + fsync) and size against "
        "the same tool's first, full backup. other load: CPU time used by everything else "
        "on the machine during the run, as a share of all cores.",
        "",
        "### Checks of the differential",
        "",
        "| check | result | seconds | detail |",
        "| --- | --- | ---: | --- |",
    ]
    for c in rep.checks:
        result = "pass" if c.ok else "**FAIL**"
        lines.append(f"| {c.name} | {result} | {c.seconds:.2f} | {c.detail} |")
    if rep.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in rep.notes]
    return "\n".join(lines) + "\n"


def update_docs(path: Path, results: str) -> None:
    """Put `results` (headings one level down) between the differential markers."""
    doc = path.read_text()
    start, end = doc.find(DOCS_START), doc.find(DOCS_END)
    if start < 0 or end < start:
        say(f"{path} has no differential markers; not updated")
        return
    body = re.sub(r"^#", "##", results.strip(), flags=re.MULTILINE)
    path.write_text(doc[: start + len(DOCS_START)] + "\n" + body + "\n" + doc[end:])
    say(f"updated {path}")


def publish(text: str, results: Path, docs: Path | None) -> None:
    """Print the report, write it to `results` and, when given, into `docs`."""
    print(text)
    results.write_text(text)
    say(f"wrote {results}")
    if docs is not None:
        update_docs(docs, text)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time a differential backup beside full ones and restic's incremental."
    )
    p.add_argument("--data", type=Path, help="an existing make_dataset.py tree (it is changed)")
    p.add_argument("--scale", type=float, default=1.0, help="without --data (1.0 = ~1.18 GB)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="of the tree and the change")
    p.add_argument("--share", type=float, default=0.01, help="files changed (default 0.01)")
    p.add_argument("--work", type=Path, help="outputs (default: a new temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the outputs and generated tree")
    p.add_argument("--results", type=Path, default=BENCH / "results-differential.md")
    p.add_argument("--update-docs", action="store_true", help="copy into docs/benchmark.md")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("restic"):
        say("differential.py: restic is not installed (apt-get install restic, bench only)")
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="pbdiff-"))
    work.mkdir(parents=True, exist_ok=True)
    logs, out = work / "logs", work / "out"
    for d in (logs, out):
        d.mkdir(exist_ok=True)
    # Only the Portal root: no Docker; and the runs' history in a state dir of our own.
    os.environ["DOCKER_HOST"] = f"unix://{work}/no-docker.sock"
    os.environ["PORTAL_BACKUP_STATE_DIR"] = str(work / "state")
    os.environ.update(BENCH_ENV)  # RESTIC_PASSWORD: a fixed one that protects nothing

    data = args.data.resolve() if args.data else work / "data"
    if not args.data:
        say(f"generating the tree at scale {args.scale} in {data}")
        generate(data, args.scale, args.seed, log=say)
    _items, paths, left_out = backup_items(data)  # the paths `create --all` reads here
    if left_out:
        say(f"differential.py: left out without Docker: {' '.join(left_out)}")
    rep = Report(
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        scale=args.scale,
        seed=args.seed,
        data=data,
        paths=paths,
        load_before=uptime(),
    )
    repo, cache = out / "restic-repo", work / "restic-cache"
    subprocess.run(
        ["restic", "-r", str(repo), "--cache-dir", str(cache), "init"],
        check=True,
        capture_output=True,
    )
    cwd = {"cwd": str(data)}
    restic1 = timed_step(rep, "restic backup 1", restic_cmd(repo, cache, paths), repo, logs, **cwd)
    (out / "full1").mkdir()
    full1_run = timed_step(rep, "full 1", create_cmd(data, out / "full1"), out / "full1", logs)
    full1 = only_archive(out / "full1")

    rep.change = change_tree(data, ["user_data"], args.share, args.seed)
    say(f"changed the tree: {rep.change}"[:300])

    (out / "diff").mkdir()
    diff_cmd = create_cmd(data, out / "diff", "--since", str(full1))
    diff_run = timed_step(rep, "differential", diff_cmd, out / "diff", logs)
    diff = only_archive(out / "diff")
    (out / "full2").mkdir()
    full2_run = timed_step(rep, "full 2", create_cmd(data, out / "full2"), out / "full2", logs)
    restic2 = timed_step(rep, "restic backup 2", restic_cmd(repo, cache, paths), repo, logs, **cwd)

    full_row = Row("`create --all` (full, before the change)", full1_run, full1.stat().st_size)
    restic_row = Row("`restic backup` (first, before the change)", restic1, restic1.out_bytes)
    growth = restic2.out_bytes - restic1.out_bytes
    rep.rows = [
        full_row,
        Row("`create --all --since FULL` (differential)", diff_run, diff_run.out_bytes, full_row),
        Row("`create --all` (full, after the change)", full2_run, full2_run.out_bytes, full_row),
        restic_row,
        Row("`restic backup` (second: repository growth)", restic2, growth, restic_row),
    ]

    say("checking the differential ...")
    os.link(full1, out / "diff" / full1.name)  # its base beside it, as verify wants it
    rep.checks = [
        run_check("unzip -tq", ["unzip", "-tq", str(diff)]),
        run_check("portal-backup verify (base beside it)", [portal_backup(), "verify", str(diff)]),
        content_check(diff, rep.change),
    ]
    for c in rep.checks:
        say(f"  {c.name}: {'pass' if c.ok else 'FAIL'} {c.detail}")
    rep.notes.append(composition(diff))
    version = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout
    rep.notes.append(f"{version.strip()} (Debian), local repository, default compression.")
    rep.load_after = uptime()
    publish(render(rep), args.results, DOCS if args.update_docs else None)
    if args.keep:
        say(f"kept outputs in {work}")
    elif args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if all(c.ok for c in rep.checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
