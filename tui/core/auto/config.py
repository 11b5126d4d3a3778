"""The automatic backup job: /etc/portal-backup/config.toml (GUIDE 2b).

`load_config` reads and checks it (every mistake is one sentence naming the key and its line);
`ConfigEditor` changes values in place so the comments and layout a person wrote stay as they
were, and writes the file atomically with mode 0600 (it names key files and URLs with tokens).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT, Comment, InlineTable, Table, Whitespace

from tui.core.auto.calendar import check_calendar, longest_gap
from tui.core.auto.files import write_atomic
from tui.core.errors import PortalBackupError, UsageError

if TYPE_CHECKING:
    from tui.core.dest.retention import KeepPolicy

CONFIG_ENV = "PORTAL_BACKUP_CONFIG"
DEFAULT_SCHEDULE = "*-*-* 03:00:00"
DEFAULT_RANDOMIZED_DELAY = "1h"
DEFAULT_OVERDUE_AFTER = "36h"
DEFAULT_FULL_EVERY = "7d"  # differential backups (issue 14): a new full at least this often
DEFAULT_DIFFERENTIAL_MAX = 0.5  # ...or when a differential would exceed this share of a full
NOTIFY_EVENTS = ("failure", "overdue", "success")
DEFAULT_NOTIFY_ON = frozenset({"failure", "overdue"})
QUIESCE_MODES = ("stop", "pause", "none")
IDENTITY_KEY = "identity_saved_off_host"
KEEP_KEYS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")

_TOP_KEYS = (
    "items",
    "exclude",
    "quiesce",
    "recipients",
    "recipients_file",
    "passphrase_file",
    "schedule",
    "randomized_delay",
    "overdue_after",
    "rclone_config",
    "full_every",
    "differential_max",
    IDENTITY_KEY,
    "destinations",
    "notify",
)
_DEST_KEYS = ("name", "target", "keep", "verify")
_NOTIFY_KEYS = ("urls", "on")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

_NEW_FILE = """\
# portal-backup's automatic backups (docs/automatic-backups.md explains every key).
# Written by the tool; your comments and layout are kept when it changes a value.

"""


class ConfigError(PortalBackupError):
    """The job config is missing or wrong; the message names the file, line and key."""


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    target: str  # a Dest spec (may hold secrets: never print it; parse_dest(...).label is safe)
    keep: KeepPolicy
    verify: bool = True  # full read-back after each upload


@dataclass(frozen=True)
class JobConfig:
    path: Path
    items: list[str] = field(default_factory=lambda: ["all"])
    exclude: list[str] = field(default_factory=list)
    quiesce: str = "stop"
    recipients: list[str] = field(default_factory=list)
    recipients_file: Path | None = None
    passphrase_file: Path | None = None
    schedule: str = DEFAULT_SCHEDULE
    randomized_delay: str = DEFAULT_RANDOMIZED_DELAY
    overdue_after: float = 36 * 3600.0  # seconds
    rclone_config: Path | None = None
    destinations: list[DestinationConfig] = field(default_factory=list)
    notify_urls: list[str] = field(default_factory=list)
    notify_on: frozenset[str] = DEFAULT_NOTIFY_ON
    identity_saved: bool = False  # the user confirmed the age identity is saved off this host
    full_every: float = 7 * 86400.0  # seconds; 0: every run is a full backup
    differential_max: float = DEFAULT_DIFFERENTIAL_MAX  # share of the last full's bytes

    @property
    def encrypted(self) -> bool:
        return bool(self.recipients or self.recipients_file or self.passphrase_file)


def config_path() -> Path:
    """$PORTAL_BACKUP_CONFIG, else /etc/portal-backup/config.toml for root, else XDG config."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/etc/portal-backup/config.toml")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "portal-backup" / "config.toml"


def config_exists(path: Path | None = None) -> bool:
    return (path or config_path()).is_file()


