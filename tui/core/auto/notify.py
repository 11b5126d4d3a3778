"""Notifications through apprise (ntfy, e-mail, Gotify, Matrix, Telegram, webhooks, ...).

A notification that cannot be delivered is reported through `log` (one sentence, the URLs'
secrets left out) and never fails the run that sent it. apprise is imported only when a
notification is really sent: the login banner must not pay for it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tui.core.auto.config import JobConfig
    from tui.core.auto.status import Status

EVENTS = ("failure", "overdue", "success")
OVERDUE_MEMORY = "overdue-notified.json"  # the UTC day the overdue notification last went out

LogFn = Callable[[str], None]


def wants(config: JobConfig, event: str) -> bool:
    return bool(config.notify_urls) and event in config.notify_on


def notify(
    config: JobConfig, event: str, title: str, body: str, *, log: LogFn | None = None
) -> bool:
    """Sends `event` to every configured URL when the config asks for that event. True when
    every URL took it; False when the event is not wanted or a URL failed (said via `log`)."""
    if not wants(config, event):
        return False
    return send(config.notify_urls, title, body, event=event, log=log)


def send(
    urls: Iterable[str], title: str, body: str, *, event: str = "test", log: LogFn | None = None
) -> bool:
    """Sends to these URLs (also the TUI's "send a test"); never raises."""
    urls = list(urls)
    try:
        import apprise
    except ImportError:  # a broken installation: the backup itself must still run
        _say(log, f"the {event} notification was not sent: apprise is not installed")
        return False
    kind = {"failure": apprise.NotifyType.FAILURE, "overdue": apprise.NotifyType.WARNING}.get(
        event, apprise.NotifyType.SUCCESS if event == "success" else apprise.NotifyType.INFO
    )
    sender = apprise.Apprise()
    bad = [u for u in urls if not sender.add(u)]
    problems = [f"{_scheme(u)} URL not understood by apprise" for u in bad]
    ok = not bad
    if len(sender) > 0:
        try:
            capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]  # apprise's own API is untyped
            with capture as captured:
                delivered = bool(sender.notify(body=body, title=title, notify_type=kind))
            if not delivered:
                ok = False
                problems.append(_last_line(captured.getvalue()) or "the service refused it")
        except Exception as exc:  # a plugin's bug must not fail the backup either
            ok = False
            problems.append(f"{type(exc).__name__}: {exc}")
    if not ok:
        reason = _redacted("; ".join(problems), urls)
        _say(log, f"the {event} notification could not be delivered ({reason})")
    return ok


def notify_overdue(
    config: JobConfig, status: Status, *, log: LogFn | None = None, now: float | None = None
) -> bool:
    """The daily check: sends the overdue notification when a destination is overdue, at most
    once per UTC day (remembered in the state directory). True when it was sent now."""
    from tui.core.state import read_json, state_dir, write_json_atomic

    if not status.overdue or not wants(config, "overdue"):
        return False
    now = time.time() if now is None else now
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    memory = state_dir() / OVERDUE_MEMORY
    seen = read_json(memory)
    if isinstance(seen, dict) and seen.get("day") == day:
        return False
    late = [d.name for d in status.destinations if d.overdue]
    title = f"portal-backup on {host_name()}: backups are overdue ({', '.join(late)})"
    body = "\n".join(status.attention) or title
    sent = notify(config, "overdue", title, body, log=log)
    if sent:
        write_json_atomic(memory, {"day": day, "time": now})
    return sent


def host_name() -> str:
    return socket.gethostname().split(".")[0]


def _say(log: LogFn | None, message: str) -> None:
    if log is not None:
        log(message)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://" if "://" in url else "a"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else ""


def _redacted(text: str, urls: Iterable[str]) -> str:
    """apprise's words without any credential, token or path piece of the URLs."""
    for url in urls:
        for piece in _secret_pieces(url):
            text = text.replace(piece, "***")
    return text


def _secret_pieces(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        pieces = [parts.username or "", parts.password or ""]
        pieces += parts.path.split("/")
        pieces += [v for _, v in parse_qsl(parts.query)]
    except ValueError:
        return [url]
    # Longest first, so a token is hidden whole before any shorter piece inside it.
    return sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True)
