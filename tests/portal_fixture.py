"""A realistic Portal host for tests: a Portal root on disk, compose apps on a real Docker engine.

Nothing here is mocked. The Portal root follows GUIDE section 1 and carries the awkward cases a
backup has to get right (non-ASCII names, pre-1980 mtimes, foreign owners, symlinks leaving their
tree, a FIFO, empty directories, multi-MiB files). The Docker side creates three compose-labelled
apps in every container state (running, paused, exited, created), a named volume used by an app,
an orphan volume and a plain container, all on network mode none with a unique token in every
name, so runs never collide with each other or with leftovers of killed runs.

conftest.py wraps these in fixtures; tests that need a variant can call the functions directly.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import io
import json
import os
import random
import secrets
import sqlite3
import struct
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from docker.models.containers import Container
from docker.types import Mount

# ----------------------------------------------------------------------------- the test image

TEST_IMAGE = "pb-test:latest"
IMAGE_LABEL = "portal-backup.test-image"
IMAGE_VERSION = "1"  # bump when the image's contents change, so stale images get rebuilt
BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "sleep", "cat", "ls", "echo", "touch", "mkdir", "rm", "tar")

# Labels every object we create carries, so a person can find leftovers of a killed run.
TEST_LABEL = "portal-backup.test"

# Runs until stopped; the trap makes `docker stop` return at once instead of waiting out the
# 10 s grace period (a bare `sleep` as PID 1 ignores SIGTERM).
RUN_COMMAND = ["sh", "-c", 'trap "exit 0" TERM INT; sleep 100000 & wait']

# ----------------------------------------------------------------------------- Portal root layout
# Paths relative to the Portal root, for tests that look at particular cases.

CONFIG = "core/portal_core_config.yml"
DB = "core/portal_core_db.json"
INSTALLED_APPS = "core/installed_apps"
SHARED = "user_data/shared"
APP_DATA = "user_data/app_data"

NON_ASCII_FILE = f"{SHARED}/Documents/Finanzen/Überweisung 2023 \u2013 März.pdf"
OLD_FILE = f"{SHARED}/Documents/Scans/Brief von Opa 1975.txt"
OLD_MTIME = calendar.timegm((1975, 6, 1, 12, 0, 0))
EMPTY_DIR = f"{SHARED}/Documents/Leer"
PRIVATE_FILE = f"{SHARED}/Documents/Privat/steuer-id.txt"
PRIVATE_UID = PRIVATE_GID = 1234
LINK_ABSOLUTE = f"{SHARED}/links/hostname"
LINK_ABSOLUTE_TARGET = "/etc/hostname"
LINK_RELATIVE_OUT = f"{SHARED}/links/portal-config"
LINK_RELATIVE_OUT_TARGET = "../../../core/portal_core_config.yml"
LINK_RELATIVE_IN = f"{SHARED}/Media/latest.jpg"
LINK_RELATIVE_IN_TARGET = "Photos/2023/IMG_0001.jpg"
LINK_DANGLING = f"{SHARED}/links/gone"
FIFO = f"{SHARED}/tmp/upload.fifo"
RANDOM_FILE = f"{SHARED}/Media/Videos/clip.mp4"
RANDOM_FILE_SIZE = 3 * 1024 * 1024
TEXT_FILE = f"{SHARED}/Documents/server.log"
TEXT_FILE_SIZE = 5 * 1024 * 1024

USER_UID = USER_GID = 1000  # the Portal user owns user data
WWW_UID = WWW_GID = 33  # the photo app's web server owns its library
DB_UID = DB_GID = 999  # the database container owns its volume

# Ordinary files get mtimes from this point on, a second and a bit apart.
BASE_MTIME_NS = calendar.timegm((2023, 4, 12, 2, 0, 0)) * 10**9 + 2_497_000

DB_TABLES = (
    "_default",
    "identities",
    "installed_apps",
    "terminals",
    "peers",
    "backups",
    "tours",
    "app_usage_track",
)


def new_token() -> str:
    """A short token that makes every Docker object name of one run unique."""
    return secrets.token_hex(3)


@dataclass(frozen=True)
class AppNames:
    notes: str
    photos: str
    wiki: str

    @classmethod
    def for_token(cls, token: str) -> AppNames:
        return cls(notes=f"notes-{token}", photos=f"photos-{token}", wiki=f"wiki-{token}")

    def all(self) -> list[str]:
        return [self.notes, self.photos, self.wiki]


# ----------------------------------------------------------------------------- identities


@functools.cache
def identity_keys() -> tuple[str, str]:
    """Two unencrypted PKCS#8 PEM RSA keys (default identity, second identity).

    2048 bits rather than a real Portal's 4096 to keep key generation cheap; made once per process.
    """
    pems = []
    for _ in range(2):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pems.append(pem.decode("ascii"))
    return pems[0], pems[1]


def identity_id(private_key_pem: str) -> str:
    """The Portal ID: hex SHA-512 of the DER (SubjectPublicKeyInfo) public key."""
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha512(der).hexdigest()


def tinydate(iso: str) -> str:
    """A datetime as TinyDB's serializer stores it."""
    return "{TinyDate}:" + iso


