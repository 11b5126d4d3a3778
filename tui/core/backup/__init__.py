"""Writing a backup: sources read from the host, SQLite snapshots, the run that emits events."""
