"""Generate the benchmark dataset: a personal server's data laid out as a Portal root.

    python bench/make_dataset.py --out /tmp/pbdata [--scale 1.0] [--seed 2023]

At --scale 1.0 the tree holds about 1.18 GB in about 25,400 files:

- ``core/``: the TinyDB database (with an ``identities`` table), the settings YAML and three
  installed apps' compose files;
- ``user_data/shared/``: photos (JPEG) and videos (MP4, four of them 50-150 MB), all
  incompressible and with the right magic bytes; a ~100 MB SQLite database of text rows;
  20,000 small text files (source code and notes, 200 B-20 KB, nested directories); large
  logs plus a few gzipped rotations; source trees with git packs;
- three apps' state (a notes app with its SQLite database and markdown, a photo app's
  thumbnail cache, a wiki's pages and uploads): under ``user_data/shared/apps/<app>/`` by
  default (``--layout docker-free``), or under ``user_data/app_data/<app>/`` as on a real
  Portal (``--layout portal``). `portal-backup create` refuses ``app/<name>`` items when
  Docker is unreachable (it cannot tell whether the app is writing), so on a host without
  Docker only the default layout lets one backup hold every byte.

The same seed and scale give the same files, byte for byte and with the same mtimes (SQLite's
own file layout aside, which depends on the SQLite library). Generation is fast: text is cut
from pools made once (word text with a Zipf-like vocabulary, code lines, log lines), so it
compresses like real text (about 2-3.5x with deflate, logs ~5x) and not 100x; incompressible
bytes come from a seeded ``random.Random``. Only counts and byte sizes scale.

Profiles (``--profile``): ``media`` (the default, above: a third of the bytes incompressible
media, ~21 files per MB), ``text`` (about 420 MB in about 16,500 files at scale 1.0: about 75 %
compressible, ~40 files per MB, like the mix of issue 15) and ``tiny`` (the core files and
10,000 files of 10-400 bytes, 100 per directory; ``--scale`` scales the count).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

MB = 1_000_000
DEFAULT_SEED = 2023
# 2023-04-12 02:00:00 UTC; files get mtimes spread over the two years before it.
BASE_MTIME = 1681264800
APPS = ("notes", "photos", "wiki")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """Byte sizes and counts at --scale 1.0; `scaled()` applies the factor."""

    videos_mb: tuple[float, ...] = (150.0, 95.0, 60.0, 50.0)
    clips: int = 6  # short videos, 2-8 MB
    photos: int = 360  # 150-650 KB
    sqlite_mb: float = 100.0
    small_files: int = 20_000  # 200 B - 20 KB, code and notes
    logs_mb: tuple[float, ...] = (100.0, 70.0, 50.0, 40.0, 30.0, 20.0, 12.0)
    rotated_logs: int = 6  # .gz rotations of log text
    rotated_log_mb: float = 3.0  # log text in each rotation, before gzip
    source_trees: int = 3
    source_files: int = 800  # per tree, 1-60 KB
    pack_mb: float = 10.0  # one git pack per tree (incompressible, unknown suffix)
    notes_app_db_mb: float = 25.0
    notes_app_md: int = 900  # 1-30 KB
    photo_thumbs: int = 1000  # 20-60 KB JPEG thumbnails
    wiki_pages: int = 700  # 2-40 KB
    wiki_uploads: int = 40  # 100 KB - 1.5 MB, PDFs (half text, half binary)

    def scaled(self, scale: float) -> Plan:
        def n(x: int) -> int:
            return max(1, round(x * scale))

        return Plan(
            videos_mb=tuple(v * scale for v in self.videos_mb),
            clips=n(self.clips),
            photos=n(self.photos),
            sqlite_mb=self.sqlite_mb * scale,
            small_files=n(self.small_files),
            logs_mb=tuple(v * scale for v in self.logs_mb),
            rotated_logs=n(self.rotated_logs),
            rotated_log_mb=self.rotated_log_mb * scale,
            source_trees=self.source_trees,
            source_files=n(self.source_files),
            pack_mb=self.pack_mb * scale,
            notes_app_db_mb=self.notes_app_db_mb * scale,
            notes_app_md=n(self.notes_app_md),
            photo_thumbs=n(self.photo_thumbs),
            wiki_pages=n(self.wiki_pages),
            wiki_uploads=n(self.wiki_uploads),
        )


# The text-heavy mix (issue 15): ~75 % compressible bytes, ~40 files per MB.
TEXT_PLAN = Plan(
    videos_mb=(30.0, 15.0),
    clips=3,
    photos=60,
    sqlite_mb=60.0,
    small_files=12_000,
    logs_mb=(45.0, 25.0, 15.0, 10.0),
    rotated_logs=4,
    rotated_log_mb=2.0,
    source_trees=3,
    source_files=800,
    pack_mb=2.0,
    notes_app_db_mb=10.0,
    notes_app_md=900,
    photo_thumbs=300,
    wiki_pages=700,
    wiki_uploads=15,
)
PLANS = {"media": Plan(), "text": TEXT_PLAN}
PROFILES = (*PLANS, "tiny")
TINY_FILES = 10_000


@dataclass
class Stats:
    files: int = 0
    bytes: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += size


# --------------------------------------------------------------------------- text pools

_COMMON_TEXT = (
    "the of and to in is that it for was on with as be at by this are from or have an not "
    "but we they which you one all were can there been has their if more will would when "
    "what so up out about into than them only other some could time these two may then do "
    "first any my now such like our over also new just see after back use how most where "
    "well make way even good because through each work still should here both between"
)
_COMMON = _COMMON_TEXT.split()
_SYLLABLES_TEXT = (
    "ka ri to na me lo su ve ra in en an ter ster ing tion al ex per con de re pro com "
    "ma ni ol us um ar or el is ly ment ness ble ful ous ive ic ate ist ity par tra sen "
    "mon dor bel gar fin lin mor pal quin sar tel val wen zor ba ce di fo gu ha ji ku"
)
_SYLLABLES = _SYLLABLES_TEXT.split()


class Pools:
    """Text made once and then cut into files; every cut starts at a random offset."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = self._vocab()
        self.weights = _zipf_cum_weights(len(self.vocab))
        self.prose = self._prose(3 * MB)
        self.code = self._code(3 * MB)
        self.logs = self._logs(6 * MB)

    def _vocab(self) -> list[str]:
        words = set(_COMMON)
        out = list(_COMMON)
        rng = self.rng
        while len(out) < 5000:
            w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
            if w not in words:
                words.add(w)
                out.append(w)
        # Common words first, the rest in a random order so rank does not follow length.
        tail = out[len(_COMMON) :]
        rng.shuffle(tail)
        return out[: len(_COMMON)] + tail

    def words(self, k: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.weights, k=k)

    def _prose(self, size: int) -> bytes:
        rng = self.rng
        words = self.words(size // 6 + 1000)
        parts: list[str] = []
        i = total = 0
        while total < size:
            n = rng.randint(5, 22)
            sent = words[i : i + n]
            i += n
            if i + 30 >= len(words):
                i = 0
            if rng.random() < 0.08:
                sent.insert(rng.randrange(len(sent) + 1), str(rng.randint(2, 2025)))
            s = " ".join(sent).capitalize() + rng.choice(".....?!:")
            if rng.random() < 0.15:
                s += "\n\n"
            else:
                s += " "
            parts.append(s)
            total += len(s)
        return "".join(parts).encode()

    def ident(self) -> str:
        a, b = self.words(2)
        style = self.rng.random()
        if style < 0.5:
            return f"{a}_{b}"
        if style < 0.8:
            return a + b.capitalize()
        return a

    def _code(self, size: int) -> bytes:
        rng = self.rng
        idents = [self.ident() for _ in range(3000)]

        def pick() -> str:
            return idents[min(int(rng.expovariate(1 / 120)), len(idents) - 1)]

        templates: list[Callable[[], str]] = [
            lambda: f"def {pick()}({pick()}, {pick()}=None):",
            lambda: f"    return {pick()}.{pick()}({pick()}, {rng.randint(0, 4096)})",
            lambda: f"    {pick()} = {pick()}[{pick()}] + {rng.randint(1, 99)}",
            lambda: f"    if {pick()} is not None and len({pick()}) > {rng.randint(0, 64)}:",
            lambda: f'        raise ValueError("{" ".join(self.words(rng.randint(3, 8)))}")',
            lambda: f"    # {' '.join(self.words(rng.randint(4, 14)))}",
            lambda: f"from {pick()}.{pick()} import {pick()}, {pick()}",
            lambda: f"class {pick().title().replace('_', '')}({pick().title()}):",
            lambda: f'    """{" ".join(self.words(rng.randint(6, 16))).capitalize()}."""',
            lambda: f"    for {pick()} in {pick()}.{pick()}():",
            lambda: f"        {pick()}.append({pick()}({pick()}))",
            lambda: f"const {pick()} = await {pick()}.{pick()}({{ {pick()}: {pick()} }});",
            lambda: f"func {pick()}(ctx context.Context, {pick()} string) error {{",
            lambda: f"\tif err := {pick()}.{pick()}(ctx); err != nil {{ return err }}",
            lambda: "",
            lambda: "",
            lambda: "}",
        ]
        lines: list[str] = []
        total = 0
        while total < size:
            line = rng.choice(templates)()
            lines.append(line)
            total += len(line) + 1
        return ("\n".join(lines) + "\n").encode()

    def _logs(self, size: int) -> bytes:
        rng = self.rng
        paths = [f"/api/v1/{w}/{{}}" for w in self.words(40)] + ["/", "/health", "/login"]
        users = list(dict.fromkeys(self.words(25)))
        ips = [f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)}" for _ in range(30)]
        services = ["web", "worker", "db", "cron", "proxy", "sync"]
        levels = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
        t = float(BASE_MTIME - 86400 * 30)
        lines: list[str] = []
        total = 0
        while total < size:
            t += rng.expovariate(20.0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            ms = int((t % 1) * 1000)
            svc = rng.choice(services)
            lvl = rng.choice(levels)
            r = rng.random()
            if r < 0.55:
                path = rng.choice(paths).format(rng.randint(1, 3000))
                msg = (
                    f"{rng.choice(('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'))} {path} "
                    f"status={rng.choice((200, 200, 200, 200, 304, 404, 500))} "
                    f"dur={int(rng.expovariate(1 / 40))}ms user={rng.choice(users)} "
                    f"ip={rng.choice(ips)}"
                )
            elif r < 0.8:
                msg = f"job {rng.choice(users)}-{rng.randint(1, 99)} " + rng.choice(
                    ("started", "finished ok", "queued", "retrying after timeout")
                )
            elif r < 0.95:
                msg = (
                    f"cache hit={rng.randint(0, 999)} miss={rng.randint(0, 99)} "
                    f"evicted={rng.randint(0, 9)} mem={rng.randint(100, 140)}MiB"
                )
            else:
                msg = f"Traceback: {self.ident()}.{self.ident()} failed: " + " ".join(
                    self.words(rng.randint(4, 12))
                )
            line = f"{stamp}.{ms:03d}Z {lvl:<5} [{svc}-{rng.randint(1, 4)}] {msg}"
            lines.append(line)
            total += len(line) + 1
        return ("\n".join(lines) + "\n").encode()


def _zipf_cum_weights(n: int) -> list[float]:
    out: list[float] = []
    acc = 0.0
    for r in range(n):
        acc += 1.0 / (r + 2.7) ** 1.12
        out.append(acc)
    return out


def cut(rng: random.Random, pool: bytes, size: int, *, line_aligned: bool = True) -> bytes:
    """`size` bytes of `pool` from a random offset, wrapping around; starts on a line."""
    if size <= 0:
        return b""
    start = rng.randrange(len(pool))
    if line_aligned:
        nl = pool.find(b"\n", start)
        start = 0 if nl < 0 else nl + 1
    parts: list[bytes] = []
    need = size
    while need > 0:
        piece = pool[start : start + need]
        parts.append(piece)
        need -= len(piece)
        start = 0
    return b"".join(parts)


def log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return int(lo * (hi / lo) ** rng.random())


# --------------------------------------------------------------------------- binary formats


def jpeg_bytes(rng: random.Random, size: int) -> bytes:
    """An incompressible JPEG-like file: SOI, JFIF APP0, a DQT, SOS, entropy data, EOI."""
    head = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
        + b"\xff\xdb\x00\x43\x00"
        + rng.randbytes(64)
        + b"\xff\xc0\x00\x11\x08"
        + struct.pack(">HH", 3024, 4032)
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    )
    body = max(0, size - len(head) - 2)
    return head + rng.randbytes(body) + b"\xff\xd9"


