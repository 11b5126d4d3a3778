"""Widgets of the terminal UI (one per module, styles beside them in .tcss files)."""
