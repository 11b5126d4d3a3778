"""The exceptions raised by the age implementation (see ``age.py``)."""

from __future__ import annotations

from tui.core.errors import PortalBackupError


class AgeError(PortalBackupError):
    """Anything that goes wrong reading or writing an age file."""


class AgeHeaderError(AgeError):
    """The header is malformed (or is not an age header at all)."""


class AgeMACError(AgeError):
    """The header parsed and a key matched, but the header MAC is wrong: it was modified."""


class AgeNoMatchError(AgeError):
    """None of the given identities (keys, passphrases) opens any recipient stanza."""


class AgePayloadError(AgeError):
    """The payload failed authentication, is truncated or has trailing data."""


class AgeTruncatedError(AgePayloadError):
    """The payload ends before its final chunk."""


class AgeArmorError(AgeError):
    """The ASCII armor around the file is malformed."""


def _header_error(reason: str) -> AgeHeaderError:
    return AgeHeaderError(f"the encrypted file's header is invalid ({reason})")
