"""Encryption in the TUI: the backup screen's encryption dialog, the private-key warning, and
opening .age archives in the explorer. The backups are real (the test Portal on the real Docker
engine, through the UI) and the stock `age` tool decrypts what they write."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import portal_fixture as pf
import pytest
from test_age_interop import _run_in_pty
from textual.events import Paste
from textual.widgets import Input
from tuihelp import archives_in, home_with_host_items, host_app, out_dir, run, wait_for

import tui.core.crypto.recipients as recipients_module
from tui.core.crypto.age import (
    AgeNoMatchError,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    encrypt_stream,
)
from tui.ui.app import PortalBackupApp
from tui.ui.demo.portal import ENVIRON, NOW, DemoSource, FakeClock, demo_archive_bytes
from tui.ui.logic.datasource import HostSource
from tui.ui.logic.encryption import (
    Encryption,
    decrypt_command,
    encrypted_output,
    parse_keys,
    passphrase_strength,
)
from tui.ui.logic.unlock import ArchiveKeys, KeyNeeded, RememberingScryptIdentity, cli_identities
from tui.ui.screens.dialogs import ConfirmDialog, PrivateKeyDialog
from tui.ui.screens.done import DoneScreen
from tui.ui.screens.encryption import EncryptionDialog
from tui.ui.screens.explorer import ExplorerScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.progress import ProgressScreen
from tui.ui.screens.unlock import UnlockDialog
from tui.ui.screens.verify import VerifyScreen
from tui.ui.widgets.archive_tree import ArchiveTree

SIZE = (100, 40)
PASSPHRASE = "plum tractor Velvet 42 orbit"
SHORT = "oak Tree 9"  # where the passphrase's strength does not matter: fewer keys to press


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"the stock {name} tool is not installed (Debian package 'age')")
        pytest.skip(f"the stock {name} tool is not installed (Debian package 'age')")
    return path


def keygen(tmp_path: Path, name: str = "key.txt") -> tuple[Path, str]:
    """An identity file made by the stock age-keygen, and its public key."""
    path = tmp_path / name
    subprocess.run([_tool("age-keygen"), "-o", str(path)], check=True, capture_output=True)
    public = subprocess.run(
        [_tool("age-keygen"), "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return path, public


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


def unzip_ok(path: Path) -> None:
    subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


async def paste(pilot: Any, text: str) -> None:
    """Paste into the focused field, as a terminal does (bracketed paste): keys and paths are
    pasted in real life, and typing them key by key only makes the tests slow."""
    assert pilot.app.focused is not None
    pilot.app.post_message(Paste(text))  # as the driver does: the app gives it to the focus
    await pilot.pause()


async def type_passphrase_twice(pilot: Any, first: str, again: str) -> None:
    """In the encryption dialog, which opens on the passphrase field."""
    await pilot.press(*first, "enter", *again, "enter")


class RecordingSource(DemoSource):
    """The demo Portal, keeping the options each backup was started with."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Any] = []

    def run_backup(self, loaded: Any, plan: Any, options: Any, on_event: Any, cancel: Any) -> Any:
        self.runs.append(options)
        return super().run_backup(loaded, plan, options, on_event, cancel)


async def done_screen(pilot: Any, timeout: float = 60) -> DoneScreen:
    """The done screen, once its content is on it (it is composed after it is switched to)."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, DoneScreen) and bool(app.screen.query("#fetch")),
        timeout=timeout,
        what="the done screen",
    )
    return app.screen


async def unlock_dialog(pilot: Any) -> UnlockDialog:
    """The unlock dialog, once it is up and its passphrase field has the keys."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, UnlockDialog)
            and getattr(app.focused, "id", None) == "passphrase"
        ),
        what="the unlock dialog",
    )
    return app.screen


def demo_app(**kw: Any) -> PortalBackupApp:
    return PortalBackupApp(
        RecordingSource(),
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd="/root",
        **kw,
    )


async def demo_home(pilot: Any) -> HomeScreen:
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, HomeScreen) and pilot.app.screen.sizes_done,
        what="the demo list",
    )
    return pilot.app.screen


