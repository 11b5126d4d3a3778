"""portal-backup: back up a Portal into one plain ZIP file."""

__version__ = "0.1.0"
