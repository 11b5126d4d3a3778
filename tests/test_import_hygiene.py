"""The engine (tui/core) must never import Textual: the CLI and tests use it without a UI; nor
read the test-only hooks from the environment: the faces pass them as explicit options.

The full layer rules (core <- cli, core <- ui, no cycles in core) are import-linter contracts in
pyproject.toml, checked by `lint-imports` in .ci/run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "tui" / "core"
HOOKS_READER = REPO / "tui" / "cli" / "test_hooks.py"
TEST_HOOK_PREFIX = "PORTAL_BACKUP_TEST_"

# Imports every module of tui.core in a fresh interpreter and reports what got loaded.
_PROBE = r"""
import importlib, json, pkgutil, sys
import tui.core

failed = {}
names = ["tui.core"]
def onerror(name):
    failed[name] = repr(sys.exc_info()[1])
for info in pkgutil.walk_packages(tui.core.__path__, "tui.core.", onerror=onerror):
    names.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = repr(exc)
textual = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(json.dumps({"modules": names, "failed": failed, "textual": textual,
                  "file": tui.core.__file__}))
"""

_TEXTUAL_IMPORT = re.compile(r"^[ \t]*(?:import|from)\s+textual\b", re.MULTILINE)


def _run(code: str) -> dict[str, Any]:
    # A fresh interpreter: the test process itself may well have imported Textual already.
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_modules_do_not_load_textual() -> None:
    result = _run(_PROBE)
    assert Path(str(result["file"])).resolve().parent == CORE, "imported a different tui package"
    assert result["failed"] == {}, f"tui.core modules failed to import: {result['failed']}"
    assert "tui.core.model" in result["modules"]
    if result["textual"]:
        # Name the culprits: import each module alone and see which one pulls Textual in.
        culprits = [
            name
            for name in result["modules"]
            if _run(
                f"import importlib, json, sys; importlib.import_module({name!r}); "
                "print(json.dumps({'textual': 'textual' in sys.modules}))"
            )["textual"]
        ]
        raise AssertionError(f"importing tui.core loads Textual; via {culprits}")


def test_core_sources_do_not_import_textual() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in sorted(CORE.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for match in _TEXTUAL_IMPORT.finditer(text)
    ]
    assert offenders == [], f"tui/core imports textual: {offenders}"


def test_core_never_reads_the_test_hooks() -> None:
    """No module under tui/core names a PORTAL_BACKUP_TEST_* variable, so none can read one
    from os.environ (or getenv, or a copy of the environment)."""
    offenders = [
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in sorted(CORE.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for match in re.finditer(TEST_HOOK_PREFIX, text)
    ]
    assert offenders == [], f"tui/core reads test hooks from the environment: {offenders}"


def test_the_test_hooks_have_one_reader() -> None:
    """Only tui/cli/test_hooks.py names the variables; everything else gets its options."""
    readers = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "tui").rglob("*.py")
        if TEST_HOOK_PREFIX in path.read_text(encoding="utf-8")
    )
    assert readers == [str(HOOKS_READER.relative_to(REPO))]
