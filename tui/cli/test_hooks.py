"""The test-only hooks (fault injection, holds, kill points), read from the environment here
and nowhere else.

Tests set these variables on a `portal-backup` child process; the command line reads them once
and hands them to the engine as explicit options (BackupOptions, RestoreOptions,
tui.core.checkpoint.configure), and to the Textual app it launches. In normal runs none is set
and every hook is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.core import checkpoint

__all__ = [
    "FAIL_AFTER_SWAP_ENV",
    "FAIL_ITEM_ENV",
    "HOLD_FILE_ENV",
    "HOLD_ITEM_ENV",
    "KILL_AT_ENV",
    "STEPS_ENV",
    "TestHooks",
    "read_test_hooks",
]

STEPS_ENV = "PORTAL_BACKUP_TEST_STEPS"  # append every checkpoint reached to this file
KILL_AT_ENV = "PORTAL_BACKUP_TEST_KILL_AT"  # SIGKILL self at checkpoint NAME or NAME#N
# While HOLD_FILE exists, the run of HOLD_ITEM waits (a backup after stopping its containers,
# a restore just before its swap), so a test can act or kill it at that exact point.
HOLD_FILE_ENV = "PORTAL_BACKUP_TEST_HOLD_FILE"
HOLD_ITEM_ENV = "PORTAL_BACKUP_TEST_HOLD_ITEM"
FAIL_ITEM_ENV = "PORTAL_BACKUP_TEST_FAIL_ITEM"  # a backup fails after reading this item
FAIL_AFTER_SWAP_ENV = "PORTAL_BACKUP_TEST_FAIL_AFTER_SWAP"  # a restore fails after this swap


@dataclass(frozen=True)
class TestHooks:
    __test__ = False  # not a pytest test class, despite the name

    steps_file: str | None = None
    kill_at: str | None = None
    hold_file: str | None = None
    hold_item: str | None = None
    fail_item: str | None = None
    fail_after_swap: str | None = None

    def backup_options(self) -> dict[str, Any]:
        """The BackupOptions fields of the hooks that are set."""
        return _set(hold_file=self.hold_file, hold_item=self.hold_item, fail_item=self.fail_item)

    def restore_options(self) -> dict[str, Any]:
        """The RestoreOptions fields of the hooks that are set."""
        return _set(
            hold_file=self.hold_file,
            hold_item=self.hold_item,
            fail_after_swap=self.fail_after_swap,
        )

    def configure_checkpoints(self) -> None:
        """Arms this process's kill points and step log (off when neither is set)."""
        checkpoint.configure(self.steps_file, self.kill_at)


def read_test_hooks(environ: Mapping[str, str] | None = None) -> TestHooks:
    env = os.environ if environ is None else environ
    return TestHooks(
        steps_file=env.get(STEPS_ENV) or None,
        kill_at=env.get(KILL_AT_ENV) or None,
        hold_file=env.get(HOLD_FILE_ENV) or None,
        hold_item=env.get(HOLD_ITEM_ENV) or None,
        fail_item=env.get(FAIL_ITEM_ENV) or None,
        fail_after_swap=env.get(FAIL_AFTER_SWAP_ENV) or None,
    )


def _set(**fields: str | None) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v}
