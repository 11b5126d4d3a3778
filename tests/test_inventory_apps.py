"""What counts as an app (issue 11 item 12): a container with nothing to back up (no mounts, no
app_data folder) is no app, so it is neither listed nor stopped. Real Docker, the real command."""

from __future__ import annotations

from pathlib import Path

import portal_fixture as pf
from clirun import json_lines, run


def test_a_container_without_mounts_is_neither_listed_nor_stopped(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    env = {"PORTAL_ROOT": str(portal_host.root)}
    solo_name, solo_id, _ = portal_host.solo
    api = portal_host.client.api
    started = api.inspect_container(solo_id)["State"]["StartedAt"]

    listed = run("list", "--json", env=env, check=True)
    ids = {row["id"] for row in json_lines(listed.stdout)}
    assert {f"app/{a}" for a in portal_host.apps} <= ids  # the real apps still are
    assert not [i for i in ids if solo_name in i]

    # Every app of this test by a glob that would take the plain container too if it were an
    # app. (Not --all: that would stop the containers of tests running beside this one.)
    out = tmp_path / "out"
    out.mkdir()
    made = run(
        "create",
        f"app/*{portal_host.token}*",
        "-o",
        str(out),
        "--progress",
        "json",
        env=env,
        check=True,
    )
    assert solo_name not in made.stdout + made.stderr
    state = api.inspect_container(solo_id)["State"]
    assert state["Status"] == "running"
    assert state["StartedAt"] == started  # never stopped and started again
    assert portal_host.container_states() == portal_host.expected_states()
