"""The engine: inventory, plan, quiesce, archive, manifest, backup, restore.

Nothing in this package imports Textual (tests/test_import_hygiene.py enforces it), so the CLI,
the TUI and the tests all drive the same plain-Python code.
"""
