"""Encryption of archives: age v1 (passphrase and X25519 recipients), see ``age.py``."""
