"""Eject: an app from a backup as a self-contained Docker Compose folder."""