# ---------------------------------------------------------------------------- real backups


def test_passphrase_backup_through_the_ui_decrypts_with_stock_age(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    age = _tool("age")
    out = out_dir(tmp_path)
    before = portal_host.container_states()
    result: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(portal_host, out)
        async with app.run_test(size=SIZE) as pilot:
            home = await home_with_host_items(pilot, portal_host)
            # The identity is in and nothing is encrypted: said before anything starts.
            await pilot.press("b")
            assert isinstance(app.screen, PrivateKeyDialog)
            await pilot.press("e")  # encrypt it
            dialog = app.screen
            assert isinstance(dialog, EncryptionDialog)
            # Two different passphrases: refused, the dialog stays, nothing starts.
            await type_passphrase_twice(pilot, PASSPHRASE, PASSPHRASE + "x")
            assert app.screen is dialog
            # Said once, under the fields, not a second time as the refusal (issue 11, #13).
            assert "differ" in text_of(dialog, "#strength")
            assert not dialog.query_one("#problem").display
            assert not app.job.running and home.encryption.mode == "none"
            await pilot.press("ctrl+u", *PASSPHRASE, "enter")
            # Chosen: the backup asks to start again, now encrypted and without the warning.
            assert isinstance(app.screen, ConfirmDialog)
            assert "Encrypted with a passphrase" in text_of(app.screen, ".dialog-body")
            assert "encrypted: passphrase" in text_of(home, "#summary")
            await pilot.press("y")
            progress = app.screen
            assert isinstance(progress, ProgressScreen)
            assert [type(r) for r in progress.options.encrypt_to] == [ScryptRecipient]
            done = await done_screen(pilot, timeout=300)
            result["finished"] = done.finished
            name = Path(done.finished.path).name
            note = text_of(done, "#decrypt")
            assert f"age -d -o {name.removesuffix('.age')} {name}" in note

            # Explore it from the done screen: the passphrase is asked for, not remembered.
            await pilot.press("e")
            unlock = await unlock_dialog(pilot)
            await pilot.press(*"not the passphrase", "enter")
            await wait_for(
                pilot,
                lambda: unlock.error is not None,
                timeout=60,
                what="the wrong passphrase to be refused",
            )
            assert app.screen is unlock
            assert "wrong passphrase" in text_of(unlock, "#unlock-status").lower()
            await pilot.press(*PASSPHRASE, "enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, ExplorerScreen) and app.screen.opened is not None,
                timeout=60,
                what="the archive",
            )
            explorer = app.screen
            assert isinstance(explorer, ExplorerScreen)
            assert "encrypted (age)" in text_of(explorer, "#heading")
            tree = explorer.query_one(ArchiveTree)
            top = {n.data.name for n in tree.root.children if n.data is not None}
            assert {"core/", "user_data/", "volumes/", "SHA256SUMS"} <= top
            # Verify reads it in place too, with the key already known (no second prompt).
            await pilot.press("v")
            verify = app.screen
            assert isinstance(verify, VerifyScreen)
            await wait_for(pilot, lambda: not verify.running, timeout=120, what="verify")
            assert verify.report is not None and verify.report.ok, verify.error

    run(scenario())
    archive = Path(result["finished"].path)
    assert archive.name.endswith(".zip.age")
    assert archives_in(out) == [archive.name]  # no plaintext zip beside it, ever
    assert portal_host.container_states() == before
    plain = tmp_path / "backup.zip"
    _run_in_pty(
        [age, "-d", "-o", str(plain), str(archive)],
        [(b"Enter passphrase", PASSPHRASE.encode() + b"\n")],
    )
    unzip_ok(plain)


def test_backup_to_age_keys_decrypts_with_stock_age_identity(
    portal_host: pf.PortalHost, tmp_path: Path
) -> None:
    age = _tool("age")
    key, public = keygen(tmp_path)
    other_key, other_public = keygen(tmp_path, "other.txt")
    recipients_file = tmp_path / "recipients.txt"
    recipients_file.write_text(f"# the offsite key\n{other_public}\n")
    out = out_dir(tmp_path)
    result: dict[str, Any] = {}

    async def scenario() -> None:
        app = host_app(portal_host, out)
        async with app.run_test(size=SIZE) as pilot:
            home = await home_with_host_items(pilot, portal_host)
            await pilot.press("e", "shift+tab", "right", "tab")  # the "age keys" tab
            dialog = app.screen
            assert isinstance(dialog, EncryptionDialog) and dialog.mode == "recipients"
            await paste(pilot, public)
            await pilot.press("tab")
            await paste(pilot, str(recipients_file))
            await pilot.press("enter")
            assert app.screen is home
            assert "encrypted to 2 age keys" in text_of(home, "#summary")
            await pilot.press("b")
            assert isinstance(app.screen, ConfirmDialog)  # encrypted: no private-key warning
            await pilot.press("y")
            done = await done_screen(pilot, timeout=300)
            result["finished"] = done.finished
            assert "age -d -i KEYFILE -o" in text_of(done, "#decrypt")
            # Explore it with the identity file, typed into the unlock dialog.
            await pilot.press("e")
            await unlock_dialog(pilot)
            await pilot.press("tab")
            await paste(pilot, str(other_key))
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, ExplorerScreen) and app.screen.opened is not None,
                timeout=60,
                what="the archive",
            )

    run(scenario())
    archive = Path(result["finished"].path)
    assert archives_in(out) == [archive.name] and archive.name.endswith(".zip.age")
    for identity in (key, other_key):  # each recipient can decrypt it
        plain = tmp_path / f"{identity.stem}.zip"
        subprocess.run(
            [age, "-d", "-i", str(identity), "-o", str(plain), str(archive)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        unzip_ok(plain)


# ---------------------------------------------------------------------------- the dialogs


def test_private_key_warning_each_choice_does_what_it_says() -> None:
    async def scenario() -> None:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            home = await demo_home(pilot)
            # Cancel: nothing starts.
            await pilot.press("b")
            assert isinstance(app.screen, PrivateKeyDialog)
            await pilot.press("c")
            assert app.screen is home and not app.job.running
            # Encrypt it, then cancel the encryption dialog (Tab to its Cancel button, not Esc).
            await pilot.press("b", "e")
            assert isinstance(app.screen, EncryptionDialog)
            await pilot.press("tab", "tab", "tab", "enter")
            assert app.screen is home and not app.job.running
            assert home.encryption == Encryption()
            # Back up anyway: it starts, unencrypted.
            await pilot.press("b", "a")
            done = await done_screen(pilot)
            assert isinstance(app.source, RecordingSource)
            assert [o.encrypt_to for o in app.source.runs] == [[]]
            assert not done.query("#decrypt")
            assert "Keep this file private" in text_of(done, "#identity")
            await pilot.press("b")
            assert app.screen is home
            # Encrypt it: the dialog, then the usual start question, encrypted.
            await pilot.press("b", "e")
            await type_passphrase_twice(pilot, SHORT, SHORT)
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("n")  # not now: the choice stays
            assert home.encryption.mode == "passphrase"
            await pilot.press("b")
            assert isinstance(app.screen, ConfirmDialog)  # no warning any more
            await pilot.press("y")
            done = await done_screen(pilot)
            assert [type(r) for r in app.source.runs[-1].encrypt_to] == [ScryptRecipient]
            assert done.finished.path.endswith(".zip.age")
            assert "age -d -o portal-backup-" in text_of(done, "#decrypt")
            await pilot.press("b")
            # Back to none: the warning is back. Identity left out: no warning.
            await pilot.press("e", "shift+tab", "left", "tab", "enter")  # None, Use this
            assert home.encryption.mode == "none"
            await pilot.press("b")
            assert isinstance(app.screen, PrivateKeyDialog)
            await pilot.press("n", "i", "b")
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("n")

    run(scenario())


def test_encryption_dialog_checks_what_is_typed(tmp_path: Path) -> None:
    good = [X25519Identity.generate().recipient() for _ in range(3)]
    recipients_file = tmp_path / "recipients.txt"
    recipients_file.write_text(f"{good[1]}\n# comment\n{good[2]}\n")
    bad_file = tmp_path / "bad.txt"
    bad_file.write_text("age1nope\n")
    secret = str(X25519Identity.generate())

    async def scenario() -> None:
        app = demo_app()
        async with app.run_test(size=SIZE) as pilot:
            home = await demo_home(pilot)
            await pilot.press("e")
            assert isinstance(app.screen, EncryptionDialog)
            dialog = app.screen  # typed as the dialog for what follows
            assert dialog.mode == "passphrase"
            # Empty: refused. Weak: said, and allowed. Strong: said.
            await pilot.press("enter", "enter")
            assert app.screen is dialog and "Type a passphrase" in text_of(dialog, "#problem")
            await pilot.press(*"abc123")  # the refusal put the cursor back in the field
            assert "weak" in text_of(dialog, "#strength")
            await pilot.press("ctrl+u", *PASSPHRASE)
            assert "strong" in text_of(dialog, "#strength")
            await pilot.press("tab", *"plum")
            assert "differ" in text_of(dialog, "#strength")  # as it is typed, inline
            # age keys: errors inline as they are typed, a secret key never echoed.
            await pilot.press("shift+tab", "shift+tab", "right", "tab")
            assert dialog.mode == "recipients"
            keys = dialog.query_one("#keys")
            await paste(pilot, f"{good[0]} age1qqqqbad\n{secret}\n")
            status = text_of(dialog, "#keys-status")
            assert "incomplete" in status and "secret key" in status
            assert secret[16:] not in status and secret[16:] not in text_of(dialog, "#problem")
            dialog.action_ok()
            assert app.screen is dialog and home.encryption.mode == "none"
            keys.clear()
            keys.focus()
            await paste(pilot, f"{good[0]}\n{good[0]}\n")  # a duplicate counts once
            assert "1 valid key" in text_of(dialog, "#keys-status")
            # A recipients file: a bad one is refused inline, a good one adds its keys.
            await pilot.press("tab")
            await paste(pilot, str(bad_file))
            await pilot.press("enter")
            assert app.screen is dialog and "line 1 of" in text_of(dialog, "#problem")
            await pilot.press("ctrl+u")
            await paste(pilot, str(recipients_file))
            await pilot.press("enter")
            assert app.screen is home
            assert home.encryption.recipients() == good
            assert "encrypted to 3 age keys" in text_of(home, "#summary")
            # Reopened, it shows the choice; Esc keeps it.
            await pilot.press("e")
            assert app.screen.mode == "recipients"
            assert str(good[0]) in app.screen.query_one("#keys").text
            await pilot.press("escape")
            assert home.encryption.recipients() == good

    run(scenario())


# ---------------------------------------------------------------------------- explorer


def encrypted_demo_archive(tmp_path: Path) -> Path:
    """The demo zip, encrypted by the stock tool with a passphrase (its pty prompts)."""
    plain = tmp_path / "plain" / "demo.zip"
    plain.parent.mkdir()
    plain.write_bytes(demo_archive_bytes())
    archive = tmp_path / "demo.zip.age"
    answer = PASSPHRASE.encode() + b"\n"
    _run_in_pty(
        [_tool("age"), "-p", "-o", str(archive), str(plain)],
        [(b"Enter passphrase", answer), (b"Confirm passphrase", answer)],
    )
    shutil.rmtree(plain.parent)
    return archive


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_explorer_asks_for_the_passphrase_and_refuses_a_wrong_one(tmp_path: Path) -> None:
    archive = encrypted_demo_archive(tmp_path)
    before = files_under(tmp_path)

    async def scenario() -> None:
        app = PortalBackupApp(HostSource("/nonexistent"), explore=str(archive), cwd=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            dialog = await unlock_dialog(pilot)
            explorer = app.screen_stack[-2]
            assert isinstance(explorer, ExplorerScreen)
            assert "is encrypted" in text_of(explorer, "#heading")
            await pilot.press("enter")
            assert "Type the passphrase" in text_of(dialog, "#unlock-status")
            await pilot.press(*"wrong horse", "enter")
            await wait_for(pilot, lambda: dialog.error is not None, timeout=60, what="the refusal")
            assert app.screen is dialog  # another try
            assert "Wrong passphrase or not encrypted for this key" in text_of(
                dialog, "#unlock-status"
            )
            assert dialog.query_one("#passphrase", Input).value == ""
            await pilot.press(*PASSPHRASE, "enter")
            await wait_for(
                pilot, lambda: explorer.opened is not None, timeout=60, what="the archive"
            )
            tree = explorer.query_one(ArchiveTree)
            assert {
                "core/",
                "user_data/",
                "portal-backup.json",
                "SHA256SUMS",
            } <= {n.data.name for n in tree.root.children if n.data}  # the demo's top level
            assert "Portal" in text_of(explorer, "#manifest")
            await pilot.press("right", "down", "down", "down")
            await wait_for(
                pilot,
                lambda: explorer.previewed == "core/portal_core_db.json",
                what="a preview, decrypted in memory",
            )
            await pilot.press("q")
        assert app.return_code == 0

    run(scenario())
    assert files_under(tmp_path) == before  # nothing decrypted was written


def test_explorer_unlocks_with_an_identity_file_or_goes_back(tmp_path: Path) -> None:
    key, public = keygen(tmp_path)
    other_key, _ = keygen(tmp_path, "other.txt")
    archive = tmp_path / "demo.zip.age"
    archive.write_bytes(
        subprocess.run(
            [_tool("age"), "-r", public],
            input=demo_archive_bytes(),
            capture_output=True,
            check=True,
        ).stdout
    )

    async def open_with(identity: Path) -> tuple[str, bool, int | None]:
        app = PortalBackupApp(HostSource("/nonexistent"), explore=str(archive), cwd=str(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            dialog = await unlock_dialog(pilot)
            await pilot.press("tab")
            await paste(pilot, str(identity))
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: dialog.error is not None or not isinstance(app.screen, UnlockDialog),
                what="the check",
            )
            opened = False
            status = "" if dialog.error is None else text_of(dialog, "#unlock-status")
            if dialog.error is None:
                assert isinstance(app.screen, ExplorerScreen)
                explorer = app.screen
                await wait_for(pilot, lambda: explorer.opened is not None, what="the tree")
                opened = True
                await pilot.press("q")
            else:  # go back: Tab to the Back button (no Esc needed); the explorer closes
                await pilot.press("tab", "tab", "enter")
        return status, opened, app.return_code

    status, opened, code = run(open_with(other_key))
    assert not opened and "wrong passphrase or not encrypted for this key" in status.lower()
    assert code == 0  # back from the dialog: the stand-alone explorer quits
    _, opened, _ = run(open_with(key))
    assert opened


def test_a_wrong_key_from_the_command_line_asks_again(tmp_path: Path) -> None:
    archive = tmp_path / "demo.zip.age"
    with archive.open("wb") as sink:
        encrypt_stream(
            io.BytesIO(demo_archive_bytes()), sink, [ScryptRecipient(SHORT, work_factor=10)]
        )

    async def scenario() -> None:
        app = PortalBackupApp(
            HostSource("/nonexistent"),
            explore=str(archive),
            identities=[ScryptIdentity("given but wrong")],
        )
        async with app.run_test(size=SIZE) as pilot:
            dialog = await unlock_dialog(pilot)
            assert "Wrong passphrase" in text_of(dialog, "#unlock-status")
            await pilot.press(*SHORT, "enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, ExplorerScreen) and app.screen.opened is not None,
                what="the archive",
            )

    run(scenario())


# ---------------------------------------------------------------------------- plain helpers


def test_passphrase_strength_is_a_rough_hint() -> None:
    assert passphrase_strength("").label == ""
    assert passphrase_strength("password123").label == "weak"
    assert passphrase_strength("aaaaaaaaaaaaaaaaaaaa").label == "weak"  # repeats count little
    assert passphrase_strength("Tr0ub4dor&3").label == "fair"
    assert passphrase_strength("correct horse battery staple").label == "strong"
    hint = passphrase_strength("Tr0ub4dor&3").hint()
    assert hint.startswith("Strength: fair") and "11 characters, 4 kinds" in hint


def test_parse_keys_accepts_pastes_and_names_every_bad_key() -> None:
    a, b = (X25519Identity.generate().recipient() for _ in range(2))
    keys, errors = parse_keys(f"# mine\n{a}, {b}\n\n{a}\n")
    assert keys == [a, b] and errors == []
    secret = str(X25519Identity.generate())
    _, errors = parse_keys(f"{secret} ssh-ed25519 age1abc {str(a)[:-1]}x")
    assert len(errors) == 4
    assert "secret key" in errors[0] and secret[15:] not in " ".join(errors)
    assert "SSH" in errors[1] and "incomplete" in errors[2] and "not a valid" in errors[3]


def test_encryption_choice_summary_recipients_and_names(tmp_path: Path) -> None:
    a, b, c = (X25519Identity.generate().recipient() for _ in range(3))
    assert Encryption().summary() == "not encrypted" and Encryption().recipients() == []
    secret = Encryption("passphrase", passphrase="s3cret words")
    assert secret.summary() == "encrypted: passphrase" and "s3cret" not in repr(secret)
    assert [type(r) for r in secret.recipients()] == [ScryptRecipient]
    keys = Encryption("recipients", keys=(a, b), file_keys=(b, c))
    assert keys.summary() == "encrypted to 3 age keys" and keys.recipients() == [a, b, c]
    assert Encryption("recipients", keys=(a,)).summary() == "encrypted to 1 age key"
    # A typed file name gets .age; a folder gets NAME.zip.age from the engine.
    assert encrypted_output(str(tmp_path), True) == str(tmp_path)
    assert encrypted_output(str(tmp_path / "x.zip"), True) == str(tmp_path / "x.zip") + ".age"
    assert encrypted_output(str(tmp_path / "x.zip"), False) == str(tmp_path / "x.zip")
    assert encrypted_output("/y/x.zip.age", True) == "/y/x.zip.age"
    assert decrypt_command("/o/b.zip.age", secret.recipients()) == "age -d -o b.zip b.zip.age"
    assert decrypt_command("/o/b.zip.age", [a]) == "age -d -i KEYFILE -o b.zip b.zip.age"


def test_archive_keys_open_plain_and_encrypted_and_remember(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "a.zip"
    plain.write_bytes(demo_archive_bytes())
    encrypted = tmp_path / "a.zip.age"
    with plain.open("rb") as source, encrypted.open("wb") as sink:
        encrypt_stream(source, sink, [ScryptRecipient(PASSPHRASE, work_factor=10)])
    keys = ArchiveKeys()
    with keys.open(str(plain)) as f:
        assert f.read(2) == b"PK"
    with pytest.raises(KeyNeeded):
        keys.open(str(encrypted))
    with pytest.raises(AgeNoMatchError):
        keys.unlock(str(encrypted), [RememberingScryptIdentity("wrong")])
    # Once unlocked, opening again (verify after the explorer) runs no second scrypt.
    calls: list[int] = []
    real = recipients_module._scrypt_key
    monkeypatch.setattr(recipients_module, "_scrypt_key", lambda *a: calls.append(1) or real(*a))  # type: ignore[func-returns-value]  # counts, then calls
    keys.unlock(str(encrypted), [RememberingScryptIdentity(PASSPHRASE)])
    for _ in range(3):
        with keys.open(str(encrypted)) as f:
            assert f.read() == plain.read_bytes()
    assert len(calls) == 1
    # The command line's keys: none for the bare TUI, a passphrase for explore.
    assert cli_identities(argparse.Namespace()) == []
    monkeypatch.setenv("PB_TEST_PASSPHRASE", PASSPHRASE)
    given = cli_identities(
        argparse.Namespace(identity=[], passphrase_file=None, passphrase_env="PB_TEST_PASSPHRASE")
    )
    assert [type(i) for i in given] == [RememberingScryptIdentity]
    with ArchiveKeys(given).open(str(encrypted)) as f:
        assert f.read(2) == b"PK"