# ----------------------------------------------------------------------------- file contents


@functools.cache
def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@functools.cache
def _log_text(size: int) -> bytes:
    """Compressible text that still varies line by line, like a real server log."""
    rng = random.Random(1975)
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR")
    paths = ("/api/apps", "/api/identity", "/api/files/list", "/sync", "/static/app.js")
    lines: list[str] = []
    total = 0
    second = 0
    while total < size:
        second += rng.randint(0, 3)
        line = (
            f"2023-04-12T{(second // 3600) % 24:02d}:{(second // 60) % 60:02d}:{second % 60:02d}Z "
            f"{rng.choice(levels):7} portal.core request {rng.choice(paths)} "
            f"status={rng.choice((200, 200, 200, 204, 304, 404, 500))} "
            f"took={rng.randint(1, 900)}ms peer={rng.randint(1, 40)}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("ascii")[:size]


def _fake_pdf(title: str, pad: int, seed: int) -> bytes:
    head = f"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Title ({title}) >> endobj\n".encode()
    return head + _random_bytes(pad, seed) + b"\n%%EOF\n"


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def _symlink(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.lchown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _stamp_mtimes(top: Path) -> None:
    """Give every entry a deterministic mtime; directories last, since adding entries bumps them."""
    counter = 0

    def stamp(path: str) -> None:
        nonlocal counter
        counter += 1
        ns = BASE_MTIME_NS + counter * 1_000_123_457
        os.utime(path, ns=(ns, ns), follow_symlinks=False)

    for dirpath, dirnames, filenames in os.walk(top, topdown=False):
        # os.walk lists symlinks to directories among dirnames; they are leaves here.
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames + links):
            stamp(os.path.join(dirpath, name))
        stamp(dirpath)


# ----------------------------------------------------------------------------- the Portal root


def build_portal_root(root: Path, token: str) -> Path:
    """Lay out a Portal root as GUIDE section 1 describes it, with apps named after `token`."""
    apps = AppNames.for_token(token)
    root.mkdir(parents=True, exist_ok=True)
    _write_core(root, apps)
    _write_shared(root)
    _write_app_data(root / APP_DATA, apps)

    _chown_tree(root / "user_data", USER_UID, USER_GID)
    _chown_tree(root / APP_DATA / apps.photos / "library", WWW_UID, WWW_GID)
    os.lchown(root / PRIVATE_FILE, PRIVATE_UID, PRIVATE_GID)

    _stamp_mtimes(root)
    os.utime(root / OLD_FILE, (OLD_MTIME, OLD_MTIME))
    return root


def _write_core(root: Path, apps: AppNames) -> None:
    default_pem, second_pem = identity_keys()
    portal_id = identity_id(default_pem)
    _write(
        root / CONFIG,
        textwrap.dedent(
            f"""\
            # Portal core configuration
            log_level: INFO
            portal_domain: {portal_id[:6]}.p.getportal.org
            data_dir: {root}
            docker:
              network: portal
              compose_binary: docker compose
            apps:
              auto_update: true
              store_url: https://store.example.invalid/apps.json
            backup:
              enabled: false
              schedule: "0 3 * * *"
            ssh:
              enabled: false
            """
        ),
    )

    def stamp(day: int, hour: int = 2) -> str:
        return tinydate(f"2023-04-{day:02d}T{hour:02d}:00:00.002497")

    tables: dict[str, dict[str, dict[str, object]]] = {name: {} for name in DB_TABLES}
    tables["_default"] = {
        "1": {"key": "theme", "value": "dark"},
        "2": {"key": "last_update_check", "value": stamp(12)},
        "3": {"key": "onboarding_done", "value": True},
    }
    tables["identities"] = {
        "1": {
            "id": portal_id,
            "name": "Annas Portal",
            "email": "anna@example.org",
            "description": "Mein Zuhause im Netz",
            "is_default": True,
            "private_key": default_pem,
        },
        "2": {
            "id": identity_id(second_pem),
            "name": "Verein",
            "email": "vorstand@verein.example.org",
            "description": "Second identity for the club",
            "is_default": False,
            "private_key": second_pem,
        },
    }
    tables["installed_apps"] = {
        str(i): {
            "name": app,
            "installed_at": stamp(1 + i),
            "store_info": {"version": f"1.{i}.0", "description": f"{app.split('-')[0]} app"},
            "status": "running",
        }
        for i, app in enumerate(apps.all(), start=1)
    }
    tables["terminals"] = {
        "1": {
            "id": "a1b2c3d4",
            "name": "Annas Laptop",
            "created_at": stamp(1),
            "last_seen": stamp(12, 9),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "2": {
            "id": "e5f6a7b8",
            "name": "Telefon",
            "created_at": stamp(3),
            "last_seen": stamp(11, 21),
            "user_agent": "Mozilla/5.0 (Android 13)",
        },
    }
    tables["peers"] = {
        "1": {
            "id": hashlib.sha512(b"ben").hexdigest(),
            "name": "Bens Portal",
            "added_at": stamp(5),
        },
    }
    tables["backups"] = {
        "1": {"created_at": stamp(10, 3), "size": 123_456_789, "status": "done"},
    }
    tables["tours"] = {"1": {"tour_name": "welcome", "finished": True}}
    tables["app_usage_track"] = {
        str(i): {"app_name": app, "date": stamp(12), "count": 3 * i}
        for i, app in enumerate(apps.all(), start=1)
    }
    _write(root / DB, json.dumps(tables), mode=0o600)

    for app, services in _app_services(root, apps).items():
        lines = ["services:"]
        for service, mounts in services.items():
            lines += [
                f"  {service}:",
                f"    image: {TEST_IMAGE}",
                f"    command: {json.dumps(RUN_COMMAND)}",
                "    network_mode: none",
                "    restart: unless-stopped",
            ]
            if mounts:
                lines.append("    volumes:")
                lines += [f"      - {src}:{dst}" + (":ro" if ro else "") for src, dst, ro in mounts]
        named = sorted({src for s in services.values() for src, _, _ in s if "/" not in src})
        if named:
            lines.append("volumes:")
            lines += [f"  {name.split('_', 1)[1]}:" for name in named]
        _write(root / INSTALLED_APPS / app / "docker-compose.yml", "\n".join(lines) + "\n")


def _app_services(root: Path, apps: AppNames) -> dict[str, dict[str, list[tuple[str, str, bool]]]]:
    """app -> service -> [(source, target, read_only)]; a source without '/' is a named volume."""
    data = root / APP_DATA
    return {
        apps.notes: {
            "web": [
                (str(data / apps.notes / "data"), "/data", False),
                (str(root / SHARED), "/shared", True),
            ]
        },
        apps.photos: {
            "web": [(str(data / apps.photos / "library"), "/library", False)],
            "db": [(f"{apps.photos}_db", "/var/lib/db", False)],
        },
        apps.wiki: {
            "web": [(str(data / apps.wiki / "pages"), "/pages", False)],
            "worker": [(str(data / apps.wiki / "pages"), "/pages", True)],
        },
    }


def _write_shared(root: Path) -> None:
    shared = root / SHARED
    docs = shared / "Documents"
    _write(shared / "Einkaufsliste.txt", "Milch\nBrot\nÄpfel\n")
    _write(root / NON_ASCII_FILE, _fake_pdf("Überweisung", 40_000, 1))
    _write(docs / "Finanzen/Steuer/2022/Bescheid.pdf", _fake_pdf("Bescheid", 120_000, 2))
    _write(docs / "Finanzen/Steuer/2022/Notizen.md", "# Steuer 2022\n\n- Belege sammeln\n")
    _write(root / OLD_FILE, "Lieber Hans,\nes grüßt dich dein Opa.\n")
    (root / EMPTY_DIR).mkdir(parents=True)
    _write(root / PRIVATE_FILE, "DE 12 345 678 901\n", mode=0o600)
    _write(root / TEXT_FILE, _log_text(TEXT_FILE_SIZE))

    media = shared / "Media"
    for i in range(1, 4):
        _write(
            media / f"Photos/2023/IMG_{i:04d}.jpg",
            b"\xff\xd8\xff\xe0" + _random_bytes(60_000 + i * 1_000, 10 + i),
        )
    _write(root / RANDOM_FILE, _random_bytes(RANDOM_FILE_SIZE, 42))
    _symlink(root / LINK_RELATIVE_IN, LINK_RELATIVE_IN_TARGET)
    _symlink(root / LINK_ABSOLUTE, LINK_ABSOLUTE_TARGET)
    _symlink(root / LINK_RELATIVE_OUT, LINK_RELATIVE_OUT_TARGET)
    _symlink(root / LINK_DANGLING, "nicht-mehr-da.txt")

    fifo = root / FIFO
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo, 0o644)


def _write_app_data(app_data: Path, apps: AppNames) -> None:
    notes = app_data / apps.notes
    _make_sqlite(notes / "data/notes.sqlite")
    _write(
        notes / "data/attachments/2023/04/receipt.png",
        b"\x89PNG\r\n\x1a\n" + _random_bytes(20_000, 3),
    )
    _write(notes / "data/attachments/2023/05/Ärger mit dem Vermieter.txt", "Heizung kaputt.\n")
    (notes / "data/tmp").mkdir(parents=True)
    _symlink(notes / "data/current.sqlite", "notes.sqlite")
    _write(notes / "data/config.ini", "[server]\nport = 8080\nsecret = s3cr3t\n", mode=0o640)
    # Part of the app's state although no container mounts it.
    _write(notes / "logs/notes.log", "started\nstopped\n")

    photos = app_data / apps.photos
    for i in range(1, 6):
        _write(
            photos / f"library/2023/IMG_{i:04d}.jpg",
            b"\xff\xd8\xff\xe0" + _random_bytes(50_000, 100 + i),
        )
    (photos / "library/thumbs").mkdir(parents=True)
    _symlink(photos / "library/latest.jpg", "2023/IMG_0005.jpg")
    _write(photos / "library/.settings.json", '{"face_detection": false}\n', mode=0o640)
    _write(photos / "cache/index.bin", _random_bytes(8_192, 7))

    wiki = app_data / apps.wiki
    _write(wiki / "pages/Home.md", "# Willkommen\n\nSiehe [[Projekte/Garten]].\n")
    _write(wiki / "pages/Projekte/Garten.md", "# Garten\n\nTomaten im Mai pflanzen.\n")
    (wiki / "pages/attachments").mkdir(parents=True)
    _symlink(wiki / "pages/index.md", "Home.md")
    _write(wiki / "pages/.htaccess", "Require all denied\n", mode=0o640)


def _make_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
        db.executemany(
            "INSERT INTO notes (title, body) VALUES (?, ?)",
            [(f"Notiz {i}", "Lorem ipsum dolor sit amet. " * (i % 7 + 1)) for i in range(200)],
        )
    db.close()
    path.chmod(0o644)


def _fill_db_volume(path: Path) -> None:
    """Something shaped like a Postgres data directory, owned by the database user."""
    _write(path / "PG_VERSION", "15\n", mode=0o600)
    _write(path / "base/1/1259", _random_bytes(65_536, 201), mode=0o600)
    _write(path / "base/1/1249", _random_bytes(32_768, 202), mode=0o600)
    _write(path / "global/pg_control", _random_bytes(8_192, 203), mode=0o600)
    _write(path / "pg_wal/000000010000000000000001", b"\0" * 1_048_576, mode=0o600)
    (path / "pg_tblspc").mkdir()
    _symlink(path / "pg_logical/control", "../global/pg_control")
    _write(path / "postgresql.auto.conf", "# Do not edit this file manually!\n", mode=0o600)
    _chown_tree(path, DB_UID, DB_GID)
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, 0o700)


