"""Errors that carry a sentence meant for the user."""


class PortalBackupError(Exception):
    """A failure the user can act on; str(err) is one clear sentence, shown without a traceback."""


class UsageError(PortalBackupError):
    """The command line asked for something that does not exist or does not fit (exit status 2)."""


class DockerUnavailable(PortalBackupError):
    """The Docker engine did not answer."""


class Cancelled(PortalBackupError):
    """The run was cancelled (by the user, or by SIGINT, SIGTERM or SIGHUP)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Docker SDK errors run to many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def error_sentence(exc: BaseException) -> str:
    """The one sentence both faces show for a failure: ours as they are, an OSError as its
    reason and file, anything else named as unexpected."""
    if isinstance(exc, PortalBackupError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"unexpected error: {type(exc).__name__}: {exc}"
