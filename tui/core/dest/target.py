"""What a DEST on the command line or in the job config means: a local directory, an rclone
remote path `name:path`, or an rclone connection string `:backend,key=value,...:path`.

A connection string's keys may be secrets (`pass=`, `secret_access_key=`): they are moved out of
the spec into environment variables for the rclone child only (RCLONE_<BACKEND>_<KEY> for
`:backend,...`, RCLONE_CONFIG_<NAME>_<KEY> for `name,...:`), so no command line we run and no
label we print or record holds them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.errors import UsageError

# rclone's remote name rules: letters, digits, "_", "-", ".", "+", "@" and space, not starting
# with "-" or a space nor ending with a space. A name with a "/" before the ":" is a path.
_NAME = r"[\w.+@][\w.+@ -]*(?<! )"
_REMOTE = re.compile(rf"^(?P<name>{_NAME})(?P<rest>[,:].*)$", re.DOTALL)
_ON_THE_FLY = re.compile(r"^:(?P<backend>[A-Za-z0-9_]+)(?P<rest>[,:].*)$", re.DOTALL)
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Keys whose values are safe to show in a label; every other value is hidden.
_SHOWN_KEYS = frozenset(
    {"url", "endpoint", "host", "port", "user", "provider", "region", "vendor", "env_auth"}
)
HIDDEN = "***"


@dataclass(frozen=True)
class Dest:
    spec: str  # as the user wrote it (may hold secrets: never print it)
    local: Path | None  # a local directory (absolute; must exist at use time)
    remote: str | None  # what rclone gets on its argv (no secrets)
    env: dict[str, str] = field(default_factory=dict)  # the connection string's keys
    label: str = ""  # safe to print and record


def parse_dest(spec: str) -> Dest:
    """Understands a DEST; UsageError (one sentence) for a malformed one."""
    if not spec or not spec.strip():
        raise UsageError("the destination is empty: give a directory, remote:path or :backend:path")
    if spec.startswith(":"):
        m = _ON_THE_FLY.match(spec)
        parsed = _parse_params(m["rest"]) if m else None
        if m is None or parsed is None:
            raise UsageError(
                "a connection string destination looks like :backend,key=value:path "
                "(e.g. :s3,provider=AWS:bucket/dir); this one has no backend name or no "
                "closing ':' (quote values that hold one: url='http://host:8080')"
            )
        backend = m["backend"]
        params, path = parsed
        env = {f"RCLONE_{_env_part(backend)}_{_env_part(k)}": v for k, v in params.items()}
        return _remote_dest(spec, f":{backend}", params, path, env)
    m = _REMOTE.match(spec)
    parsed = _parse_params(m["rest"]) if m and not _looks_like_path(spec, m["name"]) else None
    if m is not None and parsed is not None:
        name = m["name"]
        params, path = parsed
        env = {f"RCLONE_CONFIG_{_env_part(name)}_{_env_part(k)}": v for k, v in params.items()}
        return _remote_dest(spec, name, params, path, env)
    local = Path(os.path.abspath(os.path.expanduser(spec)))
    return Dest(spec=spec, local=local, remote=None, env={}, label=str(local))


def _looks_like_path(spec: str, name: str) -> bool:
    # "./a:b" or "~/x:y" never match the name rule; a lone drive-like "." or ".." is a path too.
    return name in (".", "..") or spec.startswith(("./", "../", "~"))


def _remote_dest(
    spec: str, name: str, params: dict[str, str], path: str, env: dict[str, str]
) -> Dest:
    shown = ",".join(f"{k}={v if k.lower() in _SHOWN_KEYS else HIDDEN}" for k, v in params.items())
    label = f"{name}{',' + shown if shown else ''}:{path}"
    return Dest(spec=spec, local=None, remote=f"{name}:{path}", env=env, label=label)


def _env_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def _parse_params(text: str) -> tuple[dict[str, str], str] | None:
    """`,k=v,k2='a:b',flag:path` -> ({"k": "v", "k2": "a:b", "flag": "true"}, "path"), or
    None without the closing ':'. rclone's quoting: single or double quotes, a doubled quote
    inside stands for one; a value holding ',' or ':' must be quoted."""
    params: dict[str, str] = {}
    rest = text
    while rest.startswith(","):
        rest = rest[1:]
        end = _first_of(rest, "=,:")
        key = rest[:end]
        if not _KEY.match(key):
            raise UsageError(
                "a connection string's options look like key=value separated by commas; "
                "one key is empty or has characters other than letters, digits, '_' and '-'"
            )
        rest = rest[end:]
        if rest.startswith("="):
            params[key], rest = _read_value(rest[1:])
        else:
            params[key] = "true"
    if not rest.startswith(":"):
        return None
    return params, rest[1:]


def _first_of(text: str, chars: str) -> int:
    return next((i for i, ch in enumerate(text) if ch in chars), len(text))


def _read_value(text: str) -> tuple[str, str]:
    if not text or text[0] not in "'\"":
        end = _first_of(text, ",:")
        return text[:end], text[end:]
    quote = text[0]
    out: list[str] = []
    i = 1
    while i < len(text):
        if text[i] == quote:
            if text[i + 1 : i + 2] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        out.append(text[i])
        i += 1
    raise UsageError("a connection string has a quoted value without its closing quote")
