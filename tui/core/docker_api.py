"""Reaching the Docker engine the standard way (DOCKER_HOST or the default socket)."""

from __future__ import annotations

import os
from typing import Any

from tui.core.errors import DockerUnavailable


def connect(timeout: float = 10.0) -> Any:
    """A docker.DockerClient that answered a ping, or DockerUnavailable with the reason."""
    sock = _unix_socket(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    if sock is not None and not os.path.exists(sock):
        # No socket, no engine: say so without importing the SDK (~0.1 s of a run's start).
        raise DockerUnavailable(f"Docker is not reachable ({_reason(FileNotFoundError(sock))})")
    try:
        import docker  # deferred: `portal-backup --help` should not pay for it
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover
        raise DockerUnavailable("the Docker SDK for Python is not installed") from exc
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        raise DockerUnavailable(f"Docker is not reachable ({_reason(exc)})") from exc
    except Exception as exc:  # requests/urllib3 errors surface as plain exceptions
        raise DockerUnavailable(f"Docker is not reachable ({_reason(exc)})") from exc
    return client


def _unix_socket(host: str) -> str | None:
    """The socket path of a unix:// DOCKER_HOST, None for any other kind."""
    return host[len("unix://") :] if host.startswith("unix://") else None


def _reason(exc: BaseException) -> str:
    text = "No such file" if isinstance(exc, FileNotFoundError) else str(exc)
    if "Permission denied" in text:
        return "permission denied on the Docker socket; run as root or join the docker group"
    if "No such file" in text or "FileNotFoundError" in text:
        return "no Docker socket; is the Docker engine running? set DOCKER_HOST if it is elsewhere"
    if "Connection refused" in text:
        return "connection refused; is the Docker engine running?"
    return text.splitlines()[0][:200] if text else type(exc).__name__