def parse_duration(text: str) -> float:
    """Seconds in "36h", "1h30m", "2d", "90s", "45min" or a bare number of seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        return float(cleaned)
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(cleaned):
        unit = _UNITS.get(match.group(2))
        if match.start() != position or unit is None:
            break
        total += float(match.group(1)) * unit
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise ValueError(f'"{text}" is not a duration such as "36h", "1h30m" or "2d"')
    return total


def check_private(path: Path) -> None:
    """Refuses a config that others can read or write, or that another user owns."""
    st = path.stat()
    uid = os.geteuid()
    if st.st_uid != uid:
        raise ConfigError(
            f"{path} belongs to uid {st.st_uid}, not to this user (uid {uid}); fix it with "
            f"chown {uid} {path}"
        )
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path} is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"fix it with chmod 600 {path}"
        )


def load_config(path: Path | None = None) -> JobConfig:
    """The job config at PATH (default `config_path()`); ConfigError names key and line."""
    path = path or config_path()
    try:
        check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"there is no automatic backup config at {path}: create it in the terminal UI's "
            "Automatic backups screen or as docs/automatic-backups.md shows"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> JobConfig:
    """Checks TEXT (the content of PATH) and returns the job it describes."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        reason = re.sub(r"\s*at line \d+ col \d+$", "", str(exc)).rstrip(".")
        raise ConfigError(f"{path} line {exc.line}: this is not valid TOML ({reason})") from None
    return _Checker(path, text, doc.unwrap()).job()


