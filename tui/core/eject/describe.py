"""An eject's words, for both faces: what each app's folder gets, what is left out, and every
setting carried over that reaches the host (the dry run prints all of it)."""

from __future__ import annotations

import os

from tui.core.eject.plan import AppPlan

__all__ = ["describe_plan"]


def describe_plan(plan: AppPlan, out_dir: str) -> list[str]:
    folder = os.path.join(out_dir, plan.app)
    lines = [f"{plan.item_id} -> {folder}/"]
    for s in plan.services:
        lines.append(f"  service {s.name}: {s.image} (was {s.container}, {s.state_before})")
    for prefix, local in plan.trees:
        lines.append(f"  state: {prefix} -> ./{local}")
    for local in plan.empty_dirs:
        lines.append(f"  state: ./{local} (empty: not in the archive)")
    for r in plan.all_removed():
        lines.append(f"  REMOVED: {r}")
    access = plan.host_access()
    for a in access:
        lines.append(f"  HOST ACCESS: {a}")
    if not access:
        lines.append("  host access: none (no published port, no host networking)")
    return lines