def _fill_orphan_volume(path: Path) -> None:
    _write(path / "README", "Export of an app that was uninstalled.\n")
    _write(path / "export/2022/items.json", json.dumps([{"id": i} for i in range(50)]))
    (path / "export/empty").mkdir(parents=True)


# ----------------------------------------------------------------------------- Docker


class DockerUnreachable(Exception):
    """The Docker engine named by the environment did not answer."""


def connect_docker() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        host = os.environ.get("DOCKER_HOST", "the default socket")
        raise DockerUnreachable(f"no Docker engine answers at {host}: {exc}") from exc
    return client


def _static_elf(path: Path) -> bool:
    """True unless `path` is an ELF64 little-endian binary with an interpreter (dynamic)."""
    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return True  # not something we can judge; let `docker run` tell
        (phoff,) = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def _image_tar() -> bytes:
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    if not _static_elf(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} is dynamically linked: apt-get install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
    return buf.getvalue()


def ensure_test_image(client: docker.DockerClient) -> str:
    """Import the tiny busybox image once; no registry is reachable, so never pull."""
    with suppress(docker.errors.ImageNotFound):
        if client.images.get(TEST_IMAGE).labels.get(IMAGE_LABEL) == IMAGE_VERSION:
            return TEST_IMAGE
    repository, tag = TEST_IMAGE.split(":")
    client.api.import_image_from_data(
        _image_tar(),
        repository=repository,
        tag=tag,
        changes=['CMD ["/bin/sh"]', f"LABEL {IMAGE_LABEL}={IMAGE_VERSION}"],
    )
    return TEST_IMAGE