class _Checker:
    """Turns the parsed TOML into a JobConfig, one sentence per mistake."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.lines = _KeyLines(text)
        self.data = data

    def fail(
        self, key: str, message: str, section: str = "", index: int | None = None
    ) -> ConfigError:
        line = self.lines.find(section, index, key.split(".")[0])
        where = f"{self.path} line {line}" if line else str(self.path)
        return ConfigError(f"{where}: {message}")

    def job(self) -> JobConfig:
        data = self.data
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail(key, f"{key} is not a setting ({_known(_TOP_KEYS)})")
        notify = data.get("notify", {})
        if not isinstance(notify, dict):
            raise self.fail("notify", "notify must be a table ([notify] with urls and on)")
        for key in notify:
            if key not in _NOTIFY_KEYS:
                raise self.fail(key, f"notify.{key} is not a setting (urls, on)", "notify")
        on = self.strings(notify, "on", sorted(DEFAULT_NOTIFY_ON), "notify")
        for event in on:
            if event not in NOTIFY_EVENTS:
                raise self.fail(
                    "on", f'notify.on: "{event}" is not one of {_known(NOTIFY_EVENTS)}', "notify"
                )
        quiesce = self.string(data, "quiesce", "stop")
        if quiesce not in QUIESCE_MODES:
            raise self.fail("quiesce", f'quiesce must be stop, pause or none, not "{quiesce}"')
        schedule = self.string(data, "schedule", DEFAULT_SCHEDULE)
        try:
            check_calendar(schedule)
        except ValueError as exc:
            raise self.fail("schedule", f"schedule: {exc}") from None
        recipients = self.strings(data, "recipients", [])
        self.check_recipients(recipients)
        job = JobConfig(
            path=self.path,
            items=self.strings(data, "items", ["all"]),
            exclude=self.strings(data, "exclude", []),
            quiesce=quiesce,
            recipients=recipients,
            recipients_file=self.file(data, "recipients_file"),
            passphrase_file=self.file(data, "passphrase_file"),
            schedule=schedule,
            randomized_delay=self.duration_text(data, "randomized_delay", DEFAULT_RANDOMIZED_DELAY),
            overdue_after=self.overdue_after(schedule),
            rclone_config=self.file(data, "rclone_config"),
            destinations=self.destinations(),
            notify_urls=self.strings(notify, "urls", [], "notify"),
            notify_on=frozenset(on),
            identity_saved=self.boolean(data, IDENTITY_KEY, False),
            full_every=parse_duration(self.duration_text(data, "full_every", DEFAULT_FULL_EVERY)),
            differential_max=self.share(data, "differential_max", DEFAULT_DIFFERENTIAL_MAX),
        )
        if not job.items:
            raise self.fail("items", 'items must name at least one item (or "all")')
        self.check_encryption(job)
        return job

    def overdue_after(self, schedule: str) -> float:
        """As written, else 36 h, or one and a half periods for a schedule rarer than daily."""
        if "overdue_after" in self.data:
            return parse_duration(self.duration_text(self.data, "overdue_after", ""))
        gap = longest_gap(schedule) or 0.0
        return max(parse_duration(DEFAULT_OVERDUE_AFTER), 1.5 * gap)

    def check_recipients(self, recipients: list[str]) -> None:
        from tui.core.crypto.recipients import X25519Recipient

        for text in recipients:
            try:
                X25519Recipient.parse(text)
            except PortalBackupError as exc:
                raise self.fail("recipients", f"recipients: {exc}") from None

    def check_encryption(self, job: JobConfig) -> None:
        """Anything that leaves this host is encrypted: a remote destination needs a key."""
        from tui.core.dest.target import parse_dest

        if job.encrypted:
            return
        for index, dest in enumerate(job.destinations):
            if parse_dest(dest.target).local is None:
                raise self.fail(
                    "target",
                    f'destination "{dest.name}" is not a local directory, so its backups must '
                    "be encrypted: set recipients (age1... keys), recipients_file or "
                    "passphrase_file",
                    "destinations",
                    index,
                )

    def destinations(self) -> list[DestinationConfig]:
        from tui.core.dest.target import parse_dest

        raw = self.data.get("destinations", [])
        if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
            raise self.fail("destinations", "destinations must be [[destinations]] tables")
        out: list[DestinationConfig] = []
        for index, table in enumerate(raw):
            sec = ("destinations", index)
            for key in table:
                if key not in _DEST_KEYS:
                    raise self.fail(
                        key, f"{key} is not a destination setting ({_known(_DEST_KEYS)})", *sec
                    )
            for key in ("name", "target"):
                if key not in table:
                    raise self.fail("", f"destination {index + 1} has no {key}", *sec)
            name = self.string(table, "name", "", *sec)
            if not _DEST_NAME.match(name):
                raise self.fail(
                    "name",
                    f'name "{name}" must be letters, digits, ".", "_" or "-" (at most 64)',
                    *sec,
                )
            if any(d.name == name for d in out):
                raise self.fail("name", f'two destinations are named "{name}"', *sec)
            target = self.string(table, "target", "", *sec)
            try:
                parse_dest(target)
            except UsageError as exc:
                raise self.fail("target", f"target of {name}: {exc}", *sec) from None
            out.append(
                DestinationConfig(
                    name=name,
                    target=target,
                    keep=self.keep(table.get("keep", {}), *sec),
                    verify=self.boolean(table, "verify", True, *sec),
                )
            )
        return out

    def keep(self, raw: Any, section: str, index: int) -> KeepPolicy:
        if not isinstance(raw, dict):
            raise self.fail(
                "keep", "keep must be a table such as { daily = 7, weekly = 4 }", section, index
            )
        from tui.core.dest.retention import KeepPolicy

        counts: dict[str, int] = {}
        for key, value in raw.items():
            if key not in KEEP_KEYS:
                raise self.fail(
                    "keep", f"keep.{key} is not a rule ({_known(KEEP_KEYS)})", section, index
                )
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(
                    "keep",
                    f"keep.{key} must be a whole number, not {_shown(value)}",
                    section,
                    index,
                )
            if value < 0:
                raise self.fail(
                    "keep", f"keep.{key} must be 0 or more, not {value}", section, index
                )
            counts[key] = value
        return KeepPolicy.from_mapping(counts)

    def string(
        self,
        table: dict[str, Any],
        key: str,
        default: str,
        section: str = "",
        index: int | None = None,
    ) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"{key} must be a string, not {_shown(value)}", section, index)
        return value.strip()

    def strings(
        self, table: dict[str, Any], key: str, default: list[str], section: str = ""
    ) -> list[str]:
        value = table.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(
                key,
                f"{_dotted(section, key)} must be a list of strings, not {_shown(value)}",
                section,
            )
        return [v.strip() for v in value]

    def boolean(
        self,
        table: dict[str, Any],
        key: str,
        default: bool,
        section: str = "",
        index: int | None = None,
    ) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(
                key, f"{key} must be true or false, not {_shown(value)}", section, index
            )
        return value

    def file(self, table: dict[str, Any], key: str) -> Path | None:
        """A path; a relative one is relative to the config file's directory."""
        if key not in table:
            return None
        value = self.string(table, key, "")
        if not value:
            raise self.fail(key, f"{key} must be a file path, not an empty string")
        return self.path.parent / Path(value).expanduser()

    def share(self, table: dict[str, Any], key: str, default: float) -> float:
        """A share of a whole: a number above 0 and at most 1 (0.5 is half)."""
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise self.fail(
                key,
                f"{key} must be a number above 0 and at most 1 (0.5 is half), not {_shown(value)}",
            )
        return float(value)

    def duration_text(self, table: dict[str, Any], key: str, default: str) -> str:
        value = table.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value}s"
        if not isinstance(value, str):
            raise self.fail(key, f'{key} must be a duration such as "36h", not {_shown(value)}')
        try:
            parse_duration(value)
        except ValueError as exc:
            raise self.fail(key, f"{key}: {exc}") from None
        return value.strip()


