"""compose.yaml of an ejected app, written by hand so it can say what changed and why.

No `version:` key and no top-level `name:` (Debian's docker-compose 1.29 rejects the latter,
Compose v2 warns about the former); the project is named after the folder. Binds use the long
syntax, so no path can be misread at a colon, and are relative to the folder.
"""

from __future__ import annotations

from typing import Any

from tui.core.eject.plan import AppPlan, PortMap, ServicePlan
from tui.core.eject.yamltext import comment, scalar

__all__ = ["compose_text", "port_spec"]


def compose_text(plan: AppPlan, source: str) -> str:
    lines = comment(
        f"{plan.app}: ejected by portal-backup from {source}.\n"
        "Start it from this folder: docker compose up -d (or docker-compose up -d).\n"
        "What was changed from the Portal's definition is said below and in README.md."
    )
    for note in plan.removed:
        lines += comment(f"REMOVED: {note}")
    lines.append("services:")
    for svc in plan.services:
        lines += _service(svc)
    if not plan.services:
        lines[-1] = "services: {}"
    return "\n".join(lines) + "\n"


def port_spec(p: PortMap) -> str:
    """Compose's short port syntax: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]."""
    port, _, proto = p.container_port.partition("/")
    spec = port if p.published is None else f"{p.published}:{port}"
    if p.host_ip:
        ip = f"[{p.host_ip}]" if ":" in p.host_ip else p.host_ip
        spec = f"{ip}:{spec}" if p.published is not None else f"{ip}::{port}"
    return f"{spec}/{proto}" if proto else spec


def _service(svc: ServicePlan) -> list[str]:
    out = [f"  {scalar(svc.name)}:"]
    out += comment(f"was the container {svc.container} ({svc.state_before} at backup time)", 4)
    for note in svc.removed:
        out += comment(f"REMOVED: {note}", 4)
    for note in svc.changed:
        out += comment(f"CHANGED: {note}", 4)
    if svc.image_id:
        out += comment(f"image ID at backup time: {svc.image_id}", 4)
    out.append(f"    image: {scalar(svc.image)}")
    for key, value in (("entrypoint", svc.entrypoint), ("command", svc.command)):
        if value is not None and value != []:
            out.append(f"    {key}: {_flow(value)}")
    for key, text in (
        ("working_dir", svc.working_dir),
        ("user", svc.user),
        ("hostname", svc.hostname),
        ("restart", svc.restart),
        ("network_mode", svc.network_mode),
    ):
        if text:
            out.append(f"    {key}: {scalar(text)}")
    out += _sequence("environment", svc.env)
    if svc.labels:
        out.append("    labels:")
        out += [f"      {scalar(k)}: {scalar(v)}" for k, v in sorted(svc.labels.items())]
    if svc.ports:
        out.append("    ports:")
        for p in svc.ports:
            if p.recorded != p.published:
                out += comment(f"CHANGED: host port {p.recorded} was busy here", 6)
            out.append(f"      - {scalar(port_spec(p))}")
    out += _sequence("expose", svc.expose)
    if svc.mounts:
        out.append("    volumes:")
        for m in svc.mounts:
            if m.note:
                out += comment(m.note, 6)
            out += [
                "      - type: bind",
                f"        source: {scalar('./' + m.local)}",
                f"        target: {scalar(m.target)}",
            ]
            if m.read_only:
                out.append("        read_only: true")
    return out


def _sequence(key: str, values: list[str]) -> list[str]:
    return [f"    {key}:", *(f"      - {scalar(v)}" for v in values)] if values else []


def _flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(scalar(str(v)) for v in value) + "]"
    return scalar(str(value))