ContainerRecord = tuple[str, str, str]  # (name, id, expected state)


@dataclass
class PortalHost:
    root: Path
    token: str
    apps: list[str]
    containers: dict[str, list[ContainerRecord]]  # app -> its containers
    solo: ContainerRecord  # a plain container without compose labels or mounts
    volumes: list[str]  # every named volume created: the photo app's database, the orphan
    app_volumes: dict[str, list[str]]
    orphan_volume: str
    identity_id: str
    private_key_pem: str
    client: docker.DockerClient = field(repr=False)

    @property
    def names(self) -> AppNames:
        return AppNames.for_token(self.token)

    def all_containers(self) -> list[ContainerRecord]:
        return [c for records in self.containers.values() for c in records] + [self.solo]

    def expected_states(self) -> dict[str, str]:
        return {name: state for name, _, state in self.all_containers()}

    def container_states(self) -> dict[str, str]:
        """State of every container we created, fresh from Docker."""
        return {
            name: self.client.api.inspect_container(cid)["State"]["Status"]
            for name, cid, _ in self.all_containers()
        }

    def volume_path(self, name: str) -> Path:
        return Path(self.client.api.inspect_volume(name)["Mountpoint"])


@dataclass
class _Created:
    """Everything made so far, so teardown works even when setup failed halfway."""

    client: docker.DockerClient
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def remove(self) -> None:
        errors: list[str] = []
        for cid in reversed(self.containers):
            try:
                container = self.client.containers.get(cid)
                # A paused container must be unpaused before it can be removed cleanly.
                if container.status == "paused":
                    container.unpause()
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                errors.append(f"container {cid[:12]}: {exc}")
        for name in reversed(self.volumes):
            try:
                self.client.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                errors.append(f"volume {name}: {exc}")
        if errors:
            raise RuntimeError("portal_host teardown left objects behind: " + "; ".join(errors))