class _KeyLines:
    """Where each key is written: tomlkit keeps no line numbers, so scan the text once."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"^\s*[\"']?([A-Za-z0-9_\-]+)[\"']?\s*(?:\.|=)")

    def __init__(self, text: str) -> None:
        # (section, index, key) -> line; key "" is the section's header line.
        self.at: dict[tuple[str, int | None, str], int] = {}
        section, index = "", None
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                section = header.group(2).strip()
                index = None
                if header.group(1) == "[[":
                    index = counts.get(section, -1) + 1
                    counts[section] = index
                self.at.setdefault((section, index, ""), number)
                continue
            key = self._KEY.match(line)
            if key:
                self.at.setdefault((section, index, key.group(1)), number)

    def find(self, section: str, index: int | None, key: str) -> int | None:
        return self.at.get((section, index, key)) or self.at.get((section, index, ""))


def _known(keys: Iterable[str]) -> str:
    return "known: " + ", ".join(keys)


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _shown(value: Any) -> str:
    """A wrong value as the sentence quotes it (never long: it could be anything)."""
    if isinstance(value, str):
        return f'"{value[:40]}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)[:40]


class ConfigEditor:
    """Changes the job config in place: every comment and blank line a person wrote stays.

    Each setter checks its value; `save` checks the whole file before it replaces the old one.
    """

    def __init__(self, path: Path, doc: tomlkit.TOMLDocument) -> None:
        self.path = path
        self.doc = doc

    @classmethod
    def load(cls, path: Path | None = None) -> ConfigEditor:
        """The file at PATH (default `config_path()`), or a new one when there is none."""
        path = path or config_path()
        try:
            check_private(path)
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = _NEW_FILE
        try:
            return cls(path, tomlkit.parse(text))
        except ParseError:
            parse_config(text, path)  # raises the sentence naming the line
            raise

    def set_value(self, key: str, value: Any) -> None:
        """A top-level setting such as items, exclude, quiesce, overdue_after, rclone_config."""
        if key not in _TOP_KEYS or key in ("destinations", "notify"):
            raise UsageError(f"{key} is not a top-level setting ({_known(_TOP_KEYS[:-2])})")
        if value is None:
            self.doc.pop(key, None)
        else:
            _assign(self.doc, key, value)

    def set_schedule(self, schedule: str, randomized_delay: str | None = None) -> None:
        try:
            check_calendar(schedule)
            if randomized_delay is not None:
                parse_duration(randomized_delay)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        _assign(self.doc, "schedule", schedule.strip())
        if randomized_delay is not None:
            _assign(self.doc, "randomized_delay", randomized_delay.strip())

    def set_recipients(
        self,
        recipients: list[str],
        *,
        recipients_file: str | None = None,
        passphrase_file: str | None = None,
    ) -> None:
        """Replaces the encryption settings (an empty list and no files: unencrypted)."""
        for key, value in (
            ("recipients", recipients or None),
            ("recipients_file", recipients_file),
            ("passphrase_file", passphrase_file),
        ):
            self.set_value(key, value)

    def set_destination(
        self,
        name: str,
        target: str,
        keep: Mapping[str, int] | None = None,
        *,
        verify: bool | None = None,
    ) -> None:
        """Adds destination NAME, or changes the one with that name where it is written."""
        table = self._destination(name)
        if table is None:
            table = tomlkit.table()
            table["name"] = name
            table["target"] = target
            if keep is not None:
                table["keep"] = _inline(keep)
            if verify is not None:
                table["verify"] = verify
            tables = self.doc.get("destinations")
            table.add(tomlkit.nl())  # a blank line between tables, as people write them
            if isinstance(tables, AoT):
                last = tables[-1].value.body if len(tables) else []
                if last and not isinstance(last[-1][1], Whitespace):
                    tables[-1].add(tomlkit.nl())
                tables.append(table)
                table.trivia.indent = ""  # tomlkit adds a newline of its own to a new array
            else:
                _blank_line_before_table(self.doc)
                self.doc["destinations"] = tomlkit.aot()
                self.doc["destinations"].append(table)
            return
        _assign(table, "target", target)
        if keep is not None:
            old = table.get("keep")
            if isinstance(old, InlineTable | Table):
                for key in [k for k in old if k not in keep]:
                    del old[key]
                for key, value in keep.items():
                    _assign(old, key, value)
            else:
                table["keep"] = _inline(keep)
        if verify is not None:
            _assign(table, "verify", verify)

    def remove_destination(self, name: str) -> bool:
        tables = self.doc.get("destinations")
        if not isinstance(tables, AoT):
            return False
        for index, table in enumerate(tables):
            if table.get("name") == name:
                del tables[index]
                if not len(tables):
                    del self.doc["destinations"]
                return True
        return False

    def set_notify(self, urls: list[str] | None = None, on: Iterable[str] | None = None) -> None:
        table = self.doc.get("notify")
        if not isinstance(table, Table):
            table = tomlkit.table()
            _blank_line_before_table(self.doc)
            self.doc["notify"] = table
        if urls is not None:
            _assign(table, "urls", list(urls))
        if on is not None:
            events = [e for e in NOTIFY_EVENTS if e in set(on)]
            _assign(table, "on", events)

    def confirm_identity_saved(self, saved: bool = True) -> None:
        _assign(self.doc, IDENTITY_KEY, saved)

    def text(self) -> str:
        return self.doc.as_string()

    def save(self) -> JobConfig:
        """Checks the result, then writes it atomically with mode 0600; returns the job."""
        text = self.text()
        job = parse_config(text, self.path)
        write_private(self.path, text.encode())
        return job

    def _destination(self, name: str) -> Table | None:
        tables = self.doc.get("destinations")
        if isinstance(tables, AoT):
            for table in tables:
                if isinstance(table, Table) and table.get("name") == name:
                    return table
        return None


def _assign(container: Any, key: str, value: Any) -> None:
    """Sets KEY; tomlkit keeps the old item's comment and spacing when it is replaced."""
    if key in container:
        if container[key] != value:
            container[key] = value
    elif isinstance(container, tomlkit.TOMLDocument):
        _add_top_level(container, key, value)
    else:
        container[key] = value


