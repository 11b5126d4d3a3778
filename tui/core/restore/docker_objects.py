"""What a fresh host lacks, made from the manifest: volumes, networks and containers.

Containers get the archived name, image, command, entrypoint, environment, labels (so compose
still recognises them), mounts (bind sources moved from the archived Portal root to this one),
restart policy, network mode, published ports, working directory, user and hostname.

The plan already refused what the trust model and the container policy forbid; each creation
checks both again here, after the data has landed, because a restored tree may hold a symbolic
link that turns an innocent bind source into a path outside the Portal root.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tui.core.archive.manifest_model import VolumeRecord
from tui.core.errors import PortalBackupError, first_line
from tui.core.restore.plan import ContainerPlan, ItemPlan, RestorePlan, TargetPlan, container_policy
from tui.core.restore.policy import volume_refusal


class DockerObjects:
    """Docker objects a restore creates; `client` may be None when Docker is unreachable
    (items needing it are refused before they get here)."""

    def __init__(self, client: Any, plan: RestorePlan, log: Callable[[str, str], None]) -> None:
        self.client = client
        self.plan = plan
        self._log = log

    def helper_image(self, t: TargetPlan) -> str:
        candidates = [
            c.image
            for c in self.plan.host_containers
            if any(m.type == "volume" and m.source == t.dest for m in c.mounts)
        ]
        for item in self.plan.items:
            candidates += [c.config.get("image") or c.image for c in item.containers]
        for image in candidates:
            if not image:
                continue
            try:
                self.client.api.inspect_image(image)
            except Exception:
                continue
            return image
        raise PortalBackupError(
            f"cannot write volume {t.dest}: its files are not writable "
            "here and no local image can run a helper; run as root"
        )

    def create_volume(self, t: TargetPlan) -> None:
        rec = t.volume or VolumeRecord(t.dest)
        why = volume_refusal(rec, self.plan.trust.trusted, self.plan.portal_root)
        if why:
            raise PortalBackupError(f"volume {t.dest} not created: {why}")
        self.client.api.create_volume(
            name=t.dest,
            driver=rec.driver or "local",
            driver_opts=rec.options or None,
            labels=rec.labels or None,
        )
        self._log("info", f"created volume {t.dest}")

    def create_container(self, item: ItemPlan, cp: ContainerPlan) -> str:
        """A container like the archived one: same name, image, command, env, labels, mounts
        (bind sources moved to this Portal root), restart policy, network and user."""
        from docker.types import Mount

        api = self.client.api
        cfg = cp.config
        self._check_policy(cp)
        mounts = []
        for m in cfg.get("mounts") or []:
            source = m.get("source") or ""
            if m.get("type") == "bind":
                source = container_policy(self.plan).remap(source)
                if not os.path.exists(source):
                    os.makedirs(source, mode=0o755, exist_ok=True)
                    self._log(
                        "warning",
                        f"{cp.name}: created the empty bind source {source} "
                        "(the archive does not hold it)",
                    )
            mounts.append(
                Mount(
                    target=m.get("target") or "",
                    source=source,
                    type=m.get("type") or "bind",
                    read_only=bool(m.get("read_only")),
                )
            )
        self._check_policy(cp)  # again: the bind sources exist now, links and all
        policy = cfg.get("restart_policy") or {}
        network = self._network(cfg.get("network_mode"), item, cp)
        ports = {k: v for k, v in (cfg.get("ports") or {}).items() if v} or None
        exposed: dict[str, dict[str, Any]] | None = {
            p: {} for p in cfg.get("exposed_ports") or ports or ()
        } or None
        host_config = api.create_host_config(
            mounts=mounts,
            restart_policy=policy if policy.get("Name") else None,
            network_mode=network,
            port_bindings=ports,
        )
        networking = None
        if (
            network
            and network not in ("none", "host", "bridge", "default")
            and not network.startswith("container:")
            and cp.service
        ):
            networking = api.create_networking_config(
                {network: api.create_endpoint_config(aliases=[cp.service])}
            )
        hostname = cfg.get("hostname")
        if hostname and cp.old_id.startswith(hostname):
            hostname = None  # Docker's default (the old container ID): let it pick a new one
        image = cfg.get("image") or cp.image
        try:
            api.inspect_image(image)
        except Exception:
            image = cfg.get("image_id") or image
        try:
            created = api.create_container(
                image,
                command=cfg.get("command"),
                entrypoint=cfg.get("entrypoint"),
                environment=cfg.get("env") or None,
                labels=cfg.get("labels") or None,
                working_dir=cfg.get("working_dir") or None,
                user=cfg.get("user") or None,
                hostname=hostname,
                name=cp.name,
                host_config=host_config,
                networking_config=networking,
                ports=exposed,
            )  # a dict passes through as ExposedPorts unchanged
        except Exception as exc:
            raise PortalBackupError(f"could not create {cp.name}: {first_line(exc)}") from exc
        self._log("info", f"created container {cp.name}")
        return str(created["Id"])

    def _network(self, mode: str | None, item: ItemPlan, cp: ContainerPlan) -> str | None:
        if not mode or mode in ("none", "host", "bridge", "default"):
            return mode or None
        if mode.startswith("container:"):
            old = mode.split(":", 1)[1]
            for other in self.plan.items:
                for c in other.containers:
                    if c.old_id and c.old_id.startswith(old):
                        return f"container:{c.name}"
            return mode
        try:
            self.client.api.inspect_network(mode)
        except Exception:
            labels = {"com.docker.compose.project": item.label}
            if mode.startswith(item.label + "_"):
                labels["com.docker.compose.network"] = mode[len(item.label) + 1 :]
            try:
                self.client.api.create_network(mode, driver="bridge", labels=labels)
            except Exception as exc:
                raise PortalBackupError(
                    f"could not create network {mode} for {cp.name}: {first_line(exc)}"
                ) from exc
            self._log("info", f"created network {mode}")
        return mode

    def _check_policy(self, cp: ContainerPlan) -> None:
        why = container_policy(self.plan).refusals(cp.config)
        if not self.plan.trust.trusted:
            why.append(self.plan.trust.why_untrusted())
        if why:
            raise PortalBackupError(f"container {cp.name} not created: {', '.join(why)}")

    def bring_to_state(self, cid: str, cp: ContainerPlan) -> None:
        """Running and paused containers are started (and paused); the rest stay created,
        so nothing runs that was not running when the backup was made."""
        if cp.state_before not in ("running", "paused", "restarting"):
            return
        try:
            self.client.api.start(cid)
            if cp.state_before == "paused":
                self.client.api.pause(cid)
        except Exception as exc:
            raise PortalBackupError(f"could not start {cp.name}: {first_line(exc)}") from exc
        self._log(
            "info",
            f"{'started and paused' if cp.state_before == 'paused' else 'started'} {cp.name}",
        )
