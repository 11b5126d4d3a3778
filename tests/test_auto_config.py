"""The automatic backup job's config: its shape, defaults, one-sentence errors, file mode, and
an editor that keeps a person's comments."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.core.auto.calendar import check_calendar, next_times, to_cron
from tui.core.auto.config import (
    ConfigEditor,
    ConfigError,
    config_exists,
    config_path,
    load_config,
    parse_config,
    parse_duration,
)
from tui.core.errors import UsageError

AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

COMMENTED = f"""\
# Nightly backups of the Portal, set up by Ana on 2026-11-02.
# Ask Ana before changing the destinations!

items = ["all"]          # everything
exclude = []
quiesce = "stop"         # apps are stopped while their data is read
recipients = ["{AGE_KEY}"]   # Ana's YubiKey
schedule = "*-*-* 03:00:00"  # nightly at three
randomized_delay = "1h"

# The USB disk in the cupboard.
[[destinations]]
name = "usb"
target = "/mnt"
keep = {{ daily = 7, weekly = 4 }}   # about a month

# Offsite copy at the office NAS.
[[destinations]]
name = "offsite"
target = "nas:portal"   # rclone remote from rclone.conf
keep = {{ daily = 7, weekly = 4, monthly = 12 }}

[notify]
urls = ["json://127.0.0.1:9/hook"]   # the team's webhook
on = ["failure", "overdue"]
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_fill_what_a_minimal_file_leaves_out(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path / "config.toml", '[[destinations]]\nname = "usb"\ntarget = "/mnt"\n')
    )
    assert cfg.items == ["all"] and cfg.exclude == [] and cfg.quiesce == "stop"
    assert cfg.schedule == "*-*-* 03:00:00" and cfg.randomized_delay == "1h"
    assert cfg.overdue_after == 36 * 3600
    assert cfg.notify_on == frozenset({"failure", "overdue"}) and cfg.notify_urls == []
    assert not cfg.identity_saved and not cfg.encrypted
    [usb] = cfg.destinations
    assert (usb.name, usb.target, usb.verify) == ("usb", "/mnt", True)
    assert usb.keep.empty()  # no keep rules: nothing is ever pruned


def test_the_guides_example_reads_as_written(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "config.toml", COMMENTED))
    assert cfg.recipients == [AGE_KEY] and cfg.encrypted
    assert [d.name for d in cfg.destinations] == ["usb", "offsite"]
    offsite = cfg.destinations[1]
    assert offsite.target == "nas:portal"
    assert (offsite.keep.daily, offsite.keep.weekly, offsite.keep.monthly) == (7, 4, 12)
    assert cfg.notify_urls == ["json://127.0.0.1:9/hook"]


def test_overdue_defaults_to_one_and_a_half_periods_for_rarer_schedules(tmp_path: Path) -> None:
    weekly = 'schedule = "Sun *-*-* 04:00:00"\n'
    assert load_config(write(tmp_path / "w.toml", weekly)).overdue_after == 1.5 * 7 * 86400
    explicit = weekly + 'overdue_after = "2d"\n'
    assert load_config(write(tmp_path / "e.toml", explicit)).overdue_after == 2 * 86400


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            '# a comment\n\nschedule = "daily"\n\n[[destinations]]\nname = "usb"\n'
            'keep = { daily = "seven" }\ntarget = "/mnt"\n',
            'config.toml line 7: keep.daily must be a whole number, not "seven"',
        ),
        (
            'quiesce = "freeze"\n',
            'config.toml line 1: quiesce must be stop, pause or none, not "freeze"',
        ),
        ('\nschedul = "daily"\n', "config.toml line 2: schedul is not a setting"),
        (
            'schedule = "every tuesday-ish"\n',
            "config.toml line 1: schedule: 'every tuesday-ish' is not a systemd OnCalendar",
        ),
        ('overdue_after = "soon"\n', 'config.toml line 1: overdue_after: "soon" is not a duration'),
        (
            'recipients = ["age1nope"]\n',
            "config.toml line 1: recipients: 'age1nope' is not a valid age recipient",
        ),
        ("items = []\n", 'config.toml line 1: items must name at least one item (or "all")'),
        ("a = 1\nb = = 2\n", "config.toml line 2: this is not valid TOML"),
        (
            '[notify]\non = ["failure", "sometimes"]\n',
            'config.toml line 2: notify.on: "sometimes" is not one of',
        ),
        (
            '[[destinations]]\nname = "a"\ntarget = "/mnt"\n\n'
            '[[destinations]]\nname = "a"\ntarget = "/srv"\n',
            'config.toml line 6: two destinations are named "a"',
        ),
        ('[[destinations]]\nname = "usb"\n', "config.toml line 1: destination 1 has no target"),
        (
            '[[destinations]]\nname = "usb"\ntarget = "/mnt"\n'
            "keep = { daily = 7, fortnightly = 2 }\n",
            "config.toml line 4: keep.fortnightly is not a rule",
        ),
        (
            '[[destinations]]\nname = "usb"\ntarget = "/mnt"\nverify = "yes"\n',
            'config.toml line 4: verify must be true or false, not "yes"',
        ),
    ],
)
def test_a_wrong_config_is_one_sentence_naming_key_and_line(
    tmp_path: Path, text: str, sentence: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path / "config.toml", text))
    message = str(caught.value)
    assert sentence in message
    assert "\n" not in message and message.startswith(str(tmp_path))


