"""README.md of an ejected app: how to start it, which port to open, what changed."""

from __future__ import annotations

from tui import __version__
from tui.core.eject.plan import AppPlan

__all__ = ["move_commands", "readme_text"]


def move_commands(app: str, parent: str) -> list[str]:
    """Copying the folder to another machine and starting it there, owners kept."""
    return [
        f"sudo tar -C {parent} -czpf {app}.tar.gz --numeric-owner {app}",
        f"scp {app}.tar.gz OTHER-MACHINE:",
        f"ssh -t OTHER-MACHINE 'sudo tar -xzpf {app}.tar.gz --numeric-owner "
        f"&& cd {app} && sudo docker compose up -d'",
    ]


def readme_text(plan: AppPlan, source: str, created: str | None) -> str:
    app = plan.app
    images = sorted({s.image for s in plan.services})
    out = [
        f"# {app}, taken out of a Portal backup",
        "",
        f"Written by portal-backup {__version__} from `{source}` (backed up {created or '?'}).",
        "This folder is self-contained: `compose.yaml` runs the app with plain Docker Compose,",
        "and its state is in the folders beside it. Nothing here refers to the Portal.",
        "",
        "## Start it",
        "",
        "```",
        f"cd {app}",
        "sudo docker compose up -d      # or, with Debian's package: sudo docker-compose up -d",
        "sudo docker compose ps         # is it running?",
        "sudo docker compose logs -f    # what it says",
        "```",
        "",
        "The images it needs, as the backup recorded them: "
        + (", ".join(f"`{i}`" for i in images) or "none")
        + ".",
        "Compose pulls them when they are public; copy a private or local image by hand",
        "(`docker save IMAGE | ssh OTHER-MACHINE docker load`).",
        "",
        "## Open it",
        "",
    ]
    ports = [(s.name, p) for s in plan.services for p in s.ports]
    if ports:
        for name, p in ports:
            where = p.host_ip or "localhost"
            if p.published is None:
                out.append(
                    f"- service `{name}`: container port {p.container_port} on a port Docker "
                    f"picks: `docker compose port {name} {p.container_port.split('/')[0]}`"
                )
            else:
                out.append(
                    f"- service `{name}`: http://{where}:{p.published}/ "
                    f"(container port {p.container_port})"
                )
    else:
        exposed = [(s.name, e) for s in plan.services for e in s.expose]
        hint = ", ".join(f"`{n}` {e}" for n, e in exposed) or "see the app's documentation"
        out += [
            "No port is published: on the Portal its reverse proxy reached the app. To open it,",
            'add `ports: ["8080:PORT"]` to the service in compose.yaml, where PORT is the port',
            f"the app listens on ({hint}), then run `docker compose up -d` again.",
        ]
    out += ["", "## Where its state is", ""]
    out.append("| folder here | mounted in | at | |")
    out.append("| --- | --- | --- | --- |")
    for s in plan.services:
        for m in s.mounts:
            flags = ", ".join(x for x in ("read-only" if m.read_only else "", m.note or "") if x)
            out.append(f"| `./{m.local}` | {s.name} | `{m.target}` | {flags} |")
    out += [
        "",
        "Files keep the owners, modes and times of the backup when the eject ran as root;",
        "copy the folder with tools that keep them (`tar -p --numeric-owner`,",
        "`rsync -aH --numeric-ids`, `cp -a`) or the app may not be allowed to read its data.",
        "",
        "## What changed from the Portal's definition",
        "",
    ]
    changes = [f"- removed: {r}" for r in plan.all_removed()]
    changes += [f"- service {s.name}: {c}" for s in plan.services for c in s.changed]
    out += changes or ["- nothing"]
    access = plan.host_access()
    out += ["", "## What reaches this machine", ""]
    out += [f"- {a}" for a in access] or ["- nothing: no published port, no host networking"]
    out += [
        "",
        "Environment values (passwords, URLs with the Portal's domain) are as the Portal set",
        "them; an app that expected the Portal's shared services (its Postgres, its domain)",
        "needs those values changed in compose.yaml.",
        "",
        "## Move it to another machine",
        "",
        "```",
        *move_commands(app, ".."),
        "```",
        "",
        "## Stop it",
        "",
        "`sudo docker compose down` stops and removes the containers; the state stays in the",
        "folders here.",
    ]
    return "\n".join(out) + "\n"