def mp4_chunks(rng: random.Random, size: int) -> Iterator[bytes]:
    """An incompressible MP4-like file: an ftyp box, then one mdat box holding the rest."""
    ftyp = struct.pack(">I4s", 32, b"ftyp") + b"isom\x00\x00\x02\x00isomiso2avc1mp41"
    mdat = max(8, size - len(ftyp))
    yield ftyp + struct.pack(">I4s", mdat, b"mdat")
    left = mdat - 8
    while left > 0:
        n = min(left, 8 << 20)
        yield rng.randbytes(n)
        left -= n


def pdf_bytes(rng: random.Random, pools: Pools, size: int) -> bytes:
    """A PDF-like upload: text objects and binary (image) streams, about half and half."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    n = 1
    while out.tell() < size:
        if rng.random() < 0.5:
            body = cut(rng, pools.prose, rng.randint(2000, 20000))
        else:
            body = rng.randbytes(rng.randint(2000, 30000))
        out.write(
            b"%d 0 obj\n<< /Length %d >>\nstream\n" % (n, len(body))
            + body
            + b"\nendstream\nendobj\n"
        )
        n += 1
    out.write(b"trailer\n<< /Size %d >>\n%%%%EOF\n" % n)
    return out.getvalue()


# --------------------------------------------------------------------------- writer


class Tree:
    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.stats = Stats()
        self._dirs: set[Path] = set()

    def _mtime(self) -> int:
        return BASE_MTIME - self.rng.randrange(2 * 365 * 86400)

    def _parent(self, path: Path) -> None:
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)

    def write(self, rel: str, data: bytes, kind: str, mode: int = 0o644) -> None:
        path = self.root / rel
        self._parent(path)
        with open(path, "wb") as f:
            f.write(data)
        self._finish(path, len(data), kind, mode)

    def write_chunks(self, rel: str, chunks: Iterator[bytes], kind: str) -> None:
        path = self.root / rel
        self._parent(path)
        size = 0
        with open(path, "wb") as f:
            for c in chunks:
                f.write(c)
                size += len(c)
        self._finish(path, size, kind, 0o644)

    def _finish(self, path: Path, size: int, kind: str, mode: int) -> None:
        if mode != 0o644:
            os.chmod(path, mode)
        t = self._mtime()
        os.utime(path, (t, t))
        self.stats.add(kind, size)


# --------------------------------------------------------------------------- parts


def make_core(tree: Tree, rng: random.Random, apps_dir: str) -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    portal_id = hashlib.sha512(pub).hexdigest()

    def stamp(days_ago: float) -> str:
        t = BASE_MTIME - days_ago * 86400
        return "{TinyDate}:" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".002497"

    usage = {
        str(i): {
            "app": rng.choice(APPS),
            "opened_at": stamp(rng.uniform(0, 400)),
            "seconds": rng.randint(5, 7200),
        }
        for i in range(1, 1201)
    }
    db = {
        "_default": {
            "1": {"key": "theme", "value": "dark"},
            "2": {"key": "onboarding_done", "value": True},
        },
        "identities": {
            "1": {
                "id": portal_id,
                "name": "Home Portal",
                "email": "me@example.org",
                "description": "My server at home",
                "is_default": True,
                "private_key": pem,
            }
        },
        "installed_apps": {
            str(i): {
                "name": a,
                "installed_at": stamp(300 - i),
                "store_info": {"version": f"2.{i}.1"},
                "status": "running",
            }
            for i, a in enumerate(APPS, 1)
        },
        "terminals": {
            "1": {
                "id": "a1b2c3d4",
                "name": "Laptop",
                "created_at": stamp(500),
                "last_seen": stamp(0.2),
            }
        },
        "peers": {},
        "backups": {},
        "tours": {"1": {"name": "welcome", "done": True}},
        "app_usage_track": usage,
    }
    tree.write("core/portal_core_db.json", json.dumps(db).encode(), "core", 0o600)
    config = (
        "# Portal settings\n"
        f"portal_id: {portal_id[:6]}\n"
        "domain: portal.example.org\n"
        "data_dir: /home/portal/user_data\n"
        "backup:\n  schedule: daily\n  keep: 7\n"
        "updates:\n  channel: stable\n  auto: true\n"
        "apps:\n" + "".join(f"  - {a}\n" for a in APPS)
    )
    tree.write("core/portal_core_config.yml", config.encode(), "core")
    for app in APPS:
        compose = (
            f"name: {app}\nservices:\n  {app}:\n    image: portal/{app}:2.1\n"
            "    restart: unless-stopped\n    volumes:\n"
            f"      - /home/portal/{apps_dir}/{app}/data:/data\n"
            "      - /home/portal/user_data/shared:/shared:ro\n"
        )
        tree.write(f"core/installed_apps/{app}/docker-compose.yml", compose.encode(), "core")


def make_media(tree: Tree, rng: random.Random, plan: Plan) -> None:
    base = "user_data/shared"
    for i in range(plan.photos):
        year = 2019 + i * 7 // max(1, plan.photos)
        size = log_uniform(rng, 150_000, 650_000)
        tree.write(f"{base}/Photos/{year}/IMG_{1000 + i:04d}.jpg", jpeg_bytes(rng, size), "photos")
    for i, mb in enumerate(plan.videos_mb):
        tree.write_chunks(
            f"{base}/Videos/holiday-{2019 + i}.mp4", mp4_chunks(rng, int(mb * MB)), "videos"
        )
    for i in range(plan.clips):
        size = log_uniform(rng, 2 * MB, 8 * MB)
        tree.write_chunks(
            f"{base}/Videos/clips/VID_{20220101 + i * 37}.mp4", mp4_chunks(rng, size), "videos"
        )


def make_sqlite(
    tree: Tree, rng: random.Random, pools: Pools, rel: str, target: float, kind: str
) -> None:
    path = tree.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;"
        "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT, body TEXT, tags TEXT,"
        " author TEXT, created INTEGER, updated INTEGER, score REAL);"
        "CREATE INDEX items_title ON items(title);"
        "CREATE INDEX items_created ON items(created);"
    )
    authors = pools.words(80)
    row_id = 0
    while True:
        rows = []
        for _ in range(1000):
            row_id += 1
            created = BASE_MTIME - rng.randrange(3 * 365 * 86400)
            rows.append(
                (
                    row_id,
                    " ".join(pools.words(rng.randint(2, 8))).capitalize(),
                    cut(rng, pools.prose, log_uniform(rng, 80, 2500), line_aligned=False).decode(),
                    ",".join(pools.words(rng.randint(0, 5))),
                    rng.choice(authors),
                    created,
                    created + rng.randrange(86400 * 30),
                    round(rng.random() * 5, 2),
                )
            )
        con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?)", rows)
        con.commit()
        (pages,) = con.execute("PRAGMA page_count").fetchone()
        if pages * 4096 >= target * MB:
            break
    con.close()
    size = path.stat().st_size
    t = BASE_MTIME - 3600
    os.utime(path, (t, t))
    tree.stats.add(kind, size)


def make_small_files(tree: Tree, rng: random.Random, pools: Pools, plan: Plan) -> None:
    """Source-code-like projects and notes, nested, 200 B - 20 KB each."""
    base = "user_data/shared"
    n_code = plan.small_files * 3 // 5
    n_notes = plan.small_files - n_code
    projects = [pools.ident() for _ in range(max(2, n_code // 300))]
    code_ext = (".py", ".py", ".js", ".ts", ".go", ".rs", ".c", ".h", ".json", ".toml")
    dirs: list[str] = []
    for p in projects:
        for _ in range(rng.randint(4, 12)):
            depth = rng.randint(1, 4)
            dirs.append(f"{base}/Projects/{p}/src/" + "/".join(pools.ident() for _ in range(depth)))
    for i in range(n_code):
        d = rng.choice(dirs)
        size = log_uniform(rng, 200, 20_000)
        header = f"// {d.rsplit('/', 1)[-1]} {i}: {' '.join(pools.words(8))}\n".encode()
        name = f"{pools.ident()}_{i}{rng.choice(code_ext)}"
        tree.write(f"{d}/{name}", header + cut(rng, pools.code, size - len(header)), "small")
    topics = [pools.ident() for _ in range(max(2, n_notes // 150))]
    for i in range(n_notes):
        topic = rng.choice(topics)
        sub = f"/{rng.randint(2019, 2023)}" if rng.random() < 0.6 else ""
        size = log_uniform(rng, 200, 20_000)
        title = " ".join(pools.words(rng.randint(2, 6))).capitalize()
        head = f"# {title}\n\n".encode()
        ext = rng.choice((".md", ".md", ".txt", ".org"))
        tree.write(
            f"{base}/Documents/{topic}{sub}/{title[:40].replace(' ', '-')}-{i}{ext}",
            head + cut(rng, pools.prose, size - len(head), line_aligned=False),
            "small",
        )


def make_logs(tree: Tree, rng: random.Random, pools: Pools, plan: Plan) -> None:
    base = "user_data/shared/Logs"
    names = ("nginx-access", "app", "syslog", "worker", "sync", "audit", "mail", "cron")
    for i, mb in enumerate(plan.logs_mb):
        size = int(mb * MB)

        def chunks(size: int = size) -> Iterator[bytes]:
            left = size
            while left > 0:
                n = min(left, 256 * 1024)
                yield cut(rng, pools.logs, n)
                left -= n

        tree.write_chunks(f"{base}/{names[i % len(names)]}.log", chunks(), "logs")
    for i in range(plan.rotated_logs):
        text = cut(rng, pools.logs, int(plan.rotated_log_mb * MB))
        tree.write(
            f"{base}/archive/{names[i % len(names)]}.log.{i + 1}.gz",
            gzip.compress(text, compresslevel=6, mtime=0),
            "logs",
        )


def make_source_trees(tree: Tree, rng: random.Random, pools: Pools, plan: Plan) -> None:
    base = "user_data/shared/Code"
    for t in range(plan.source_trees):
        name = pools.ident().replace("_", "-")
        root = f"{base}/{name}"
        tree.write(
            f"{root}/README.md",
            b"# " + name.encode() + b"\n\n" + cut(rng, pools.prose, 3000, line_aligned=False),
            "source",
        )
        mods = [pools.ident() for _ in range(30)]
        for i in range(plan.source_files):
            size = log_uniform(rng, 1000, 60_000)
            d = "/".join(rng.sample(mods, rng.randint(1, 3)))
            tree.write(f"{root}/{d}/{pools.ident()}_{i}.py", cut(rng, pools.code, size), "source")
        pack = hashlib.sha1(f"{t}-{name}".encode()).hexdigest()
        tree.write_chunks(
            f"{root}/.git/objects/pack/pack-{pack}.pack",
            iter([b"PACK\x00\x00\x00\x02", rng.randbytes(int(plan.pack_mb * MB))]),
            "source",
        )
        tree.write(f"{root}/.git/HEAD", b"ref: refs/heads/main\n", "source")
        tree.write(f"{root}/.git/config", b"[core]\n\trepositoryformatversion = 0\n", "source")


def make_apps(tree: Tree, rng: random.Random, pools: Pools, plan: Plan, base: str) -> None:
    # notes: a SQLite database and markdown exports
    make_sqlite(tree, rng, pools, f"{base}/notes/data/notes.sqlite3", plan.notes_app_db_mb, "apps")
    for i in range(plan.notes_app_md):
        size = log_uniform(rng, 1000, 30_000)
        tree.write(
            f"{base}/notes/data/export/{i // 100:02d}/note-{i:05d}.md",
            cut(rng, pools.prose, size, line_aligned=False),
            "apps",
        )
    tree.write(
        f"{base}/notes/config.json", json.dumps({"port": 8080, "theme": "light"}).encode(), "apps"
    )
    # photos: a thumbnail cache and a sidecar index
    for i in range(plan.photo_thumbs):
        size = log_uniform(rng, 20_000, 60_000)
        tree.write(
            f"{base}/photos/data/cache/thumbs/{i % 256:02x}/{i:06d}.jpg",
            jpeg_bytes(rng, size),
            "apps",
        )
    index = "\n".join(
        json.dumps({"id": i, "path": f"Photos/IMG_{1000 + i:04d}.jpg", "tags": pools.words(3)})
        for i in range(plan.photo_thumbs)
    )
    tree.write(f"{base}/photos/data/index.jsonl", index.encode(), "apps")
    # wiki: pages and uploads
    for i in range(plan.wiki_pages):
        size = log_uniform(rng, 2000, 40_000)
        tree.write(
            f"{base}/wiki/data/pages/{pools.ident()}-{i}.md",
            cut(rng, pools.prose, size, line_aligned=False),
            "apps",
        )
    for i in range(plan.wiki_uploads):
        size = log_uniform(rng, 100_000, 1_500_000)
        tree.write(f"{base}/wiki/data/uploads/doc-{i:04d}.pdf", pdf_bytes(rng, pools, size), "apps")


# --------------------------------------------------------------------------- main


APPS_DIR = {"docker-free": "user_data/shared/apps", "portal": "user_data/app_data"}


def make_tiny_files(tree: Tree, rng: random.Random, pools: Pools, count: int) -> None:
    """`count` files of 10-400 bytes, 100 per directory: the per-file cost alone."""
    for i in range(count):
        size = rng.randint(10, 400)
        tree.write(
            f"user_data/shared/tiny/d{i // 100:03d}/f{i:05d}.txt",
            cut(rng, pools.prose, size),
            "tiny",
        )


def generate(
    out: Path,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    layout: str = "docker-free",
    log: Callable[[str], None] | None = None,
    profile: str = "media",
) -> Stats:
    """Write the dataset into `out` (emptied first) and return what was written."""
    apps_dir = APPS_DIR[layout]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    plan = PLANS.get(profile, Plan()).scaled(scale)

    def rng(part: str) -> random.Random:
        return random.Random(f"{seed}/{part}")

    started = time.monotonic()
    pools = Pools(rng("pools"))
    tree = Tree(out, rng("mtimes"))
    steps: list[tuple[str, Callable[[], None]]] = [
        ("core", lambda: make_core(tree, rng("core"), apps_dir)),
        ("media", lambda: make_media(tree, rng("media"), plan)),
        (
            "sqlite",
            lambda: make_sqlite(
                tree,
                rng("sqlite"),
                pools,
                "user_data/shared/Databases/library.sqlite",
                plan.sqlite_mb,
                "sqlite",
            ),
        ),
        ("small files", lambda: make_small_files(tree, rng("small"), pools, plan)),
        ("logs", lambda: make_logs(tree, rng("logs"), pools, plan)),
        ("source trees", lambda: make_source_trees(tree, rng("source"), pools, plan)),
        ("apps", lambda: make_apps(tree, rng("apps"), pools, plan, apps_dir)),
    ]
    if profile == "tiny":
        count = max(1, round(TINY_FILES * scale))
        steps = [steps[0], ("tiny files", lambda: make_tiny_files(tree, rng("tiny"), pools, count))]
    for name, step in steps:
        t = time.monotonic()
        step()
        if log:
            log(f"  {name:<13} {time.monotonic() - t:6.1f} s")
    if log:
        log(
            f"generated {tree.stats.bytes / MB:,.1f} MB in {tree.stats.files:,} files "
            f"in {time.monotonic() - started:.1f} s at {out}"
        )
        for kind, (n, b) in sorted(tree.stats.by_kind.items(), key=lambda kv: -kv[1][1]):
            log(f"  {kind:<10} {n:>7,} files {b / MB:>9,.1f} MB")
    return tree.stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="directory to create (emptied)")
    p.add_argument("--scale", type=float, default=1.0, help="1.0 = about 1.18 GB (default)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument(
        "--layout",
        choices=sorted(APPS_DIR),
        default="docker-free",
        help="where the apps' state goes: user_data/shared/apps (default: every "
        "byte can be backed up without Docker) or user_data/app_data",
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="media",
        help="media: media-heavy (default); text: ~75%% compressible, ~40 files per MB; "
        "tiny: 10,000 files of 10-400 bytes",
    )
    args = p.parse_args(argv)
    if args.scale <= 0:
        p.error("--scale must be positive")
    generate(
        args.out,
        args.scale,
        args.seed,
        args.layout,
        log=lambda s: print(s, file=sys.stderr),
        profile=args.profile,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
