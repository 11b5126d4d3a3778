"""The dry run describes what the restore does: a symlink at a destination is replaced, not
followed, so the dry run must not list (or read) what the link points at."""

from __future__ import annotations

from pathlib import Path

from tui.core.archive.manifest_model import ManifestEntry
from tui.core.model import Size
from tui.core.restore.diff import diff_target
from tui.core.restore.plan import TargetPlan


def test_a_symlink_at_the_destination_is_shown_as_replaced(tmp_path: Path) -> None:
    outside = tmp_path / "etc-standin"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    app = tmp_path / "portal" / "user_data" / "app_data" / "x"
    app.mkdir(parents=True)
    (app / "config").symlink_to(outside)
    entries = [
        ManifestEntry("user_data/app_data/x/config/", "dir", 0, 0o755, 0, 0, 0),
        ManifestEntry("user_data/app_data/x/config/a.ini", "file", 3, 0o644, 0, 0, 0, "0" * 64),
    ]
    target = TargetPlan(
        archive_path="user_data/app_data/x/config/",
        kind="path",
        dest=str(app / "config"),
        is_dir=True,
        exists_now=True,
        size_archive=Size(3, 1),
    )
    diff = diff_target(target, entries)
    by_path = {c.path: c for c in diff.changes}
    assert by_path[""].kind == "change" and "symlink becomes a dir" in by_path[""].detail
    assert by_path["a.ini"].kind == "add"
    assert "passwd" not in by_path  # the link's target is neither read nor removed
