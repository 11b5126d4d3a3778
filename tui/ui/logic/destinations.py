"""The destination dialog's logic, without Textual: the rclone remotes configured for this tool,
adding one of the common kinds from a short form, testing a destination, and the rule that a
remote destination needs encryption.

Every function that runs rclone blocks: call it from a worker thread. Secrets never reach a
command line: `rclone config create` gets the plain options, and the secret ones are written to
the 0600 config file afterwards (obscured through `rclone obscure -`, which reads its stdin).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tui.core.errors import PortalBackupError, UsageError

RCLONE_SECONDS = 30  # local config commands; they never touch the network
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@-]*$")


@dataclass(frozen=True)
class Field:
    key: str
    label: str  # beside the field
    example: str  # the field's placeholder
    secret: bool = False  # typed as a password; never on a command line
    optional: bool = False


@dataclass(frozen=True)
class RemoteKind:
    id: str  # the form's id, also the default remote name
    title: str
    fields: tuple[Field, ...]


KINDS: tuple[RemoteKind, ...] = (
    RemoteKind(
        "s3",
        "S3-compatible",
        (
            Field("endpoint", "Endpoint", "https://s3.eu-central-1.wasabisys.com"),
            Field("bucket", "Bucket", "my-bucket, or my-bucket/portal"),
            Field("access_key", "Access key", "the access key ID"),
            Field("secret", "Secret key", "the secret access key", secret=True),
        ),
    ),
    RemoteKind(
        "b2",
        "Backblaze B2",
        (
            Field("account", "Key ID", "the application key ID (account)"),
            Field("key", "App key", "the application key", secret=True),
            Field("bucket", "Bucket", "my-bucket, or my-bucket/portal"),
        ),
    ),
    RemoteKind(
        "sftp",
        "SFTP",
        (
            Field("host", "Host", "backup.example.org, or host:port"),
            Field("user", "User", "the login name"),
            Field("password", "Password", "or a key file below", secret=True, optional=True),
            Field("key_file", "Key file", "/root/.ssh/id_ed25519 (optional)", optional=True),
            Field("path", "Folder", "backups/portal (optional)", optional=True),
        ),
    ),
    RemoteKind(
        "webdav",
        "WebDAV",
        (
            Field("url", "URL", "https://cloud.example.org/remote.php/dav/files/anna"),
            Field("user", "User", "the login name"),
            Field("password", "Password", "the password", secret=True),
            Field("path", "Folder", "portal-backups (optional)", optional=True),
        ),
    ),
)
KIND_BY_ID = {k.id: k for k in KINDS}


@dataclass(frozen=True)
class RemotePlan:
    """What `add_remote` writes: rclone's backend type, the plain options (on rclone's command
    line), the secret ones (written to the file; obscured where rclone wants that), and the
    path inside the remote the destination points at."""

    backend: str
    options: dict[str, str]
    secrets: dict[str, tuple[str, bool]]  # config key -> (value, obscure it)
    path: str


# --------------------------------------------------------------------------- rclone


def tool_config(explicit: Path | None = None) -> Path:
    """The rclone config this tool uses ($RCLONE_CONFIG, else the job's, else the default)."""
    from tui.core.dest.rclone import config_path

    return config_path(explicit)


def _rclone(
    args: list[str], config: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    from tui.core.dest.rclone import find_rclone

    env = {**os.environ, "RCLONE_CONFIG": str(config)}
    try:
        done = subprocess.run(
            [find_rclone(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=RCLONE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PortalBackupError(f"rclone {args[0]} did not run: {exc}") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        why = lines[-1].split(": ", 1)[-1] if lines else f"exit status {done.returncode}"
        raise PortalBackupError(f"rclone {args[0]} failed: {why}")
    return done


def list_remotes(config: Path | None = None) -> list[str]:
    """The remote names in the tool's rclone config (no colon), sorted; none when it has no
    config file yet."""
    path = tool_config(config)
    if not path.exists():
        return []
    done = _rclone(["listremotes"], path)
    return sorted(line.strip().rstrip(":") for line in done.stdout.splitlines() if line.strip())


def suggest_name(kind: str, taken: list[str]) -> str:
    """A free remote name for a new remote of this kind: "webdav", else "webdav2", ..."""
    if kind not in taken:
        return kind
    n = 2
    while f"{kind}{n}" in taken:
        n += 1
    return f"{kind}{n}"


def plan_remote(kind: str, values: Mapping[str, str]) -> RemotePlan:
    """The form's values as rclone options; UsageError (one sentence) when one is missing or
    wrong."""
    spec = KIND_BY_ID.get(kind)
    if spec is None:
        raise UsageError(f"unknown kind of remote {kind!r}")
    v = {f.key: values.get(f.key, "").strip() for f in spec.fields}
    v.update({f.key: values.get(f.key, "") for f in spec.fields if f.secret})  # kept as typed
    for f in spec.fields:
        if not f.optional and not v[f.key]:
            raise UsageError(f"{spec.title}: the {f.label.lower()} is missing")
    if kind == "s3":
        _need_url(v["endpoint"], "the endpoint")
        return RemotePlan(
            "s3",
            {
                "provider": "Other",
                "endpoint": v["endpoint"],
                "access_key_id": v["access_key"],
                "env_auth": "false",
            },
            {"secret_access_key": (v["secret"], False)},
            v["bucket"].strip("/"),
        )
    if kind == "b2":
        return RemotePlan(
            "b2", {"account": v["account"]}, {"key": (v["key"], False)}, v["bucket"].strip("/")
        )
    if kind == "sftp":
        if not v["password"] and not v["key_file"]:
            raise UsageError("SFTP: give a password or a private key file")
        host, _, port = v["host"].rpartition(":") if ":" in v["host"] else (v["host"], "", "")
        if port and not port.isdigit():
            raise UsageError("SFTP: the port after the host name must be a number")
        options = {"host": host, "user": v["user"]}
        if port:
            options["port"] = port
        if v["key_file"]:
            options["key_file"] = os.path.expanduser(v["key_file"])
        secrets = {"pass": (v["password"], True)} if v["password"] else {}
        return RemotePlan("sftp", options, secrets, v["path"])
    _need_url(v["url"], "the URL")
    return RemotePlan(
        "webdav",
        {"url": v["url"], "vendor": "other", "user": v["user"]},
        {"pass": (v["password"], True)},
        v["path"].strip("/"),
    )


def _need_url(url: str, what: str) -> None:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(f"{what} must start with http:// or https:// and name a server")


def add_remote(name: str, kind: str, values: Mapping[str, str], config: Path | None = None) -> str:
    """Adds a remote to the tool's rclone config (0600) and returns its DEST spec, "name:path".
    UsageError when the form is incomplete or the name is taken or malformed."""
    plan = plan_remote(kind, values)
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError(
            "a remote name is letters, digits and _ . + @ - (starting with a letter or digit)"
        )
    path = tool_config(config)
    if name in list_remotes(config):
        raise UsageError(f"a remote named {name} exists already: choose another name")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    options = [f"{k}={v}" for k, v in plan.options.items()]
    _rclone(["config", "create", name, plan.backend, *options, "--non-interactive"], path)
    try:
        secrets = {
            key: _obscure(value, path) if obscure else value
            for key, (value, obscure) in plan.secrets.items()
        }
        _set_options(path, name, secrets)
    except BaseException:
        _rclone(["config", "delete", name], path)  # no half-made remote left behind
        raise
    return f"{name}:{plan.path}"


def _obscure(secret: str, config: Path) -> str:
    return _rclone(["obscure", "-"], config, stdin=secret).stdout.strip()


def _set_options(path: Path, section: str, values: Mapping[str, str]) -> None:
    """Adds keys to one section of an rclone config file, atomically and 0600."""
    if not values:
        return
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys as written
    parser.read(path, encoding="utf-8")
    for key, value in values.items():
        parser.set(section, key, value)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: already 0600
            parser.write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- choosing


def remote_label(spec: str) -> str | None:
    """The safe label of a remote DEST spec; None for a local directory (or a malformed spec,
    which the dialog reports when it is chosen)."""
    from tui.core.dest.target import parse_dest

    try:
        dest = parse_dest(spec)
    except UsageError:
        return None
    return dest.label if dest.remote is not None else None


def destination_label(spec: str) -> str:
    """What the home screen shows: a remote's label (never its secrets), or the path."""
    return remote_label(spec) or spec


def remote_fetch_command(label: str, name: str) -> str:
    """How to download a backup from where it was uploaded (the done screen shows it)."""
    return f"portal-backup fetch {shlex.quote(label)} {shlex.quote(name)}"


NEEDS_ENCRYPTION = (
    "A backup to a remote must be encrypted: press e on the list to choose a passphrase or "
    "age keys, then choose the remote again."
)


def refusal(spec: str, encrypted: bool) -> str | None:
    """Why this destination cannot be chosen now, or None."""
    from tui.core.dest.target import parse_dest

    dest = parse_dest(spec)  # UsageError: one sentence
    if dest.remote is not None and not encrypted:
        return NEEDS_ENCRYPTION
    return None


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    text: str  # one sentence for the dialog


def probe_destination(spec: str, config: Path | None = None) -> ProbeOutcome:
    """Writes, reads back and deletes a small object (Store.probe); blocks."""
    from tui.core.dest.store import open_store
    from tui.core.dest.target import parse_dest
    from tui.core.humanfmt import human_bytes

    try:
        dest = parse_dest(spec)
        result = open_store(dest, rclone_config=config).probe()
    except PortalBackupError as exc:
        return ProbeOutcome(False, str(exc))
    if not result.ok:
        return ProbeOutcome(False, result.error or f"{dest.label} did not answer as expected")
    return ProbeOutcome(
        True,
        f"{dest.label} works: wrote, read back and deleted a test file "
        f"({human_bytes(result.bytes_per_second)}/s up).",
    )
