"""The trust model of restore (issue 9, defect 2): an archive is untrusted input.

A crafted, unsigned archive must not get a container recreated (host binds, the Docker socket,
host networking, privileges), must not write bind mounts outside the Portal root nor the
Portal's core files, and the dry run must name every refused setting. A real archive signed by
this Portal still recreates its containers; on another host it needs --trust-key.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import docker
import docker.errors
import portal_fixture as pf
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from restorekit import backup, restore
from zipfixtures import RawEntry, build_zip, manifest_record

from tui.core.archive.zipreader import ZipReader
from tui.core.crypto.signing import public_key_pem, sign_manifest
from tui.core.restore.plan import RestorePlan, load_plan
from tui.core.restore.policy import BIND_ROOTS_ENV, ContainerPolicy
from tui.ui.logic.restore_text import archive_line

DIR = stat.S_IFDIR | 0o755
OLD_ROOT = "/home/portal"  # the archive's Portal root, as a real backup records it


# --------------------------------------------------------------------------- crafted archives


def new_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def crafted(
    path: Path,
    entries: list[RawEntry],
    items: Sequence[Mapping[str, object]],
    *,
    key: str | None = None,
    volumes: Sequence[Mapping[str, object]] | None = None,
    tamper: bool = False,
) -> Path:
    """A portal-backup archive made by hand; signed with `key` (its public key in the
    manifest, as a real archive has it) or unsigned. `tamper`: the manifest is changed after
    it was signed."""
    portal = {"id": "ee" * 64, "name": "eeeeee", "root": OLD_ROOT}
    if key:
        portal["public_key"] = public_key_pem(key)
    manifest = json.dumps(
        {
            "format": 1,
            "tool": {"name": "portal-backup", "version": "0.1.0"},
            "created": "2026-11-29T12:00:00Z",
            "host": "evil",
            "portal": portal,
            "identity_included": False,
            "db_private_keys_removed": False,
            "items": [dict(i) for i in items],
            "volumes": [dict(v) for v in volumes or ()],
            "entries": [manifest_record(e) for e in entries],
            "skipped": [],
            "warnings": [],
        }
    ).encode()
    signature = sign_manifest(manifest, key) if key else None
    if tamper:
        manifest = manifest.replace(b'"host": "evil"', b'"host": "evi1"')
    meta = [RawEntry("portal-backup.json", manifest, method=8)]
    if signature:
        meta.append(RawEntry("portal-backup.json.sig", signature))
    path.write_bytes(build_zip([*entries, *meta]))
    return path


def key_file(path: Path, private_pem: str) -> Path:
    path.write_text(public_key_pem(private_pem))
    return path


def plan_of(archive: Path, root: Path, trust_keys: list[bytes] | None = None) -> RestorePlan:
    with open(archive, "rb") as f:
        return load_plan(
            ZipReader(f, name=str(archive)), str(root), None, sizes=False, trust_keys=trust_keys
        )


def hostile_container(name: str, image: str) -> dict[str, object]:
    return {
        "name": name,
        "service": "web",
        "image": image,
        "state_before": "running",
        "id": "ab" * 32,
        "config": {
            "image": image,
            "command": ["sh", "-c", "exit 0"],  # harmless if ever run
            "env": [],
            "labels": {},
            "user": "0",
            "restart_policy": {"Name": "always"},
            "network_mode": "host",
            "privileged": True,
            "cap_add": ["SYS_ADMIN"],
            "mounts": [
                {"type": "bind", "source": "/", "target": "/host", "read_only": False},
                {
                    "type": "bind",
                    "source": "/var/run/docker.sock",
                    "target": "/var/run/docker.sock",
                    "read_only": False,
                },
            ],
        },
    }


# --------------------------------------------------------------------------- defect 2 itself


@pytest.fixture
def evil_name(docker_client: docker.DockerClient, run_token: str) -> Iterator[str]:
    name = f"evil-web-{run_token}"
    yield name
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True)


def test_unsigned_hostile_archive_gets_no_container_and_no_host_path(
    docker_client: docker.DockerClient, test_image: str, evil_name: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"  # stands for /root and /var/spool: never the real ones
    outside.mkdir()
    ssh, cron = f"binds{outside}/root/.ssh/", f"binds{outside}/spool/cron/"
    entries = [
        RawEntry("user_data/app_data/evil/", mode=DIR),
        RawEntry("user_data/app_data/evil/state.txt", b"plain app data\n"),
        RawEntry(ssh, mode=DIR),
        RawEntry(ssh + "authorized_keys", b"ssh-ed25519 AAA\n"),
        RawEntry(cron, mode=DIR),
        RawEntry(cron + "root", b"* * * * * sh /x\n"),
    ]
    items = [
        {
            "id": "app/evil",
            "kind": "app",
            "label": "evil",
            "paths": ["user_data/app_data/evil/", ssh, cron],
            "containers": [hostile_container(evil_name, test_image)],
        }
    ]
    archive = crafted(tmp_path / "evil.zip", entries, items)
    root = tmp_path / "fresh" / "portal"  # a fresh host: an empty Portal root, no database
    root.mkdir(parents=True)
    # Even with the outside directory allowed for binds, the missing signature refuses them.
    env = {"PORTAL_ROOT": str(root), BIND_ROOTS_ENV: str(outside)}

    dry = restore(archive, "--all", "--dry-run", env=env)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "signature: unsigned: containers" in dry.stdout
    refusal = next(line for line in dry.stdout.splitlines() if f"container {evil_name}" in line)
    for setting in (
        "binds / (outside the Portal root)",
        "binds the Docker socket /var/run/docker.sock",
        "uses host networking",
        "runs privileged",
        "adds capabilities",
        "the archive is unsigned",
    ):
        assert setting in refusal, refusal
    assert f"create container {evil_name}" not in dry.stdout
    assert f"{outside}/root/.ssh not restored: bind mounts outside the Portal root" in dry.stdout
    assert list(root.iterdir()) == []

    proc = restore(archive, "--all", "--yes", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"NOT RESTORED app/evil: container {evil_name} not created: " in proc.stdout
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(evil_name)
    assert list(outside.iterdir()) == []  # nothing written outside the Portal root
    # The plain data inside the Portal root is restored all the same: the common case.
    assert (root / "user_data/app_data/evil/state.txt").read_text() == "plain app data\n"


def test_system_paths_are_refused_even_when_signed_allowed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    places = [
        "/root/x/.ssh",
        "/var/spool/cron/crontabs",
        "/var/lib/x",
        "/home/other/x",
        "/var/run",
        "/run/docker",
        "/etc/cron.d",
        "/",
    ]
    entries, items = [], []
    for n, place in enumerate(places):
        path = "binds" + place.rstrip("/") + "/"
        entries += [RawEntry(path, mode=DIR), RawEntry(path + "f", b"x")]
        items.append({"id": f"app/evil/{n}", "kind": "mount", "label": place, "paths": [path]})
    archive = crafted(tmp_path / "sys.zip", entries, items, key=key)
    monkeypatch.setenv(BIND_ROOTS_ENV, "/")  # the allow-list opened wide: system paths still not
    plan = plan_of(archive, tmp_path / "portal", [key.encode()])
    assert plan.trust.state == "key"
    sel = plan.select([i["id"] for i in items])  # type: ignore[misc]  # ids are str
    assert [t.dest for ts in sel.targets.values() for t in ts] == []
    notes = "\n".join(n for ns in sel.notes.values() for n in ns)
    for place in places:
        assert f"{place} is left alone: restoring over a system directory is refused" in notes


def test_outside_binds_need_trust_an_explicit_name_and_an_allowed_place(tmp_path: Path) -> None:
    key = new_key()
    out = tmp_path / "srv"
    out.mkdir()
    bind = f"binds{out}/app-data/"
    entries = [
        RawEntry("user_data/app_data/x/", mode=DIR),
        RawEntry("user_data/app_data/x/a.txt", b"inside\n"),
        RawEntry(bind, mode=DIR),
        RawEntry(bind + "b.txt", b"outside\n"),
    ]
    mount_id = f"app/x/{out}/app-data"
    items = [
        {"id": "app/x", "kind": "app", "label": "x", "paths": ["user_data/app_data/x/", bind]},
        {"id": mount_id, "kind": "mount", "label": "bind", "paths": [bind]},
    ]
    archive = crafted(tmp_path / "signed.zip", entries, items, key=key)
    trusted = key_file(tmp_path / "old-portal.pem", key)
    root = tmp_path / "portal"
    root.mkdir()
    env = {"PORTAL_ROOT": str(root), BIND_ROOTS_ENV: str(out)}

    # --all (and naming the app) restores the Portal data only; the dry run says how to get more.
    proc = restore(archive, "--all", "--yes", "--trust-key", str(trusted), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"restored only when its item is named on its own ({mount_id}" in proc.stdout
    assert (root / "user_data/app_data/x/a.txt").read_text() == "inside\n"
    assert list(out.iterdir()) == []

    # Named, but the signer is not trusted here: refused, and the sentence says how to trust it.
    proc = restore(archive, mount_id, "--yes", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "signed by a key this host does not trust" in proc.stdout
    assert "--trust-key FILE" in proc.stdout
    assert list(out.iterdir()) == []

    # Named, trusted, but not under an allowed directory (the default list): refused.
    proc = restore(
        archive, mount_id, "--yes", "--trust-key", str(trusted), env={"PORTAL_ROOT": str(root)}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "restored only under /srv, /opt, /mnt, /media, /data" in proc.stdout
    assert list(out.iterdir()) == []

    # All three: restored.
    proc = restore(archive, mount_id, "--yes", "--trust-key", str(trusted), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "app-data/b.txt").read_text() == "outside\n"


def test_core_files_need_a_trusted_signature(tmp_path: Path) -> None:
    entries = [
        RawEntry("core/", mode=DIR),
        RawEntry("core/portal_core_config.yml", b"evil: true\n"),
        RawEntry("user_data/shared/", mode=DIR),
        RawEntry("user_data/shared/ok.txt", b"fine\n"),
    ]
    items = [
        {
            "id": "core/config",
            "kind": "core",
            "label": "settings",
            "paths": ["core/portal_core_config.yml"],
        },
        {"id": "shared", "kind": "shared", "label": "Documents", "paths": ["user_data/shared/"]},
    ]
    root = tmp_path / "portal"
    (root / "core").mkdir(parents=True)
    (root / "core/portal_core_config.yml").write_text("mine: true\n")
    unsigned = crafted(tmp_path / "core.zip", entries, items)
    proc = restore(unsigned, "core/config", "shared", "--yes", env={"PORTAL_ROOT": str(root)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        "core/portal_core_config.yml not restored: the Portal's core files are restored "
        "only from an archive signed by this Portal" in proc.stdout
    )
    assert (root / "core/portal_core_config.yml").read_text() == "mine: true\n"
    assert (root / "user_data/shared/ok.txt").read_text() == "fine\n"

    key = new_key()
    signed = crafted(tmp_path / "core-signed.zip", entries, items, key=key)
    proc = restore(
        signed,
        "core/config",
        "--yes",
        "--trust-key",
        str(key_file(tmp_path / "k.pem", key)),
        env={"PORTAL_ROOT": str(root)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "core/portal_core_config.yml").read_text() == "evil: true\n"


def test_a_tampered_manifest_is_not_trusted_and_the_tui_says_whose_signature(
    tmp_path: Path,
) -> None:
    key = new_key()
    entries = [RawEntry("user_data/shared/", mode=DIR)]
    items = [
        {"id": "shared", "kind": "shared", "label": "Documents", "paths": ["user_data/shared/"]}
    ]
    good = crafted(tmp_path / "good.zip", entries, items, key=key)
    plan = plan_of(good, tmp_path / "portal", [key.encode()])
    assert plan.trust.state == "key" and plan.trust.fingerprint
    assert f"signed by a trusted key {plan.trust.fingerprint[:16]}" in archive_line(plan).plain
    assert "signed by an untrusted key" in archive_line(plan_of(good, tmp_path / "p")).plain
    # The same signature over other bytes: a key that signed it is no longer good enough.
    tampered = crafted(tmp_path / "tampered.zip", entries, items, key=key, tamper=True)
    bad = plan_of(tampered, tmp_path / "portal", [key.encode()])
    assert bad.trust.state == "invalid" and not bad.trust.trusted


def test_policy_follows_links_and_refuses_foreign_volumes(tmp_path: Path) -> None:
    root = tmp_path / "portal"
    (root / "user_data/app_data/x").mkdir(parents=True)
    (root / "user_data/app_data/x/escape").symlink_to("/")
    policy = ContainerPolicy(str(root), OLD_ROOT, frozenset({"x_db"}), ("ab" * 32,))
    cfg = {
        "mounts": [
            {"type": "bind", "source": f"{OLD_ROOT}/user_data/app_data/x/escape", "target": "/h"},
            {"type": "bind", "source": f"{OLD_ROOT}/core", "target": "/core"},
            {"type": "bind", "source": f"{OLD_ROOT}/user_data/app_data/x/ok", "target": "/ok"},
            {"type": "volume", "source": "x_db", "target": "/db"},
            {"type": "volume", "source": "someone_elses", "target": "/other"},
        ],
        "network_mode": "container:" + "cd" * 32,
        "pid_mode": "host",
        "devices": ["/dev/sda"],
    }
    why = policy.refusals(cfg)
    assert any("(a link to /)" in w and "outside the Portal root" in w for w in why), why
    assert any("the Portal's own files" in w for w in why), why
    assert "mounts the volume someone_elses, which the archive does not hold" in why
    assert any("shares the network of container" in w for w in why), why
    assert "shares the host's PID namespace" in why and "maps host devices" in why
    assert not any("/ok" in w or "x_db" in w for w in why), why
    assert policy.refusals({"mounts": cfg["mounts"][2:4], "network_mode": "none"}) == []


# --------------------------------------------------------------------------- real archives


def _remove(client: docker.DockerClient, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)


def test_signed_archive_recreates_here_and_elsewhere_needs_trust_key(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    host, client = portal_host, portal_host.client
    app = host.apps[0]  # notes: one running container, binds inside the Portal root
    names = [name for name, _, _ in host.containers[app]]
    archive = backup(host, tmp_path / "out", f"app/{app}")
    try:
        # The same Portal: signed by this Portal, recreated as before.
        _remove(client, names)
        proc = restore(archive, f"app/{app}", "--yes", env={"PORTAL_ROOT": str(host.root)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "signature: signed by this Portal" in proc.stdout
        assert all(client.containers.get(n).status == "running" for n in names)

        # Another Portal (a different identity): data yes, containers no.
        _remove(client, names)
        other = tmp_path / "other" / "portal"
        (other / "core").mkdir(parents=True)
        (other / pf.DB).write_text(
            json.dumps(
                {
                    "identities": {
                        "1": {"id": "cd" * 64, "is_default": True, "private_key": new_key()}
                    }
                }
            )
        )
        proc = restore(archive, f"app/{app}", "--yes", env={"PORTAL_ROOT": str(other)})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "signed by a key this host does not trust" in proc.stdout
        assert f"NOT RESTORED app/{app}: container {names[0]} not created" in proc.stdout
        for n in names:
            with pytest.raises(docker.errors.NotFound):
                client.containers.get(n)
        assert (other / pf.APP_DATA / app / "data").is_dir()

        # --trust-key with the old Portal's public key: recreated on the restored data.
        pem = key_file(tmp_path / "old.pem", host.private_key_pem)
        proc = restore(
            archive, f"app/{app}", "--yes", "--trust-key", str(pem), env={"PORTAL_ROOT": str(other)}
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "signature: signed by a trusted key" in proc.stdout
        mounts = client.api.inspect_container(names[0])["Mounts"]
        binds = [m["Source"] for m in mounts if m["Type"] == "bind"]
        assert binds and all(Path(s).is_relative_to(other) for s in binds), binds
    finally:
        _remove(client, names)


def test_an_unreadable_trust_key_is_a_sentence(tmp_path: Path) -> None:
    archive = crafted(
        tmp_path / "a.zip",
        [RawEntry("user_data/shared/", mode=DIR)],
        [{"id": "shared", "kind": "shared", "label": "D", "paths": ["user_data/shared/"]}],
    )
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n")
    proc = restore(
        archive,
        "shared",
        "--dry-run",
        "--trust-key",
        str(bad),
        env={"PORTAL_ROOT": str(tmp_path / "portal")},
    )
    assert proc.returncode == 1
    assert "is not a PEM key" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == ["a.zip", "not-a-key.pem"]
