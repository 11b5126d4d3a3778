"""`auto run|install|remove` and `status`: automatic backups."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parsers(
    sub: Any, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    return {}