def _mounts(specs: list[tuple[str, str, bool]]) -> list[Mount]:
    return [
        Mount(target, source, type="bind" if "/" in source else "volume", read_only=ro)
        for source, target, ro in specs
    ]


def _compose_labels(root: Path, token: str, app: str, service: str) -> dict[str, str]:
    workdir = root / INSTALLED_APPS / app
    return {
        "com.docker.compose.project": app,
        "com.docker.compose.service": service,
        "com.docker.compose.project.working_dir": str(workdir),
        "com.docker.compose.project.config_files": str(workdir / "docker-compose.yml"),
        "com.docker.compose.config-hash": hashlib.sha256(f"{app}/{service}".encode()).hexdigest(),
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.version": "2.20.2",
        TEST_LABEL: token,
    }


@contextmanager
def running_portal_host(
    root: Path, token: str, client: docker.DockerClient, image: str
) -> Iterator[PortalHost]:
    """Create the apps, volumes and containers of a Portal on `root`; remove them all on exit."""
    created = _Created(client)
    try:
        yield _create(root, token, client, image, created)
    finally:
        created.remove()


def _create(
    root: Path, token: str, client: docker.DockerClient, image: str, created: _Created
) -> PortalHost:
    apps = AppNames.for_token(token)
    services = _app_services(root, apps)

    db_volume = f"{apps.photos}_db"
    client.volumes.create(
        db_volume,
        driver="local",
        labels={
            "com.docker.compose.project": apps.photos,
            "com.docker.compose.volume": "db",
            "com.docker.compose.version": "2.20.2",
            TEST_LABEL: token,
        },
    )
    created.volumes.append(db_volume)
    orphan = f"orphan-{token}"
    client.volumes.create(orphan, driver="local", labels={TEST_LABEL: token})
    created.volumes.append(orphan)

    host = PortalHost(
        root=root,
        token=token,
        apps=apps.all(),
        containers={app: [] for app in apps.all()},
        solo=("", "", ""),
        volumes=[db_volume, orphan],
        app_volumes={apps.notes: [], apps.photos: [db_volume], apps.wiki: []},
        orphan_volume=orphan,
        identity_id=identity_id(identity_keys()[0]),
        private_key_pem=identity_keys()[0],
        client=client,
    )
    # Written through the mountpoint (we are root): no helper container, no copy-up surprises.
    _fill_db_volume(host.volume_path(db_volume))
    _fill_orphan_volume(host.volume_path(orphan))

    def make(app: str, service: str) -> Container:
        container = client.containers.create(
            image,
            command=RUN_COMMAND,
            name=f"{app}-{service}-1",
            hostname=f"{app}-{service}",
            labels=_compose_labels(root, token, app, service),
            network_mode="none",
            mounts=_mounts(services[app][service]),
            detach=True,
        )
        created.containers.append(container.id)
        return container

    def record(app: str, container: Container, state: str) -> None:
        host.containers[app].append((container.name, container.id, state))

    notes_web = make(apps.notes, "web")
    notes_web.start()
    record(apps.notes, notes_web, "running")

    photos_web = make(apps.photos, "web")
    photos_web.start()
    record(apps.photos, photos_web, "running")
    photos_db = make(apps.photos, "db")
    photos_db.start()
    photos_db.pause()
    record(apps.photos, photos_db, "paused")

    wiki_web = make(apps.wiki, "web")
    wiki_web.start()
    wiki_web.stop(timeout=10)
    record(apps.wiki, wiki_web, "exited")
    wiki_worker = make(apps.wiki, "worker")
    record(apps.wiki, wiki_worker, "created")

    solo = client.containers.create(
        image,
        command=RUN_COMMAND,
        name=f"solo-{token}",
        labels={TEST_LABEL: token},
        network_mode="none",
        detach=True,
    )
    created.containers.append(solo.id)
    solo.start()
    host.solo = (solo.name, solo.id, "running")
    return host
