"""--free-ports: published host ports that are busy on this machine get free ones instead."""

from __future__ import annotations

import contextlib
import socket

from tui.core.eject.plan import AppPlan

__all__ = ["choose_free_ports", "port_free"]


def port_free(port: int, proto: str = "tcp", host_ip: str = "") -> bool:
    """Whether binding `port` here would succeed now (it may be taken a moment later)."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as s:
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        except OSError:
            return False
    return True


def choose_free_ports(plans: list[AppPlan]) -> None:
    """Moves each busy (or already chosen) published port to the next free one above it."""
    taken: set[tuple[int, str]] = set()
    for plan in plans:
        for svc in plan.services:
            for p in svc.ports:
                if p.recorded is None:
                    continue
                proto = p.container_port.partition("/")[2] or "tcp"
                port = p.recorded
                while port < 65536 and (
                    (port, proto) in taken or not port_free(port, proto, p.host_ip)
                ):
                    port += 1
                if port >= 65536:
                    continue  # nothing free above it: keep the recorded one, Compose will say
                p.published = port
                taken.add((port, proto))