def test_a_remote_destination_needs_encryption_a_local_one_does_not(tmp_path: Path) -> None:
    remote = (
        '\n[[destinations]]\nname = "cloud"\n'
        'target = ":s3,provider=Minio,secret_access_key=SECRET:bucket"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path / "a.toml", remote))
    assert 'line 4: destination "cloud" is not a local directory' in str(caught.value)
    assert "SECRET" not in str(caught.value)
    for key in (
        f'recipients = ["{AGE_KEY}"]',
        'passphrase_file = "pass.txt"',
        'recipients_file = "keys.txt"',
    ):
        cfg = load_config(write(tmp_path / "b.toml", key + "\n" + remote))
        assert cfg.encrypted
    cfg = load_config(write(tmp_path / "b.toml", 'passphrase_file = "pass.txt"\n' + remote))
    assert cfg.passphrase_file == tmp_path / "pass.txt"  # relative to the config's directory
    local = load_config(
        write(tmp_path / "c.toml", '[[destinations]]\nname = "usb"\ntarget = "/mnt"\n')
    )
    assert not local.encrypted


def test_the_file_must_be_private_and_ours(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", 'schedule = "daily"\n', mode=0o644)
    with pytest.raises(ConfigError, match=rf"mode 0644\); fix it with chmod 600 {path}"):
        load_config(path)
    path.chmod(0o600)
    assert load_config(path).schedule == "daily"
    os.chown(path, 4321, -1)
    with pytest.raises(ConfigError, match=rf"belongs to uid 4321.*chown {os.geteuid()} {path}"):
        load_config(path)


def test_a_missing_config_says_how_to_create_one(tmp_path: Path) -> None:
    assert not config_exists(tmp_path / "none.toml")
    with pytest.raises(
        ConfigError, match=r"Automatic backups screen or as docs/automatic-backups\.md"
    ):
        load_config(tmp_path / "none.toml")


def test_config_path_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAL_BACKUP_CONFIG", str(tmp_path / "job.toml"))
    assert config_path() == tmp_path / "job.toml"
    monkeypatch.delenv("PORTAL_BACKUP_CONFIG")
    assert config_path() == Path("/etc/portal-backup/config.toml")  # the tests run as root


def test_the_editor_keeps_every_comment_byte_for_byte(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", COMMENTED)
    editor = ConfigEditor.load(path)
    editor.set_schedule("Sun *-*-* 04:30:00", "30m")
    editor.set_destination("offsite", "nas:portal-2026", {"daily": 14, "weekly": 4, "monthly": 12})
    editor.set_destination("cloud", ":s3,provider=Minio:bucket", {"daily": 3})
    editor.set_notify(on=["failure", "overdue", "success"])
    editor.confirm_identity_saved()
    job = editor.save()
    text = path.read_text()
    original_comments = [line[line.index("#") :] for line in COMMENTED.splitlines() if "#" in line]
    assert original_comments  # the fixture has comments to lose
    for comment in original_comments:
        assert comment in text, comment
    unchanged = [
        line
        for line in COMMENTED.splitlines()
        if not line.startswith(
            (
                "schedule",
                "randomized_delay",
                'target = "nas',
                "keep = { daily = 7, weekly = 4, monthly",
                "on =",
            )
        )
    ]
    remaining = iter(text.splitlines())
    assert all(line in remaining for line in unchanged)  # every other line, in its order
    assert 'schedule = "Sun *-*-* 04:30:00"  # nightly at three' in text
    assert 'target = "nas:portal-2026"   # rclone remote from rclone.conf' in text
    assert job.schedule == "Sun *-*-* 04:30:00" and job.randomized_delay == "30m"
    assert [d.name for d in job.destinations] == ["usb", "offsite", "cloud"]
    assert job.destinations[1].keep.daily == 14
    assert job.notify_on == frozenset({"failure", "overdue", "success"}) and job.identity_saved
    assert load_config(path) == job


def test_the_editor_writes_a_new_private_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "portal-backup" / "config.toml"
    editor = ConfigEditor.load(path)
    editor.set_destination("usb", "/mnt", {"daily": 7})
    editor.set_value("quiesce", "pause")
    editor.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp left
    job = load_config(path)
    assert job.quiesce == "pause" and job.destinations[0].keep.daily == 7
    assert editor.remove_destination("usb") and not editor.remove_destination("usb")
    assert editor.save().destinations == []


def test_the_editor_refuses_a_bad_value_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", COMMENTED)
    editor = ConfigEditor.load(path)
    with pytest.raises(UsageError, match="not a systemd OnCalendar expression"):
        editor.set_schedule("at three-ish")
    editor.set_recipients([])  # unencrypted: the remote destination cannot stay
    with pytest.raises(ConfigError, match='destination "offsite" is not a local directory'):
        editor.save()
    assert path.read_text() == COMMENTED


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("36h", 129600), ("1h30m", 5400), ("2d", 172800), ("90s", 90), ("45min", 2700), ("600", 600)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "3x", "1h-2m", "soon", "1.5.2h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@given(st.integers(0, 400), st.integers(0, 59), st.integers(0, 59))
def test_parse_duration_adds_its_parts(days: int, minutes: int, seconds: int) -> None:
    assert parse_duration(f"{days}d{minutes}m{seconds}s") == days * 86400 + minutes * 60 + seconds


SCHEDULES_OK = [
    "daily",
    "weekly",
    "*-*-* 03:00:00",
    "Mon..Fri *-*-* 02:15",
    "*-*-* 0/6:00",
    "Sat,Sun 10:30",
]
SCHEDULES_BAD = ["every night", "*-*-* 25:00:00x", "Funday 03:00", ""]


def test_schedules_are_checked_with_and_without_systemd_analyze(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for with_tool in (True, False):
        if not with_tool:
            monkeypatch.setenv("PATH", str(tmp_path))  # no systemd-analyze: the built-in check
        for expr in SCHEDULES_OK:
            check_calendar(expr)
        for expr in SCHEDULES_BAD:
            with pytest.raises(ValueError, match="is not a systemd OnCalendar expression"):
                check_calendar(expr)
    assert next_times("daily") == []  # cannot tell without systemd's own parser


def test_next_times_are_the_schedules_next_three_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")  # systemd prints local time, then UTC
    times = next_times("*-*-* 03:00:00", 3)
    assert len(times) == 3 and times == sorted(times)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times)  # type: ignore[union-attr]
    assert {t.hour for t in times} == {2}  # 03:00 in Berlin in December is 02:00 UTC
    assert (times[1] - times[0]).total_seconds() == 86400


@pytest.mark.parametrize(
    ("expr", "cron"),
    [
        ("*-*-* 03:00:00", "0 3 * * *"),
        ("daily", "0 0 * * *"),
        ("Sun *-*-* 04:30:00", "30 4 * * 0"),
        ("*-*-* 0/6:00:00", "0 0-23/6 * * *"),
        ("Mon..Fri *-*-* 02:15", "15 2 * * 1-5"),
        ("Fri..Sun 22:00", "0 22 * * 5-6,0"),
        ("Sat..Sun 10:00", "0 10 * * 6,0"),
        ("*-*-01 04:00", "0 4 1 * *"),
    ],
)
def test_schedules_as_cron_fields(expr: str, cron: str) -> None:
    assert to_cron(expr) == cron


@pytest.mark.parametrize("expr", ["*-*-* 03:00:30", "2027-*-* 03:00", "*-*-* 03:00 Europe/Berlin"])
def test_schedules_cron_cannot_express_are_one_sentence(expr: str) -> None:
    with pytest.raises(ValueError, match="cannot be written as a cron line"):
        to_cron(expr)


def test_the_documented_example_is_a_valid_config() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "automatic-backups.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    job = parse_config(example, Path("/etc/portal-backup/config.toml"))
    assert [d.name for d in job.destinations] == ["usb", "offsite"] and job.encrypted
