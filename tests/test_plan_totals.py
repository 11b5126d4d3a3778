"""tui.core.plan.stored_sources: what a selection adds up to is what the plan stores."""

from __future__ import annotations

import pytest

from tui.core.model import Inventory, Source
from tui.core.plan import (
    DB_ID,
    IDENTITY_ID,
    build_plan,
    inside,
    resolve_selection,
    stored_sources,
)
from tui.ui.demo.portal import demo_inventory


def _keys(sources: list[Source]) -> set[tuple[str, str]]:
    return {(s.kind, s.location) for s in sources}


def _planned_trees(inv: Inventory, ids: list[str]) -> set[tuple[str, str]]:
    """The outermost trees the plan's steps walk (the database is read apart, not walked)."""
    plan = build_plan(inv, resolve_selection(inv, ids))
    walked = [s for step in plan.steps for s in step.sources]
    return _keys([s for s in walked if not any(o is not s and inside(s, o) for o in walked)])


@pytest.mark.parametrize(
    "ids", [["app/*", "shared", "volume/*"], ["app/nextcloud", "shared"], ["app/immich/*"]]
)
def test_stored_sources_are_the_trees_the_plan_walks(ids: list[str]) -> None:
    inv = demo_inventory()
    items = [i for i in resolve_selection(inv, ids) if i.id not in (DB_ID, IDENTITY_ID)]
    assert _keys(stored_sources(items)) == _planned_trees(inv, ids)


def test_the_identity_adds_nothing_beside_the_database() -> None:
    inv = demo_inventory()
    db, identity = inv.get(DB_ID), inv.get(IDENTITY_ID)
    assert db is not None and identity is not None
    assert stored_sources([db, identity]) == stored_sources([db])
    assert stored_sources([identity]) == identity.sources
