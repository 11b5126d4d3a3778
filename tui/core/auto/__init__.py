"""Automatic backups: the job config, history, status, schedules and notifications."""