def _add_top_level(doc: tomlkit.TOMLDocument, key: str, value: Any) -> None:
    """A new top-level key goes right after the last one, not after the comment that a
    person wrote above the first table (tomlkit would append it there)."""
    body = doc.body
    last = None
    first_table = None
    for index, (name, item) in enumerate(body):
        if name is None:
            continue
        if isinstance(item, Table | AoT):
            first_table = index if first_table is None else first_table
        else:
            last = index
    if last is not None:
        item = tomlkit.item(value)
        previous = body[last][1]
        item.trivia.trail, previous.trivia.trail = previous.trivia.trail, "\n"  # blank after
        doc._insert_at(last + 1, key, item)
    elif first_table is not None:
        start = first_table
        while start > 0 and isinstance(body[start - 1][1], Comment):  # the table's comments
            start -= 1
        item = tomlkit.item(value)
        item.trivia.trail = "\n\n"  # a blank line before the table's comment block
        doc._insert_at(start, key, item)
    else:
        doc[key] = value


def _blank_line_before_table(doc: tomlkit.TOMLDocument) -> None:
    body = doc.body
    if body and not isinstance(body[-1][1], Whitespace | Table | AoT):
        doc.add(tomlkit.nl())


def _inline(keep: Mapping[str, int]) -> InlineTable:
    table = tomlkit.inline_table()
    table.update({k: int(v) for k, v in keep.items()})
    return table


def write_private(path: Path, data: bytes) -> None:
    """The config and its directory are this user's alone (it names key files and URLs)."""
    write_atomic(path, data, 0o600, dir_mode=0o700)
